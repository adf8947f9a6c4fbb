"""zstd compression as a ``PayloadCodec``, so offloaded blobs are stored compressed.

It sits in the same data converter, before external storage (Temporal's
order is payload converter → codec → external storage), so external storage
only ever sees the compressed payload. The offload decision must not be taken
on that: a 1 MB document that zstd shrinks to 40 KB is still a 1 MB document
(converter.py decides on the raw size). So every payload this codec compresses
records its raw size, the byte length of the serialized payload it replaced,
as ASCII decimal in metadata ``RAW_SIZE_KEY``; a payload it leaves alone is
its own raw size. Decoding ignores the mark, so payloads written before it
existed (inline or in blobs) read as they always did.

Small payloads are left alone (compression would cost more than it saves), and
so is anything that does not shrink by at least 10% (already-compressed data).
Decoding always accepts zstd and gzip, whatever the setting, so data written
with compression on stays readable with it off.

Decoding is bounded, because whoever can signal a workflow or call the codec
server chooses the bytes: a 40 KB zstd frame can claim (and inflate to)
gigabytes. Both formats are decoded as streams in chunks and stopped as soon
as one payload passes ``max_decoded_bytes`` or the payloads of one
``decode`` call together pass ``max_decoded_bytes_per_call``; memory stays
within the limit plus one chunk (and the copy protobuf makes of the result).
A refusal is a non-retryable ``ApplicationError``: decoding a workflow
activation, it fails the workflow cleanly instead of retrying the task (and
re-inflating the bomb) forever.

The data converter's codec leaves large payloads compressed (``defer_above``):
its payload converter (``claimcheck/payload_converter.py``) inflates them where
they are read. Inflated here, a 50 MB payload would sit in the workflow
activation for the whole activation while its reader copies ``payload.data`` to
build objects from: two copies of the document besides the objects, where
inflating on read leaves one (:func:`inflated`, the same limits).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence

import zstandard
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec
from temporalio.exceptions import ApplicationError

from workflow_runner.claimcheck import metrics

ZSTD_ENCODING = b"binary/zstd"
GZIP_ENCODING = b"binary/gzip"
# Set on every payload this codec compresses: the size of what it replaced.
RAW_SIZE_KEY = "claimcheck-raw-size"
# The setting a decompression limit is named after in errors, by default.
MAX_PAYLOAD_VARIABLE = "CLAIMCHECK_MAX_PAYLOAD_BYTES"
MIN_COMPRESS_BYTES = 4096
ZSTD_LEVEL = 3
DEFAULT_MAX_DECODED_BYTES = 512 * 1024 * 1024
# Payloads above this are compressed in a worker thread so a 50 MB blob does
# not stall the worker's event loop for tens of milliseconds. Decompression is
# always threaded: a few KB can inflate to the limit.
_THREAD_ABOVE_BYTES = 1024 * 1024
_CHUNK = 1024 * 1024
_MAX_NESTING = 4  # compressed payloads inside compressed payloads, inflated on read
_GZIP_WBITS = 16 + zlib.MAX_WBITS


class CorruptPayloadError(ApplicationError):
    """A compressed payload that cannot be decompressed; retrying cannot help."""

    error_type = "ClaimCheckCorruptPayload"

    def __init__(self, message: str) -> None:
        super().__init__(message, type=self.error_type, non_retryable=True)


class DecodedTooLargeError(CorruptPayloadError):
    """A payload (or one decode call's payloads) inflates past the configured limit."""

    error_type = "ClaimCheckDecodedTooLarge"


class CompressionCodec(PayloadCodec):
    """zstd on encode (when ``enabled``); zstd and gzip on decode, always, within limits."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        max_decoded_bytes: int = DEFAULT_MAX_DECODED_BYTES,
        max_decoded_bytes_per_call: int | None = None,
        limit_name: str = MAX_PAYLOAD_VARIABLE,
        defer_above: int | None = None,
    ) -> None:
        if max_decoded_bytes <= 0:
            raise ValueError("max_decoded_bytes must be greater than zero")
        self.enabled = enabled
        # zstd payloads marked at least this big are decoded as they are, still compressed
        # (a payload converter that inflates them reads them: see the module docstring)
        self.defer_above = defer_above
        self.max_decoded_bytes = max_decoded_bytes
        self.max_decoded_bytes_per_call = max_decoded_bytes_per_call or max_decoded_bytes
        self.limit_name = limit_name

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        if not self.enabled:
            return list(payloads)
        encoded = []
        for payload in payloads:
            if payload.ByteSize() > _THREAD_ABOVE_BYTES:
                encoded.append(await asyncio.to_thread(self._encode_one, payload))
            else:
                encoded.append(self._encode_one(payload))
        return encoded

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.decode_within(payloads, self.max_decoded_bytes_per_call)

    async def decode_within(self, payloads: Sequence[Payload], budget: int) -> list[Payload]:
        """Decode, inflating at most ``budget`` bytes in total (what a caller has left)."""
        decoded: list[Payload] = []
        for index, payload in enumerate(payloads):
            encoding = payload.metadata.get("encoding", b"")
            if encoding not in (ZSTD_ENCODING, GZIP_ENCODING) or self._deferred(payload, encoding):
                decoded.append(payload)
                continue
            where = f"payload {index + 1} of {len(payloads)} ({encoding.decode()})"
            limit = min(self.max_decoded_bytes, budget)
            raw = await asyncio.to_thread(self._inflate, payload, encoding, limit, where)
            budget -= len(raw)
            decoded.append(_parse(raw, where))
        return decoded

    def _deferred(self, payload: Payload, encoding: bytes) -> bool:
        if self.defer_above is None or encoding != ZSTD_ENCODING:
            return False
        marked = marked_raw_size(payload)
        return marked is not None and marked >= self.defer_above

    def _encode_one(self, payload: Payload) -> Payload:
        raw = payload.SerializeToString(deterministic=True)  # same payload, same bytes
        if len(raw) < MIN_COMPRESS_BYTES:
            return payload
        if len(raw) > self.max_decoded_bytes:
            # It could be stored compressed but never decoded again: refuse now.
            raise DecodedTooLargeError(
                f"payload of {len(raw)} bytes exceeds {self.limit_name} "
                f"({self.max_decoded_bytes} bytes)"
            )
        packed = zstandard.ZstdCompressor(level=ZSTD_LEVEL).compress(raw)
        if len(packed) > len(raw) * 0.9:
            return payload
        metrics.CODEC_BYTES_IN.inc(len(raw))
        metrics.CODEC_BYTES_OUT.inc(len(packed))
        return Payload(
            metadata={"encoding": ZSTD_ENCODING, RAW_SIZE_KEY: str(len(raw)).encode()},
            data=packed,
        )

    def _inflate(self, payload: Payload, encoding: bytes, limit: int, where: str) -> bytes:
        return _inflate(payload, encoding, limit, where, self._limit_text(limit))

    def _limit_text(self, limit: int) -> str:
        if limit < self.max_decoded_bytes:
            total = self.max_decoded_bytes_per_call
            return f"what is left of the {total} bytes one call may decode"
        return self.limit_name


class _TooLarge(Exception):
    pass


def marked_raw_size(payload: Payload) -> int | None:
    """The ``RAW_SIZE_KEY`` mark of ``payload`` (None when it has none, or a garbled one)."""
    mark = payload.metadata.get(RAW_SIZE_KEY)
    if mark is not None and 0 < len(mark) <= 20 and mark.isdigit():
        return int(mark)
    return None


def inflated(payload: Payload, limit: int, where: str, limit_name: str) -> Payload:
    """The payload a zstd or gzip ``payload`` replaced, refusing to inflate past ``limit``
    bytes in all (``limit_name`` says which setting that is). The inflated bytes are
    released when this returns: the parsed payload is the only copy left.

    A compressed payload inside is inflated too, within what is left of ``limit`` (a
    ``RawValue`` sent on as it came may have been wrapped again), to a depth of
    ``_MAX_NESTING``: a chain of tiny frames would otherwise cost a call each."""
    for _ in range(_MAX_NESTING):
        encoding = payload.metadata.get("encoding", b"")
        raw = _inflate(payload, encoding, max(limit, 0), where, limit_name)
        limit -= len(raw)
        payload = _parse(raw, where)
        del raw
        if payload.metadata.get("encoding") not in (ZSTD_ENCODING, GZIP_ENCODING):
            return payload
    raise CorruptPayloadError(
        f"cannot decompress {where}: compressed more than {_MAX_NESTING} times over"
    )


def _inflate(payload: Payload, encoding: bytes, limit: int, where: str, limit_text: str) -> bytes:
    try:
        if encoding == ZSTD_ENCODING:
            return _unzstd(payload.data, limit)
        if encoding == GZIP_ENCODING:
            return _gunzip(payload.data, limit)
    except _TooLarge:
        raise DecodedTooLargeError(
            f"{where} inflates past {limit} bytes ({limit_text}); "
            "refusing it as a decompression bomb"
        ) from None
    except (zstandard.ZstdError, zlib.error, EOFError, ValueError) as e:
        raise CorruptPayloadError(f"cannot decompress {where}: {e}") from e
    raise CorruptPayloadError(f"cannot decompress {where}: not compressed ({encoding!r})")


def _parse(raw: bytes, where: str) -> Payload:
    decoded = Payload()
    try:
        decoded.ParseFromString(raw)
    except Exception as e:  # protobuf's DecodeError has no stable public base class
        raise CorruptPayloadError(f"cannot decompress {where}: not a payload ({e})") from e
    return decoded


def _unzstd(data: bytes, limit: int) -> bytes:
    """All frames of ``data``, refusing more than ``limit`` bytes of output.

    A frame header may promise a content size (refused at once if too big) or
    not (then only the streamed output counts): never trust it to allocate.
    """
    declared = zstandard.frame_content_size(data)
    if declared > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    total = 0
    with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as reader:
        while chunk := reader.read(min(_CHUNK, limit - total + 1)):
            total += len(chunk)
            if total > limit:
                raise _TooLarge
            chunks.append(chunk)
    return b"".join(chunks)


def _gunzip(data: bytes, limit: int) -> bytes:
    """Every gzip member of ``data`` (as ``gzip.decompress``), at most ``limit`` bytes out."""
    chunks: list[bytes] = []
    total = 0
    pending = data
    while pending:
        inflater = zlib.decompressobj(wbits=_GZIP_WBITS)
        while not inflater.eof:
            chunk = inflater.decompress(pending, min(_CHUNK, limit - total + 1))
            pending = inflater.unconsumed_tail
            if chunk:
                total += len(chunk)
                if total > limit:
                    raise _TooLarge
                chunks.append(chunk)
            elif not pending:
                raise EOFError("compressed data ended before the end-of-stream marker")
        pending = inflater.unused_data
        if pending.strip(b"\x00") == b"":  # gzip tolerates zero padding after the last member
            break
    return b"".join(chunks)
