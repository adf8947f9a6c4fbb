"""A spec run skips ``$data`` only when nothing can read it (engine/data_reads.py), and what
it computes is the same either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engine.fake_io import FakeIO
from tests.harness import workflow
from workflow_runner.engine.data_reads import keeps_data
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.interpreter import Interpreter

LOOP = """\
  - start: {set: {n: 1}}
  - loop:
      for: {each: item, in: '${ [range(5)] }'}
      do:
        - add: {set: '${ . + {total: ((.total // 0) + $item)} }'}
"""


def keeps(body: str, extra: str = "", dialect: str = "spec") -> bool:
    definition = parse_definition(workflow(body, extra), "reads.yaml", dialect=dialect)
    return keeps_data(definition.model, definition.data)


def test_a_definition_that_never_names_data_does_not_keep_it() -> None:
    assert keeps(LOOP) is False


@pytest.mark.parametrize(
    "body",
    [
        "  - a: {set: {x: '${ $data.n }'}}\n",
        "  - a: {set: {x: 1}, output: {as: '${ $data }'}}\n",
        "  - a: {set: {x: 1}, if: '$data.n > 0'}\n",
        "  - a:\n      do:\n        - b: {set: {x: '${ [$data] }'}}\n",
        "  - a: {set: {x: '${ $ENV, $data }'}}\n",
    ],
)
def test_any_expression_naming_data_keeps_it_wherever_it_is(body: str) -> None:
    assert keeps(body) is True


def test_a_function_defined_in_use_keeps_data_when_its_body_names_it() -> None:
    extra = "use:\n  functions:\n    f:\n      set: {x: '${ $data.n }'}\n"
    assert keeps("  - a: {call: f}\n", extra) is True


def test_a_cataloged_function_keeps_data_though_its_body_is_not_in_the_text(
    tmp_path: Path,
) -> None:
    function = tmp_path / "functions" / "reads" / "1.0.0" / "function.yaml"
    function.parent.mkdir(parents=True)
    function.write_text("set:\n  x: '${ $data.n }'\n")
    body = "  - first: {set: {n: 5}}\n  - a: {call: reads:1.0.0@default}\n"
    definition = parse_definition(workflow(body), str(tmp_path / "w.yaml"))
    assert keeps_data(definition.model, definition.data) is True


@pytest.mark.parametrize("call", ["log:1.0.0@global", "https://example.com/f.yaml"])
def test_any_call_naming_a_function_outside_the_text_keeps_data(call: str) -> None:
    model = parse_definition(workflow(LOOP), "reads.yaml").model
    definition = {"do": [{"a": {"call": call}}]}  # (as the model was read from it)
    assert keeps_data(model, definition) is True


@pytest.mark.parametrize("text", ["$datapoint", "$data_x", "costs $database"])
def test_a_longer_name_that_starts_with_data_is_not_data(text: str) -> None:
    assert keeps(f"  - a: {{set: {{x: '{text}'}}}}\n") is False


def test_zigflow_runs_always_keep_data() -> None:
    extra = "  taskQueue: q\n  workflowType: t\n"
    assert keeps("  - a: {set: {x: 1}}\n", extra, dialect="zigflow") is True


async def run(body: str, *, kept: bool, run_input: Any = None) -> tuple[Any, Interpreter]:
    model = parse_definition(workflow(body), "reads.yaml").model
    interpreter = Interpreter(
        workflow=model,
        io=FakeIO(),
        workflow_info={"id": "w", "runId": "r", "definition": {}, "startedAt": {}},
        keeps_data=kept,
    )
    return await interpreter.run(run_input), interpreter


async def test_a_run_that_skips_data_computes_what_a_run_that_keeps_it_does() -> None:
    kept, with_data = await run(LOOP, kept=True, run_input={"a": 1})
    skipped, without = await run(LOOP, kept=False, run_input={"a": 1})
    assert skipped == kept == {"n": 1, "total": 10}
    assert with_data.data["total"] == 10 and "item" not in with_data.data  # (unbound after)
    assert without.data == {"a": 1}  # left as it started: the input's keys
