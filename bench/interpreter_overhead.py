"""The DSL interpreter against the same logic written by hand with the Temporal SDK.

Workloads (DSL definition vs hand-written workflow, same worker, same
`call_http` activity, same converter with zstd + claim check, same dev server):

- overhead: 10 `set`, 2 `call: http`, a `for` over 100 items (bench/overhead.yaml
  vs `_harness.HandWritten`), 300 workflows a round, 8 in flight;
- the small workloads one by one (`_handwritten_small.py`), 200 a round, 8 in flight:
  3 × `set`; one `call: http` of 1 KB and of 200 KB (over the claim-check threshold);
  a `for` over 100 items adding to a total; a `fork` of 4 calls of 1 KB;
- 5 MB fetch: `call: http` of a 5 MB catalog, returned whole, one at a time;
- 5 MB + count: the same call, then a `set` that counts its products
  (`${ .products | length }` vs `len(document["products"])`), one at a time
  and 50 in flight;
- 50 MB + count: five workflows, one at a time (for the memory column).

Fairness: every workload goes through `_harness.interleaved` (warm-up, rounds
with the order rotated, per-round ratios min / median / max). Both sides run on
one sandboxed worker whose passed-through modules include the baselines' own
modules, as `workflow_runner` is passed through for the DSL. Before each
measurement freed memory is trimmed (`malloc_trim`), so each starts from the
same floor; the memory column is the peak RSS of this process (worker, client
and HTTP server, whose cached catalogs are in both sides' floor) during the
measurement, sampled every 5 ms, and its growth over the start of the measurement.
CPU/wf is this process's CPU time (all its threads: workers, client, HTTP server; not the
dev server's) per workflow: on 2 shared cores it shows the interpreter's own cost more
steadily than throughput does.

    .venv/bin/python bench/interpreter_overhead.py [--quick] [--rounds N] [--only NAME] [--scale K]

``--against-itself`` measures the hand-written side against itself (same rounds, same
order rotation): the spread of its per-round ratios is what noise alone gives on this
machine, the yardstick for "none below 0.9".
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _handwritten_large import CountItems, FetchDocument
from _handwritten_small import CallOnce, ForkOf4, LoopOf100, ThreeSets
from _harness import (
    HandWritten,
    Measure,
    Metrics,
    catalog_bytes,
    dev_server,
    history_bytes,
    interleaved,
    percentile,
    rounds_note,
    scratch_dir,
    table,
)
from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflow_runner.claimcheck import open_store
from workflow_runner.config import load_settings
from workflow_runner.engine.activities.expressions import evaluate_expression
from workflow_runner.engine.client import connect
from workflow_runner.engine.definition import Definition, load_definition, parse_definition
from workflow_runner.engine.registry import QueueConfig, register, serve
from workflow_runner.engine.tasks.call_http_activity import HttpActivities
from workflow_runner.engine.worker import PASSTHROUGH_MODULES
from workflow_runner.engine.workflow import DslWorkflow

BENCH = Path(__file__).parent
MB = 1_000_000
FETCH = """
document: {dsl: '1.0.0', namespace: bench, name: fetch, version: '1.0.0'}
do:
  - fetch: {call: http, with: {method: get, endpoint: '${ $workflow.input.url }'}}
"""
THREE_SETS = """
document: {dsl: '1.0.0', namespace: bench, name: three-sets, version: '1.0.0'}
do:
  - s0: {set: {n: 1, step0: 0}}
  - s1: {set: '${ . + {n: (.n + 1), step1: 1} }'}
  - s2: {set: '${ . + {n: (.n + 1), step2: 2} }'}
"""
CALL_ONCE = """
document: {dsl: '1.0.0', namespace: bench, name: call-once, version: '1.0.0'}
do:
  - fetch: {call: http, with: {method: get, endpoint: '${ $workflow.input.url }'}}
"""
LOOP_OF_100 = """
document: {dsl: '1.0.0', namespace: bench, name: loop-of-100, version: '1.0.0'}
do:
  - loop:
      for: {each: item, in: '${ [range(100)] }'}
      do:
        - add: {set: '${ . + {total: ((.total // 0) + $item * 2)} }'}
"""
FORK_OF_4 = """
document: {dsl: '1.0.0', namespace: bench, name: fork-of-4, version: '1.0.0'}
do:
  - fan:
      fork:
        branches:
          - a: {call: http, with: {method: get, endpoint: '${ $workflow.input.url }'}}
          - b: {call: http, with: {method: get, endpoint: '${ $workflow.input.url }'}}
          - c: {call: http, with: {method: get, endpoint: '${ $workflow.input.url }'}}
          - d: {call: http, with: {method: get, endpoint: '${ $workflow.input.url }'}}
"""
COUNT = """
document: {dsl: '1.0.0', namespace: bench, name: count, version: '1.0.0'}
do:
  - fetch: {call: http, with: {method: get, endpoint: '${ $workflow.input.url }'}}
  - count: {set: {count: '${ .products | length }'}}
