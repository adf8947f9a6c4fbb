"""``workflow-runner ls``: list runs with Temporal's visibility query syntax.

    workflow-runner ls --query 'OrderId = "A-17" AND ExecutionStatus = "Running"' --limit 20

One line per run (id, type, status, start time), newest first; ``--json`` prints
each run's search attributes too. The query is Temporal's own list filter, so
custom search attributes a definition sets (``metadata.searchAttributes``) find
its runs. Temporal is imported inside the command: ``--help`` stays fast.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from workflow_runner.cli.output import EXIT_INVALID, fail, print_json

DEFAULT_LIMIT = 50


def ls(
    query: Annotated[
        str | None,
        typer.Option("--query", "-q", help="Visibility query, e.g. 'WorkflowType = \"order\"'"),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="At most this many runs")] = (
        DEFAULT_LIMIT
    ),
    as_json: Annotated[bool, typer.Option("--json", help="JSON, with search attributes")] = False,
) -> None:
    """List runs (id, type, status, start time), newest first; --query filters them."""
    from workflow_runner.cli.common import settings_or_exit
    from workflow_runner.cli.logs import configure_logging
    from workflow_runner.cli.options import run_async

    settings = settings_or_exit()
    configure_logging(settings, to_file=True)

    async def fetch() -> list[Any]:
        from temporalio.service import RPCError, RPCStatusCode

        from workflow_runner.engine.visibility import list_runs
        from workflow_runner.runtime.services import open_runtime

        async with open_runtime(settings, with_worker=False, check_store=False) as runtime:
            try:
                return await list_runs(runtime.client, query, limit)
            except RPCError as e:
                if e.status == RPCStatusCode.INVALID_ARGUMENT:
                    fail(f"invalid --query {query!r}: {e.message}", EXIT_INVALID)
                raise

    runs = run_async(fetch())
    if as_json:
        print_json([run.as_json() for run in runs])
        return
    for run in runs:
        started = run.start_time.strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{run.workflow_id}\t{run.workflow_type}\t{run.status}\t{started}")
