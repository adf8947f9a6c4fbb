"""Units of the payload layer: compression rules, claims, forged references, limits."""

from __future__ import annotations

import gzip
import hashlib
import os
import tracemalloc
import zlib

import pytest
import zstandard
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)
from temporalio.exceptions import ApplicationError

from workflow_runner.claimcheck.codec import (
    GZIP_ENCODING,
    ZSTD_ENCODING,
    CompressionCodec,
    CorruptPayloadError,
    DecodedTooLargeError,
)
from workflow_runner.claimcheck.driver import ClaimCheckDriver, PayloadTooLargeError
from workflow_runner.claimcheck.keys import blob_key
from workflow_runner.claimcheck.stores import MemoryStore


def json_payload(size: int) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=b'{"a":"' + b"x" * size + b'"}')


async def test_zstd_round_trip_and_small_payloads_untouched() -> None:
    codec = CompressionCodec()
    small, big = json_payload(100), json_payload(200_000)
    encoded = await codec.encode([small, big])
    assert encoded[0] == small
    assert encoded[1].metadata["encoding"] == ZSTD_ENCODING
    assert encoded[1].ByteSize() < big.ByteSize() / 10
    assert await codec.decode(encoded) == [small, big]


async def test_incompressible_payloads_stay_as_they_are() -> None:
    noise = Payload(metadata={"encoding": b"binary/plain"}, data=os.urandom(100_000))
    assert await CompressionCodec().encode([noise]) == [noise]


async def test_gzip_and_zstd_decode_even_with_compression_off() -> None:
    original = json_payload(50_000)
    gz = Payload(
        metadata={"encoding": GZIP_ENCODING}, data=gzip.compress(original.SerializeToString())
    )
    zs = (await CompressionCodec(enabled=True).encode([original]))[0]
    off = CompressionCodec(enabled=False)
    assert await off.encode([original]) == [original]
    assert await off.decode([gz, zs]) == [original, original]


async def test_corrupted_compressed_payload_is_a_clear_error() -> None:
    bad = Payload(metadata={"encoding": ZSTD_ENCODING}, data=b"not zstd at all")
    with pytest.raises(
        CorruptPayloadError, match=r"cannot decompress payload 1 of 1 \(binary/zstd\)"
    ):
        await CompressionCodec().decode([bad])


CONTEXT = StorageDriverStoreContext(
    target=StorageDriverWorkflowInfo(namespace="default", id="order/42", run_id="r1", type="Flow")
)


async def test_store_is_content_addressed_and_deduplicated() -> None:
    store = MemoryStore()
    driver = ClaimCheckDriver(store, namespace="default")
    payload = json_payload(100_000)
    claims = await driver.store(CONTEXT, [payload, payload])
    digest = hashlib.sha256(payload.SerializeToString()).hexdigest()
    assert (
        claims[0].claim_data["key"]
        == f"v0/ns/default/wt/Flow/wi/order%2F42/ri/r1/d/sha256/{digest}"
    )
    assert claims[0] == claims[1]
    assert [k async for k in store.list_keys()] == [claims[0].claim_data["key"]]
    assert await driver.retrieve(StorageDriverRetrieveContext(), claims[:1]) == [payload]


async def test_payload_over_the_maximum_is_refused_before_upload() -> None:
    store = MemoryStore()
    with pytest.raises(PayloadTooLargeError, match="CLAIMCHECK_MAX_PAYLOAD_BYTES"):
        driver = ClaimCheckDriver(store, namespace="default", max_payload_bytes=1000)
        await driver.store(CONTEXT, [json_payload(5000)])
    assert [k async for k in store.list_keys()] == []


