"""Shared bench plumbing: a dev server, a store, two-activity workflows, timing helpers."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import random
import socket
import statistics
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from workflow_runner.local.devserver import DevServer

# moto's server logs every request through werkzeug; keep the tables readable.
logging.getLogger("werkzeug").setLevel(logging.ERROR)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def dev_server() -> AsyncIterator[DevServer]:
    server = await DevServer(port=free_port(), headless=True).start()
    try:
        yield server
    finally:
        await server.stop()


@contextlib.contextmanager
def scratch_dir() -> Any:
    with tempfile.TemporaryDirectory(prefix="wfr-bench-") as d:
        yield Path(d)


@functools.lru_cache(maxsize=8)
def make_document(size_bytes: int, seed: int = 7) -> dict[str, Any]:
    """JSON that zstd shrinks about 2x, like real records.

    Cached: generating 5 MB of random text takes a second, which would drown
    the costs the benchmarks are about. Callers must not mutate the result.
    """
    rng = random.Random(seed)
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "
    items: list[dict[str, Any]] = []
    total = 0
    while total < size_bytes:
        items.append({"id": len(items), "text": "".join(rng.choices(alphabet, k=200))})
        total += 230
    return {"items": items}


@activity.defn
async def produce(size_bytes: int) -> dict[str, Any]:
    return make_document(size_bytes)


@activity.defn
async def digest(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


@workflow.defn
class PassDocument:
    @workflow.run
    async def run(self, size_bytes: int) -> str:
        retry = RetryPolicy(maximum_attempts=1)
        doc = await workflow.execute_activity(
            produce, size_bytes, start_to_close_timeout=timedelta(seconds=60), retry_policy=retry
        )
        return await workflow.execute_activity(
            digest, doc, start_to_close_timeout=timedelta(seconds=60), retry_policy=retry
        )


@contextlib.asynccontextmanager
async def pass_document_worker(client: Client, queue: str) -> AsyncIterator[Worker]:
    async with Worker(
        client,
        task_queue=queue,
        workflows=[PassDocument],
        activities=[produce, digest],
        workflow_runner=UnsandboxedWorkflowRunner(),
        max_concurrent_activities=16,
    ) as worker:
        yield worker


async def history_bytes(handle: WorkflowHandle[Any, Any]) -> int:
    history = await handle.fetch_history()
    return sum(event.ByteSize() for event in history.events)


def percentile(values: list[float], p: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, sep, *body])


@workflow.defn
class HandWritten:
    """The interpreter-overhead baseline: the same logic as bench/overhead.yaml, in SDK code."""

    @workflow.run
    async def run(self, url: str) -> dict[str, Any]:
        state: dict[str, Any] = {"n": 0}
        for i in range(10):
            state = {**state, "n": state["n"] + 1, f"step{i}": i}
        for _ in range(2):
            answer = await workflow.execute_activity(
                "call_http",
                {"method": "get", "uri": url, "output": "content"},
                start_to_close_timeout=timedelta(seconds=30),
            )
            state = {**state, "answer": answer}
        total = 0
        for item in range(100):
            total += item * 2
        return {**state, "total": total}
