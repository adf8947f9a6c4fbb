"""Run DSL text on the real dev server with an in-process worker and filesystem blobs."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from workflow_runner.claimcheck import ObjectStore, open_store
from workflow_runner.config import Settings, load_settings
from workflow_runner.engine.client import connect, start_run
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.worker import running_worker
from workflow_runner.runtime.devserver import DevServer


@dataclass
class Harness:
    client: Client
    settings: Settings
    store: ObjectStore
    task_queue: str
    directory: Path

    async def start(
        self, text: str, run_input: Any = None, name: str = "main.yaml"
    ) -> WorkflowHandle[Any, Any]:
        path = self.directory / name
        path.write_text(text)
        definition = parse_definition(text, str(path))
        return await start_run(self.client, definition, run_input, task_queue=self.task_queue)

    async def run(self, text: str, run_input: Any = None) -> Any:
        return await (await self.start(text, run_input)).result()

    async def fail(self, text: str, run_input: Any = None) -> dict[str, Any]:
        """Run a workflow that must fail; returns the spec error it failed with."""
        handle = await self.start(text, run_input)
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
        cause = info.value.cause
        assert isinstance(cause, ApplicationError), cause
        details = cause.details
        assert details and isinstance(details[0], dict), info.value.cause
        error: dict[str, Any] = details[0]
        return error


async def reached(
    handle: WorkflowHandle[Any, Any], task: str, status: str = "started", within: float = 30.0
) -> None:
    """Wait until the run reports ``status`` for the task at ``task`` (a JSON pointer).

    Synchronises on the workflow's own progress query instead of sleeping and
    hoping the run got there.
    """
    deadline = asyncio.get_running_loop().time() + within
    while True:
        notes = await handle.query("progress")
        if any(n["task"] == task and n["status"] == status for n in notes):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{task} never reported {status!r}; progress: {notes[-5:]}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def make_harness(server: DevServer, directory: Path, **env: str) -> AsyncIterator[Harness]:
    settings = load_settings(
        {
            "BLOB_STORAGE_PATH": str(directory / "blobs"),
            "WORKFLOW_SECRET_API_TOKEN": "s3cr3t-value",
            **env,
        }
    )
    store = await open_store(settings)
    client = await connect(settings, store, server.address)
    queue = f"dsl-{uuid.uuid4()}"
    try:
        async with running_worker(client, settings, task_queue=queue):
            yield Harness(client, settings, store, queue, directory)
    finally:
        await store.close()


def workflow(body: str, extra: str = "") -> str:
    """A definition with the boilerplate document header."""
    return (
        "document:\n  dsl: '1.0.0'\n  namespace: test\n  name: t\n  version: '1.0.0'\n"
        + extra
        + "do:\n"
        + body
    )