@pytest.mark.parametrize(
    "claim",
    [
        {"key": "../../etc/passwd", "hash_algorithm": "sha256", "hash_value": "0" * 64},
        {"key": "v0/d/sha256/" + "0" * 64, "hash_algorithm": "md5", "hash_value": "0" * 64},
        {"key": "other/blob", "hash_algorithm": "sha256", "hash_value": "0" * 64},
        {"key": "v0/d/sha256/" + "1" * 64, "hash_algorithm": "sha256", "hash_value": "0" * 64},
        {"hash_algorithm": "sha256"},
    ],
)
async def test_forged_references_are_refused_without_reading(claim: dict[str, str]) -> None:
    store = MemoryStore()
    await store.put("other/blob", b"private")
    with pytest.raises(ApplicationError) as info:
        await ClaimCheckDriver(store, namespace="default").retrieve(
            StorageDriverRetrieveContext(), [StorageDriverClaim(claim_data=claim)]
        )
    assert info.value.type == "ClaimCheckInvalidReference" and info.value.non_retryable


def test_key_layout_escapes_dangerous_ids() -> None:
    key = blob_key("a" * 64, namespace="default", scope=("wt", "T", "..", None))
    assert key == "v0/ns/default/wt/T/wi/%2E%2E/ri/null/d/sha256/" + "a" * 64


@pytest.mark.parametrize(
    "workflow_id", ["x" * 300, "注文" * 15, "x" * 2000], ids=["300", "cjk-30", "2000"]
)
def test_a_long_workflow_id_is_digested_in_its_key_never_dropped(workflow_id: str) -> None:
    key = blob_key("a" * 64, namespace="ns", scope=("wt", "T", workflow_id, "r"))
    digest = hashlib.sha256(workflow_id.encode()).hexdigest()
    assert key == f"v0/ns/ns/wt/T/wi/%%sha256-{digest}/ri/r/d/sha256/" + "a" * 64
    # A real id spelled like the marker is percent-encoded, so the two never collide.
    spoof = blob_key("a" * 64, namespace="ns", scope=("wt", "T", f"%%sha256-{digest}", "r"))
    assert f"/wi/%25%25sha256-{digest}/" in spoof


def test_every_segment_of_a_maximal_key_fits_s3_limits() -> None:
    key = blob_key("a" * 64, namespace="n" * 255, scope=("wt", "t" * 225, "i" * 225, "r" * 225))
    assert len(key) <= 1024 and "%%" not in key  # fits spelled out: no digest needed
    huge = blob_key("a" * 64, namespace="语" * 200, scope=("wt", "t" * 999, "i" * 999, "r" * 999))
    assert len(huge) < 1024 and huge.count("%%sha256-") == 4


async def test_a_store_without_target_still_names_the_namespace() -> None:
    store = MemoryStore()
    (claim,) = await ClaimCheckDriver(store, namespace="prod").store(
        StorageDriverStoreContext(), [json_payload(100)]
    )
    assert claim.claim_data["key"].startswith("v0/ns/prod/d/sha256/")


@pytest.mark.parametrize(
    ("key_prefix", "named"),
    [("v0/ns/tenant-b/wt/Flow/wi/w/ri/r", "'tenant-b'"), ("v0", "no namespace")],
)
async def test_a_reference_to_another_namespace_is_refused_before_reading(
    key_prefix: str, named: str
) -> None:
    store = MemoryStore()
    secret = json_payload(100).SerializeToString()
    digest = hashlib.sha256(secret).hexdigest()
    key = f"{key_prefix}/d/sha256/{digest}"
    await store.put(key, secret)  # a real, intact blob of the other tenant
    claim = {"key": key, "hash_algorithm": "sha256", "hash_value": digest}
    driver = ClaimCheckDriver(store, namespace="default")
    with pytest.raises(ApplicationError) as info:
        await driver.retrieve(StorageDriverRetrieveContext(), [StorageDriverClaim(claim)])
    assert info.value.type == "ClaimCheckForeignNamespace" and info.value.non_retryable
    assert named in str(info.value) and "serves namespace 'default'" in str(info.value)
    assert key in str(info.value)


async def test_a_corrupted_blob_names_its_key() -> None:
    store = MemoryStore()
    driver = ClaimCheckDriver(store, namespace="default")
    (claim,) = await driver.store(CONTEXT, [json_payload(100_000)])
    await store.put(claim.claim_data["key"], b"flipped bits")
    with pytest.raises(ApplicationError) as info:
        await driver.retrieve(StorageDriverRetrieveContext(), [claim])
    assert info.value.type == "ClaimCheckBlobCorrupted" and claim.claim_data["key"] in str(
        info.value
    )


