"""Pick and open the store that ``BLOB_STORAGE_TYPE`` names."""

from __future__ import annotations

from workflow_runner.claimcheck.store import ObjectStore
from workflow_runner.claimcheck.stores.filesystem import FilesystemStore
from workflow_runner.claimcheck.stores.memory import MemoryStore
from workflow_runner.config import Settings, StorageType


def create_store(settings: Settings) -> ObjectStore:
    """Build the configured store; configuration errors were already raised by ``load_settings``."""
    if settings.storage_type is StorageType.FILESYSTEM:
        return FilesystemStore(settings.storage_path)
    if settings.storage_type is StorageType.MEMORY:
        return MemoryStore()
    # Imported here so local mode never pays for (or depends on) the AWS SDK import.
    from workflow_runner.claimcheck.stores.s3 import S3Store

    assert settings.s3 is not None, "load_settings guarantees S3 settings for r2/s3"
    return S3Store(settings.s3)


async def open_store(settings: Settings) -> ObjectStore:
    """Create the store and do its start-up housekeeping (sweeping crashed writes)."""
    store = create_store(settings)
    if isinstance(store, FilesystemStore):
        await store.sweep_temp_files()
    return store
