"""Shared bench plumbing: a dev server, documents, two-activity workflows, and
:func:`interleaved`, the one way every script compares the project with a baseline.

Why interleaved: a shared 2-core machine drifts (other processes, page cache,
the dev server's own warm-up), so measuring A then B turns drift into a fake
difference (``claimcheck_e2e.py``'s filesystem/inline ratio once moved
2.09 → 1.26 → 1.37 over three fixed-order runs). Running A, B, A, B … and
reporting the *per-round* ratios (min / median / max) puts drift into the
spread instead of into the answer, and shows how far to trust it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import inspect
import json
import logging
import random
import socket
import statistics
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.common import RetryPolicy
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from workflow_runner.runtime.devserver import DevServer

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


# -- interleaved comparisons ----------------------------------------------------------------

Metrics = Mapping[str, float]
"""What one measurement of one contender gives: metric name → value (e.g. ``workflows/s``)."""

Measure = Callable[[], Awaitable[Metrics] | Metrics]


class Refused(Exception):
    """Raised by a measurement that cannot run at all (e.g. a payload over Temporal's limit).

    The contender is dropped from the remaining rounds and its row says why.
    """


@dataclasses.dataclass
class Rounds:
    """Every contender's metrics, round by round, as :func:`interleaved` measured them."""

    names: list[str]
    samples: dict[str, list[Metrics]]
    refused: dict[str, str]
    orders: list[list[str]]

    def values(self, name: str, metric: str) -> list[float]:
        return [sample[metric] for sample in self.samples[name]]

    def median(self, name: str, metric: str) -> float:
        return statistics.median(self.values(name, metric))

    def ratios(self, name: str, baseline: str, metric: str) -> list[float]:
        """``name / baseline`` of ``metric`` in each round (both measured in that round)."""
        pairs = zip(self.samples[name], self.samples[baseline], strict=False)
        return [a[metric] / b[metric] for a, b in pairs if b[metric]]

    def ratio_text(self, name: str, baseline: str, metric: str) -> str:
        """``min / median / max`` of the per-round ratios, or why there is none."""
        if name in self.refused or baseline in self.refused:
            return "-"
        if name == baseline:
            return "1 (baseline)"
        values = self.ratios(name, baseline, metric)
        if not values:
            return "-"
        cells = (min(values), statistics.median(values), max(values))
        return " / ".join(f"{v:.2f}" if v >= 0.1 else f"{v:.2g}" for v in cells)

    def rows(
        self, formats: Mapping[str, str], ratios: Sequence[tuple[str, str]]
    ) -> list[list[str]]:
        """One row per contender: its name, the median of each metric (``formats``: metric →
        format spec), then a ``min / median / max`` cell per ``(metric, baseline)`` in ``ratios``.
        """
        rows = []
        for name in self.names:
            if name in self.refused:
                cells = [self.refused[name]] + ["-"] * (len(formats) - 1)
            else:
                cells = [spec.format(self.median(name, m)) for m, spec in formats.items()]
            ratio_cells = [self.ratio_text(name, b, m) for m, b in ratios]
            rows.append([name, *cells, *ratio_cells])
        return rows


async def interleaved(
    rounds: int, contenders: Mapping[str, Measure], *, warmup: bool = True
) -> Rounds:
    """Measure every contender once per round, rotating who goes first, ``rounds`` times.

    Round r runs the contenders starting at the r-th one (A B C, B C A, C A B …),
    so none is always first (cold) or always last; with two it is A B, B A, A B.
    ``warmup`` runs each once untimed first (imports, caches, a fresh dev
    server's first workflows). Ratios are then taken *within* a round.
    """
    if rounds < 3:
        raise ValueError("an interleaved comparison needs at least 3 rounds")
    names = list(contenders)
    samples: dict[str, list[Metrics]] = {name: [] for name in names}
    refused: dict[str, str] = {}

    async def run(name: str) -> Metrics | None:
        try:
            result = contenders[name]()
            if inspect.isawaitable(result):
                return await result
            return result
        except Refused as e:
            refused[name] = str(e)
            return None

    if warmup:
        for name in names:
            await run(name)
    orders = []
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        orders.append(order)
        for name in order:
            if name not in refused and (sample := await run(name)) is not None:
                samples[name].append(sample)
    return Rounds(names, samples, refused, orders)


def rounds_note(result: Rounds) -> str:
    """The line under a table that says how its figures were taken."""
    n = len(result.orders)
    return (
        f"{n} interleaved rounds (order rotated each round); cells are medians over rounds, "
        "ratios are min / median / max of the per-round ratios"
    )


# -- a compressible document over HTTP, for the DSL workloads ---------------------------------


@functools.lru_cache(maxsize=8)
def catalog_bytes(size_bytes: int) -> bytes:
    """A product catalog as JSON, low entropy like real API responses (zstd: ~15-20x)."""
    products = []
    total = 0
    i = 0
    while total < size_bytes:
        product = {
            "id": i,
            "name": f"product-{i:07d}",
            "category": ["books", "tools", "garden", "toys", "food"][i % 5],
            "price": round(1 + (i * 7919) % 500 / 3, 2),
            "stock": (i * 31) % 17,
            "description": f"item {i} " + "lorem ipsum dolor sit amet " * 3,
        }
        products.append(product)
        total += len(json.dumps(product))
        i += 1
    return json.dumps({"products": products}).encode()


class _Catalog(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        size = int(self.path.rsplit("/", 1)[-1])
        body = catalog_bytes(size)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@contextlib.contextmanager
def catalog_server() -> Iterator[str]:
    """``GET {url}/{size}`` answers a catalog of about ``size`` bytes; 127.0.0.1 only."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Catalog)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
