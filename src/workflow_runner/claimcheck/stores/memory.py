"""In-process store for tests and for runs that must leave nothing behind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from workflow_runner.claimcheck.errors import BlobNotFoundError
from workflow_runner.claimcheck.keys import validate_key, validate_prefix
from workflow_runner.claimcheck.store import BlobInfo, ObjectStore


class MemoryStore(ObjectStore):
    """A dict behind the ``ObjectStore`` contract; gone when the process exits."""

    backend = "memory"

    def __init__(self) -> None:
        self._blobs: dict[str, tuple[bytes, datetime]] = {}

    @property
    def description(self) -> str:
        return "memory store"

    async def put(self, key: str, data: bytes) -> None:
        self._blobs[validate_key(key)] = (bytes(data), datetime.now(UTC))

    async def get(self, key: str) -> bytes:
        try:
            return self._blobs[validate_key(key)][0]
        except KeyError:
            raise BlobNotFoundError(key, self.description) from None

    async def delete(self, key: str) -> bool:
        return self._blobs.pop(validate_key(key), None) is not None

    async def stat(self, key: str) -> BlobInfo:
        try:
            data, modified = self._blobs[validate_key(key)]
        except KeyError:
            raise BlobNotFoundError(key, self.description) from None
        return BlobInfo(key, len(data), modified)

    async def exists(self, key: str) -> bool:
        return validate_key(key) in self._blobs

    async def list_blobs(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        validate_prefix(prefix)
        for key in sorted(k for k in self._blobs if k.startswith(prefix)):
            entry = self._blobs.get(key)
            if entry is not None:
                yield BlobInfo(key, len(entry[0]), entry[1])
            await asyncio.sleep(0)
