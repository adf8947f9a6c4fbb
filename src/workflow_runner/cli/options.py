"""What several commands share: their common options, and how a command runs its coroutine."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    import asyncio

T = TypeVar("T")

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


def until_signalled() -> asyncio.Event:
    """Set on SIGTERM or Ctrl-C: a long-running command (worker, servers) then shuts down in
    order, finishing what it runs, rather than being killed mid-way by the default handler."""
    import asyncio
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return stop
