"""Zigflow's end-to-end suite (``tests/e2e`` of its repository), run unchanged.

Each case is the Zigflow workflow file as Zigflow ships it, served by
``workflow-runner worker --definitions`` and started by type on the document's
task queue, as Zigflow's ``RunToCompletion`` does; the expected outputs are
transcribed from its ``test.go`` files into ``expected.json``. The HTTP mock is
a local ``json-server`` over Zigflow's ``db.json`` reached as
``$env.HTTP_MOCK`` (``ZIGGY_HTTP_MOCK``, as Zigflow's Taskfile exports it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.zigflow.mockserver import JsonServer, json_server
from tests.zigflow.runner import (
    document_of,
    execute,
    poll_query,
    result,
    start,
    temporal_client,
    worker,
    worker_env,
)
from workflow_runner.runtime.devserver import DevServer

E2E = Path(__file__).parent / "e2e"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# The cases Zigflow's RunToCompletion covers: start, wait, compare the output.
RUN_TO_COMPLETION = ["callHTTP", "catch-as", "fork", "fork-compete", "set", "wait-until-past"]


def expected(case: str) -> Any:
    return json.loads((E2E / case / "expected.json").read_text())


@pytest.fixture(scope="module")
def http_mock() -> Iterator[JsonServer]:
    with json_server() as server:
        yield server


@pytest.fixture
def zenv(env: dict[str, str], temporal_server: DevServer, http_mock: JsonServer) -> dict[str, str]:
    return worker_env(
        env,
        temporal_server,
        ZIGGY_HTTP_MOCK=http_mock.address,
        ZIGGY_EXAMPLE_ENVVAR="some-example-envvar",
    )


def test_the_copied_suite_has_zigflows_thirteen_cases() -> None:
    assert len([p for p in E2E.iterdir() if p.is_dir()]) == 13


@pytest.mark.parametrize("case", RUN_TO_COMPLETION)
async def test_zigflow_e2e_case_runs_to_its_expected_output(
    case: str, zenv: dict[str, str], temporal_server: DevServer
) -> None:
    file = E2E / case / "workflow.yaml"
    document = document_of(file)
    with worker([file], zenv) as served:
        served.serves(document["taskQueue"])
        async with temporal_client(zenv, temporal_server) as client:
            try:
                got = await execute(client, document["workflowType"], document["taskQueue"])
            except Exception as e:
                raise AssertionError(f"{case}: {e!r}; worker said: {served.output()}") from e
    assert got == expected(case)


async def test_zigflow_e2e_complete_answers_its_query_while_running_and_waits_five_seconds(
    zenv: dict[str, str], temporal_server: DevServer
) -> None:
    file = E2E / "complete" / "workflow.yaml"
    document = document_of(file)
    run_input = json.loads((E2E / "complete" / "input.json").read_text())
    with worker([file], zenv) as served:
        served.serves(document["taskQueue"])
        async with temporal_client(zenv, temporal_server) as client:
            started = time.monotonic()
            handle = await start(client, document["workflowType"], document["taskQueue"], run_input)
            first = await poll_query(handle, "state")
            # Go decodes a null progress as 0, so Zigflow's test also accepts "not set yet".
            assert first.get("progress") in (0, None), first
            await asyncio.sleep(2)
            assert await poll_query(handle, "state") == {"progress": 100}
            got = await result(handle)
            took = time.monotonic() - started
    assert UUID.match(got["state"].pop("uuid")), got
    want = expected("complete")
    want["state"].pop("uuid")
    # test.go decodes into a struct of envvar/uuid/input: other keys (progress) are not compared.
    assert {k: got["state"].get(k) for k in want["state"]} == want["state"], got
    assert set(got) == {"state"}, got
    assert took >= 5.0


@pytest.mark.parametrize(
    ("case", "at_least"), [("wait-expression-duration", 1.5), ("wait-until", 2.5)]
)
async def test_zigflow_e2e_wait_case_waits_for_the_duration_its_input_gives(
    case: str, at_least: float, zenv: dict[str, str], temporal_server: DevServer
) -> None:
    file = E2E / case / "workflow.yaml"
    document = document_of(file)
    run_input = json.loads((E2E / case / "input.json").read_text())
    with worker([file], zenv) as served:
        served.serves(document["taskQueue"])
        async with temporal_client(zenv, temporal_server) as client:
            # test.go: a deadline three seconds from now, RFC 3339; taken once the worker
            # is up (its start takes seconds: a deadline taken before it has passed)
            if case == "wait-until":
                deadline = datetime.now(UTC) + timedelta(seconds=3)
                run_input["deadline"] = deadline.isoformat().replace("+00:00", "Z")
            started = time.monotonic()
            got = await execute(client, document["workflowType"], document["taskQueue"], run_input)
            took = time.monotonic() - started
    assert got == expected(case)
    assert took >= at_least


@pytest.mark.parametrize("case", ["multi-file-diff-queues", "multi-file-same-queue"])
async def test_zigflow_e2e_one_worker_serves_every_file_given_to_it(
    case: str, zenv: dict[str, str], temporal_server: DevServer
) -> None:
    files = sorted((E2E / case).glob("*.yaml"))
    want = expected(case)
    with worker(files, zenv) as served:
        served.serves(*(key.split("/")[0] for key in want))
        async with temporal_client(zenv, temporal_server) as client:
            for key, output in want.items():
                queue, workflow_type = key.split("/")
                assert await execute(client, workflow_type, queue) == output, key


def test_zigflow_e2e_two_files_with_one_type_on_one_queue_are_refused_before_serving(
    zenv: dict[str, str],
) -> None:
    files = sorted((E2E / "multi-file-duplicate").glob("*.yaml"))
    done = subprocess.run(
        [sys.executable, "-m", "workflow_runner.cli.main", "worker",
         *(a for f in files for a in ("--definitions", str(f)))],
        env=zenv, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    words = expected("multi-file-duplicate")["stderrContainsAnyOf"]
    assert any(w.lower() in done.stderr.lower() for w in words), done.stderr
    assert all(f.name in done.stderr for f in files), done.stderr


async def test_zigflow_e2e_continue_as_new_keeps_its_query_and_signal_on_the_new_run(
    zenv: dict[str, str], temporal_server: DevServer
) -> None:
    file = E2E / "continue-as-new" / "workflow.yaml"
    document = document_of(file)
    want = expected("continue-as-new")
    workflow_id = f"{want['workflowId']}-{time.time_ns()}"
    with worker([file], zenv) as served:
        served.serves(document["taskQueue"])
        async with temporal_client(zenv, temporal_server) as client:
            handle = await start(
                client, document["workflowType"], document["taskQueue"], workflow_id=workflow_id
            )
            try:
                first_run = handle.first_execution_run_id
                current = client.get_workflow_handle(workflow_id)
                deadline = time.monotonic() + 60
                while True:  # the run id changes once the history passes canMaxHistoryLength
                    described = await current.describe()
                    if described.run_id != first_run:
                        break
                    assert time.monotonic() < deadline, "the workflow never continued as new"
                    await asyncio.sleep(0.5)
                before = await poll_query(current, want["query"])
                assert want["beforeSignal"]["hasKey"] in before, before
                await current.signal(want["signal"]["name"], *want["signal"]["args"])
                deadline = time.monotonic() + 30
                while (state := await poll_query(current, want["query"])) != want["afterSignal"]:
                    assert time.monotonic() < deadline, state
                    await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):  # it may have finished after the signal
                    await client.get_workflow_handle(workflow_id).terminate("test done")
