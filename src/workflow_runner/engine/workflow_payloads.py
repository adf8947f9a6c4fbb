"""How a workflow's own values cross the SDK's payload boundary when they are large.

A workflow output or activity result of a megabyte or more has its JSON encoded and
decoded here, with orjson, rather than by the SDK's converter: ``json.dumps`` took
~0.1 s per 5 MB, twice (the size check, then the converter), inside the workflow task,
and a 60 MB output tripped Temporal's 2 s deadlock detector. What is measured is what
is sent: a ``RawValue`` passes through the converter untouched. Each function also
says whether the value was large, so that the run can hand freed memory back to the OS.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from workflow_runner.claimcheck.codec import MAX_PAYLOAD_VARIABLE, ZSTD_ENCODING, inflated
    from workflow_runner.dsl.expressions import from_json, json_size, to_json
    from workflow_runner.engine.limits import (
        PAYLOAD_ENVELOPE_BYTES,
        QUICK_WALK_BYTES,
        check_payload_size,
        refuse_payload,
    )

LARGE_PAYLOAD_BYTES = 1024 * 1024
JSON_PLAIN = b"json/plain"


def encode_output(output: Any, max_payload_bytes: int) -> tuple[Any, bool]:
    """The run's output as the SDK should send it, checked against
    CLAIMCHECK_MAX_PAYLOAD_BYTES; and whether it was large."""
    if json_size(output, QUICK_WALK_BYTES) <= QUICK_WALK_BYTES:
        check_payload_size(output, "the workflow's output", max_payload_bytes, "/output")
        return output, False
    data = to_json(output)
    if len(data) + PAYLOAD_ENVELOPE_BYTES > max_payload_bytes:
        refuse_payload("the workflow's output", len(data), max_payload_bytes, "/output")
    encoded = RawValue(Payload(metadata={"encoding": JSON_PLAIN}, data=data))
    return encoded, len(data) >= LARGE_PAYLOAD_BYTES


def decode_result(payload: Payload, max_payload_bytes: int) -> tuple[Any, bool]:
    """An activity result, decoded as the SDK's converter would; and whether it was large.

    A large result comes still compressed (``claimcheck/payload_converter.py``): it is
    inflated here, within CLAIMCHECK_MAX_PAYLOAD_BYTES as the converter would, and the
    inflated payload is released before the objects are built, so that the JSON bytes
    they are built from are the only copy of the document."""
    encoding = payload.metadata.get("encoding")
    if encoding == ZSTD_ENCODING:
        # (the caller's payload, still compressed, is the small one)
        payload = inflated(payload, max_payload_bytes, "the activity result", MAX_PAYLOAD_VARIABLE)
        encoding = payload.metadata.get("encoding")
    if encoding != JSON_PLAIN:
        return workflow.payload_converter().from_payload(payload), False
    data = payload.data  # (each read of a protobuf bytes field is a copy)
    del payload  # an inflated one: its copy of the document goes before the objects come
    return from_json(data), len(data) >= LARGE_PAYLOAD_BYTES
