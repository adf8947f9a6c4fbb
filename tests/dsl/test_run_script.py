"""``run.script``: ``source`` files are read with the definition; URLs are refused; js is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import load_definition, model_of, parse_definition
from workflow_runner.engine.tasks.run_process import RunProcessTask

HEADER = "document:\n  dsl: '1.0.0'\n  namespace: t\n  name: t\n  version: '1'\n"


def script(lines: str) -> str:
    return HEADER + "do:\n  - s:\n      run:\n        script:\n" + lines


def test_a_source_file_next_to_the_definition_becomes_the_code_the_run_request_carries(
    tmp_path: Path,
) -> None:
    (tmp_path / "scripts").mkdir()
    (tmp_path / "scripts" / "hello.py").write_text("print('hi from a file')\n")
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        script(
            "          language: python\n"
            "          source:\n            endpoint: scripts/hello.py\n"
        )
    )
    definition = load_definition(flow)
    (task,) = definition.model.do.tasks
    assert isinstance(task, RunProcessTask)
    assert task.body["code"] == "print('hi from a file')\n"
    # The worker re-reads the data without the file: the code is in it.
    (again,) = model_of(definition.data).do.tasks
    assert isinstance(again, RunProcessTask) and again.body["code"] == task.body["code"]


@pytest.mark.parametrize(
    ("source", "pointer", "fragment"),
    [
        (
            "endpoint: https://example.com/s.py",
            "/do/0/s/run/script/source/endpoint",
            "only local files are supported",
        ),
        (
            "endpoint: {uri: missing.py}",
            "/do/0/s/run/script/source/endpoint",
            "'missing.py' cannot be read",
        ),
        ("name: x", "/do/0/s/run/script/source", "needs 'endpoint'"),
    ],
)
def test_a_source_that_cannot_be_read_locally_is_a_located_problem(
    tmp_path: Path, source: str, pointer: str, fragment: str
) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(script(f"          language: python\n          source: {{{source}}}\n"))
    with pytest.raises(DefinitionError) as info:
        load_definition(flow)
    found = [str(p) for p in info.value.problems]
    assert any(f"({pointer}): " in p and fragment in p for p in found), found


@pytest.mark.parametrize("language", ["js", "javascript"])
def test_js_is_a_known_script_language(language: str) -> None:
    text = script(f"          language: {language}\n          code: console.log(1)\n")
    (task,) = parse_definition(text, "wf.yaml").model.do.tasks
    assert isinstance(task, RunProcessTask)


def test_an_unknown_language_names_the_supported_ones() -> None:
    with pytest.raises(DefinitionError) as info:
        parse_definition(script("          language: ruby\n          code: puts 1\n"), "wf.yaml")
    assert "'language: python' or 'language: js'" in str(info.value)