# -- decompression bombs ------------------------------------------------------

BOMB_BYTES = 1 << 30  # what the bombs below inflate to
LIMIT = 32 * 1024 * 1024


def gzip_bomb(size: int = BOMB_BYTES) -> bytes:
    """``size`` zero bytes, gzip'd in a stream (about 1 MB per GiB), never held whole."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    parts = [deflate.compress(zeros) for _ in range(size >> 20)]
    return b"".join(parts) + deflate.flush()


def zstd_bomb(size: int = BOMB_BYTES, *, declare_size: bool) -> bytes:
    """``size`` zero bytes as one zstd frame of a few KB, with or without its content size."""
    compressor = zstandard.ZstdCompressor(level=3, write_content_size=declare_size)
    writer = compressor.compressobj(size=size if declare_size else -1)
    zeros = bytes(1 << 20)
    return b"".join(writer.compress(zeros) for _ in range(size >> 20)) + writer.flush()


def bomb_payload(kind: str) -> Payload:
    if kind == "gzip":
        return Payload(metadata={"encoding": GZIP_ENCODING}, data=gzip_bomb())
    declared = kind == "zstd-declared"
    return Payload(metadata={"encoding": ZSTD_ENCODING}, data=zstd_bomb(declare_size=declared))


@pytest.mark.parametrize("kind", ["gzip", "zstd-declared", "zstd-undeclared"])
async def test_a_decompression_bomb_is_refused_with_bounded_memory(kind: str) -> None:
    bomb = bomb_payload(kind)
    assert bomb.ByteSize() < 2 * 1024 * 1024  # fits in one history event
    codec = CompressionCodec(max_decoded_bytes=LIMIT)
    tracemalloc.start()
    try:
        with pytest.raises(DecodedTooLargeError) as info:
            await codec.decode([bomb])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024 * 1024, f"decoding the bomb peaked at {peak} bytes"
    assert info.value.non_retryable and info.value.type == "ClaimCheckDecodedTooLarge"
    assert "CLAIMCHECK_MAX_PAYLOAD_BYTES" in str(info.value) and "payload 1 of 1" in str(info.value)


async def test_one_decode_call_may_not_inflate_past_its_budget() -> None:
    ten_mb = Payload(
        metadata={"encoding": GZIP_ENCODING},
        data=gzip.compress(json_payload(10 << 20).SerializeToString(), 1),
    )
    codec = CompressionCodec(max_decoded_bytes=16 << 20, max_decoded_bytes_per_call=25 << 20)
    with pytest.raises(DecodedTooLargeError, match="payload 3 of 3"):
        await codec.decode([ten_mb, ten_mb, ten_mb])


async def test_streamed_gzip_decodes_what_gzip_decompress_does() -> None:
    original = json_payload(300_000).SerializeToString()
    two_members = gzip.compress(original[:1000]) + gzip.compress(original[1000:]) + b"\0\0"
    payload = Payload(metadata={"encoding": GZIP_ENCODING}, data=two_members)
    assert (await CompressionCodec().decode([payload]))[0].SerializeToString() == original
    truncated = Payload(metadata={"encoding": GZIP_ENCODING}, data=two_members[:-10])
    with pytest.raises(CorruptPayloadError, match="ended before"):
        await CompressionCodec().decode([truncated])


async def test_equal_payloads_get_one_key_whatever_order_their_metadata_was_set_in() -> None:
    """Content addressing needs deterministic bytes: protobuf maps serialize in any order."""
    store = MemoryStore()
    driver = ClaimCheckDriver(store, namespace="default")
    first = Payload(data=b"x" * 100)
    first.metadata["encoding"] = b"binary/zstd"
    first.metadata["claimcheck-raw-size"] = b"123"
    second = Payload(data=b"x" * 100)
    second.metadata["claimcheck-raw-size"] = b"123"
    second.metadata["encoding"] = b"binary/zstd"
    context = StorageDriverStoreContext()
    (a,) = await driver.store(context, [first])
    (b,) = await driver.store(context, [second])
    assert a.claim_data["key"] == b.claim_data["key"]
    assert len([k async for k in store.list_keys("")]) == 1
