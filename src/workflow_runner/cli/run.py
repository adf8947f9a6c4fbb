"""``run``: start a workflow, print each task as it finishes, then its output as JSON.

Contract: only the workflow output goes to stdout (as JSON), so it can be
piped; progress and errors go to stderr. Exit 0 on success, 1 when the
workflow fails (the spec error as JSON on stderr), 2 when the definition,
input or configuration is invalid (nothing ran).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer

from workflow_runner.cli.options import DialectOption, IdOption, InputOption, run_async
from workflow_runner.cli.output import err, print_json
from workflow_runner.cli.runs import result_or_error

if TYPE_CHECKING:
    from temporalio.client import WorkflowHandle

    from workflow_runner.config import Settings
    from workflow_runner.engine.definition import Definition


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
            return await result_or_error(handle)
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
