"""``workflow-runner``: run, validate and operate DSL workflows on Temporal.

Contract of ``run``: only the workflow output goes to stdout (as JSON), so it
can be piped; progress and errors go to stderr. Exit 0 on success, 1 when the
workflow fails (the spec error as JSON on stderr), 2 when the definition,
input or configuration is invalid (nothing ran).
"""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer
from prometheus_client import start_http_server
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from workflow_runner.claimcheck import StoreError, open_store
from workflow_runner.claimcheck.codec_server import (
    CodecServerError,
    codec_service_for,
    listening_port,
    start_codec_server,
)
from workflow_runner.cli.blobs import blobs_app
from workflow_runner.cli.common import definition_or_exit, parse_json_option, settings_or_exit
from workflow_runner.cli.logs import configure_logging
from workflow_runner.cli.output import (
    EXIT_INVALID,
    err,
    fail,
    fail_with_error_json,
    print_json,
)
from workflow_runner.config import Settings
from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.client import start_run
from workflow_runner.engine.workflow import EVENT_SIGNAL
from workflow_runner.local.devserver import DevServerError
from workflow_runner.local.runtime import local_services, open_runtime

app = typer.Typer(
    name="workflow-runner",
    help="Run Serverless Workflow DSL 1.0 workflows on Temporal, with large payloads offloaded.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(blobs_app, name="blobs")

InputOption = Annotated[
    str | None, typer.Option("--input", "-i", help="Workflow input: JSON text or @file.json")
]
IdOption = Annotated[str | None, typer.Option("--id", help="Workflow id (default: name-random)")]


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Workflow definition (YAML)")],
    input: InputOption = None,
    workflow_id: IdOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr")] = False,
) -> None:
    """Run a workflow to completion and print its output as JSON.

    Local mode (no TEMPORAL_SERVICE_ADDRESS): starts or reuses the embedded
    Temporal dev server on 127.0.0.1 and runs an in-process worker.
    """
    settings = settings_or_exit()
    definition = definition_or_exit(file)
    run_input = parse_json_option(input, "--input")
    configure_logging(settings, to_file=True)
    result = _run_async(_run(settings, definition, run_input, workflow_id, quiet))
    print_json(result)


async def _run(
    settings: Settings, definition: Any, run_input: Any, workflow_id: str | None, quiet: bool
) -> Any:
    async with open_runtime(settings) as runtime:
        handle = await start_run(
            runtime.client,
            definition,
            run_input,
            task_queue=settings.task_queue,
            workflow_id=workflow_id,
        )
        if not quiet:
            where = runtime.server.address if runtime.server else settings.temporal_address
            err.print(f"started {handle.id} on {where}", style="dim")
        printer = None if quiet else ProgressPrinter(handle)
        watcher = asyncio.create_task(printer.follow()) if printer else None
        try:
            return await _result_or_error(handle)
        finally:
            if watcher is not None and printer is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
                await printer.poll()  # the last tasks finished after the last poll


