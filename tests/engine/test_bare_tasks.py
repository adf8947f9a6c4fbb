"""Bare tasks (nothing around their own run) run in ``Interpreter.run_list`` itself,
without ``run_task`` and ``_started``: that shortcut must be invisible. Each test runs the
same definition both ways (``_runs_bare`` off forces the full path) and compares what a
run shows: its output, progress notes, task count, yields, errors and the state it would
carry to a continue-as-new."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.engine.fake_io import FakeIO
from tests.harness import workflow
from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.data_reads import keeps_data
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.interpreter import Interpreter


class ContinuedAsNew(Exception):
    """Stands for ``workflow.continue_as_new``, which never returns."""


@dataclass
class PacingIO(FakeIO):
    """Yields every ``every``-th task run and continues as new at task run ``stop_at``."""

    every: int = 3
    stop_at: int | None = None
    yields: list[str] = field(default_factory=list)
    carried: dict[str, Any] | None = None

    def pace(self) -> bool:
        self.checkpoints += 1
        return self.checkpoints % self.every == 0

    async def yield_to_temporal(self, pointer: str) -> None:
        self.yields.append(pointer)

    def continue_as_new_due(self) -> bool:
        return self.stop_at is not None and self.checkpoints >= self.stop_at

    async def continue_as_new(self, state: dict[str, Any]) -> None:
        self.carried = state
        raise ContinuedAsNew


def interpreter(body: str, io: FakeIO, *, bare: bool, extra: str = "") -> Interpreter:
    definition = parse_definition(workflow(body, extra), "bare.yaml")
    run = Interpreter(
        workflow=definition.model,
        io=io,
        workflow_info={"id": "bare", "runId": "r1", "definition": {}, "startedAt": {}},
        keeps_data=keeps_data(definition.model, definition.data),
    )
    run._runs_bare = run._runs_bare and bare
    return run


def tasks_started_the_full_way(run: Interpreter) -> list[str]:
    """The pointers ``run`` will send through ``_started`` (filled as it runs)."""
    started, pointers = run._started, []

    async def counted(task: Any, value: Any, args: dict[str, Any]) -> Any:
        pointers.append(task.pointer)
        return await started(task, value, args)

    run._started = counted  # type: ignore[method-assign]
    return pointers


async def both_ways(
    body: str, run_input: Any, full_ways: list[list[str]] | None = None, **io_options: Any
) -> list[dict[str, Any]]:
    """What a run shows, run with bare tasks taken short and run the full way; into
    ``full_ways``, the tasks each run sent through ``_started``."""
    full_ways = [] if full_ways is None else full_ways
    seen = []
    for bare in (True, False):
        io = PacingIO(**io_options)
        run = interpreter(body, io, bare=bare)
        full_way = tasks_started_the_full_way(run)
        try:
            outcome: Any = await run.run(run_input)
        except WorkflowError as error:
            outcome = ("error", error.type, error.instance, str(error))
        except ContinuedAsNew:
            outcome = ("continued", io.carried)
        seen.append(
            {
                "outcome": outcome,
                "notes": io.notes,
                "runs": run.runs,
                "yields": io.yields,
                "context": run.context,
            }
        )
        full_ways.append(sorted(set(full_way)))
    return seen


LOOPS_AND_JUMPS = """
  - start: {set: {n: 0, items: [1, 2, 3, 4]}}
  - loop:
      for: {each: item, in: '${ .items }'}
      do:
        - add: {set: '${ . + {n: (.n + $item)} }'}
        - noted:
            set: '${ . + {seen: $task.name, at: $task.reference} }'
            metadata: {owner: docs}
        - wrapped:
            set: '${ . + {wrapped: true} }'
            output: {as: '${ . + {after: .n} }'}
  - check:
      switch:
        - small: {when: '${ .n < 100 }', then: grow}
        - default: {then: done}
  - grow: {set: '${ . + {n: (.n * 10)} }'}
  - again: {set: '${ . }', then: check}
  - done: {set: '${ {n, seen, at, after, wrapped} }'}
