"""Units of the payload layer: compression rules, claims, forged references, limits."""

from __future__ import annotations

import gzip
import hashlib
import os

import pytest
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
    with pytest.raises(CorruptPayloadError, match="cannot decompress binary/zstd"):
        await CompressionCodec().decode([bad])


CONTEXT = StorageDriverStoreContext(
    target=StorageDriverWorkflowInfo(namespace="default", id="order/42", run_id="r1", type="Flow")
)


async def test_store_is_content_addressed_and_deduplicated() -> None:
    store = MemoryStore()
    driver = ClaimCheckDriver(store)
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
        await ClaimCheckDriver(store, max_payload_bytes=1000).store(CONTEXT, [json_payload(5000)])
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
        await ClaimCheckDriver(store).retrieve(
            StorageDriverRetrieveContext(), [StorageDriverClaim(claim_data=claim)]
        )
    assert info.value.type == "ClaimCheckInvalidReference" and info.value.non_retryable


def test_key_layout_escapes_dangerous_ids() -> None:
    key = blob_key("a" * 64, namespace="default", scope=("wt", "T", "..", None))
    assert key == "v0/ns/default/wt/T/wi/%2E%2E/ri/null/d/sha256/" + "a" * 64
    long_id = "x" * 2000
    assert blob_key("a" * 64, namespace="ns", scope=("wt", "T", long_id, "r")) == (
        "v0/ns/ns/d/sha256/" + "a" * 64
    )
