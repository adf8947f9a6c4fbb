"""``workflow-runner``: run, validate and operate DSL workflows on Temporal.

Contract of ``run``: only the workflow output goes to stdout (as JSON), so it
can be piped; progress and errors go to stderr. Exit 0 on success, 1 when the
workflow fails (the spec error as JSON on stderr), 2 when the definition,
input or configuration is invalid (nothing ran).

Errors: every command's exceptions end in one place, :meth:`CommandGroup.invoke`,
which turns each by its type into one line on stderr and an exit code; no
command prints a traceback, and no error is recognised by its text.

Start-up time: ``validate`` and ``--help`` are run by editors, pre-commit
hooks and people, so this module imports only typer and rich at the top.
Temporal, aiohttp, the AWS SDK and prometheus_client (about a second of
imports) are imported inside the commands that use them, and ``blobs`` is
loaded only when it is invoked.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import sys
import time
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, NoReturn, TypeVar

import typer
from typer.core import TyperGroup
from typer.main import get_command

from workflow_runner.cli.output import (
    EXIT_FAILED,
    EXIT_INVALID,
    err,
    fail,
    fail_with_error_json,
    one_line,
    print_json,
)

if TYPE_CHECKING:
    import asyncio

    from temporalio.client import WorkflowFailureError, WorkflowHandle

    from workflow_runner.config import Settings
    from workflow_runner.engine.definition import Definition

T = TypeVar("T")
EXIT_INTERRUPTED = 130
log = logging.getLogger(__name__)

# Sub-apps imported only when invoked: name -> (module, attribute, help for the listing).
LAZY_GROUPS: dict[str, tuple[str, str, str]] = {
    "blobs": ("workflow_runner.cli.blobs", "blobs_app", "Inspect and manage offloaded payloads."),
}


class WorkflowFailed(Exception):
    """Carries the spec error out of the event loop, printed once all else is shut down."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("title") or error.get("type"))
        self.error = error


def _loaded(module: str, name: str) -> type[BaseException] | None:
    """The exception class ``module.name``, if that module was ever imported.

    An exception of a module nobody imported cannot have been raised, so the
    error path need not import Temporal (a second) to rule its errors out.
    """
    found = getattr(sys.modules.get(module), name, None)
    return found if isinstance(found, type) and issubclass(found, BaseException) else None


def _is(error: BaseException, module: str, name: str) -> bool:
    cls = _loaded(module, name)
    return cls is not None and isinstance(error, cls)


def explain(error: BaseException, command: str | None) -> NoReturn:
    """The CLI's one error path: one line on stderr (the spec error as JSON) and an exit code.

    Anything not recognised is reported by its type and message; its
    traceback goes to the log file when logging is set up, never to the
    terminal.
    """
    if isinstance(error, KeyboardInterrupt):
        kept = "; the workflow keeps its state in Temporal" if command == "run" else ""
        fail(f"interrupted{kept}", EXIT_INTERRUPTED)
    if isinstance(error, WorkflowFailed):
        fail_with_error_json(error.error)
    if _is(error, "workflow_runner.config", "ConfigError"):
        fail(str(error), EXIT_INVALID)
    if _is(error, "workflow_runner.dsl.errors", "DefinitionError") or _is(
        error, "workflow_runner.engine.registry", "DefinitionConflictError"
    ):
        fail(str(error), EXIT_INVALID)
    if any(
        _is(error, module, name)
        for module, name in (
            ("workflow_runner.engine.client", "TemporalUnreachableError"),
            ("workflow_runner.runtime.devserver", "DevServerError"),
            ("workflow_runner.claimcheck.errors", "StoreError"),
            ("workflow_runner.claimcheck.codec_server", "CodecServerError"),
            ("workflow_runner.engine.scheduling.schedules", "ScheduleError"),
            ("workflow_runner.engine.visibility", "SearchAttributeNotRegisteredError"),
        )
    ):
        fail(one_line(str(error)))
    if _is(error, "temporalio.exceptions", "WorkflowAlreadyStartedError"):
        fail(
            f"workflow {getattr(error, 'workflow_id', '?')} is already running; choose another --id"
        )
    if _is(error, "temporalio.service", "RPCError"):
        status = getattr(error, "status", None)
        code = EXIT_INVALID if getattr(status, "name", "") == "INVALID_ARGUMENT" else EXIT_FAILED
        name = getattr(status, "name", "error")
        fail(f"Temporal refused the request ({name}): {one_line(str(error))}", code)
    if isinstance(error, RecursionError):
        fail("data is nested too deeply to process", EXIT_INVALID)
    if isinstance(error, MemoryError):
        fail("out of memory")
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        fail(f"{error.strerror or one_line(str(error))}{where}")
    if logging.getLogger().handlers:  # a log file or a service's stderr: keep the details
        log.error("%s failed", command or "workflow-runner", exc_info=error)
    fail(f"unexpected {type(error).__name__}: {one_line(str(error)) or 'no message'}")


