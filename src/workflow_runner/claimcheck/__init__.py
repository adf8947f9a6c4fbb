"""Claim check: large payloads go to a blob store, a small reference goes to Temporal."""

from workflow_runner.claimcheck.errors import (
    BlobNotFoundError,
    IntegrityError,
    InvalidKeyError,
    StoreError,
    StoreFullError,
    StoreUnavailableError,
)
from workflow_runner.claimcheck.factory import create_store, open_store
from workflow_runner.claimcheck.store import BlobInfo, ObjectStore

__all__ = [
    "BlobInfo",
    "BlobNotFoundError",
    "IntegrityError",
    "InvalidKeyError",
    "ObjectStore",
    "StoreError",
    "StoreFullError",
    "StoreUnavailableError",
    "create_store",
    "open_store",
]
