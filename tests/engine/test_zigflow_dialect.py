"""The Zigflow dialect's data model (engine/dialects.py), beside the spec's unchanged one.

Fast tests run the interpreter against the in-memory fake (tests/engine/fake_io.py);
the last ones run on the dev server, as a Zigflow user's workflow would.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.fake_io import FakeIO, run_dsl
from tests.harness import Harness
from workflow_runner.dsl.errors import DefinitionError, WorkflowError
from workflow_runner.engine.definition import Definition, parse_definition
from workflow_runner.engine.dialects import MODELS, DataModel
from workflow_runner.engine.interpreter import Interpreter
from workflow_runner.engine.registry import by_queue, queue_of, serve

HEAD = """document:
  dsl: 1.0.0
  taskQueue: zf-tests
  workflowType: workflow
  version: 0.0.1
"""


async def run_zigflow(
    body: str, run_input: Any = None, io: FakeIO | None = None, env: dict[str, str] | None = None
) -> Any:
    definition = parse_definition(HEAD + body, "zigflow.yaml")
    assert definition.dialect == "zigflow"
    interpreter = Interpreter(
        workflow=definition.model,
        io=io or FakeIO(),
        workflow_info={"id": "fast", "runId": "r1", "definition": {}, "startedAt": {}},
        env=env or {},
    )
    return await interpreter.run(run_input)


def test_only_a_data_model_that_passes_values_through_unchanged_says_it_does() -> None:
    # passes_through lets the interpreter skip four calls a task: only honest while
    # none of them is overridden
    hooks = ("before_task", "record", "input_var", "output_var", "iteration_done", "dot")
    for name, model in MODELS.items():
        overridden = [h for h in hooks if getattr(type(model), h) is not getattr(DataModel, h)]
        assert model.passes_through == (not overridden), (name, overridden)
    assert not MODELS["zigflow"].passes_through and MODELS["spec"].passes_through


async def test_data_holds_every_task_result_by_task_name_and_set_merges_into_it() -> None:
    io = FakeIO(activities={"call_http": lambda request: {"id": 2}})
    out = await run_zigflow(
        """
