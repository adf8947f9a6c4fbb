"""``ObjectStore``: the one abstraction every blob backend implements.

Shaped like httpx's transports and Temporal's ``StorageDriver``: the driver,
the admin CLI and GC talk only to this ABC; each backend is a small class
behind it.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from workflow_runner.claimcheck.errors import IntegrityError

HEALTH_KEY_PREFIX = "_health/"


@dataclass(frozen=True)
class BlobInfo:
    """What listing and ``stat`` know about a blob without reading it."""

    key: str
    size: int
    modified: datetime


class ObjectStore(ABC):
    """Async key/value store for immutable blobs.

    ``backend`` names the implementation in metrics and logs.

    Contract shared by every implementation (and checked by one test suite):
    ``put`` is atomic (a reader sees the old blob, the new one, or nothing,
    never part of one); ``get`` of a missing key raises ``BlobNotFoundError``
    naming it; ``delete`` of a missing key is not an error; every key is
    validated before any I/O; listings stream with bounded memory.
    """

    backend: ClassVar[str] = "unknown"

    @property
    @abstractmethod
    def description(self) -> str:
        """Human-readable location (path or bucket) used in error messages."""

    @abstractmethod
    async def put(self, key: str, data: bytes) -> None: ...

    @abstractmethod
    async def get(self, key: str) -> bytes: ...

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Remove the blob; returns whether it existed."""

    @abstractmethod
    async def stat(self, key: str) -> BlobInfo: ...

    @abstractmethod
    async def exists(self, key: str) -> bool: ...

    @abstractmethod
    def list_blobs(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        """Every blob whose key starts with ``prefix``, each exactly once, streamed.

        The order is unspecified: S3 lists lexicographically, the filesystem
        store by directory; sorting would cost memory proportional to the store.
        """

    async def list_keys(self, prefix: str = "") -> AsyncIterator[str]:
        """Keys only, for callers that need neither sizes nor dates."""
        async for info in self.list_blobs(prefix):
            yield info.key

    async def health(self) -> str:
        """Prove the store is reachable *and writable* by a put/get/delete round trip.

        Raises ``StoreUnavailableError`` (or a subclass) with the reason.
        """
        key = f"{HEALTH_KEY_PREFIX}{os.getpid()}-{os.urandom(6).hex()}"
        probe = os.urandom(16)
        await self.put(key, probe)
        try:
            if await self.get(key) != probe:
                raise IntegrityError(key, "health probe read back different bytes")
        finally:
            await self.delete(key)
        return f"ok: {self.description} is readable and writable"

    async def close(self) -> None:  # noqa: B027 - most stores hold nothing to release
        """Release connections; the store is unusable afterwards."""

    async def __aenter__(self) -> ObjectStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
