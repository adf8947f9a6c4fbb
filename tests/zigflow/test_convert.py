"""``workflow-runner convert``: rewrites between the dialects, and says where it cannot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workflow_runner.dsl.convert import convert
from workflow_runner.dsl.dialect import detect
from workflow_runner.dsl.errors import DefinitionError

HERE = Path(__file__).parent
E2E = HERE / "e2e"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workflow_runner.cli.main", "convert", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_convert_renames_zigflows_document_fields_and_keeps_the_comments() -> None:
    text = (HERE / "examples" / "data-flow" / "workflow.yaml").read_text()
    result = convert(text, "w.yaml", "spec")
    assert result.source_dialect == "zigflow" and not result.findings
    data = yaml.safe_load(result.text)
    assert data["document"]["namespace"] == "zigflow"
    assert data["document"]["name"] == "data-flow"
    assert "taskQueue" not in data["document"] and "workflowType" not in data["document"]
    assert detect(data).name == "spec"
    kept = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert kept and all(line in result.text for line in kept)


def test_convert_round_trips_a_definition_without_dialect_specific_parts() -> None:
    text = (E2E / "set" / "workflow.yaml").read_text()
    there = convert(text, "w.yaml", "spec")
    back = convert(there.text, "w.yaml", "zigflow")
    assert not there.findings and not back.findings
    assert back.text == text


def test_convert_rewrites_the_workflow_input_and_the_catch_variable_both_ways() -> None:
    text = (
        "document: {dsl: 1.0.0, taskQueue: q, workflowType: t, version: 0.0.1}\n"
        "do:\n"
        "  - t:\n"
        "      try:\n"
        "        - a:\n"
        "            set:\n"
        "              x: ${ $input.userId }\n"
        "      catch:\n"
        "        as: failure\n"
        "        do:\n"
        "          - b:\n"
        "              set:\n"
        "                status: ${ $data.failure.status }\n"
    )
    spec = convert(text, "w.yaml", "spec")
    assert not spec.blocking, spec.findings
    assert "${ $workflow.input.userId }" in spec.text
    assert "${ $failure.status }" in spec.text
    back = convert(spec.text, "w.yaml", "zigflow")
    assert not back.blocking, back.findings
    assert back.text == text


def test_convert_locates_each_zigflow_result_reference_it_cannot_rewrite() -> None:
    text = (E2E / "fork" / "workflow.yaml").read_text() + (
        "  - after:\n      set:\n        one: ${ $data.callHTTP1.title }\n"
    )
    result = convert(text, "fork.yaml", "spec")
    messages = [str(f) for f in result.blocking]
    assert any("(/do/0/fork/fork)" in m and "map keyed by branch" in m for m in messages), messages
    line = text.splitlines().index("        one: ${ $data.callHTTP1.title }") + 1
    data_ref = [m for m in messages if "$data.callHTTP1" in m]
    assert data_ref and data_ref[0].startswith(f"fork.yaml:{line}:14 (/do/1/after/set/one)")


@pytest.mark.parametrize(
    ("snippet", "words"),
    [
        ("      set:\n        id: ${ uuid }\n", "uuid/timestamp"),
        ("      wait:\n        seconds: ${ $input.s }\n", "wait with an expression"),
        ("      wait:\n        until: 2020-01-01T00:00:00Z\n", "wait with an expression or until"),
        ("      call: activity\n      with: {name: a.B}\n", "call: activity"),
        (
            "      listen:\n        to:\n          one:\n            with: {id: q, type: query}\n",
            "query/update",
        ),
        ("      for: {in: '${ [1] }'}\n      do: []\n", "for task's result"),
    ],
)
def test_convert_to_spec_names_every_zigflow_only_construct(snippet: str, words: str) -> None:
    text = "document: {dsl: 1.0.0, taskQueue: q, workflowType: t, version: 0.0.1}\ndo:\n  - a:\n"
    result = convert(text + snippet, "w.yaml", "spec")
    assert any(words in f.message for f in result.blocking), result.findings


def test_convert_to_zigflow_names_spec_only_variables_and_task_input() -> None:
    text = (
        "document: {dsl: 1.0.0, namespace: q, name: t, version: 0.0.1}\n"
        "do:\n"
        "  - a:\n"
        "      set:\n"
        "        id: ${ $workflow.id }\n"
        "        mine: ${ $input.x }\n"
        "        whole: ${ $workflow.input.x }\n"
    )
    result = convert(text, "w.yaml", "zigflow")
    pointers = {f.pointer for f in result.blocking}
    assert pointers == {"/do/0/a/set/id", "/do/0/a/set/mine"}, result.findings
    assert "whole: ${ $input.x }" in result.text
    assert yaml.safe_load(result.text)["document"] == {
        "dsl": "1.0.0", "taskQueue": "q", "workflowType": "t", "version": "0.0.1",
    }  # fmt: skip


def test_convert_to_zigflow_refuses_a_namespace_zigflow_would_reject_as_a_task_queue() -> None:
    text = "document: {dsl: 1.0.0, namespace: a.b, name: t, version: 0.0.1}\ndo: []\n"
    assert [f.pointer for f in convert(text, "w.yaml", "zigflow").blocking] == [
        "/document/namespace"
    ]


def test_convert_flags_a_multi_workflow_document_and_anchors() -> None:
    text = (HERE / "examples" / "money-transfer" / "workflow.yaml").read_text()
    pointers = {f.pointer for f in convert(text, "w.yaml", "spec").blocking}
    assert {"/.anchors", "/do"} <= pointers


def test_convert_of_unreadable_yaml_is_a_located_definition_error() -> None:
    with pytest.raises(DefinitionError, match=r"w\.yaml:2:1: invalid YAML"):
        convert("document: [\n", "w.yaml", "spec")


def test_convert_cli_exits_1_and_writes_nothing_where_no_faithful_rewrite_exists(
    tmp_path: Path,
) -> None:
    out = tmp_path / "spec.yaml"
    done = cli(str(E2E / "fork" / "workflow.yaml"), "--to", "spec", "-o", str(out))
    assert done.returncode == 1 and not out.exists()
    assert "/do/0/fork/fork" in done.stderr and "--force" in done.stderr
    assert "Traceback" not in done.stderr


def test_convert_cli_force_writes_the_rewrite_and_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "spec.yaml"
    done = cli(str(E2E / "fork" / "workflow.yaml"), "--to", "spec", "-o", str(out), "--force")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(out.read_text())["document"]["namespace"] == "fork"


def test_convert_cli_prints_a_faithful_rewrite_on_stdout() -> None:
    done = cli(str(E2E / "set" / "workflow.yaml"), "--to", "spec")
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout)["document"]["name"] == "workflow"


def test_convert_cli_refuses_an_unknown_target_and_a_missing_file() -> None:
    bad = cli(str(E2E / "set" / "workflow.yaml"), "--to", "yaml")
    assert bad.returncode == 2 and "--to" in bad.stderr
    missing = cli("/no/such/file.yaml", "--to", "spec")
    assert missing.returncode == 2 and "/no/such/file.yaml" in missing.stderr
    assert "Traceback" not in bad.stderr + missing.stderr


def test_convert_to_zigflow_reads_a_spec_data_key_that_names_no_task_from_the_input() -> None:
    text = """document: {dsl: 1.0.0, namespace: golden, name: w, version: 0.0.1}
do:
  - check:
      switch:
        - ok:
            when: ${ $data.valid == true }
            then: fetch
  - fetch:
      set:
        a: ${ $data.fetch }
"""
    result = convert(text, "w.yaml", "zigflow")
    assert "${ $input.valid == true }" in result.text  # the spec's $data is the input's keys
    assert "${ $data.fetch }" in result.text  # a task name: Zigflow's per-task result
