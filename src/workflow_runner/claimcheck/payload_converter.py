"""The SDK's default payload converter, plus the large payloads the codec leaves compressed.

Why they are left compressed (``CompressionCodec(defer_above=...)``): a payload
the codec inflates is copied into the workflow activation and stays there for
the whole activation, while its reader copies ``payload.data`` again to build
objects from. For a 50 MB document that is two copies besides the objects
(~5x the document at the peak, measured). Inflated where it is read, the
inflated bytes are the only copy and are dropped as soon as the objects exist.

Every value read goes through here, so a deferred payload is inflated wherever it
lands: an activity result, a signal, a workflow input or result at the client.
A ``RawValue`` keeps its payload as it came, still compressed; whoever decodes it
later comes back here (the workflow's activity results are inflated by
``engine/workflow_payloads.py`` itself, which releases the inflated copy before
parsing). The limits are the codec's: one decode call inflates at most
``max_decoded_bytes`` in all, so a payload that claims to be small cannot bring a
bomb past them.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any, ClassVar

from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.converter import DefaultPayloadConverter

from workflow_runner.claimcheck.codec import (
    DEFAULT_MAX_DECODED_BYTES,
    MAX_PAYLOAD_VARIABLE,
    ZSTD_ENCODING,
    inflated,
)


class InflatingPayloadConverter(DefaultPayloadConverter):
    """:class:`DefaultPayloadConverter` that first inflates a zstd payload (and a compressed
    one inside it, to a depth of four: ``codec.inflated``), within ``max_decoded_bytes``
    for all the payloads of one call."""

    max_decoded_bytes: ClassVar[int] = DEFAULT_MAX_DECODED_BYTES

    def from_payloads(
        self, payloads: Sequence[Payload], type_hints: list[type] | None = None
    ) -> list[Any]:
        if not any(p.metadata.get("encoding") == ZSTD_ENCODING for p in payloads):
            return super().from_payloads(payloads, type_hints)
        budget = self.max_decoded_bytes
        hints = type_hints or []
        resolved: list[Payload] = []
        for index, payload in enumerate(payloads):
            hint = hints[index] if index < len(hints) else None
            if hint is RawValue or payload.metadata.get("encoding") != ZSTD_ENCODING:
                resolved.append(payload)
                continue
            where = f"payload {index + 1} of {len(payloads)} (binary/zstd)"
            inner = inflated(payload, max(budget, 0), where, MAX_PAYLOAD_VARIABLE)
            budget -= inner.ByteSize()
            resolved.append(inner)
        return super().from_payloads(resolved, type_hints)


@cache
def inflating_converter_class(max_decoded_bytes: int) -> type[InflatingPayloadConverter]:
    """The converter class for these limits. A class, not an instance, because the SDK
    makes its own instances (``DataConverter.payload_converter_class``, one per workflow
    sandbox) with no arguments."""
    return type(
        "InflatingPayloadConverter",
        (InflatingPayloadConverter,),
        {"max_decoded_bytes": max_decoded_bytes},
    )
