"""One contract, three stores: filesystem, S3 (moto on 127.0.0.1, R2 settings) and memory."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workflow_runner.claimcheck import (
    BlobNotFoundError,
    InvalidKeyError,
    ObjectStore,
)
from workflow_runner.claimcheck.stores import FilesystemStore, MemoryStore
from workflow_runner.claimcheck.stores.s3 import S3Store
from workflow_runner.config import S3Settings

KEY = "v0/ns/default/wt/Demo/wi/wf-1/ri/run-1/d/sha256/" + "ab" * 32


@pytest.fixture(params=["filesystem", "s3", "memory"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, s3_settings: S3Settings
) -> AsyncIterator[ObjectStore]:
    kind = request.param
    s: ObjectStore
    if kind == "filesystem":
        s = FilesystemStore(tmp_path / "blobs")
    elif kind == "s3":
        s = S3Store(s3_settings)
    else:
        s = MemoryStore()
    try:
        yield s
    finally:
        await s.close()


@pytest.mark.parametrize("size", [0, 1, 5 * 1024 * 1024, 50 * 1024 * 1024])
async def test_round_trip(store: ObjectStore, size: int) -> None:
    data = os.urandom(size)
    await store.put(KEY, data)
    got = await store.get(KEY)
    assert len(got) == size
    assert hashlib.sha256(got).digest() == hashlib.sha256(data).digest()
    info = await store.stat(KEY)
    assert info.size == size and info.key == KEY
    assert await store.exists(KEY)


async def test_repeated_put_of_same_data_is_idempotent(store: ObjectStore) -> None:
    await store.put(KEY, b"same")
    await store.put(KEY, b"same")
    assert await store.get(KEY) == b"same"
    assert [k async for k in store.list_keys()] == [KEY]


async def test_overwrite_replaces_whole_blob(store: ObjectStore) -> None:
    await store.put(KEY, b"x" * 1000)
    await store.put(KEY, b"short")
    assert await store.get(KEY) == b"short"


async def test_delete(store: ObjectStore) -> None:
    await store.put(KEY, b"data")
    assert await store.delete(KEY) is True
    assert not await store.exists(KEY)
    assert await store.delete(KEY) is False  # missing key: not an error


async def test_get_of_missing_key_names_it(store: ObjectStore) -> None:
    with pytest.raises(BlobNotFoundError) as info:
        await store.get("v0/missing/blob")
    assert "v0/missing/blob" in str(info.value)
    with pytest.raises(BlobNotFoundError):
        await store.stat("v0/missing/blob")
    assert not await store.exists("v0/missing/blob")


async def test_listing_2500_keys_pages_through_all(store: ObjectStore) -> None:
    keys = {f"bulk/{i // 100:03d}/item-{i:05d}" for i in range(2500)}
    sem = asyncio.Semaphore(32)

    async def put(k: str) -> None:
        async with sem:
            await store.put(k, k.encode())

    await asyncio.gather(*(put(k) for k in keys))
    await store.put("other/thing", b"x")
    listed = [k async for k in store.list_keys("bulk/")]
    assert len(listed) == len(keys)
    assert set(listed) == keys
    sizes = {b.key: b.size async for b in store.list_blobs("bulk/00")}
    assert len(sizes) == 1000 and all(sizes[k] == len(k) for k in sizes)
    assert sorted([k async for k in store.list_keys("bulk/001/item-0010")]) == [
        f"bulk/001/item-0010{j}" for j in range(10)
    ]


async def test_50_concurrent_puts_and_gets(store: ObjectStore) -> None:
    blobs = {f"conc/{i}": os.urandom(64 * 1024 + i) for i in range(50)}
    await asyncio.gather(*(store.put(k, v) for k, v in blobs.items()))
    got = await asyncio.gather(*(store.get(k) for k in blobs))
    assert got == list(blobs.values())


async def test_concurrent_writers_of_one_key_leave_a_whole_blob(store: ObjectStore) -> None:
    versions = [bytes([i]) * (256 * 1024) for i in range(10)]
    await asyncio.gather(*(store.put(KEY, v) for v in versions))
    assert await store.get(KEY) in versions


INVALID_KEYS = [
    "",
    "../escape",
    "a/../../escape",
    "a/./b",
    "/etc/passwd",
    "a\\b",
    "..\\..\\windows",
    "nul\x00byte",
    "a//b",
    "trailing/",
    "x" * 1025,
    "a/" + "y" * 256,
    "~tmp/sneaky",
    "spaces are not keys",
    "..",
]


@pytest.mark.parametrize("bad", INVALID_KEYS, ids=range(len(INVALID_KEYS)))
async def test_invalid_keys_are_rejected_before_any_io(
    store: ObjectStore, bad: str, tmp_path: Path
) -> None:
    before = sorted(p for p in tmp_path.parent.rglob("*") if "blobs" not in p.parts)
    with pytest.raises(InvalidKeyError):
        await store.put(bad, b"evil")
    with pytest.raises(InvalidKeyError):
        await store.get(bad)
    with pytest.raises(InvalidKeyError):
        await store.delete(bad)
    with pytest.raises(InvalidKeyError):
        await store.exists(bad)
    after = sorted(p for p in tmp_path.parent.rglob("*") if "blobs" not in p.parts)
    assert before == after
    assert [k async for k in store.list_keys()] == []


async def test_health_proves_writability(store: ObjectStore) -> None:
    report = await store.health()
    assert report.startswith("ok")
    assert [k async for k in store.list_keys()] == []  # the probe cleaned up