class ProgressPrinter:
    """Prints each task as it finishes, from the workflow's ``progress`` query."""

    MARKS: ClassVar[dict[str, str]] = {"completed": "✓", "failed": "✗", "skipped": "↷"}

    def __init__(self, handle: WorkflowHandle[Any, Any]) -> None:
        self.handle = handle
        self.seen = 0
        self.started: dict[str, float] = {}

    async def poll(self) -> None:
        try:
            notes = await self.handle.query("progress", self.seen)
        except Exception:  # not answerable yet (no worker has picked it up)
            return
        for note in notes:
            self.seen += 1
            task, status = note["task"], note["status"]
            if status == "started":
                self.started[task] = note["at"]
                continue  # shown when it ends, with its duration
            took = f" ({note['at'] - self.started[task]:.2f}s)" if task in self.started else ""
            label = "" if status in self.MARKS else status
            err.print(" ".join(p for p in (self.MARKS.get(status, "·"), task, label) if p) + took)

    async def follow(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(0.2)


class WorkflowFailed(Exception):
    """Carries the spec error out of the event loop, printed once all else is shut down."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("title") or error.get("type"))
        self.error = error


async def _result_or_error(handle: WorkflowHandle[Any, Any]) -> Any:
    try:
        return await handle.result()
    except WorkflowFailureError as e:
        raise WorkflowFailed(_spec_error(e)) from None


def _spec_error(failure: WorkflowFailureError) -> dict[str, Any]:
    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[0]
        if isinstance(detail, dict) and "type" in detail:
            return detail
    message = str(cause) if cause is not None else str(failure)
    return WorkflowError.of("runtime", message).to_dict()


def _run_async(coro: Any) -> Any:
    """Run a command's coroutine; infrastructure errors become one clear line, no traceback."""
    try:
        return asyncio.run(coro)
    except WorkflowFailed as e:
        fail_with_error_json(e.error)
    except (DevServerError, StoreError, CodecServerError) as e:
        fail(str(e))
    except KeyboardInterrupt:
        fail("interrupted; the workflow keeps its state in Temporal", 130)
    except RuntimeError as e:
        if "connect" in str(e).lower():  # the SDK's "Failed client connect: …"
            fail(f"cannot reach Temporal: {e}")
        raise


@app.command()
def validate(files: Annotated[list[Path], typer.Argument(help="Definitions to check")]) -> None:
    """Check definitions without running them; exit 2 if any is invalid."""
    from workflow_runner.dsl import DefinitionError, load_definition

    bad = 0
    for file in files:
        try:
            definition = load_definition(file)
        except DefinitionError as e:
            bad += 1
            err.print(str(e), soft_wrap=True, markup=False)
            continue
        err.print(f"✓ {file}: {definition.reference}", markup=False)
    if bad:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def worker() -> None:
    """Serve the task queue (cloud mode, or against a local dev server) until SIGTERM/Ctrl-C."""
    settings = settings_or_exit()
    configure_logging(settings, to_file=False)
    _run_async(_serve(settings))


async def _serve(settings: Settings) -> None:
    stop = _until_signalled()
    async with open_runtime(settings) as runtime:
        where = runtime.server.address if runtime.server else settings.temporal_address
        if settings.metrics_port:
            start_http_server(settings.metrics_port, addr="127.0.0.1")
            err.print(f"metrics on http://127.0.0.1:{settings.metrics_port}/metrics")
        err.print(f"worker serving task queue {settings.task_queue} on {where}")
        await stop.wait()
        err.print("shutting down: finishing running activities")


@app.command()
def start(file: Path, input: InputOption = None, workflow_id: IdOption = None) -> None:
    """Submit a workflow to running workers and print its id."""
    settings = settings_or_exit()
    configure_logging(settings, to_file=True)
    definition = definition_or_exit(file)
    run_input = parse_json_option(input, "--input")

    async def submit() -> str:
        async with open_runtime(settings, with_worker=False) as runtime:
            handle = await start_run(
                runtime.client,
                definition,
                run_input,
                task_queue=settings.task_queue,
                workflow_id=workflow_id,
            )
            return handle.id

    typer.echo(_run_async(submit()))


@app.command()
def result(workflow_id: str) -> None:
    """Wait for a workflow's result and print it as JSON (exit 1 if it failed)."""
    settings = settings_or_exit()
    configure_logging(settings, to_file=True)

    async def fetch() -> Any:
        async with open_runtime(settings, with_worker=False) as runtime:
            return await _result_or_error(runtime.client.get_workflow_handle(workflow_id))

    print_json(_run_async(fetch()))


@app.command()
def emit(
    workflow_id: str,
    event_type: Annotated[str, typer.Option("--type", help="CloudEvent type")],
    data: Annotated[
        str | None, typer.Option("--data", help="Event data: JSON or @file.json")
    ] = None,
    source: Annotated[str, typer.Option("--source")] = "workflow-runner-cli",
) -> None:
    """Send a CloudEvent to a running workflow (consumed by its listen tasks)."""
    settings = settings_or_exit()
    configure_logging(settings, to_file=True)
    payload = parse_json_option(data, "--data")
    event = {
        "specversion": "1.0",
        "id": f"cli-{time.time_ns()}",
        "source": source,
        "type": event_type,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": payload,
    }

    async def send() -> None:
        async with open_runtime(settings, with_worker=False) as runtime:
            client: Client = runtime.client
            await client.get_workflow_handle(workflow_id).signal(EVENT_SIGNAL, event)

    _run_async(send())
    err.print(f"sent {event_type} to {workflow_id}")


def _until_signalled() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop


@app.command("dev-server")
def dev_server() -> None:
    """Run the embedded Temporal dev server and its Web UI (payloads decoded) until Ctrl-C.

    `run` reuses it, so workflows stay visible in the UI after they finish.
    """
    settings = settings_or_exit()
    configure_logging(settings, to_file=True)

    async def serve() -> None:
        stop = _until_signalled()
        async with await open_store(settings) as store, local_services(settings, store) as server:
            if not server.owned:
                fail(f"a Temporal server is already listening on {server.address}")
            err.print(f"Temporal dev server on {server.address}")
            err.print(
                f"Web UI on http://127.0.0.1:{settings.ui_port} (codec: {server.codec_endpoint})"
            )
            await stop.wait()

    _run_async(serve())


@app.command("codec-server")
def codec_server(
    port: Annotated[
        int | None, typer.Option(help="Port (default CODEC_SERVER_PORT or 8234)")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
) -> None:
    """Serve Temporal's codec protocol so the Web UI and CLI show offloaded payloads as JSON."""
    settings = settings_or_exit()
    configure_logging(settings, to_file=False)

    async def serve() -> None:
        stop = _until_signalled()
        async with await open_store(settings) as store:
            runner = await start_codec_server(
                codec_service_for(settings, store), host, port or settings.codec_server_port
            )
            err.print(f"codec server on http://{host}:{listening_port(runner)}")
            err.print("allowed browser origins: " + ", ".join(settings.cors_origins))
            try:
                await stop.wait()
            finally:
                await runner.cleanup()

    _run_async(serve())


if __name__ == "__main__":
    app()
