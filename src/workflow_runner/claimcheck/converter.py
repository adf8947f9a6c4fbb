"""The single place that assembles converter + codec + external storage.

Client, worker, replayer and codec server all call :func:`build_data_converter`,
so they can never disagree on how a payload is encoded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    ExternalStorage,
    StorageDriver,
)
from temporalio.converter import StorageDriverSelectContext as SelectContext

from workflow_runner.claimcheck.codec import (
    MAX_PAYLOAD_VARIABLE,
    CompressionCodec,
    marked_raw_size,
)
from workflow_runner.claimcheck.driver import ClaimCheckDriver
from workflow_runner.claimcheck.encryption import EncryptionCodec, keyring_for
from workflow_runner.claimcheck.payload_converter import inflating_converter_class
from workflow_runner.claimcheck.store import ObjectStore
from workflow_runner.config import Settings

# Payloads marked at least this big (raw) are inflated where they are read, not by the codec.
DEFER_INFLATION_BYTES = 1024 * 1024


def build_data_converter(settings: Settings, store: ObjectStore | None) -> DataConverter:
    """The data converter for ``settings``.

    A payload is offloaded when its *raw* size (see :func:`raw_size`) is at
    least ``CLAIMCHECK_THRESHOLD_BYTES``, whatever it compresses to, and the
    blob holds the compressed payload. Temporal's own size check runs on the
    codec's output, so it is switched off (``payload_size_threshold=0``) and
    the driver selector decides instead.

    With ``CLAIMCHECK_ENABLED=false`` nothing new is offloaded, but when a
    store is given existing references stay readable, so switching the claim
    check off never strands a running workflow's data.

    With ``ENCRYPTION_KEYS`` the codec encrypts after compressing (so blobs
    and inline payloads are ciphertext), and failure messages and stack
    traces move into an encoded payload too: a failed task's message quotes
    data (``raise`` details, jq errors), and Temporal keeps it in history as
    plain text otherwise.

    Payloads of a megabyte or more stay compressed through the codec and are inflated
    by the payload converter where they are read (``claimcheck/payload_converter.py``):
    one copy of a large document less in the worker while it is read.
    """
    codec = codec_for(settings, defer_above=DEFER_INFLATION_BYTES)
    external: ExternalStorage | None = None
    if store is not None:
        driver = driver_for(settings, store)
        external = ExternalStorage(
            drivers=[driver],
            driver_selector=(
                raw_size_selector(driver, settings.threshold_bytes)
                if settings.claimcheck_enabled
                else _never
            ),
            payload_size_threshold=0,
        )
    converter = dataclasses.replace(
        DataConverter.default,
        payload_converter_class=inflating_converter_class(codec.inner.max_decoded_bytes),
        payload_codec=codec,
        external_storage=external,
    )
    if codec.encrypting:
        converter = dataclasses.replace(
            converter, failure_converter_class=DefaultFailureConverterWithEncodedAttributes
        )
    return converter


def codec_for(
    settings: Settings,
    *,
    per_call_bytes: int | None = None,
    limit_name: str = MAX_PAYLOAD_VARIABLE,
    defer_above: int | None = None,
) -> EncryptionCodec:
    """No payload may inflate past ``CLAIMCHECK_MAX_PAYLOAD_BYTES`` (the codec refuses to
    encode anything bigger, so anything bigger is a bomb), nor one decode call past
    ``per_call_bytes`` (the same by default; the codec server passes its own, smaller one).

    Compression runs first, then encryption when keys are configured (ciphertext
    does not compress); a misconfigured key is a ``ConfigError`` here, at start-up."""
    per_call = per_call_bytes or settings.max_payload_bytes
    compression = CompressionCodec(
        enabled=settings.compression_enabled,
        max_decoded_bytes=min(settings.max_payload_bytes, per_call),
        max_decoded_bytes_per_call=per_call,
        limit_name=limit_name,
        defer_above=defer_above,
    )
    return EncryptionCodec(compression, keyring_for(settings))


def driver_for(settings: Settings, store: ObjectStore) -> ClaimCheckDriver:
    """The driver of a client or worker of ``TEMPORAL_NAMESPACE``: it refuses references
    to other namespaces' blobs (the retrieve context does not say the namespace)."""
    return ClaimCheckDriver(
        store, namespace=settings.temporal_namespace, max_payload_bytes=settings.max_payload_bytes
    )


def raw_size(payload: Payload) -> int:
    """How big ``payload`` was before the codec compressed it.

    The codec's ``RAW_SIZE_KEY`` mark for a compressed payload, its own size
    otherwise. Never less than its own size: a mark (forged, or garbled) can
    only make a payload count as bigger, never keep a big one inline.
    """
    size = payload.ByteSize()
    marked = marked_raw_size(payload)
    return size if marked is None else max(size, marked)


def raw_size_selector(
    driver: StorageDriver, threshold_bytes: int
) -> Callable[[SelectContext, Payload], StorageDriver | None]:
    """``ExternalStorage.driver_selector`` that offloads payloads of raw size ≥ ``threshold_bytes``.

    Use it with ``payload_size_threshold=0``: ExternalStorage's own check sees
    only the compressed size and would keep a well-compressing document inline.
    """

    def select(_context: SelectContext, payload: Payload) -> StorageDriver | None:
        return driver if raw_size(payload) >= threshold_bytes else None

    return select


def _never(_context: SelectContext, _payload: Payload) -> None:
    return None
