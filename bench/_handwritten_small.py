"""Hand-written SDK baselines for the small workloads of interpreter_overhead.py: the
issue's list (3 × set, a 1 KB and a 200 KB call, a ``for`` over 100, a fork of 4), one
workload each, so that a ratio says which construct costs what.

A module of its own, passed through the sandbox as ``workflow_runner`` is for the DSL
(see _handwritten_large.py).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow

TIMEOUT = timedelta(seconds=30)


def _get(url: str) -> Any:
    return workflow.execute_activity(
        "call_http",
        {"method": "get", "uri": url, "output": "content"},
        start_to_close_timeout=TIMEOUT,
    )


@workflow.defn
class ThreeSets:
    """As ``THREE_SETS``: three steps, each a new state from the last."""

    @workflow.run
    async def run(self, url: str) -> dict[str, Any]:
        state: dict[str, Any] = {"n": 0}
        for i in range(3):
            state = {**state, "n": state["n"] + 1, f"step{i}": i}
        return state


@workflow.defn
class CallOnce:
    """As ``CALL_ONCE``: one ``call_http``, its answer returned whole."""

    @workflow.run
    async def run(self, url: str) -> Any:
        return await _get(url)


@workflow.defn
class LoopOf100:
    """As ``LOOP_OF_100``: a running total over 100 items."""

    @workflow.run
    async def run(self, url: str) -> dict[str, Any]:
        total = 0
        for item in range(100):
            total += item * 2
        return {"total": total}


@workflow.defn
class ForkOf4:
    """As ``FORK_OF_4``: four ``call_http`` at once, their answers in a list."""

    @workflow.run
    async def run(self, url: str) -> list[Any]:
        return list(await asyncio.gather(*(_get(url) for _ in range(4))))