"""

_PAGE = os.sysconf("SC_PAGE_SIZE")
_LIBC = ctypes.CDLL("libc.so.6")


def rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


@contextlib.contextmanager
def peak_rss() -> Iterator[Callable[[], tuple[int, int]]]:
    """Yields a function giving (start RSS, peak RSS) of this process over the block."""
    _LIBC.malloc_trim(0)
    start = peak = rss()
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.005):
            peak = max(peak, rss())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield lambda: (start, max(peak, rss()))
    finally:
        stop.set()
        thread.join()


class Answer(BaseHTTPRequestHandler):
    """`/answer`: a tiny JSON answer; `/catalog/SIZE`: a product catalog of about SIZE bytes."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/catalog/"):
            body = catalog_bytes(int(self.path.rsplit("/", 1)[1]))
        else:
            body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


Start = Callable[[], Awaitable[WorkflowHandle[Any, Any]]]


@dataclass
class Workload:
    name: str
    count: int
    in_flight: int
    dsl: Start
    sdk: Start
    check: Callable[[Any], bool]


async def measure(workload: Workload, start: Start) -> Metrics:
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(workload.in_flight)
    last: list[WorkflowHandle[Any, Any]] = []

    async def one() -> Any:
        async with semaphore:
            began = time.perf_counter()
            handle = await start()
            result = await handle.result()
            latencies.append(time.perf_counter() - began)
            last[:] = [handle]
            return result

    with peak_rss() as memory:
        began, began_cpu = time.perf_counter(), time.process_time()
        results = await asyncio.gather(*(one() for _ in range(workload.count)))
        elapsed = time.perf_counter() - began
        cpu = time.process_time() - began_cpu
        start_rss, peak = memory()
    assert all(workload.check(r) for r in results), str(results[0])[:200]
    return {
        "workflows/s": workload.count / elapsed,
        "p50": percentile(latencies, 50) * 1e3,
        "p99": percentile(latencies, 99) * 1e3,
        "peak RSS": peak / 2**20,
        "RSS growth": (peak - start_rss) / 2**20,
        "history": float(await history_bytes(last[0])),
        "CPU/wf": cpu / workload.count * 1e3,
    }


