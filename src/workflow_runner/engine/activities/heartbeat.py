"""Heartbeats for long activities (``call: http``, ``run``) while they wait.

With ``activityOptions.heartbeatTimeout`` set, Temporal fails an attempt
whose worker stopped heartbeating for that long, so a crashed worker's long
call is retried after the heartbeat timeout instead of the whole
start-to-close timeout. While an activity waits (for response headers, for a
child process), :func:`heartbeating` sends one every third of the heartbeat
timeout; streaming loops also call :func:`beat` per chunk (the SDK throttles
what reaches the server). Without a heartbeat timeout nothing is sent: each
heartbeat is a billed action on Temporal Cloud.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from temporalio import activity

# Never more often than this, whatever the heartbeat timeout.
MIN_INTERVAL_SECONDS = 0.2


def _interval() -> float | None:
    """Seconds between heartbeats in this activity, ``None`` outside one or without a timeout."""
    if not activity.in_activity():
        return None
    timeout = activity.info().heartbeat_timeout
    if not timeout:
        return None
    return max(timeout.total_seconds() / 3, MIN_INTERVAL_SECONDS)


def beat(*details: Any) -> None:
    """One heartbeat, when the activity has a heartbeat timeout."""
    if _interval() is not None:
        activity.heartbeat(*details)


@contextlib.asynccontextmanager
async def heartbeating() -> AsyncIterator[None]:
    """Heartbeat in the background for as long as the block runs."""
    interval = _interval()
    if interval is None:
        yield
        return

    async def ticker() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(interval)

    task = asyncio.create_task(ticker())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
