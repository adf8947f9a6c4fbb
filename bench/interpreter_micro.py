"""The interpreter's own cost per run, in-process, with no server: ``DslWorkflow.run``
on a stand-in for ``temporalio.workflow`` whose activities answer at once.

Why: bench/interpreter_overhead.py compares whole workflows on a dev server,
where the interpreter's few milliseconds per run are buried under gRPC,
history and scheduling noise, and a profiler sees mostly the SDK. Here the
real ``DslWorkflow.run`` (model lookup, payload checks, the Pacer, progress
notes, expressions) runs bench/overhead.yaml N times in a loop, so a change
of 0.1 ms per run shows, and ``--profile`` lists where the time goes.

During each run ``isinstance`` and ``issubclass`` are wrapped as the sandbox wraps them
(``--plain-builtins``: not). The stand-in implements only what the overhead workload touches
(``info``, ``time``, ``patched``, ``execute_activity``, ``payload_converter``,
``execute_local_activity``); the definition is served by name, as in the
end-to-end bench and a deployment.

    .venv/bin/python bench/interpreter_micro.py [--runs N] [--profile] [--top K]
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import contextlib
import cProfile
import functools
import pstats
import statistics
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from temporalio import workflow as temporal_workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.converter import DataConverter

import workflow_runner.engine.run_request as run_request_module
import workflow_runner.engine.workflow as workflow_module
import workflow_runner.engine.workflow_expressions as expressions_module
import workflow_runner.engine.workflow_payloads as payloads_module
from workflow_runner.engine.definition import Definition, load_definition
from workflow_runner.engine.registry import QueueConfig, register, serve
from workflow_runner.engine.workflow import DslWorkflow

BENCH = Path(__file__).parent
QUEUE = "micro"
CONVERTER = DataConverter.default.payload_converter
ANSWER = RawValue(CONVERTER.to_payloads([{"ok": True}])[0])


@dataclass
class Info:
    """The parts of ``workflow.info()`` a run reads."""

    workflow_type: str
    task_queue: str = QUEUE
    workflow_id: str = "micro"
    run_id: str = "run"
    start_time: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    namespace: str = "default"
    attempt: int = 1
    first_execution_run_id: str = "run"
    continued_run_id: str | None = None
    cron_schedule: str | None = None
    execution_timeout: timedelta | None = None
    root: Any = None
    parent: Any = None

    def get_current_history_length(self) -> int:
        return 10

    def is_continue_as_new_suggested(self) -> bool:
        return False


class StandIn(SimpleNamespace):
    """``temporalio.workflow`` as far as the overhead workload needs it."""

    def __init__(self, workflow_type: str) -> None:
        super().__init__(unsafe=temporal_workflow.unsafe)
        self._info = Info(workflow_type)
        self.clock = 0.0
        self.activities = 0

    def info(self) -> Info:
        return self._info

    def time(self) -> float:
        self.clock += 0.001
        return self.clock

    def patched(self, _: str) -> bool:
        return True

    def payload_converter(self) -> Any:
        return CONVERTER

    def execute_activity(self, name: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        self.activities += 1
        # the request is encoded as the SDK would (its cost is part of a real run)
        CONVERTER.to_payloads([arg for arg in args if arg is not None])

        async def answer() -> Any:
            return ANSWER

        return answer()

    def execute_local_activity(self, name: str, *args: Any, **kwargs: Any) -> Awaitable[Any]:
        async def answer() -> Any:
            return None

        return answer()


@contextlib.contextmanager
def sandbox_builtins() -> Iterator[None]:
    """``isinstance``/``issubclass`` as they are during a sandboxed activation: the SDK swaps
    them process-wide for a thread-local wrapper that unwraps its proxies (its own code,
    private API: a bench-only approximation of the sandbox's per-call cost)."""
    from temporalio.worker.workflow_sandbox._importer import _get_thread_local_builtin
    from temporalio.worker.workflow_sandbox._restrictions import RestrictionContext

    def unwrap_second_param(orig: Any, a: Any, b: Any) -> Any:
        return orig(
            RestrictionContext.unwrap_if_proxied(a), RestrictionContext.unwrap_if_proxied(b)
        )

    with contextlib.ExitStack() as stack:
        for name in ("isinstance", "issubclass"):
            local = _get_thread_local_builtin(name)
            restricted = functools.partial(unwrap_second_param, local.orig)
            stack.enter_context(local.applied(builtins, name, restricted))
        yield


def install_stand_in(definition: Definition) -> StandIn:
    """Serve ``definition`` on the bench's queue and put the stand-in where the engine's
    modules look for ``temporalio.workflow`` (for the rest of the process)."""
    register(QUEUE, QueueConfig(definitions=serve([definition])))
    stand_in = StandIn(definition.name)
    for module in (workflow_module, run_request_module, payloads_module, expressions_module):
        setattr(module, "workflow", stand_in)  # noqa: B010 (the modules do not export it)
    return stand_in


async def one_run(stand_in: StandIn, run_input: Payload) -> Any:
    return await DslWorkflow().run([RawValue(run_input)])


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument(
        "--plain-builtins", action="store_true", help="without the sandbox's isinstance wrapper"
    )
    options = parser.parse_args()
    stand_in = install_stand_in(load_definition(BENCH / "overhead.yaml"))
    run_input = CONVERTER.to_payloads([{"url": "http://127.0.0.1:1/answer"}])[0]
    for _ in range(20):  # warm-up: compiled jq, cached model
        result = await one_run(stand_in, run_input)
    assert result["total"] == 9900 and result["answer"] == {"ok": True}, result
    profiler = cProfile.Profile() if options.profile else None
    times, cpu = [], []
    if profiler:
        profiler.enable()
    for _ in range(options.runs):
        began, began_cpu = time.perf_counter(), time.thread_time()
        with contextlib.nullcontext() if options.plain_builtins else sandbox_builtins():
            await one_run(stand_in, run_input)
        times.append(time.perf_counter() - began)
        cpu.append(time.thread_time() - began_cpu)
    if profiler:
        profiler.disable()
        stats = pstats.Stats(profiler)
        stats.sort_stats(options.sort).print_stats(options.top)
    tasks = 13 + 100  # top-level tasks + loop iterations (each runs one set)
    # Wall time includes the jq evaluator process and whatever else the machine runs;
    # the main thread's CPU time is steadier on a shared machine.
    median, cpu_median = statistics.median(times), statistics.median(cpu)
    print(
        f"{options.runs} runs: wall median {median * 1e3:.2f} ms/run (min {min(times) * 1e3:.2f}); "
        f"main-thread CPU median {cpu_median * 1e3:.2f} ms/run (min {min(cpu) * 1e3:.2f}), "
        f"{cpu_median * 1e6 / tasks:.1f} µs per task run"
    )


if __name__ == "__main__":
    asyncio.run(main())
