"""Large payloads left compressed by the codec and inflated where they are read."""

from __future__ import annotations

import gzip
import tracemalloc

import pytest
import zstandard
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.converter import DefaultPayloadConverter

from tests.claimcheck.test_codec_and_driver import LIMIT, zstd_bomb
from workflow_runner.claimcheck.codec import (
    GZIP_ENCODING,
    RAW_SIZE_KEY,
    ZSTD_ENCODING,
    CompressionCodec,
    CorruptPayloadError,
    DecodedTooLargeError,
)
from workflow_runner.claimcheck.converter import DEFER_INFLATION_BYTES, build_data_converter
from workflow_runner.claimcheck.payload_converter import (
    InflatingPayloadConverter,
    inflating_converter_class,
)
from workflow_runner.config import load_settings

DEFER = 100_000
DOCUMENT = {"items": [{"id": n, "name": f"item {n}"} for n in range(20_000)]}  # ~0.6 MB
SMALL = {"hello": "world " * 2_000}  # ~12 KB


def payload_of(value: object) -> Payload:
    return DefaultPayloadConverter().to_payloads([value])[0]


async def compressed(value: object) -> Payload:
    (encoded,) = await CompressionCodec().encode([payload_of(value)])
    assert encoded.metadata["encoding"] == ZSTD_ENCODING
    return encoded


async def test_a_large_payload_passes_the_codec_compressed_and_reads_back_the_same() -> None:
    big, small = await compressed(DOCUMENT), await compressed(SMALL)
    codec = CompressionCodec(defer_above=DEFER)
    decoded_big, decoded_small = await codec.decode([big, small])
    assert decoded_big is big  # left as it came: no inflated copy made here
    assert decoded_small == payload_of(SMALL)  # under the mark: inflated as before
    converter = InflatingPayloadConverter()
    assert converter.from_payloads([decoded_big, decoded_small]) == [DOCUMENT, SMALL]


async def test_unmarked_zstd_and_gzip_are_still_inflated_by_the_codec() -> None:
    big = await compressed(DOCUMENT)
    unmarked = Payload(metadata={"encoding": ZSTD_ENCODING}, data=big.data)
    gz = Payload(
        metadata={"encoding": GZIP_ENCODING, RAW_SIZE_KEY: big.metadata[RAW_SIZE_KEY]},
        data=gzip.compress(payload_of(DOCUMENT).SerializeToString()),
    )
    codec = CompressionCodec(defer_above=DEFER)
    assert await codec.decode([unmarked, gz]) == [payload_of(DOCUMENT)] * 2


async def test_a_raw_value_keeps_its_payload_compressed_until_it_is_read() -> None:
    big = await compressed(DOCUMENT)
    converter = InflatingPayloadConverter()
    (raw,) = converter.from_payloads([big], [RawValue])
    assert isinstance(raw, RawValue) and raw.payload is big
    assert converter.from_payload(raw.payload) == DOCUMENT


async def test_a_forged_size_mark_cannot_bring_a_bomb_past_the_limit() -> None:
    bomb = Payload(
        metadata={"encoding": ZSTD_ENCODING, RAW_SIZE_KEY: b"2000000"},
        data=zstd_bomb(declare_size=False),
    )
    assert (await CompressionCodec(defer_above=DEFER).decode([bomb]))[0] is bomb
    converter = inflating_converter_class(LIMIT)()
    tracemalloc.start()
    try:
        with pytest.raises(DecodedTooLargeError) as info:
            converter.from_payloads([bomb])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024 * 1024, f"reading the bomb peaked at {peak} bytes"
    assert info.value.non_retryable and "CLAIMCHECK_MAX_PAYLOAD_BYTES" in str(info.value)
    assert "payload 1 of 1 (binary/zstd)" in str(info.value)


async def test_one_read_may_not_inflate_past_the_limit_in_all() -> None:
    big = await compressed(DOCUMENT)  # ~0.6 MB inflated
    converter = inflating_converter_class(1_000_000)()
    assert converter.from_payloads([big]) == [DOCUMENT]
    with pytest.raises(DecodedTooLargeError, match="payload 2 of 2"):
        converter.from_payloads([big, big])


def wrapped(payload: Payload, times: int) -> Payload:
    """``payload`` compressed ``times`` over (zstd outside, gzip within), the outer marked."""
    for level in range(times):
        encoding = ZSTD_ENCODING if level == times - 1 else GZIP_ENCODING
        inner = payload.SerializeToString()
        data = zstandard.compress(inner) if encoding == ZSTD_ENCODING else gzip.compress(inner)
        payload = Payload(metadata={"encoding": encoding, RAW_SIZE_KEY: b"2000000"}, data=data)
    return payload


async def test_a_compressed_payload_inside_one_is_read_and_a_deep_chain_is_refused() -> None:
    converter = InflatingPayloadConverter()
    assert converter.from_payloads([wrapped(await compressed(DOCUMENT), 1)]) == [DOCUMENT]
    assert converter.from_payloads([wrapped(payload_of(DOCUMENT), 4)]) == [DOCUMENT]
    with pytest.raises(CorruptPayloadError, match="compressed more than 4 times over"):
        converter.from_payloads([wrapped(payload_of(DOCUMENT), 5)])


async def test_a_corrupted_deferred_payload_is_a_clear_error() -> None:
    bad = Payload(metadata={"encoding": ZSTD_ENCODING, RAW_SIZE_KEY: b"2000000"}, data=b"junk")
    with pytest.raises(CorruptPayloadError, match=r"cannot decompress payload 1 of 1"):
        InflatingPayloadConverter().from_payloads([bad])


async def test_the_data_converter_defers_only_payloads_of_a_megabyte_or_more() -> None:
    settings = load_settings({"CLAIMCHECK_MAX_PAYLOAD_BYTES": str(64 << 20)})
    converter = build_data_converter(settings, None)
    assert issubclass(converter.payload_converter_class, InflatingPayloadConverter)
    assert converter.payload_converter_class.max_decoded_bytes == 64 << 20
    megabyte = {"blob": "x" * DEFER_INFLATION_BYTES}
    (sent,) = await converter.encode([megabyte])
    assert sent.metadata["encoding"] == ZSTD_ENCODING
    (passed,) = await converter._decode_payload_sequence([sent])
    assert passed is sent  # compressed through the codec
    assert await converter.decode([sent]) == [megabyte]
    (small,) = await converter.encode([SMALL])
    assert (await converter._decode_payload_sequence([small]))[0].metadata["encoding"] == (
        b"json/plain"
    )
