"""``workflow-runner schedule FILE [--delete] | --list``: a definition's schedule on Temporal.

Creating or updating is idempotent (re-run it after editing the file); the
scheduled runs start the definition by its workflow type, so a worker must
serve it (``workflow-runner worker --definitions FILE``, which also applies
the schedule when it starts). See engine/scheduling/schedules.py for the mapping:
``every``/``cron`` are Temporal Schedules, ``after`` a loop workflow, ``on``
a trigger of the task queue's event router (events: ``emit`` tasks, and
``workflow-runner emit --type T``).

Only typer is imported at the top: ``--help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from workflow_runner.cli.output import EXIT_INVALID, err, fail, print_json

if TYPE_CHECKING:
    from workflow_runner.config import Settings
    from workflow_runner.engine.definition import Definition


def schedule(
    file: Annotated[
        Path | None, typer.Argument(help="Definition with a top-level 'schedule'")
    ] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Delete its schedule")] = False,
    list_: Annotated[
        bool, typer.Option("--list", help="List the schedules workflow-runner created (JSON)")
    ] = False,
) -> None:
    """Create or update a definition's schedule (every, cron, after, on), delete it, or list."""
    from workflow_runner.cli.common import definition_or_exit, settings_or_exit
    from workflow_runner.cli.logs import configure_logging
    from workflow_runner.cli.options import run_async

    if list_ and (file is not None or delete):
        fail("--list takes no FILE and no --delete", EXIT_INVALID)
    if not list_ and file is None:
        fail("give a definition FILE (or --list)", EXIT_INVALID)
    settings = settings_or_exit()
    configure_logging(settings, to_file=True)
    if list_:
        print_json(run_async(_list(settings)))
        return
    assert file is not None
    definition = definition_or_exit(file)
    if definition.model.schedule is None and not delete:
        fail(f"{file}: {definition.reference} has no top-level 'schedule'", EXIT_INVALID)
    message = run_async(_apply(settings, definition, delete))
    err.print(message, markup=False, soft_wrap=True)


async def _apply(settings: Settings, definition: Definition, delete: bool) -> str:
    from workflow_runner.engine.registry import queue_of
    from workflow_runner.engine.scheduling.schedules import (
        ScheduleError,
        apply_schedule,
        check_schedule,
        delete_schedule,
        schedule_id,
        workflow_type_of,
    )
    from workflow_runner.runtime.services import open_runtime

    sid = schedule_id(definition)
    queue = queue_of(definition, settings.task_queue)  # a Zigflow document names its own
    kind = ""
    if not delete:
        try:
            kind = check_schedule(definition, queue)  # refuse before connecting
        except ScheduleError as e:
            fail(str(e), EXIT_INVALID)
    async with open_runtime(settings, with_worker=False) as runtime:
        if delete:
            found = await delete_schedule(runtime.client, definition, queue)
            return f"deleted schedule {sid}" if found else f"no schedule {sid} to delete"
        await apply_schedule(runtime.client, definition, queue)
    when = {
        "on": "when its events reach the event router",
        "after": "now, and again after each run ends",
    }.get(kind, "at its times")
    return (
        f"schedule {sid} applied: starts workflow type {workflow_type_of(definition)} "
        f"{when} on task queue {queue} (serve it with: workflow-runner worker "
        f"--definitions {definition.source})"
    )


async def _list(settings: Settings) -> list[dict[str, Any]]:
    from workflow_runner.engine.scheduling.schedules import list_schedules
    from workflow_runner.runtime.services import open_runtime

    async with open_runtime(settings, with_worker=False) as runtime:
        entries = await list_schedules(runtime.client)
    listed: list[dict[str, Any]] = []
    for e in entries:
        entry: dict[str, Any] = {"id": e.id, "definition": e.definition}
        entry["workflowType"] = e.workflow_type
        if e.kind == "clock":
            entry["every"] = [f"PT{i.total_seconds():g}S" for i in e.every]
            entry["cron"] = list(e.cron)
            entry["paused"] = e.paused
            entry["recentRuns"] = e.recent_runs
        elif e.after is not None:
            entry["after"] = f"PT{e.after.total_seconds():g}S"
        else:
            entry["on"] = e.on
        if e.task_queue is not None:
            entry["taskQueue"] = e.task_queue
        listed.append(entry)
    return listed
