"""zstd compression as a ``PayloadCodec``, so offloaded blobs are stored compressed.

It sits in the same data converter, before external storage: the size
threshold is checked on the compressed bytes. Small payloads are left alone
(compression would cost more than it saves), and so is anything that does not
shrink by at least 10% (already-compressed data). Decoding always accepts
zstd and gzip, whatever the setting, so data written with compression on
stays readable with it off.
"""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Callable, Sequence

import zstandard
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from workflow_runner.claimcheck import metrics

ZSTD_ENCODING = b"binary/zstd"
GZIP_ENCODING = b"binary/gzip"
MIN_COMPRESS_BYTES = 4096
ZSTD_LEVEL = 3
# Payloads above this are (de)compressed in a worker thread so a 50 MB blob
# does not stall the worker's event loop for tens of milliseconds.
_THREAD_ABOVE_BYTES = 1024 * 1024


class CorruptPayloadError(ValueError):
    """A compressed payload that cannot be decompressed."""


class CompressionCodec(PayloadCodec):
    """zstd on encode (when ``enabled``); zstd and gzip on decode, always."""

    def __init__(self, *, enabled: bool = True, max_decoded_bytes: int = 1 << 31) -> None:
        self.enabled = enabled
        self.max_decoded_bytes = max_decoded_bytes

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if not self.enabled:
            return list(payloads)
        return [await _maybe_threaded(self._encode_one, p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [await _maybe_threaded(self._decode_one, p) for p in payloads]

    def _encode_one(self, payload: Payload) -> Payload:
        raw = payload.SerializeToString()
        if len(raw) < MIN_COMPRESS_BYTES:
            return payload
        packed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(raw)
        if len(packed) > len(raw) * 0.9:
            return payload
        metrics.CODEC_BYTES_IN.inc(len(raw))
        metrics.CODEC_BYTES_OUT.inc(len(packed))
        return Payload(metadata={"encoding": ZSTD_ENCODING}, data=packed)

    def _decode_one(self, payload: Payload) -> Payload:
        encoding = payload.metadata.get("encoding", b"")
        try:
            if encoding == ZSTD_ENCODING:
                raw = zstandard.ZstdDecompressor().decompress(
                    payload.data, max_output_size=self.max_decoded_bytes
                )
            elif encoding == GZIP_ENCODING:
                raw = gzip.decompress(payload.data)
            else:
                return payload
            decoded = Payload()
            decoded.ParseFromString(raw)
        except (zstandard.ZstdError, OSError, EOFError, ValueError) as e:
            raise CorruptPayloadError(
                f"cannot decompress {encoding.decode(errors='replace')} payload: {e}"
            ) from e
        return decoded


async def _maybe_threaded(fn: Callable[[Payload], Payload], payload: Payload) -> Payload:
    if payload.ByteSize() > _THREAD_ABOVE_BYTES:
        return await asyncio.to_thread(fn, payload)
    return fn(payload)