do:
  - first:
      set: {x: 1}
  - fetch:
      call: http
      with: {method: get, endpoint: http://127.0.0.1:9/posts/2}
  - report:
      set:
        x: ${ $data.x }
        fetched: ${ $data.fetch }
        stigmer: ${ .fetch.id }
""",
        io=io,
    )
    assert out == {"x": 1, "fetched": {"id": 2}, "stigmer": 2}


async def test_input_is_the_workflow_input_and_output_the_previous_tasks_output() -> None:
    out = await run_zigflow(
        """
do:
  - one:
      set: {a: 1}
  - two:
      set:
        input: ${ $input }
        previous: ${ $output }
""",
        {"userId": 3},
    )
    assert out == {"input": {"userId": 3}, "previous": {"a": 1}}


async def test_a_fork_returns_a_map_by_branch_name_and_the_spec_a_list() -> None:
    body = """
  - fork:
      fork:
        branches:
          - left:
              set: {side: l}
          - right:
              set: {side: r}
"""
    zigflow = await run_zigflow("do:" + body)
    assert zigflow == {"left": {"side": "l"}, "right": {"side": "r"}}
    assert await run_dsl(body) == [{"side": "l"}, {"side": "r"}]


async def test_stigmer_reads_a_fork_branch_as_dot_task_name_in_the_zigflow_dialect() -> None:
    out = await run_zigflow(
        """
do:
  - parallelProcessing:
      fork:
        branches:
          - branchA:
              set: {result: a}
          - branchB:
              set: {result: b}
  - combine:
      set:
        a: ${ .parallelProcessing.branchA.result }
"""
    )
    assert out == {"a": "a"}


async def test_a_for_collects_iterations_maps_by_key_and_counts_a_number() -> None:
    out = await run_zigflow(
        """
do:
  - overList:
      for: {in: '${ [1, 2] }'}
      do:
        - double:
            set: {v: '${ $data.item * 2 }'}
  - overMap:
      for: {in: '${ {"a": 1, "b": 2} }', each: value, at: key}
      do:
        - pair:
            set: {k: '${ $data.key }', v: '${ $data.value }'}
  - counted:
      for: {in: '${ 3 }'}
      do:
        - idx:
            set: {i: '${ $data.index }'}
  - report:
      set: {list: '${ $data.overList }', map: '${ $data.overMap }', count: '${ $data.counted }'}
"""
    )
    assert out == {
        "list": [{"v": 2}, {"v": 4}],
        "map": {"a": {"k": "a", "v": 1}, "b": {"k": "b", "v": 2}},
        "count": [{"i": 0}, {"i": 1}, {"i": 2}],
    }


async def test_the_spec_for_still_returns_its_last_iteration() -> None:
    body = """
  - loop:
      for: {in: '${ [1, 2] }'}
      do:
        - v:
            set: {v: '${ $item }'}
"""
    assert await run_dsl(body) == {"v": 2}


async def test_catch_as_exposes_the_error_under_data_and_not_under_data_error() -> None:
    out = await run_zigflow(
        """
do:
  - tryIt:
      try:
        - boom:
            raise:
              error: {type: https://example.com/missing, status: 404, title: Not found}
      catch:
        as: caughtError
        do:
          - expose:
              set:
                caughtErrorPresent: ${ $data.caughtError != null }
                caughtErrorHasType: ${ $data.caughtError.type != null }
                defaultErrorKeyPresent: ${ $data.error != null }
              output:
                as:
                  result: ${ . }
"""
    )
    assert out == {
        "result": {
            "caughtErrorPresent": True,
            "caughtErrorHasType": True,
            "defaultErrorKeyPresent": False,
        }
    }


async def test_uuid_and_timestamps_are_jq_functions_made_by_the_workflow() -> None:
    io = FakeIO(clock=1_700_000_000.25)
    out = await run_zigflow(
        """
do:
  - ids:
      set: {a: '${ uuid }', b: '${ uuid }', t: '${ timestamp }', iso: '${ timestamp_iso8601 }'}
""",
        io=io,
    )
    assert out["a"] != out["b"] and len(out["a"]) == 36
    assert out["t"] == 1_700_000_000 and out["iso"] == "2023-11-14T22:13:20Z"
    again = await run_zigflow(
        "do:\n  - ids:\n      set: {a: '${ uuid }', b: '${ uuid }'}\n", io=FakeIO()
    )
    assert (again["a"], again["b"]) == (out["a"], out["b"]), "a replay must make the same uuids"


def test_uuid_stays_unknown_in_the_spec_dialect() -> None:
    with pytest.raises(DefinitionError, match="uuid/0 is not defined"):
        parse_definition(
            "document: {dsl: 1.0.0, namespace: t, name: n, version: 0.0.1}\n"
            "do:\n  - a:\n      set: {id: '${ uuid }'}\n"
        )


async def test_wait_takes_expressions_and_until_and_outputs_null() -> None:
    io = FakeIO(clock=1_700_000_000.0)  # 2023-11-14T22:13:20Z
    out = await run_zigflow(
        """
do:
  - cooldown:
      wait:
        seconds: ${ $input.cooldownSeconds }
  - past:
      wait:
        until: 2020-01-01T00:00:00Z
  - future:
      wait:
        until: ${ $input.deadline }
""",
        {"cooldownSeconds": 2, "deadline": "2023-11-14T22:13:30Z"},
        io=io,
    )
    assert [d.total_seconds() for d in io.sleeps] == [2.0, 8.0]
    assert out is None


def test_a_wait_until_that_is_not_a_timestamp_is_refused_when_read() -> None:
    with pytest.raises(DefinitionError, match="RFC 3339"):
        parse_definition(HEAD + "do:\n  - w:\n      wait:\n        until: tomorrow\n")


async def test_a_switch_naming_a_do_block_runs_it_and_comes_back() -> None:
    body = """
do:
  - route:
      switch:
        - electronic:
            when: ${ $input.orderType == "electronic" }
            then: processElectronic
        - default:
            then: continue
  - after:
      set: {routed: '${ $output }'}
  - processElectronic:
      do:
        - pay:
            set: {paid: true}
"""
    assert await run_zigflow(body, {"orderType": "electronic"}) == {"routed": {"paid": True}}
    # not routed: the declared block after 'after' is not run in sequence
    assert await run_zigflow(body, {"orderType": "other"}) == {"routed": None}


async def test_duplicate_task_names_and_anchors_are_accepted() -> None:
    out = await run_zigflow(
        """
.anchors:
  value: &v 5
do:
  - step:
      set: {a: *v}
  - step:
      set: {b: '${ $data.a + 1 }'}
"""
    )
    assert out == {"b": 6}


async def test_env_comes_from_the_run_environment() -> None:
    out = await run_zigflow(
        "do:\n  - e:\n      set: {v: '${ $env.EXAMPLE }'}\n", env={"EXAMPLE": "x"}
    )
    assert out == {"v": "x"}


async def test_a_top_level_timeout_is_the_activities_default_not_a_run_limit() -> None:
    definition = parse_definition(
        HEAD + "timeout:\n  after: {seconds: 1}\ndo:\n  - w:\n      wait: {seconds: 5}\n"
    )
    assert definition.model.timeout is None
    assert definition.model.activity_timeout is not None
    assert definition.model.activity_timeout.total_seconds() == 1


async def test_each_named_do_block_of_a_multi_workflow_document_is_a_workflow() -> None:
    text = (
        HEAD
        + """do:
  - workflow1:
      do:
        - one:
            set: {which: 1}
  - workflow2:
      do:
        - two:
            set: {which: 2}
"""
    )
    first = parse_definition(text)
    assert first.model.workflows == ("workflow1", "workflow2")
    assert first.name == "workflow1"
    second = parse_definition(text, workflow="workflow2")
    assert second.name == "workflow2"
    interpreter = Interpreter(
        workflow=second.model, io=FakeIO(), workflow_info={"id": "x", "runId": "r"}
    )
    assert await interpreter.run(None) == {"which": 2}
    with pytest.raises(DefinitionError, match="no workflow named 'nope'"):
        parse_definition(text, workflow="nope")


async def test_stigmer_fork_reads_fail_with_an_expression_error_in_the_spec_dialect() -> None:
    # In the spec `.` is the task input (the fork's list of branch outputs): reading
    # a branch by name is jq indexing an array with a string, a located error.
    body = """
  - parallelProcessing:
      fork:
        branches:
          - branchA:
              set: {result: a}
  - combine:
      set:
        a: ${ .parallelProcessing.branchA.result }
"""
    with pytest.raises(WorkflowError, match="Cannot index array") as info:
        await run_dsl(body)
    assert info.value.instance == "/do/1/combine/set/a"


async def test_a_zigflow_run_error_is_still_a_located_spec_error() -> None:
    with pytest.raises(WorkflowError) as info:
        await run_zigflow(
            "do:\n  - loop:\n      for: {in: '${ \"text\" }'}\n      do:\n"
            "        - s:\n            set: {a: 1}\n"
        )
    assert info.value.instance == "/do/0/loop/for/in"


# -- on the dev server ---------------------------------------------------------------------


async def test_zigflow_set_and_fork_run_end_to_end(harness: Harness) -> None:
    out = await harness.run(
        HEAD
        + """do:
  - fork:
      fork:
        branches:
          - one:
              set: {n: 1}
          - two:
              set: {n: 2}
  - set:
      output:
        as:
          data: ${ . }
      set:
        hello: world
        forked: ${ $data.fork }
        id: ${ uuid }
"""
    )
    assert out["data"]["hello"] == "world"
    assert out["data"]["forked"] == {"one": {"n": 1}, "two": {"n": 2}}
    assert len(out["data"]["id"]) == 36


async def test_zigflow_wait_with_an_expression_runs_end_to_end(harness: Harness) -> None:
    out = await harness.run(
        HEAD
        + """do:
  - cooldown:
      wait:
        seconds: ${ $input.cooldownSeconds }
  - markDone:
      output:
        as:
          data: ${ . }
      set:
        status: done
""",
        {"cooldownSeconds": 1},
    )
    assert out == {"data": {"status": "done"}}


# -- issue 15, second round: what Zigflow's examples showed ---------------------------


@pytest.mark.parametrize("queue", ["callHTTP", "MoneyTransfer", "a", "A-1"])
def test_a_task_queue_with_capitals_is_accepted_and_served_as_written(queue: str) -> None:
    definition = parse_definition(HEAD.replace("taskQueue: zf-tests", f"taskQueue: {queue}")
                                  + "do:\n  - a:\n      set: {x: 1}\n")  # fmt: skip
    assert queue_of(definition, "default-queue") == queue


def test_each_definition_is_grouped_on_its_own_queue_and_one_type_may_be_on_two() -> None:
    def doc(queue: str, value: int) -> Definition:
        text = HEAD.replace("taskQueue: zf-tests", f"taskQueue: {queue}")
        return parse_definition(text + f"do:\n  - a:\n      set: {{x: {value}}}\n", f"{queue}.yaml")

    spec = parse_definition(
        "document: {dsl: 1.0.0, namespace: t, name: n, version: 0.0.1}\n"
        "do:\n  - a:\n      set: {x: 0}\n"
    )
    grouped = by_queue([doc("q1", 1), doc("q2", 2), spec], "default-queue")
    assert {q: [d.name for d in ds] for q, ds in grouped.items()} == {
        "default-queue": ["n"],
        "q1": ["workflow"],
        "q2": ["workflow"],
    }
    # one queue at a time: the same type with two definitions is no conflict
    served = {queue: serve(definitions) for queue, definitions in grouped.items()}
    assert served["q1"]["workflow"].data != served["q2"]["workflow"].data


async def test_while_reads_the_previous_iterations_output_as_output() -> None:
    out = await run_zigflow(
        """
do:
  - before:
      set: ${ [1, 2] }
  - pages:
      for:
        in: ${ 5 }
      while: '${ ($output.pageNumber // 0) < 3 }'
      do:
        - page:
            set:
              pageNumber: ${ $data.index + 1 }
"""
    )
    # $output is null before the first iteration (not the previous task's array)
    assert out == [{"pageNumber": 1}, {"pageNumber": 2}, {"pageNumber": 3}]


async def test_run_workflow_type_starts_a_child_by_workflow_type_with_the_workflow_input() -> None:
    io = FakeIO(children={"type:child-workflow1": lambda given: {"got": given}})
    out = await run_zigflow(
        """
do:
  - first:
      set: {x: 1}
  - callChild:
      run:
        workflow:
          type: child-workflow1
""",
        {"userId": 3},
        io=io,
    )
    assert out == {"got": {"userId": 3}}


def test_run_workflow_type_stays_unknown_in_the_spec_dialect() -> None:
    with pytest.raises(DefinitionError, match=r"run\.workflow needs 'name'"):
        parse_definition(
            "document: {dsl: 1.0.0, namespace: t, name: n, version: 0.0.1}\n"
            "do:\n  - c:\n      run:\n        workflow: {type: child}\n"
        )


async def test_a_switch_in_a_nested_list_runs_a_top_level_workflow_block_by_name() -> None:
    text = (
        HEAD
        + """do:
  - main:
      do:
        - init:
            export:
              as: ${ . }
            set: {count: 0}
        - loop:
            export:
              as: ${ .[-1] // $context }
            for:
              in: ${ 2 }
            do:
              - route:
                  export:
                    as: '${ $context + . }'
                  switch:
                    - always:
                        then: increment
        - result:
            set: {count: '${ $context.count }'}
  - increment:
      do:
        - add:
            set: {count: '${ $context.count + 1 }'}
"""
    )
    definition = parse_definition(text)
    assert definition.model.workflows == ("main", "increment")
    interpreter = Interpreter(
        workflow=definition.model, io=FakeIO(), workflow_info={"id": "x", "runId": "r"}
    )
    # the block's output goes through the switch's export: $context.count counts the runs
    assert await interpreter.run(None) == {"count": 2}


def test_a_switch_naming_no_block_of_the_document_is_still_refused() -> None:
    with pytest.raises(DefinitionError, match="names no task in this list"):
        parse_definition(
            HEAD + "do:\n  - s:\n      switch:\n        - c:\n            then: nowhere\n"
        )


async def test_an_export_inside_a_for_reaches_the_next_iteration_but_not_after_the_loop() -> None:
    out = await run_zigflow(
        """
do:
  - seed:
      export:
        as: '${ {kept: true} }'
      set: {x: 1}
  - loop:
      export:
        as: '${ $context + {loop: .} }'
      for:
        in: ${ 3 }
      do:
        - step:
            export:
              as: '${ $context + {count: (($context.count // 0) + 1)} }'
            set:
              seen: ${ $context.count // 0 }
  - report:
      set: {context: '${ $context }'}
"""
    )
    assert out == {"context": {"kept": True, "loop": [{"seen": 0}, {"seen": 1}, {"seen": 2}]}}


async def test_data_workflow_holds_the_runs_temporal_info_under_zigflows_names(
    harness: Harness,
) -> None:
    handle = await harness.start(
        HEAD
        + """do:
  - who:
      set:
        id: ${ $data.workflow.workflow_execution_id }
        type: ${ $data.workflow.workflow_type_name }
        queue: ${ $data.workflow.task_queue_name }
        started: ${ $data.workflow.workflow_start_time }
"""
    )
    out = await handle.result()
    started = out.pop("started")
    assert out == {"id": handle.id, "type": "DslWorkflow", "queue": harness.task_queue}
    described = await handle.describe()
    assert started == described.start_time.strftime("%Y-%m-%dT%H:%M:%SZ")
