"""The ``ObjectStore`` backends; each module holds one."""

from workflow_runner.claimcheck.stores.filesystem import FilesystemStore
from workflow_runner.claimcheck.stores.memory import MemoryStore

__all__ = ["FilesystemStore", "MemoryStore"]
