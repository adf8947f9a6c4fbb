"""Where one iteration of a ``for`` goes: the interpreter's cost, part by part, against the
same loop hand-written.

Why: bench/interpreter_overhead.py finds the ``for`` over 100 the one small workload whose
CPU stays above the hand-written worker's (~1.2x), at ~15-20 µs an iteration on a dev
server. This script says how much of an iteration each part of the DSL's semantics costs,
so that what a faster loop could still save is a figure, not a guess.

It runs bench/interpreter_overhead.py's ``for`` body (``. + {total: ((.total // 0) +
$item * 2)}``) over ``--items`` items, in-process on the stand-in for
``temporalio.workflow`` of bench/interpreter_micro.py (isinstance wrapped as the sandbox
wraps it). Each variant below removes one part, its call left in place (a no-op or a
constant), and is measured in the same interleaved rounds as the whole:

- **size measure**: the JSON size of each expression's input, which the Pacer counts (its
  yields are in history, so the count must replay exactly) and which decides whether the
  input is small enough to evaluate on the workflow thread;
- **jq subset**: the expression itself (dsl/jq_subset.py), here replaced by the same
  arithmetic in Python;
- **progress notes**: the two notes a task run keeps for the ``progress`` query;
- **continue-as-new check**: whether history has grown enough to continue as new;
- **all four**: what is left is the interpreter's own machinery (lists, frames,
  ``$task`` and argument dicts, coroutines);
- **hand-written**: ``total += item * 2`` in a Python loop, under the same wrapper.

A removed part changes what the run does (its yields, its notes): these variants are
measurements, never a mode of the engine.

    .venv/bin/python bench/loop_iteration.py [--items N] [--runs K] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from _harness import Metrics, interleaved, rounds_note, table
from interpreter_micro import CONVERTER, install_stand_in, one_run, sandbox_builtins

import workflow_runner.engine.workflow_expressions as expressions_module
from workflow_runner.dsl.expressions import subset_answer
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.progress import Progress
from workflow_runner.engine.workflow import DslWorkflow

LOOP = """
document: {dsl: '1.0.0', namespace: bench, name: loop-iteration, version: '1.0.0'}
do:
  - loop:
      for: {each: item, in: '${ [range($workflow.input.items)] }'}
      do:
        - add: {set: '${ . + {total: ((.total // 0) + $item * 2)} }'}
"""


def _python_body(original: Callable[..., Any]) -> Callable[..., Any]:
    """The jq subset, answering the loop body's expression in plain Python."""

    def answer(body: str, data: Any, args: Mapping[str, Any]) -> Any:
        if "item" not in args:  # for.in, evaluated once
            return original(body, data, args)
        return {**data, "total": (data.get("total") or 0) + args["item"] * 2}

    return answer


def _no_note(self: Progress, pointer: str, status: str) -> None:
    """A note not kept (the continue-as-new check reads only ``completed``)."""
    if status == "completed":
        self.completed += 1


def _never_due(self: DslWorkflow) -> bool:
    return False


def _small(data: Any, args: Any, stop_after: int) -> tuple[int, bool]:
    return 64, True  # what the measure finds for this loop's inputs: small and plain


# part -> (where it lives, its name there, what stands in for it)
PARTS: dict[str, tuple[Any, str, Any]] = {
    "size measure": (expressions_module, "measure_pair", _small),
    "jq subset": (expressions_module, "subset_answer", _python_body(subset_answer)),
    "progress notes": (Progress, "note", _no_note),
    "continue-as-new check": (DslWorkflow, "continue_as_new_due", _never_due),
}


@contextlib.contextmanager
def without(parts: list[str]) -> Iterator[None]:
    replaced = [PARTS[part] for part in parts]
    saved = [(owner, name, getattr(owner, name)) for owner, name, _ in replaced]
    try:
        for owner, name, stand_in in replaced:
            setattr(owner, name, stand_in)
        yield
    finally:
        for owner, name, value in saved:
            setattr(owner, name, value)


async def hand_written(items: int) -> dict[str, Any]:
    total = 0
    for item in range(items):
        total += item * 2
    return {"total": total}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=20, help="loops a measurement")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    items, runs = options.items, options.runs
    stand_in = install_stand_in(parse_definition(LOOP, "loop_iteration.py"))
    run_input = CONVERTER.to_payloads([{"items": items}])[0]
    expected = {"items": items, "total": items * (items - 1)}

    def variant(parts: list[str]) -> Callable[[], Any]:
        async def measure() -> Metrics:
            with without(parts):
                began = time.thread_time()
                with sandbox_builtins():
                    for _ in range(runs):
                        result = await one_run(stand_in, run_input)
                spent = time.thread_time() - began
            assert result == expected, result
            return {"us": spent * 1e6 / (runs * items)}

        return measure

    async def baseline() -> Metrics:
        began = time.thread_time()
        with sandbox_builtins():
            for _ in range(runs):
                result = await hand_written(items)
        assert result["total"] == expected["total"], result
        return {"us": (time.thread_time() - began) * 1e6 / (runs * items)}

    contenders: dict[str, Callable[[], Any]] = {"interpreter": variant([])}
    for part in PARTS:
        contenders[f"without the {part}"] = variant([part])
    contenders["without all four"] = variant(list(PARTS))
    contenders["hand-written"] = baseline
    result = await interleaved(options.rounds, contenders)
    rows = []
    for name in result.names:
        share = 1 - statistics.median(result.ratios(name, "interpreter", "us"))
        rows.append(
            [
                name,
                f"{result.median(name, 'us'):.2f}",
                result.ratio_text(name, "interpreter", "us"),
                "-" if name == "interpreter" else f"{share:.0%}",
            ]
        )
    print(f"A `for` over {items} items, {runs} loops a measurement; main-thread CPU per iteration")
    print()
    headers = ["variant", "µs/iteration", "÷ interpreter", "share of an iteration (median)"]
    print(table(headers, rows))
    print()
    print(rounds_note(result))


if __name__ == "__main__":
    asyncio.run(main())
