"""Typed store errors, so callers can tell "retry later" from "this will never work".

Each error names the key (and the store) it is about: an operator reading a
failed workflow needs to know which blob to look for.
"""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every blob-store error."""


class InvalidKeyError(StoreError, ValueError):
    """The key could escape the store or is not a key at all; never retryable."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"invalid blob key {key!r}: {reason}")


class BlobNotFoundError(StoreError, KeyError):
    """No blob under this key (deleted, expired by GC, or never written)."""

    def __init__(self, key: str, store: str) -> None:
        self.key = key
        self.store = store
        super().__init__(key)

    def __str__(self) -> str:
        return f"blob not found: {self.key} (in {self.store})"


class StoreUnavailableError(StoreError):
    """The store cannot be reached or used right now; retrying may help."""


class StoreFullError(StoreUnavailableError):
    """No space left; retrying helps once space is freed, so it stays retryable."""


class IntegrityError(StoreError):
    """The bytes read back are not the bytes that were written."""

    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        super().__init__(f"integrity check failed for blob {key}: {detail}")
