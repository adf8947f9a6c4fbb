"""Definitions served as Temporal workflow types of their own, startable by any client.

The second client here knows nothing about this package: a plain temporalio
client with the default data converter, and the ``temporal`` CLI binary.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError

from tests.harness import workflow
from workflow_runner.claimcheck import open_store
from workflow_runner.config import load_settings
from workflow_runner.engine.client import connect
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.registry import DefinitionConflictError, serve
from workflow_runner.engine.worker import running_worker
from workflow_runner.runtime.devserver import DevServer, find_temporal_binary

GREET = """document:
  dsl: '1.0.0'
  namespace: demo
  name: greet
  version: '1.0.0'
do:
  - hello:
      set:
        greeting: ${ "hello " + .name }
"""


async def serving(temporal_server: DevServer, tmp_path: Path, *texts: str) -> Any:
    settings = load_settings({"BLOB_STORAGE_PATH": str(tmp_path / "blobs")})
    store = await open_store(settings)
    client = await connect(settings, store, temporal_server.address)
    definitions = [parse_definition(t, str(tmp_path / f"d{i}.yaml")) for i, t in enumerate(texts)]
    queue = f"typed-{uuid.uuid4()}"
    return settings, store, client, definitions, queue


async def test_a_plain_temporal_client_starts_a_definition_by_its_name(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    settings, store, client, definitions, queue = await serving(temporal_server, tmp_path, GREET)
    plain = await Client.connect(temporal_server.address)  # default converter, no claim check
    async with running_worker(client, settings, task_queue=queue, definitions=definitions):
        handle = await plain.start_workflow(
            "greet", {"name": "Ada"}, id=f"greet-{uuid.uuid4()}", task_queue=queue
        )
        assert await handle.result() == {"greeting": "hello Ada"}
        history = json.dumps((await handle.fetch_history()).to_json_dict())
    await store.close()
    # The definition lives on the worker: the start event carries the input only.
    assert "hello " not in history.replace("hello Ada", "") and "namespace" not in history


async def test_the_temporal_cli_executes_and_queries_a_served_definition(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    text = GREET.replace("do:\n", "do:\n  - pause:\n      wait: PT0.5S\n")
    settings, store, client, definitions, queue = await serving(temporal_server, tmp_path, text)
    temporal = str(find_temporal_binary())
    workflow_id = f"cli-{uuid.uuid4()}"
    common = ["--address", temporal_server.address, "--workflow-id", workflow_id]
    async with running_worker(client, settings, task_queue=queue, definitions=definitions):
        done = await asyncio.to_thread(
            subprocess.run,
            [temporal, "workflow", "execute", "--type", "greet", "--task-queue", queue,
             "--input", '{"name": "Grace"}', "-o", "json", *common],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["result"] == {"greeting": "hello Grace"}
        progress = await asyncio.to_thread(
            subprocess.run,
            [temporal, "workflow", "query", "--name", "progress", "-o", "json", *common],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    await store.close()
    assert progress.returncode == 0, progress.stderr
    assert '"/do/1/hello"' in progress.stdout and "completed" in progress.stdout


async def test_an_unknown_type_fails_the_run_naming_what_the_queue_serves(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    settings, store, client, definitions, queue = await serving(temporal_server, tmp_path, GREET)
    plain = await Client.connect(temporal_server.address)
    async with running_worker(client, settings, task_queue=queue, definitions=definitions):
        handle = await plain.start_workflow("gret", {}, id=f"typo-{uuid.uuid4()}", task_queue=queue)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    await store.close()
    message = str(info.value.cause)
    assert "'gret'" in message and "greet" in message and queue in message


def test_two_different_definitions_with_one_name_are_refused_naming_both_files(
    tmp_path: Path,
) -> None:
    first = parse_definition(GREET, "first.yaml")
    second = parse_definition(GREET.replace("hello ", "hi "), "second.yaml")
    with pytest.raises(DefinitionConflictError) as info:
        serve([first, second])
    assert "greet" in str(info.value)
    assert "first.yaml" in str(info.value) and "second.yaml" in str(info.value)


def test_the_same_definition_twice_is_served_once() -> None:
    served = serve([parse_definition(GREET, "a.yaml"), parse_definition(GREET, "b.yaml")])
    assert list(served) == ["greet"]


def test_the_ad_hoc_type_name_cannot_be_taken_by_a_definition() -> None:
    reserved = parse_definition(
        workflow("  - a:\n      set: {}\n").replace("name: t", "name: DslWorkflow"), "r.yaml"
    )
    with pytest.raises(DefinitionConflictError):
        serve([reserved])
