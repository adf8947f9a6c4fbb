"""``run: container`` through a real worker on the dev server, with a stand-in engine CLI.

No test machine has a container daemon, so the engine is
``fake_container_engine.py`` behind a ``docker`` wrapper: the runner's side
(argv, secrets kept off the command line, stdin, return modes, cleanup, the
error when no engine answers) is what these tests hold to account.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.engine import fake_container_engine as engine
from tests.harness import Harness, make_harness, workflow
from workflow_runner.runtime.devserver import DevServer

STDIN_AND_ARGUMENTS = workflow(
    """  - setInput:
      set:
        message: Hello World
  - runContainer:
      input:
        from: ${ .message }
      run:
        container:
          image: alpine
          stdin: ${ . }
          command: |
            input=$(cat)
            echo "STDIN was: $input"
            echo "ARGS are $1 $2"
          arguments:
          - Foo
          - Bar
          pullPolicy: always
""",
    "use:\n  secrets: [api_token]\n",
)


@pytest.fixture
async def with_engine(temporal_server: DevServer, tmp_path: Path) -> AsyncIterator[Harness]:
    wrapper = engine.install(tmp_path / "engine")
    async with make_harness(temporal_server, tmp_path, CONTAINER_ENGINE=str(wrapper)) as h:
        yield h


async def test_a_container_gets_stdin_and_arguments_as_in_the_specs_example(
    with_engine: Harness, tmp_path: Path
) -> None:
    output = await with_engine.run(STDIN_AND_ARGUMENTS)
    assert output == "STDIN was: Hello World\nARGS are Foo Bar"
    (call,) = engine.calls(tmp_path / "engine")
    assert call["options"]["--pull"] == ["always"]
    assert "--rm" in call["flags"] and "-i" in call["flags"]
    assert call["options"]["--name"][0].startswith("t-")  # {workflow.name}-{uuid}...


async def test_a_secret_in_the_environment_reaches_the_container_but_not_the_command_line(
    with_engine: Harness, tmp_path: Path
) -> None:
    text = workflow(
        """  - probe:
      run:
        container:
          image: alpine
          name: probe-container
          command: echo "token has ${#TOKEN} characters"
          environment:
            TOKEN: ${ $secrets.api_token }
""",
        "use:\n  secrets: [api_token]\n",
    )
    output = await with_engine.run(text)
    assert output == f"token has {len('s3cr3t-value')} characters"
    (call,) = engine.calls(tmp_path / "engine")
    assert "s3cr3t-value" not in " ".join(map(str, call["argv"]))
    assert call["env"] == {"TOKEN": "s3cr3t-value"}
    assert call["options"]["--name"] == ["probe-container"]


async def test_return_all_gives_code_stdout_and_stderr_of_a_failing_container(
    with_engine: Harness,
) -> None:
    text = workflow(
        """  - probe:
      run:
        container:
          image: alpine
          command: echo out; echo err >&2; exit 3
        return: all
"""
    )
    assert await with_engine.run(text) == {"code": 3, "stdout": "out", "stderr": "err"}


async def test_a_failing_container_is_a_runtime_error_naming_the_image_and_its_stderr(
    with_engine: Harness,
) -> None:
    text = workflow(
        """  - probe:
      run:
        container:
          image: busybox
          command: echo broken pipe >&2; exit 7
"""
    )
    error = await with_engine.fail(text)
    assert error["type"].endswith("/runtime")
    assert "busybox exited with code 7: broken pipe" in error["detail"]


async def test_an_engine_without_its_daemon_fails_the_task_once_naming_the_engine_and_why(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    wrapper = engine.install(tmp_path / "engine", down=True)
    async with make_harness(temporal_server, tmp_path, CONTAINER_ENGINE=str(wrapper)) as h:
        error = await h.fail(STDIN_AND_ARGUMENTS)
    assert error["title"] == "No container engine"
    assert (
        "is on the PATH" in error["detail"]
        and "Cannot connect to the Docker daemon" in error["detail"]
    )
    assert engine.calls(tmp_path / "engine") == []  # nothing was run


async def test_a_worker_with_no_engine_on_its_path_says_to_install_one_or_set_container_engine(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    async with make_harness(
        temporal_server, tmp_path, CONTAINER_ENGINE=str(tmp_path / "no-such-engine")
    ) as h:
        error = await h.fail(STDIN_AND_ARGUMENTS)
    assert "is not an executable on the worker's PATH" in error["detail"]
    assert "CONTAINER_ENGINE" in error["detail"]
