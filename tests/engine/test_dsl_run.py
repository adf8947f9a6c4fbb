"""``run.script`` for real: python from a ``source`` file, js through the worker's ``node``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError

from tests.harness import Harness, workflow
from workflow_runner.engine.tasks.run_process import ProcessRequest
from workflow_runner.engine.tasks.run_process_activity import ProcessActivities

ERR = "https://serverlessworkflow.io/spec/1.0.0/errors/"
needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


async def test_a_python_script_from_a_source_file_runs_with_its_arguments(
    harness: Harness,
) -> None:
    (harness.directory / "double.py").write_text("import sys\nprint(int(sys.argv[1]) * 2)\n")
    text = workflow(
        """
  - double:
      run:
        script:
          language: python
          source:
            endpoint: double.py
          arguments:
            - ${ .n | tostring }
"""
    )
    assert await harness.run(text, {"n": 21}) == "42"


@needs_node
async def test_a_js_script_runs_through_node_with_list_and_mapping_arguments(
    harness: Harness,
) -> None:
    text = workflow(
        """
  - positional:
      run:
        script:
          language: js
          code: console.log(JSON.stringify(process.argv.slice(1)))
          arguments: [a, '${ .n | tostring }']
      export:
        as: '${ {argv: .} }'
  - named:
      run:
        script:
          language: javascript
          code: |
            console.log(greeting + ", " + who);
            console.error("to stderr");
            process.exit(3)
          arguments:
            greeting: hello
            who: ${ "node" }
        return: all
      output:
        as: '${ . + {argv: $context.argv} }'
"""
    )
    out = await harness.run(text, {"n": 5})
    assert out == {
        "code": 3,
        "stdout": "hello, node",
        "stderr": "to stderr",
        "argv": '["a","5"]',
    }


async def test_a_js_script_without_node_on_the_path_fails_with_one_clear_configuration_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no node in it
    request = ProcessRequest(
        kind="script", language="js", command="console.log(1)", instance="/do/0/js"
    )
    with pytest.raises(ApplicationError) as info:
        await ProcessActivities({}).run_process(request)
    error = info.value.details[0]
    assert (error["type"], error["instance"]) == (ERR + "configuration", "/do/0/js")
    assert "needs 'node' on the worker's PATH" in error["detail"]
    assert info.value.non_retryable
