"""Run Zigflow workflow files the way Zigflow's own end-to-end tests do.

Zigflow's tests start ``zigflow run --file A [--file B]`` (a worker serving each
file's ``document.workflowType`` on its ``document.taskQueue``) and then start
workflows *by type on that queue* with a plain Temporal client, query, signal
and update them. The equivalent here is ``workflow-runner worker --definitions
A B`` in cloud mode against the session's dev server, and a Temporal client in
the test built with the runner's data converter. Nothing tells the worker which
queue to serve: a Zigflow document names it, as it does for Zigflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from temporalio.client import Client, WorkflowHandle

from workflow_runner.claimcheck import open_store
from workflow_runner.config import load_settings
from workflow_runner.engine.client import connect
from workflow_runner.runtime.devserver import DevServer

HERE = Path(__file__).parent
RUN_TIMEOUT = 120.0


def document_of(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text())
    document: dict[str, Any] = loaded.get("document", {})
    return document


@dataclass
class Worker:
    """A ``workflow-runner worker`` subprocess; its stderr is kept for failure messages."""

    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)

    def output(self) -> str:
        return "".join(self.lines[-40:])

    def serves(self, *queues: str) -> None:
        """Fail fast (instead of a run timing out) when the worker does not poll ``queues``."""
        said = " ".join(line for line in self.lines if "serving" in line)
        missing = [q for q in queues if not re.search(rf"(?<![\w-]){re.escape(q)}(?![\w-])", said)]
        assert not missing, f"the worker does not serve task queue(s) {missing}: {said.strip()}"


@contextlib.contextmanager
def worker(files: list[Path], env: Mapping[str, str], *, within: float = 60.0) -> Iterator[Worker]:
    """``workflow-runner worker --definitions FILES``, ready when it says it serves a queue."""
    process = subprocess.Popen(
        [sys.executable, "-m", "workflow_runner.cli.main", "worker",
         *(a for f in files for a in ("--definitions", str(f)))],
        env=dict(env),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    running = Worker(process)
    ready = threading.Event()

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            running.lines.append(line)
            if "worker serving" in line:
                ready.set()
        ready.set()  # exited

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        ready.wait(within)
        if process.poll() is not None or not any("worker serving" in x for x in running.lines):
            raise AssertionError(
                f"worker for {[f.name for f in files]} did not start: {running.output()}"
            )
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        reader.join(5)


def worker_env(base: Mapping[str, str], server: DevServer, **extra: str) -> dict[str, str]:
    """Cloud mode on the session dev server; no task queue forced (documents name theirs).

    ``$env.NAME`` of a Zigflow document is ``ZIGGY_NAME`` as in Zigflow;
    ``WORKFLOW_ENV_NAME`` (this runner's spelling) is set alongside it.
    """
    env = {k: v for k, v in base.items() if k != "TEMPORAL_TASK_QUEUE"}
    env.update(
        TEMPORAL_SERVICE_ADDRESS=server.address,
        METRICS_PORT="0",
        PYTHONPATH=os.pathsep.join(
            p for p in (str(HERE.parent.parent), env.get("PYTHONPATH")) if p
        ),
    )
    for key, value in extra.items():
        env[key] = value
        if key.startswith("ZIGGY_"):
            env["WORKFLOW_ENV_" + key.removeprefix("ZIGGY_")] = value
    return env


@contextlib.asynccontextmanager
async def temporal_client(env: Mapping[str, str], server: DevServer) -> AsyncIterator[Client]:
    """A client with the runner's data converter (claim check + codec), as any caller needs."""
    settings = load_settings(dict(env))
    store = await open_store(settings)
    try:
        yield await connect(settings, store, server.address)
    finally:
        await store.close()


async def start(
    client: Client,
    workflow_type: str,
    task_queue: str,
    run_input: Any = None,
    *,
    workflow_id: str | None = None,
) -> WorkflowHandle[Any, Any]:
    """Start by type on a queue, bounded so a run nobody serves fails instead of lingering."""
    args = [] if run_input is None else [run_input]
    return await client.start_workflow(
        workflow_type,
        args=args,
        id=workflow_id or f"zigflow-{workflow_type}-{uuid.uuid4().hex[:8]}",
        task_queue=task_queue,
        execution_timeout=timedelta(seconds=RUN_TIMEOUT + 60),
    )


async def result(handle: WorkflowHandle[Any, Any], within: float = RUN_TIMEOUT) -> Any:
    try:
        return await asyncio.wait_for(handle.result(), within)
    except TimeoutError:
        with contextlib.suppress(Exception):
            await handle.terminate("test timed out")
        raise AssertionError(
            f"{handle.id} did not finish within {within} s (is its task queue served?)"
        ) from None


async def execute(
    client: Client, workflow_type: str, task_queue: str, run_input: Any = None
) -> Any:
    return await result(await start(client, workflow_type, task_queue, run_input))


async def poll_query(
    handle: WorkflowHandle[Any, Any], name: str, *args: Any, within: float = 30.0
) -> Any:
    """The query's answer once the run answers it (a run not yet picked up raises)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            return await handle.query(name, *args, rpc_timeout=timedelta(seconds=5))
        except Exception as e:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"query {name!r} never answered: {e}") from e
            await asyncio.sleep(0.25)