FORMATS = {
    "workflows/s": "{:.2f}",
    "p50": "{:.0f} ms",
    "p99": "{:.0f} ms",
    "peak RSS": "{:.0f} MiB",
    "RSS growth": "{:+.0f} MiB",
    "history": "{:,.0f} B",
    "CPU/wf": "{:.1f} ms",
}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument(
        "--scale",
        type=int,
        default=1,
        help="K times as many workflows a round in the overhead and small rows: longer "
        "rounds, so that one hiccup of a shared machine weighs less in a round's ratio",
    )
    parser.add_argument(
        "--solo",
        choices=["hand-written", "DSL"],
        help="run only this contender, 3 times, and print its CPU/wf (to profile one side)",
    )
    parser.add_argument(
        "--against-itself",
        action="store_true",
        help="the hand-written side against itself: the per-round ratios noise alone gives",
    )
    options = parser.parse_args()
    if options.against_itself and options.solo:
        parser.error("--against-itself compares two contenders; --solo runs one")
    quick = options.quick
    http = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{http.server_address[1]}"
    for size in (5 * MB, 50 * MB):
        catalog_bytes(size)  # generated before any measurement
    expected = {s: len(json.loads(catalog_bytes(s))["products"]) for s in (5 * MB, 50 * MB)}
    overhead = load_definition(BENCH / "overhead.yaml")
    fetch = parse_definition(FETCH, str(BENCH / "fetch.yaml"))
    count = parse_definition(COUNT, str(BENCH / "count.yaml"))
    small_ones = {
        name: parse_definition(text, str(BENCH / f"{name}.yaml"))
        for name, text in [
            ("three-sets", THREE_SETS),
            ("call-once", CALL_ONCE),
            ("loop-of-100", LOOP_OF_100),
            ("fork-of-4", FORK_OF_4),
        ]
    }
    async with dev_server() as server:
        with scratch_dir() as scratch:
            settings = load_settings({"BLOB_STORAGE_PATH": str(scratch / "blobs")})
            store = await open_store(settings)
            client: Client = await connect(settings, store, server.address)
            queue = f"overhead-{uuid.uuid4()}"
            io = HttpActivities({})

            # The DSL side runs as a deployment does: definitions served by name on the
            # worker (worker --definitions), started by type with just their input.
            register(
                queue,
                QueueConfig(definitions=serve([overhead, fetch, count, *small_ones.values()])),
            )

            def dsl(definition: Definition, url: str) -> Start:
                return lambda: client.start_workflow(
                    definition.name, {"url": url}, id=f"dsl-{uuid.uuid4()}", task_queue=queue
                )

            def sdk(run: Any, url: str) -> Start:
                return lambda: client.start_workflow(
                    run, url, id=f"sdk-{uuid.uuid4()}", task_queue=queue
                )

            def counted(size: int) -> Callable[[Any], bool]:
                return lambda r: r == {"count": expected[size]}

            small = f"{base}/answer"
            kb1, kb200 = f"{base}/catalog/1000", f"{base}/catalog/200000"
            answers = {s: json.loads(catalog_bytes(s)) for s in (1000, 200_000)}
            few = 20 if quick else 200 * options.scale  # per measurement, 8 in flight

            def small_workload(
                name: str, definition: str, run: Any, url: str, check: Any
            ) -> Workload:
                return Workload(
                    name, few, 8, dsl(small_ones[definition], url), sdk(run, url), check
                )

            doc5, doc50 = f"{base}/catalog/{5 * MB}", f"{base}/catalog/{50 * MB}"
            workloads = [
                Workload(
                    "overhead (8 in flight)",
                    # 100 per round (~3 s): per-round ratios 0.81-1.07
                    20 if quick else 300 * options.scale,
                    8,
                    dsl(overhead, small),
                    sdk(HandWritten.run, small),
                    lambda r: r["total"] == 9900 and r["answer"] == {"ok": True},
                ),
                small_workload(
                    "3 x set (8 in flight)",
                    "three-sets",
                    ThreeSets.run,
                    small,
                    lambda r: r == {"n": 3, "step0": 0, "step1": 1, "step2": 2},
                ),
                small_workload(
                    "call 1 KB (8 in flight)",
                    "call-once",
                    CallOnce.run,
                    kb1,
                    lambda r: r == answers[1000],
                ),
                small_workload(
                    "call 200 KB (8 in flight)",
                    "call-once",
                    CallOnce.run,
                    kb200,
                    lambda r: r == answers[200_000],
                ),
                small_workload(
                    "for over 100 (8 in flight)",
                    "loop-of-100",
                    LoopOf100.run,
                    small,
                    lambda r: r["total"] == 9900,
                ),
                small_workload(
                    "fork of 4 calls (8 in flight)",
                    "fork-of-4",
                    ForkOf4.run,
                    kb1,
                    lambda r: r == [answers[1000]] * 4,
                ),
                Workload(
                    "5 MB fetch (sequential)",
                    5 if quick else 15,
                    1,
                    dsl(fetch, doc5),
                    sdk(FetchDocument.run, doc5),
                    lambda r: len(r["products"]) == expected[5 * MB],
                ),
                Workload(
                    "5 MB + count (sequential)",
                    5 if quick else 15,
                    1,
                    dsl(count, doc5),
                    sdk(CountItems.run, doc5),
                    counted(5 * MB),
                ),
                Workload(
                    "5 MB + count (50 in flight)",
                    50,
                    50,
                    dsl(count, doc5),
                    sdk(CountItems.run, doc5),
                    counted(5 * MB),
                ),
                Workload(
                    "50 MB + count (sequential)",
                    1 if quick else 5,  # one per round: 0.80-1.34 per round; three: 0.79-1.15
                    1,
                    dsl(count, doc50),
                    sdk(CountItems.run, doc50),
                    counted(50 * MB),
                ),
            ]
            if options.only:
                workloads = [w for w in workloads if any(o in w.name for o in options.only)]
            async with Worker(
                client,
                task_queue=queue,
                workflows=[
                    DslWorkflow,
                    HandWritten,
                    FetchDocument,
                    CountItems,
                    ThreeSets,
                    CallOnce,
                    LoopOf100,
                    ForkOf4,
                ],
                activities=[io.call_http, evaluate_expression],
                workflow_runner=SandboxedWorkflowRunner(
                    restrictions=SandboxRestrictions.default.with_passthrough_modules(
                        *PASSTHROUGH_MODULES,
                        "_harness",
                        "_handwritten_large",
                        "_handwritten_small",
                    )
                ),
                max_concurrent_workflow_tasks=8,
                max_concurrent_activities=50,
            ):
                rows = []
                for workload in workloads:
                    contenders: dict[str, Measure] = {
                        "hand-written": lambda w=workload: measure(w, w.sdk),  # type: ignore[misc]
                        "DSL": lambda w=workload: measure(  # type: ignore[misc]
                            w, w.sdk if options.against_itself else w.dsl
                        ),
                    }
                    if options.against_itself:
                        contenders["hand-written again"] = contenders.pop("DSL")
                    if options.solo:
                        await measure(
                            workload, workload.dsl if options.solo == "DSL" else workload.sdk
                        )
                        for _ in range(3):
                            alone = await contenders[options.solo]()  # type: ignore[misc]
                            print(
                                f"{options.solo} {workload.name}: {alone['CPU/wf']:.1f} ms CPU/wf"
                            )
                        continue
                    result = await interleaved(options.rounds, contenders)
                    for row in result.rows(
                        FORMATS,
                        [
                            ("workflows/s", "hand-written"),
                            ("history", "hand-written"),
                            ("CPU/wf", "hand-written"),
                        ],
                    ):
                        rows.append([workload.name, *row])
                    print(f"done: {workload.name}", flush=True)
            await io.close()
            await store.close()
    http.shutdown()
    headers = [
        "workload",
        "implementation",
        *FORMATS,
        "wf/s ÷ hand-written",
        "history ÷ hand-written",
        "CPU/wf ÷ hand-written",
    ]
    if rows:
        print(table(headers, rows))
        print(f"\n{rounds_note(result)}")
    await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main())
