"""Periodic GC in local mode: nobody runs cron jobs on a laptop.

At most once per ``CLAIMCHECK_GC_INTERVAL_HOURS`` (0 switches it off), a
background task collects garbage with the same rules as ``blobs gc``. The
last run is remembered in a stamp file, so short-lived ``run`` commands do
not rescan the store every time. Cancelling it midway is safe: each
deletion stands on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import timedelta

from temporalio.client import Client

from workflow_runner.claimcheck.gc import collect_garbage
from workflow_runner.claimcheck.runs import TemporalRunStatus
from workflow_runner.claimcheck.store import ObjectStore
from workflow_runner.config import Settings

log = logging.getLogger(__name__)


def gc_due(settings: Settings) -> bool:
    if settings.gc_interval_hours <= 0:
        return False
    stamp = settings.data_dir / "gc.stamp"
    try:
        last = stamp.stat().st_mtime
    except FileNotFoundError:
        return True
    return time.time() - last >= settings.gc_interval_hours * 3600


async def _collect(settings: Settings, store: ObjectStore, client: Client) -> None:
    stamp = settings.data_dir / "gc.stamp"
    stamp.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    stamp.touch()  # claim this interval first, so concurrent runs do not all scan
    report = await collect_garbage(
        store,
        TemporalRunStatus({settings.temporal_namespace: client}),
        ttl=timedelta(days=settings.ttl_days),
    )
    log.info("local GC: %s", report.as_dict())


@contextlib.asynccontextmanager
async def periodic_gc(
    settings: Settings, store: ObjectStore, client: Client
) -> AsyncIterator[None]:
    task: asyncio.Task[None] | None = None
    if gc_due(settings):
        task = asyncio.create_task(_collect(settings, store, client))
    try:
        yield
    finally:
        if task is not None:
            if not task.done():
                task.cancel()
            results = await asyncio.gather(task, return_exceptions=True)
            for result in results:
                if isinstance(result, Exception):
                    log.warning("local GC failed: %s", result)
