"""Commands on runs by id: ``start`` one, wait for its ``result``, ask its ``status``,
``emit`` an event to it (or to the task queue's event router)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workflow_runner.cli.errors import WorkflowFailed
from workflow_runner.cli.options import IdOption, InputOption, run_async
from workflow_runner.cli.output import EXIT_INVALID, err, fail, print_json

if TYPE_CHECKING:
    from temporalio.client import WorkflowFailureError, WorkflowHandle

    from workflow_runner.config import Settings


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


def result(workflow_id: str) -> None:
    """Wait for a workflow's result and print it as JSON (exit 1 if it failed)."""
    print_json(_on_run(workflow_id, result_or_error))


def status(workflow_id: str) -> None:
    """Print where a run is — the tasks running now and its $context — as JSON."""

    async def ask(handle: WorkflowHandle[Any, Any]) -> Any:
        from datetime import timedelta

        from temporalio.service import RPCError, RPCStatusCode

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

    print_json(_on_run(workflow_id, ask))


def _on_run(workflow_id: str, act: Callable[[WorkflowHandle[Any, Any]], Awaitable[Any]]) -> Any:
    """``act`` on the handle of run ``workflow_id``, with no worker of our own: what
    ``result`` and ``status`` share (an unknown id or namespace is named, not traced)."""
    from workflow_runner.cli.common import settings_or_exit
    from workflow_runner.cli.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings, to_file=True)

    async def on_handle() -> Any:
        from workflow_runner.runtime.services import open_runtime

        async with open_runtime(settings, with_worker=False) as runtime:
            with about_workflow(workflow_id, settings):
                return await act(runtime.client.get_workflow_handle(workflow_id))

    return run_async(on_handle())


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
            with about_workflow(workflow_id, settings):
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


async def result_or_error(handle: WorkflowHandle[Any, Any]) -> Any:
    from temporalio.client import WorkflowFailureError

    try:
        return await handle.result()
    except WorkflowFailureError as e:
        raise WorkflowFailed(spec_error(e)) from None


def spec_error(failure: WorkflowFailureError) -> dict[str, Any]:
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
def about_workflow(workflow_id: str, settings: Settings) -> Iterator[None]:
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