class CommandGroup(TyperGroup):
    """The top-level group: one error path for every command, and lazily loaded sub-apps."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, (_, _, help_text) in LAZY_GROUPS.items():
            # A stand-in that only lists the group in --help; resolve_command swaps in the real one.
            self.commands[name] = TyperGroup(name=name, help=help_text)
        self._loaded: set[str] = set()

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        name = args[0] if args else None
        if name in LAZY_GROUPS and name not in self._loaded:
            module, attribute, _ = LAZY_GROUPS[name]
            holder = typer.Typer(add_completion=False)  # built as add_typer would have built it
            holder.add_typer(getattr(importlib.import_module(module), attribute), name=name)
            built = get_command(holder)
            assert isinstance(built, TyperGroup)
            self.commands[name] = built.commands[name]
            self._loaded.add(name)
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, BrokenPipeError):
            raise  # typer's own exits and usage errors; a closed pipe, which typer quiets
        except (Exception, KeyboardInterrupt) as error:
            explain(error, ctx.invoked_subcommand)


app = typer.Typer(
    cls=CommandGroup,
    name="workflow-runner",
    help="Run Serverless Workflow DSL 1.0 workflows on Temporal, with large payloads offloaded.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

InputOption = Annotated[
    str | None, typer.Option("--input", "-i", help="Workflow input: JSON text or @file.json")
]
IdOption = Annotated[str | None, typer.Option("--id", help="Workflow id (default: name-random)")]
DialectOption = Annotated[
    str | None,
    typer.Option(
        "--dialect",
        envvar="WORKFLOW_DIALECT",
        help="Read as spec or zigflow (default: zigflow when document has taskQueue/workflowType)",
    ),
]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's coroutine; its exceptions go on to the one error path."""
    import asyncio

    return asyncio.run(coro)


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Workflow definition (YAML)")],
    input: InputOption = None,
    workflow_id: IdOption = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr")] = False,
    dialect: DialectOption = None,
    workflow: Annotated[
        str | None,
        typer.Option("--workflow", help="Which workflow of a Zigflow multi-workflow document"),
    ] = None,
) -> None:
    """Run a workflow to completion and print its output as JSON.

    Local mode (no TEMPORAL_SERVICE_ADDRESS): starts or reuses the embedded
    Temporal dev server on 127.0.0.1 and runs an in-process worker.
    """
    from workflow_runner.cli.common import definition_or_exit, parse_json_option, settings_or_exit
    from workflow_runner.cli.logs import configure_logging

    settings = settings_or_exit()
    definition = definition_or_exit(file, dialect, workflow)
    run_input = parse_json_option(input, "--input", max_bytes=settings.max_payload_bytes)
    configure_logging(settings, to_file=True)
    result = run_async(_run(settings, definition, run_input, workflow_id, quiet))
    print_json(result)