"""


async def test_loops_jumps_and_mixed_tasks_show_the_same_run_both_ways() -> None:
    full_ways: list[list[str]] = []
    short, full = await both_ways(LOOPS_AND_JUMPS, None, full_ways)
    assert short == full
    assert short["outcome"] == {
        "n": 100,
        "seen": "noted",
        "at": "/do/1/loop/do/1/noted",
        "after": 10,
        "wrapped": True,
    }
    assert short["runs"] == 19
    assert short["yields"][:2] == ["/do/1/loop/do/0/add", "/do/1/loop/do/0/add"]
    # the short way was taken: only the two tasks with something around them went through
    # _started (output.as, then), where the full way sent all nine
    assert full_ways[0] == ["/do/1/loop/do/2/wrapped", "/do/4/again"]
    assert len(full_ways[1]) == 9


@pytest.mark.parametrize("stop_at", [4, 7, 12])
async def test_a_continue_as_new_inside_a_loop_of_bare_tasks_carries_the_same_state(
    stop_at: int,
) -> None:
    short, full = await both_ways(LOOPS_AND_JUMPS, None, stop_at=stop_at)
    assert short == full
    kind, state = short["outcome"]
    assert kind == "continued"
    assert [frame["list"] for frame in state["frames"]] == ["/do", "/do/1/loop/do"]
    assert state["runs"] == stop_at - 1  # the task about to start runs again in the next run


@pytest.mark.parametrize(
    ("failing", "instance"),
    [
        ("{set: '${ .n + \"text\" }'}", "/do/0/loop/do/0/fails/set"),  # a jq error
        (
            "{raise: {error: {type: validation, status: 400, title: Refused}}}",
            "/do/0/loop/do/0/fails",
        ),
    ],
)
async def test_a_bare_task_that_fails_is_named_in_the_error_and_noted_failed(
    failing: str, instance: str
) -> None:
    body = f"""
  - loop:
      for: {{each: item, in: '${{ [1, 2] }}'}}
      do:
        - fails: {failing}
"""
    short, full = await both_ways(body, {"n": 1})
    assert short == full
    assert short["outcome"][2] == instance
    assert short["notes"][-2:] == [
        ("/do/0/loop/do/0/fails", "failed"),
        ("/do/0/loop", "failed"),
    ]


@pytest.mark.parametrize(
    "around",
    [
        "if: ${ true }",
        "input: {from: '${ . }'}",
        "input: {schema: {format: json, document: {type: object}}}",
        "output: {as: '${ . }'}",
        "output: {schema: {format: json, document: {type: object}}}",
        "export: {as: '${ . }'}",
        "export: {schema: {format: json, document: {type: object}}}",
        "timeout: {after: {seconds: 5}}",
        "then: end",
        "metadata: {searchAttributes: {Owner: x}}",
        "metadata: {memo: {owner: x}}",
    ],
)
def test_a_task_with_anything_around_its_own_run_is_not_bare(around: str) -> None:
    task = parse_definition(workflow(f"  - t:\n      set: {{a: 1}}\n      {around}\n"), "t.yaml")
    assert not task.model.do.tasks[0].bare


def test_a_task_with_only_its_own_properties_and_plain_metadata_is_bare() -> None:
    body = "  - t: {set: {a: 1}, metadata: {owner: docs}}\n  - u: {wait: {seconds: 1}}\n"
    assert all(task.bare for task in parse_definition(workflow(body), "t.yaml").model.do.tasks)


def test_extensions_turn_the_short_way_off() -> None:
    """An extension may wrap any task: every task then takes the full way."""
    extra = "use:\n  extensions:\n    - log:\n        extend: all\n        before:\n"
    extra += "          - noted: {set: {}}\n"
    assert not interpreter("  - t: {set: {a: 1}}\n", FakeIO(), bare=True, extra=extra)._runs_bare
    assert interpreter("  - t: {set: {a: 1}}\n", FakeIO(), bare=True)._runs_bare
