"""A loop's body keeps one frame for all its runs (``Interpreter.list_frame``), and a
``set`` of one expression reads its jq body once (``SetTask.body``): both only save work,
so what a run shows must not change. The frames a run stands in are what a
continue-as-new carries, so the tests look at them as the tasks start."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.engine.fake_io import FakeIO
from tests.harness import workflow
from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.continuation import Frame, snapshot
from workflow_runner.engine.data_reads import keeps_data
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.interpreter import Interpreter
from workflow_runner.engine.tasks.set import SetTask


@dataclass
class FrameWatch(FakeIO):
    """Notes, as each task is about to start, the frames it stands in."""

    run: Interpreter | None = None
    # the frames themselves (kept alive: a freed frame's id can come back for a new one)
    seen: list[tuple[list[Frame], list[dict[str, Any]]]] = field(default_factory=list)

    def pace(self) -> bool:
        assert self.run is not None
        frames = self.run.frames
        self.seen.append((list(frames), snapshot(frames)))
        return super().pace()


def watched(body: str, extra: str = "") -> tuple[Interpreter, FrameWatch]:
    definition = parse_definition(workflow(body, extra), "frames.yaml")
    io = FrameWatch()
    run = Interpreter(
        workflow=definition.model,
        io=io,
        workflow_info={"id": "frames", "runId": "r1", "definition": {}, "startedAt": {}},
        keeps_data=keeps_data(definition.model, definition.data),
    )
    io.run = run
    return run, io


LOOP = """
  - loop:
      for: {each: item, in: '${ [1, 2, 3] }'}
      do:
        - add: {set: '${ . + {n: ((.n // 0) + $item)} }'}
        - mark: {set: '${ . + {last: $item} }'}
  - after: {set: '${ . }'}
"""


async def test_every_run_of_a_loop_body_stands_in_the_same_frame_which_leaves_with_the_loop() -> (
    None
):
    run, io = watched(LOOP)
    assert await run.run({}) == {"n": 6, "last": 3}
    body_frames = {id(frames[1]) for frames, _ in io.seen[1:7]}
    assert len(body_frames) == 1  # six task runs in three iterations, one frame
    assert [len(ids) for ids, _ in io.seen] == [1, 2, 2, 2, 2, 2, 2, 1]
    assert run.frames == [] and run.lists == []


async def test_the_body_frame_says_where_each_task_stands_as_it_starts() -> None:
    run, io = watched(LOOP)
    await run.run({})
    body = [frames[1] for _, frames in io.seen[1:7]]
    assert [(frame["index"], frame["value"]) for frame in body] == [
        (0, {}),
        (1, {"n": 1}),
        (0, {"n": 1, "last": 1}),
        (1, {"n": 3, "last": 1}),
        (0, {"n": 3, "last": 2}),
        (1, {"n": 6, "last": 2}),
    ]
    assert all(frame["list"] == "/do/0/loop/do" for frame in body)
    # the loop's own frame holds its position (what a continue-as-new carries)
    outer = io.seen[4][1][0]
    assert outer["list"] == "/do" and outer["index"] == 0
    assert outer["body"]["at"] == 1 and outer["body"]["output"] == {"n": 1, "last": 1}


async def test_a_loop_whose_iteration_fails_leaves_no_frame_behind() -> None:
    body = """
  - guarded:
      try:
        - loop:
            for: {each: item, in: '${ [1, 2, 3] }'}
            do:
              - fails: {set: '${ if $item == 2 then error("two") else . end }'}
      catch:
        errors: {with: {type: https://serverlessworkflow.io/spec/1.0.0/errors/expression}}
        do:
          - handled: {set: {handled: true}}
  - after: {set: '${ . }'}
"""
    run, io = watched(body)
    assert await run.run({}) == {"handled": True}
    assert len(io.seen[-1][0]) == 1  # `after` stands in the top-level frame only
    assert run.frames == [] and run.lists == []


async def test_a_loop_that_ends_the_workflow_leaves_no_frame_behind() -> None:
    body = """
  - loop:
      for: {each: item, in: '${ [1, 2, 3] }'}
      do:
        - stop:
            switch:
              - last: {when: '${ $item == 2 }', then: end}
              - other: {then: continue}
  - never: {set: {reached: true}}
"""
    run, io = watched(body)
    assert await run.run({"kept": 1}) == {"kept": 1}
    assert [len(ids) for ids, _ in io.seen] == [1, 2, 2]
    assert run.frames == [] and run.lists == []


def set_task(value: str) -> SetTask:
    definition = parse_definition(workflow(f"  - one: {{set: {value}}}\n"), "set.yaml")
    task = definition.model.do.tasks[0]
    assert isinstance(task, SetTask)
    return task


@pytest.mark.parametrize(
    ("value", "body"),
    [
        ("'${ .a + 1 }'", ".a + 1"),
        ("'${.a}'", ".a"),
        ("'plain text'", None),  # not an expression: the string itself
        ("{a: '${ .a }'}", None),  # a mapping: evaluated deeply, as before
    ],
)
def test_a_set_of_one_expression_keeps_its_jq_body(value: str, body: str | None) -> None:
    task = set_task(value)
    assert task.body == body
    assert task.where == "/do/0/one/set"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("'${ .a + 1 }'", 2),
        ("'plain text'", "plain text"),
        ("{b: '${ .a }'}", {"b": 1}),
    ],
)
async def test_a_set_gives_the_same_value_whichever_way_it_is_read(
    value: str, expected: Any
) -> None:
    run, _ = watched(f"  - one: {{set: {value}}}\n")
    assert await run.run({"a": 1}) == expected


async def test_a_set_whose_expression_fails_names_its_set_field() -> None:
    run, _ = watched("  - one: {set: '${ .a + \"text\" }'}\n")
    with pytest.raises(WorkflowError) as caught:
        await run.run({"a": 1})
    assert caught.value.instance == "/do/0/one/set"


async def test_a_set_of_one_expression_reads_dot_as_its_dialect_says() -> None:
    # Zigflow: ``.`` is $data (every task's result by name, sets merged in), not the
    # task's input; ``answer_now`` and ``answer_later`` give the dialect's dot, as
    # ``eval_value`` does
    definition = parse_definition(
        """document:
  dsl: 1.0.0
  taskQueue: zf-tests
  workflowType: workflow
  version: 0.0.1
do:
  - first: {set: {x: 1}}
  - fetch:
      call: http
      with: {method: get, endpoint: http://example.test/}
  - second: {set: '${ {y: (.x + .fetch.id)} }'}
  - third: {set: '${ {z: (.x + .y), id: (uuid | length)} }'}
""",
        "zigflow.yaml",
    )
    assert definition.dialect == "zigflow"
    io = FakeIO(activities={"call_http": lambda request: {"id": 2}})
    run = Interpreter(
        workflow=definition.model,
        io=io,
        workflow_info={"id": "zf", "runId": "r1", "definition": {}, "startedAt": {}},
    )
    output = await run.run(None)
    # second read .x and .fetch from $data; third, whose body makes a uuid and is
    # awaited (``answer_later``), read first's .x and second's .y from it (its input is
    # second's output alone)
    assert output == {"z": 4, "id": 36}