async def _run(
    settings: Settings, definition: Definition, run_input: Any, workflow_id: str | None, quiet: bool
) -> Any:
    import asyncio

    from workflow_runner.engine.client import start_run
    from workflow_runner.engine.registry import queue_of
    from workflow_runner.runtime.services import open_runtime

    queue = queue_of(definition, settings.task_queue)  # a Zigflow document names its own
    # Zigflow: its workflows are also served by type (a run.workflow.type child finds them)
    served = [definition] if definition.dialect == "zigflow" else []
    async with open_runtime(settings, queues=[queue], definitions=served) as runtime:
        handle = await start_run(
            runtime.client,
            definition,
            run_input,
            task_queue=queue,
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
                await printer.last_poll()  # the last tasks finished after the last poll


class ProgressPrinter:
    """Prints each task as it finishes, from the workflow's ``progress`` query."""

    MARKS: ClassVar[dict[str, str]] = {"completed": "✓", "failed": "✗", "skipped": "↷"}

    def __init__(self, handle: WorkflowHandle[Any, Any]) -> None:
        self.handle = handle
        self.seen = 0
        self.started: dict[str, float] = {}

    async def poll(self) -> bool:
        try:
            notes = await self.handle.query("progress", self.seen)
        except Exception:  # not answerable yet (no worker has picked it up)
            return False
        for note in notes:
            # ``seq`` numbers every note; the run keeps only a window of them, so
            # counting what arrived would drift (and repeat) on long loops.
            self.seen = int(note.get("seq", self.seen)) + 1
            task, status = note["task"], note["status"]
            if status == "started":
                self.started[task] = note["at"]
                continue  # shown when it ends, with its duration
            took = f" ({note['at'] - self.started[task]:.2f}s)" if task in self.started else ""
            label = "" if status in self.MARKS else status
            err.print(" ".join(p for p in (self.MARKS.get(status, "·"), task, label) if p) + took)
        return True

    async def last_poll(self, attempts: int = 5) -> None:
        """After the result: a closed run's query is answered by replaying it, which a busy
        worker may not do at once; a few tries, so the last tasks are not left unprinted."""
        import asyncio

        for _ in range(attempts):
            if await self.poll():
                return
            await asyncio.sleep(0.5)

    async def follow(self) -> None:
        import asyncio

        while True:
            await self.poll()
            await asyncio.sleep(0.2)


async def _result_or_error(handle: WorkflowHandle[Any, Any]) -> Any:
    from temporalio.client import WorkflowFailureError

    try:
        return await handle.result()
    except WorkflowFailureError as e:
        raise WorkflowFailed(_spec_error(e)) from None


def _spec_error(failure: WorkflowFailureError) -> dict[str, Any]:
    from temporalio.exceptions import ApplicationError

    from workflow_runner.dsl.errors import WorkflowError

    cause = failure.cause
    if isinstance(cause, ApplicationError) and cause.details:
        detail = cause.details[0]
        if isinstance(detail, dict) and "type" in detail:
            return detail
    message = str(cause) if cause is not None else str(failure)
    return WorkflowError.of("runtime", message).to_dict()


@contextlib.contextmanager
def _about_workflow(workflow_id: str, settings: Settings) -> Iterator[None]:
    """A workflow id that Temporal does not know is the user's typo: say so, naming both."""
    from temporalio.api.errordetails.v1 import NamespaceNotFoundFailure
    from temporalio.service import RPCError, RPCStatusCode

    try:
        yield
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        namespace = settings.temporal_namespace
        if any(d.Is(NamespaceNotFoundFailure.DESCRIPTOR) for d in e.grpc_status.details):
            fail(f"namespace {namespace} not found (TEMPORAL_NAMESPACE)")
        fail(f"workflow {workflow_id} not found in namespace {namespace}")


@app.command()
def validate(
    files: Annotated[list[Path], typer.Argument(help="Definitions to check")],
    dialect: DialectOption = None,
) -> None:
    """Check definitions without running them; exit 2 if any is invalid.

    Each valid file is printed with the dialect it was read in (spec or zigflow)
    and, for a Zigflow document of several workflows, their names.
    """
    from workflow_runner.dsl.errors import DefinitionError
    from workflow_runner.engine.definition import load_definition

    bad = 0
    for file in files:
        try:
            definition = load_definition(file, dialect)
        except DefinitionError as e:
            bad += 1
            err.print(str(e), soft_wrap=True, markup=False)
            continue
        workflows = definition.model.workflows
        several = f", workflows: {', '.join(workflows)}" if workflows else ""
        err.print(
            f"✓ {file}: {definition.reference} (dialect: {definition.dialect}{several})",
            markup=False,
        )
    if bad:
        raise typer.Exit(EXIT_INVALID)


@app.command()
def worker(
    definitions: Annotated[
        list[Path] | None,
        typer.Option(
            "--definitions",
            "-d",
            help="Definition files or folders to serve as workflow types (by document.name)",
        ),
    ] = None,
) -> None:
    """Serve the task queue (cloud mode, or against a local dev server) until SIGTERM/Ctrl-C.

    Every worker runs ad hoc requests (``run``/``start``); ``--definitions`` also
    serves each definition as a workflow type of its own, so any Temporal client
    starts it by name: ``temporal workflow start --type NAME --task-queue Q``.
    """
    from workflow_runner.cli.common import definitions_or_exit, settings_or_exit
    from workflow_runner.cli.logs import configure_logging

    settings = settings_or_exit()
    served = definitions_or_exit(definitions or [])
    configure_logging(settings, to_file=False)
    run_async(_serve(settings, served))


async def _serve(settings: Settings, definitions: list[Definition]) -> None:
    from prometheus_client import start_http_server

    from workflow_runner.runtime.services import open_runtime

    stop = _until_signalled()
    async with open_runtime(settings, definitions=definitions) as runtime:
        where = runtime.server.address if runtime.server else settings.temporal_address
        if settings.metrics_port:
            try:
                start_http_server(settings.metrics_port, addr="127.0.0.1")
            except OSError as e:
                fail(f"cannot serve metrics on 127.0.0.1:{settings.metrics_port}: {e.strerror}")
            err.print(f"metrics on http://127.0.0.1:{settings.metrics_port}/metrics")
        queues = ", ".join(runtime.queues)
        err.print(f"worker serving task queue(s) {queues} on {where}", soft_wrap=True)
        if definitions:
            names = ", ".join(sorted({d.name for d in definitions}))
            err.print(f"workflow types: {names}", markup=False, soft_wrap=True)
            from workflow_runner.engine.registry import queue_of
            from workflow_runner.engine.scheduling.schedules import apply_schedule, scheduled

            for definition in scheduled(definitions):  # a definition's schedule, created/updated
                queue = queue_of(definition, settings.task_queue)
                sid = await apply_schedule(runtime.client, definition, queue)
                err.print(f"schedule {sid} applied", markup=False, soft_wrap=True)
        await stop.wait()
        err.print("shutting down: finishing running activities")


@app.command()
def start(file: Path, input: InputOption = None, workflow_id: IdOption = None) -> None:
    """Submit a workflow to running workers and print its id."""
    from workflow_runner.cli.common import definition_or_exit, parse_json_option, settings_or_exit
    from workflow_runner.cli.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings, to_file=True)
    definition = definition_or_exit(file)
    run_input = parse_json_option(input, "--input", max_bytes=settings.max_payload_bytes)

    async def submit() -> str:
        from workflow_runner.engine.client import start_run
        from workflow_runner.engine.registry import queue_of
        from workflow_runner.runtime.services import open_runtime

        async with open_runtime(settings, with_worker=False) as runtime:
            handle = await start_run(
                runtime.client,
                definition,
                run_input,
                task_queue=queue_of(definition, settings.task_queue),
                workflow_id=workflow_id,
            )
            return handle.id

    typer.echo(run_async(submit()))


