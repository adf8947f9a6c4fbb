"""``workflow-runner schedule FILE [--delete] | --list``: a definition's schedule on Temporal.

Creating or updating is idempotent (re-run it after editing the file); the
scheduled runs start the definition by its workflow type, so a worker must
serve it (``workflow-runner worker --definitions FILE``, which also applies
the schedule when it starts). See engine/schedules.py for the mapping.

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
    """Create or update a definition's Temporal Schedule (every, cron), delete it, or list."""
    from workflow_runner.cli.common import definition_or_exit, settings_or_exit
    from workflow_runner.cli.logs import configure_logging
    from workflow_runner.cli.main import run_async

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
    from workflow_runner.engine.schedules import (
        ScheduleError,
        apply_schedule,
        delete_schedule,
        schedule_id,
        temporal_schedule,
    )
    from workflow_runner.runtime.services import open_runtime

    sid = schedule_id(definition)
    if not delete:
        try:
            temporal_schedule(definition, settings.task_queue)  # refuse before connecting
        except ScheduleError as e:
            fail(str(e), EXIT_INVALID)
    async with open_runtime(settings, with_worker=False) as runtime:
        if delete:
            found = await delete_schedule(runtime.client, definition)
            return f"deleted schedule {sid}" if found else f"no schedule {sid} to delete"
        await apply_schedule(runtime.client, definition, settings.task_queue)
    return (
        f"schedule {sid} applied: starts workflow type {definition.name} on task queue "
        f"{settings.task_queue} (serve it with: workflow-runner worker --definitions "
        f"{definition.source})"
    )


async def _list(settings: Settings) -> list[dict[str, Any]]:
    from workflow_runner.engine.schedules import list_schedules
    from workflow_runner.runtime.services import open_runtime

    async with open_runtime(settings, with_worker=False) as runtime:
        entries = await list_schedules(runtime.client)
    return [
        {
            "id": e.id,
            "definition": e.definition,
            "workflowType": e.workflow_type,
            "every": [f"PT{i.total_seconds():g}S" for i in e.every],
            "cron": list(e.cron),
            "paused": e.paused,
            "recentRuns": e.recent_runs,
        }
        for e in entries
    ]
