"""Garbage collection of blobs that no workflow can need any more.

Safe by construction: a blob is deleted only when it is older than the TTL
*and* Temporal says the workflow run it belongs to (the run id in its key) is
closed or gone. A run that is still open keeps its blobs whatever their age;
when Temporal cannot be asked, the blob is kept. Blobs whose key names a
workflow but no run (stored by the client before the run existed) are kept
while the workflow id's latest run is open. Keys that name no workflow at
all fall back to age alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import unquote

from workflow_runner.claimcheck.store import BlobInfo, ObjectStore


class RunStatus(Protocol):
    async def is_open(self, namespace: str, workflow_id: str, run_id: str | None) -> bool | None:
        """True while the run (or, without a run id, the id's latest run) is open;
        False when closed or unknown to Temporal; None when Temporal cannot be asked."""
        ...


@dataclass(frozen=True)
class BlobOwner:
    namespace: str | None
    workflow_id: str | None
    run_id: str | None


def owner_of(key: str) -> BlobOwner:
    parts = key.split("/")
    fields = dict(zip(parts[1:-3:2], parts[2:-3:2], strict=False))

    def field_value(name: str) -> str | None:
        value = fields.get(name)
        if value is None or value == "null":
            return None
        return unquote(value)

    workflow_id = field_value("wi") if "wt" in fields else None
    return BlobOwner(field_value("ns"), workflow_id, field_value("ri") if workflow_id else None)


@dataclass
class GcReport:
    scanned: int = 0
    deleted: int = 0
    bytes_freed: int = 0
    kept_open_run: int = 0
    kept_young: int = 0
    kept_unknown: int = 0
    deleted_keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


async def collect_garbage(
    store: ObjectStore,
    runs: RunStatus,
    *,
    ttl: timedelta,
    dry_run: bool = False,
    now: datetime | None = None,
    keep_keys: int = 1000,
    on_blob: Callable[[BlobInfo], None] | None = None,
) -> GcReport:
    """Scan every blob once (streamed) and delete what is provably dead.

    ``keep_keys`` bounds how many deleted keys the report remembers (for
    ``--dry-run`` listings); counts are always complete.
    """
    cutoff = (now or datetime.now(UTC)) - ttl
    report = GcReport()
    cache: dict[tuple[str, str, str | None], bool | None] = {}
    async for info in store.list_blobs(""):
        report.scanned += 1
        if on_blob is not None:
            on_blob(info)
        if info.modified > cutoff:
            report.kept_young += 1
            continue
        owner = owner_of(info.key)
        if owner.workflow_id is not None:
            lookup = (owner.namespace or "default", owner.workflow_id, owner.run_id)
            if lookup not in cache:
                cache[lookup] = await runs.is_open(*lookup)
            state = cache[lookup]
            if state is None:
                report.kept_unknown += 1
                continue
            if state:
                report.kept_open_run += 1
                continue
        if not dry_run and not await store.delete(info.key):
            continue  # someone else removed it meanwhile
        report.deleted += 1
        report.bytes_freed += info.size
        if len(report.deleted_keys) < keep_keys:
            report.deleted_keys.append(info.key)
    return report