@app.command()
def result(workflow_id: str) -> None:
    """Wait for a workflow's result and print it as JSON (exit 1 if it failed)."""
    from workflow_runner.cli.common import settings_or_exit
    from workflow_runner.cli.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings, to_file=True)

    async def fetch() -> Any:
        from workflow_runner.runtime.services import open_runtime

        async with open_runtime(settings, with_worker=False) as runtime:
            with _about_workflow(workflow_id, settings):
                return await _result_or_error(runtime.client.get_workflow_handle(workflow_id))

    print_json(run_async(fetch()))


@app.command()
def status(workflow_id: str) -> None:
    """Print where a run is — the tasks running now and its $context — as JSON."""
    from workflow_runner.cli.common import settings_or_exit
    from workflow_runner.cli.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings, to_file=True)

    async def ask() -> Any:
        from datetime import timedelta

        from temporalio.service import RPCError, RPCStatusCode

        from workflow_runner.runtime.services import open_runtime

        async with open_runtime(settings, with_worker=False) as runtime:
            with _about_workflow(workflow_id, settings):
                handle = runtime.client.get_workflow_handle(workflow_id)
                # A query is answered by a worker; none polling means no answer, not a hang.
                try:
                    return await handle.query("status", rpc_timeout=timedelta(seconds=15))
                except RPCError as e:
                    if e.status != RPCStatusCode.DEADLINE_EXCEEDED:
                        raise
                    fail(
                        f"no worker answered for workflow {workflow_id} within 15 s: is a "
                        "'run' or 'worker' serving its task queue?"
                    )

    print_json(run_async(ask()))


