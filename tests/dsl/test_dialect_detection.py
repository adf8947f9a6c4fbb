"""Which dialect a document is read in, and the Zigflow reading rules (dsl/dialect.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from workflow_runner.cli.main import app
from workflow_runner.dsl.dialect import DIALECT_KEY, detect
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import model_of, parse_definition

ZIGFLOW = """document:
  dsl: 1.0.0
  taskQueue: zigflow
  workflowType: hello-world
  version: 0.0.1
do:
  - set:
      set: {message: Hello}
"""
SPEC = """document:
  dsl: 1.0.0
  namespace: examples
  name: hello
  version: 0.0.1
do:
  - set:
      set: {message: Hello}
"""


def test_task_queue_and_workflow_type_select_the_zigflow_dialect() -> None:
    zigflow = parse_definition(ZIGFLOW)
    assert zigflow.dialect == "zigflow"
    assert (zigflow.model.document.namespace, zigflow.name) == ("zigflow", "hello-world")
    assert parse_definition(SPEC).dialect == "spec"


def test_a_spec_override_on_a_zigflow_document_asks_for_namespace_and_name() -> None:
    with pytest.raises(DefinitionError, match=r"document\.namespace must be a non-empty string"):
        parse_definition(ZIGFLOW, dialect="spec")


def test_a_zigflow_override_is_stamped_so_a_worker_reads_the_same() -> None:
    text = ZIGFLOW.replace("do:\n", "do:\n  - one:\n      set: {a: 1}\n")
    definition = parse_definition(text, dialect="zigflow")
    assert definition.data[DIALECT_KEY] == {"dialect": "zigflow"}
    assert model_of(definition.data).dialect == "zigflow"
    assert detect(definition.data).name == "zigflow"


def test_an_unknown_dialect_is_one_clear_problem() -> None:
    with pytest.raises(DefinitionError, match="unknown dialect 'zig'"):
        parse_definition(SPEC, dialect="zig")


@pytest.mark.parametrize("queue", ["Zig flow", "my_queue", "-q", "a" * 64, "q."])
def test_a_task_queue_zigflow_would_refuse_is_refused(queue: str) -> None:
    with pytest.raises(DefinitionError, match="RFC 1123 DNS label") as info:
        parse_definition(ZIGFLOW.replace("taskQueue: zigflow", f"taskQueue: {queue}"))
    assert info.value.problems[0].pointer == "/document/taskQueue"


def test_duplicate_names_and_anchors_stay_refused_in_the_spec_dialect() -> None:
    duplicate = SPEC + "  - set:\n      set: {again: 1}\n"
    with pytest.raises(DefinitionError, match="duplicate task name 'set'"):
        parse_definition(duplicate)
    parse_definition(ZIGFLOW + "  - set:\n      set: {again: 1}\n")
    with pytest.raises(DefinitionError, match=r"unknown top-level property '\.anchors'"):
        parse_definition(".anchors: {a: 1}\n" + SPEC)
    parse_definition(".anchors: {a: 1}\n" + ZIGFLOW)


def test_wait_expressions_are_zigflow_only() -> None:
    wait = "  - w:\n      wait:\n        seconds: ${ $input.n }\n"
    parse_definition(ZIGFLOW + wait)
    with pytest.raises(DefinitionError):
        parse_definition(SPEC + wait)


def test_validate_prints_the_dialect_each_file_was_read_in(tmp_path: Path) -> None:
    (tmp_path / "z.yaml").write_text(ZIGFLOW)
    (tmp_path / "s.yaml").write_text(SPEC)
    multi = ZIGFLOW.replace(
        "do:\n  - set:\n      set: {message: Hello}\n",
        "do:\n  - first:\n      do:\n        - a:\n            set: {a: 1}\n"
        "  - second:\n      do:\n        - b:\n            set: {b: 1}\n",
    )
    (tmp_path / "m.yaml").write_text(multi)
    files = [str(tmp_path / n) for n in ("z.yaml", "s.yaml", "m.yaml")]
    result = CliRunner().invoke(app, ["validate", *files])
    assert result.exit_code == 0, result.output
    assert "(dialect: zigflow)" in result.output
    assert "(dialect: spec)" in result.output
    assert "(dialect: zigflow, workflows: first, second)" in result.output
    forced = CliRunner().invoke(app, ["validate", "--dialect", "spec", files[0]])
    assert forced.exit_code == 2
    assert "document.namespace" in forced.output
