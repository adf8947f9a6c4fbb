"""Garbage collection of blobs that no workflow can need any more.

The rule (docs/decisions.md): a blob goes only when it is older than the TTL *and*
its owner is established as closed. Concretely, per key:

* ``v0/ns/{ns}/wt/{type}/wi/{id}/ri/{run}/d/sha256/{hex}`` with a spelled-out
  id: Temporal is asked about the workflow id's **latest** run (describe with
  no run id), not the run in the key. Only one run of an id is open at a
  time and it is the latest, so "latest run closed" means every run is
  closed. This keeps the blobs of a reset workflow (the new run's history
  refers to blobs keyed under the old run), of retries and of
  continue-as-new chains. Not found means closed long ago and removed by
  retention (or never started: the TTL covers a client that stored a
  payload and has not started the workflow yet).
* the same with a digested id (``%%sha256-...``, see keys.py): the id cannot
  be asked for, so the namespace's running workflows are listed once from
  visibility and matched on their key segments. A match keeps the blob; no
  match deletes it only when the blob is also older than
  ``VISIBILITY_SETTLE`` (visibility is eventually consistent; a workflow
  that started, or was reset, in the last seconds may not be listed yet).
* a namespace GC was not given a client for, an id of ``null`` (the layout
  cannot tell "no id" from the id "null"), a standalone activity (``at/``),
  or no workflow at all (``v0/ns/{ns}/d/...``, the old ``v0/d/...``, keys
  this layout did not write): the owner cannot be established, so the blob
  is kept (``kept_unowned``), whatever its age. A bucket lifecycle rule is
  the backstop for those.
* ``_health/...``: the store's own write probes, never referenced by any
  history (the driver refuses non-``v0/`` keys); deleted by age alone.

When Temporal cannot be asked, the blob is kept (``kept_unknown``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol
from urllib.parse import unquote

from workflow_runner.claimcheck.keys import (
    DIGEST_SEGMENT,
    is_digested,
    key_segment,
    namespace_segment,
)
from workflow_runner.claimcheck.store import HEALTH_KEY_PREFIX, BlobInfo, ObjectStore

VISIBILITY_SETTLE = timedelta(minutes=5)


class RunStatus(Protocol):
    @property
    def namespaces(self) -> Collection[str]:
        """The namespaces this status can be asked about."""
        ...

    async def is_open(self, namespace: str, workflow_id: str, run_id: str | None) -> bool | None:
        """True while the run (or, without a run id, the id's latest run) is open;
        False when closed or unknown to Temporal; None when Temporal cannot be asked."""
        ...

    def running_workflows(self, namespace: str) -> AsyncIterator[tuple[str, str]]:
        """(type, id) of every open workflow of ``namespace``, from visibility.

        Raises (any exception) when visibility cannot be asked."""
        ...


@dataclass(frozen=True)
class BlobOwner:
    """The owner segments of a key, as they are spelled in it (percent-encoded or digested)."""

    kind: str | None  # "wt" (workflow), "at" (standalone activity) or None
    namespace_segment: str | None
    type_segment: str | None
    id_segment: str | None
    run_segment: str | None

    @property
    def namespace(self) -> str | None:
        return _decoded(self.namespace_segment)

    @property
    def workflow_id(self) -> str | None:
        return _decoded(self.id_segment) if self.kind == "wt" else None

    @property
    def run_id(self) -> str | None:
        return _decoded(self.run_segment) if self.workflow_id is not None else None

    @property
    def digested(self) -> bool:
        """The workflow id is digested: Temporal cannot be asked about it by id."""
        return is_digested(self.id_segment)


def _decoded(segment: str | None) -> str | None:
    if segment is None or segment == "null" or is_digested(segment):
        return None
    return unquote(segment)


def owner_of(key: str) -> BlobOwner:
    """Read the owner back from a claim-check key (all None for other keys)."""
    head, sep, _ = key.rpartition(DIGEST_SEGMENT)
    parts = head.split("/") if sep and head.startswith("v0") else []
    fields = dict(zip(parts[1::2], parts[2::2], strict=False))
    kind = "wt" if "wt" in fields else "at" if "at" in fields else None
    return BlobOwner(
        kind,
        fields.get("ns"),
        fields.get(kind) if kind else None,
        fields.get("wi" if kind == "wt" else "ai") if kind else None,
        fields.get("ri") if kind else None,
    )


@dataclass
class GcReport:
    scanned: int = 0
    deleted: int = 0
    bytes_freed: int = 0
    kept_open_run: int = 0
    kept_young: int = 0
    kept_unknown: int = 0
    kept_unowned: int = 0
    deleted_keys: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


class _Decider:
    """Answers "may this old blob go?" with one Temporal call per workflow id (cached)."""

    def __init__(self, runs: RunStatus, now: datetime) -> None:
        self.runs = runs
        self.now = now
        self.namespaces = {namespace_segment(ns): ns for ns in runs.namespaces}
        self.by_id: dict[tuple[str, str], bool | None] = {}
        self.running: dict[str, set[tuple[str, str]] | None] = {}

    async def verdict(self, info: BlobInfo) -> str:
        """ "delete", or the report counter that keeps it."""
        if info.key.startswith(HEALTH_KEY_PREFIX):
            return "delete"
        owner = owner_of(info.key)
        namespace = self.namespaces.get(owner.namespace_segment or "")
        if owner.kind != "wt" or namespace is None or owner.id_segment in (None, "null"):
            return "kept_unowned"
        if owner.digested:
            return await self._by_visibility(namespace, owner, info)
        assert owner.workflow_id is not None
        lookup = (namespace, owner.workflow_id)
        if lookup not in self.by_id:
            self.by_id[lookup] = await self.runs.is_open(namespace, owner.workflow_id, None)
        return _counter(self.by_id[lookup])

    async def _by_visibility(self, namespace: str, owner: BlobOwner, info: BlobInfo) -> str:
        if namespace not in self.running:
            try:
                self.running[namespace] = {
                    (key_segment(type_), key_segment(id_))
                    async for type_, id_ in self.runs.running_workflows(namespace)
                }
            except Exception:  # any failure to ask means "keep"
                self.running[namespace] = None
        running = self.running[namespace]
        if running is None:
            return "kept_unknown"
        if (owner.type_segment, owner.id_segment) in running:
            return "kept_open_run"
        if info.modified > self.now - VISIBILITY_SETTLE:
            return "kept_unknown"  # visibility may not list it yet
        return "delete"


def _counter(is_open: bool | None) -> str:
    if is_open is None:
        return "kept_unknown"
    return "kept_open_run" if is_open else "delete"


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
    now = now or datetime.now(UTC)
    cutoff = now - ttl
    decider = _Decider(runs, now)
    report = GcReport()
    async for info in store.list_blobs(""):
        report.scanned += 1
        if on_blob is not None:
            on_blob(info)
        if info.modified > cutoff:
            report.kept_young += 1
            continue
        verdict = await decider.verdict(info)
        if verdict != "delete":
            setattr(report, verdict, getattr(report, verdict) + 1)
            continue
        if not dry_run and not await store.delete(info.key):
            continue  # someone else removed it meanwhile
        report.deleted += 1
        report.bytes_freed += info.size
        if len(report.deleted_keys) < keep_keys:
            report.deleted_keys.append(info.key)
    return report