@app.command()
def emit(
    workflow_id: Annotated[
        str | None,
        typer.Argument(help="The run to send it to; without: the queue's schedule.on definitions"),
    ] = None,
    event_type: Annotated[str, typer.Option("--type", help="CloudEvent type")] = "",
    data: Annotated[
        str | None, typer.Option("--data", help="Event data: JSON or @file.json")
    ] = None,
    source: Annotated[str, typer.Option("--source")] = "workflow-runner-cli",
    event_id: Annotated[
        str | None, typer.Option("--id", help="CloudEvent id (a resend with it is ignored)")
    ] = None,
) -> None:
    """Send a CloudEvent to a running workflow (its listen tasks), or without WORKFLOW_ID to
    the task queue's event router, which starts the definitions whose schedule.on it matches."""
    from workflow_runner.cli.common import parse_json_option, settings_or_exit
    from workflow_runner.cli.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings, to_file=True)
    if not event_type:
        fail("--type is required (the CloudEvent's type)", EXIT_INVALID)
    payload = parse_json_option(data, "--data", max_bytes=settings.max_payload_bytes)
    event = {
        "specversion": "1.0",
        "id": event_id or f"cli-{time.time_ns()}",
        "source": source,
        "type": event_type,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "data": payload,
    }

    async def send() -> bool:
        from workflow_runner.engine.workflow import EVENT_SIGNAL
        from workflow_runner.runtime.services import open_runtime

        async with open_runtime(settings, with_worker=False) as runtime:
            if workflow_id is None:
                from workflow_runner.engine.scheduling.schedules import send_event

                return await send_event(runtime.client, settings.task_queue, event)
            with _about_workflow(workflow_id, settings):
                await runtime.client.get_workflow_handle(workflow_id).signal(EVENT_SIGNAL, event)
        return True

    delivered = run_async(send())
    if workflow_id is not None:
        err.print(f"sent {event_type} to {workflow_id}")
    elif delivered:
        queue = settings.task_queue
        where = f"the event router of task queue {queue}"
        err.print(f"sent {event_type} ({event['id']}) to {where}", markup=False, soft_wrap=True)
    else:
        err.print(
            f"no schedule.on definition is registered on task queue {settings.task_queue} "
            "(workflow-runner schedule FILE, or worker --definitions): the event started nothing",
            markup=False,
            soft_wrap=True,
        )


def _until_signalled() -> asyncio.Event:
    import asyncio
    import signal

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
    from workflow_runner.cli.common import settings_or_exit
    from workflow_runner.cli.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings, to_file=True)

    async def serve() -> None:
        from workflow_runner.claimcheck import open_store
        from workflow_runner.runtime.services import local_services

        stop = _until_signalled()
        async with await open_store(settings) as store, local_services(settings, store) as server:
            if not server.owned:
                fail(f"a Temporal server is already listening on {server.address}")
            err.print(f"Temporal dev server on {server.address}")
            err.print(
                f"Web UI on http://127.0.0.1:{settings.ui_port} (codec: {server.codec_endpoint})"
            )
            await stop.wait()

    run_async(serve())


@app.command("codec-server")
def codec_server(
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port (default CODEC_SERVER_PORT or 8234)"),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
) -> None:
    """Serve Temporal's codec protocol so the Web UI and CLI show offloaded payloads as JSON."""
    from workflow_runner.cli.common import settings_or_exit
    from workflow_runner.cli.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings, to_file=False)

    async def serve() -> None:
        from workflow_runner.claimcheck import open_store
        from workflow_runner.claimcheck.codec_server import (
            codec_service_for,
            listening_port,
            start_codec_server,
        )

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

    run_async(serve())


app.command("ls")(importlib.import_module("workflow_runner.cli.ls").ls)  # cli/ls.py
app.command("convert")(importlib.import_module("workflow_runner.cli.convert").convert)

app.command("schedule")(importlib.import_module("workflow_runner.cli.schedule").schedule)

if __name__ == "__main__":
    app()
