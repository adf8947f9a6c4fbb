"""Invalid definitions are rejected before anything runs, each problem located."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_runner.dsl.durations import parse_duration
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import load_definition, parse_definition

HEADER = "document:\n  dsl: '1.0.0'\n  namespace: t\n  name: t\n  version: '1'\n"


def problems(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "wf.yaml")
    return [str(p) for p in info.value.problems]


def test_valid_definition_loads() -> None:
    d = parse_definition(HEADER + "do:\n  - a:\n      set:\n        x: 1\n", "wf.yaml")
    assert d.reference == "t/t:1" and d.data["do"][0]["a"]["set"] == {"x": 1}
    (task,) = d.model.do.tasks
    assert (task.name, task.pointer, getattr(task, "value", None)) == ("a", "/do/0/a", {"x": 1})


def test_yaml_syntax_error_has_file_line_column() -> None:
    (p,) = problems(HEADER + "do:\n  - a:\n      set: {x: 1\n")
    assert p.startswith("wf.yaml:") and "invalid YAML" in p
    assert p.split(":")[1] in ("8", "9")


def test_unquoted_expression_with_colon_gets_a_hint() -> None:
    (p,) = problems(HEADER + "do:\n  - a:\n      set:\n        x: ${ {a: 1} }\n")
    assert "wf.yaml:9:" in p and "quote" in p


@pytest.mark.parametrize(
    ("body", "pointer", "fragment"),
    [
        ("  - a:\n      frobnicate: {}\n", "/do/0/a", "unknown task type"),
        (
            "  - a:\n      set:\n        x: 1\n      colour: red\n",
            "/do/0/a/colour",
            "unknown property 'colour'",
        ),
        (
            "  - a:\n      set:\n        x: 1\n      then: nowhere\n",
            "/do/0/a/then",
            "names no task",
        ),
        ("  - a:\n      set:\n        x: ${ .a | }\n", "/do/0/a/set/x", "invalid jq expression"),
        ("  - a:\n      if: ${ $nope }\n      set: {}\n", "/do/0/a/if", "$nope is not defined"),
        ("  - a:\n      wait: PT5Q\n", "/do/0/a/wait", "not an ISO 8601 duration"),
        ("  - a:\n      call: asyncapi\n", "/do/0/a/call", "not supported yet"),
        (
            "  - a:\n      call: myFunction\n",
            "/do/0/a/call",
            "unknown function 'myFunction'",
        ),
        (
            "  - a:\n      call: http\n      with:\n        endpoint: http://x\n",
            "/do/0/a/with",
            "needs 'method'",
        ),
        (
            "  - a:\n      run:\n        container:\n          image: alpine\n"
            "          pullPolicy: sometimes\n",
            "/do/0/a/run/container/pullPolicy",
            "pullPolicy must be one of",
        ),
        (
            "  - a:\n      run:\n        script:\n          language: ruby\n          code: x\n",
            "/do/0/a/run/script",
            "python",
        ),
        (
            "  - a:\n      raise:\n        error: undefinedError\n",
            "/do/0/a/raise/error",
            "not defined in use.errors",
        ),
        (
            "  - a:\n      switch:\n        - c:\n"
            "            when: ${ true }\n            then: ghost\n",
            "/do/0/a/switch/0/c/then",
            "names no task",
        ),
        (
            "  - a:\n      for:\n        each: x\n      do:\n        - b:\n            set: {}\n",
            "/do/0/a/for",
            "needs 'in'",
        ),
        ("  - a:\n      try:\n        - b:\n            set: {}\n", "/do/0/a", "needs 'catch'"),
        (
            "  - a:\n      listen:\n        to:\n          all: [{with: {type: x}}]\n"
            "          until: ${ true }\n",
            "/do/0/a/listen/to/until",
            "applies to 'any' only",
        ),
        ("  - a:\n      set: {}\n  - a:\n      set: {}\n", "/do/1/a", "duplicate task name"),
        ("  - a: 5\n", "/do/0/a", "must be a mapping"),
    ],
)
def test_task_problems_name_pointer_and_fix(body: str, pointer: str, fragment: str) -> None:
    found = problems(HEADER + "do:\n" + body)
    assert any(f"({pointer})" in p and fragment in p for p in found), found
    assert all(p.startswith("wf.yaml:") for p in found)


def test_unconditional_then_cycle_is_rejected_but_polling_loops_are_fine() -> None:
    busy = problems(
        HEADER
        + "do:\n  - a:\n      set:\n        x: 1\n  - b:\n      set:\n        y: 2\n      then: a\n"
    )
    assert any("a -> b -> a" in p and "never end" in p for p in busy), busy
    polling = HEADER + (
        "do:\n  - a:\n      set:\n        x: 1\n  - pause:\n      wait: PT1M\n      then: a\n"
    )
    parse_definition(polling, "wf.yaml")


def test_loop_variables_are_in_scope_for_validation() -> None:
    text = HEADER + (
        "do:\n  - l:\n      for:\n        each: pet\n        in: ${ .pets }\n      do:\n"
        "        - b:\n            set:\n              name: ${ $pet.name }\n"
    )
    parse_definition(text, "wf.yaml")


def test_document_and_version_checked() -> None:
    found = problems("document:\n  dsl: '0.8'\n  name: x\ndo:\n  - a:\n      set: {}\n")
    assert any("document.namespace" in p for p in found)
    assert any("0.8" in p and "not supported" in p for p in found)


def test_every_problem_reported_at_once() -> None:
    found = problems(HEADER + "do:\n  - a:\n      wait: nope\n  - b:\n      bogus: 1\n")
    assert len(found) == 2


@pytest.mark.parametrize("content", ["", "just a string\n", "- a\n- b\n"])
def test_not_a_workflow(content: str) -> None:
    assert problems(content)


def test_huge_and_deep_files_are_rejected_cleanly(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(HEADER + "do:\n  - a:\n      set:\n        x: '" + "y" * 10_000_000 + "'\n")
    with pytest.raises(DefinitionError, match="MB"):
        load_definition(big)
    deep = HEADER + "do:\n  - a:\n      set:\n        x: " + "[" * 5000 + "]" * 5000 + "\n"
    with pytest.raises(DefinitionError):
        parse_definition(deep, "deep.yaml")


def test_missing_file_is_a_definition_error(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="cannot read"):
        load_definition(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("PT1S", 1),
        ("PT1M30S", 90),
        ("P1DT1H", 90000),
        ("PT0.5S", 0.5),
        ({"minutes": 2, "seconds": 3}, 123),
        ({"milliseconds": 250}, 0.25),
    ],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration(value).total_seconds() == seconds


@pytest.mark.parametrize("value", ["P", "PT", "1 minute", {"fortnights": 1}, True, None])
def test_bad_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(value)
