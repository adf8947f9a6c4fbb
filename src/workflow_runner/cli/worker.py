"""``worker``: serve the task queue (and, with ``--definitions``, workflow types by name)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from workflow_runner.cli.options import run_async, until_signalled
from workflow_runner.cli.output import err, fail

if TYPE_CHECKING:
    from workflow_runner.config import Settings
    from workflow_runner.engine.definition import Definition


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

    stop = until_signalled()
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
