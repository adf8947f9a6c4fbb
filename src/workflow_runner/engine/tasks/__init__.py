"""The registry of task types: one module each, listed here in matching order.

A task is recognised by the first key of this list that it has (a ``for``
task also has ``do``, a ``try`` task has ``catch``...). Adding a task type is
one new module with its model, reader and execution (and activity, for I/O)
plus one line here; docs/contributing.md walks through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from workflow_runner.dsl.model import TaskModel
from workflow_runner.engine.tasks import (
    call,
    call_a2a,
    call_grpc,
    call_http,
    call_mcp,
    call_openapi,
    do,
    emit,
    for_loop,
    fork,
    listen,
    raise_error,
    run,
    run_container,
    run_process,
    set,
    switch,
    try_catch,
    wait,
)
from workflow_runner.engine.tasks.base import ActivitySet, TaskType

if TYPE_CHECKING:  # the worker's settings; reading a definition needs none
    from workflow_runner.config import Settings

TASK_TYPES: tuple[TaskType, ...] = (
    for_loop.TYPE,
    try_catch.TYPE,
    call.TYPE,
    set.TYPE,
    switch.TYPE,
    fork.TYPE,
    raise_error.TYPE,
    wait.TYPE,
    run.TYPE,
    listen.TYPE,
    emit.TYPE,
    do.TYPE,
)

# The activities of the I/O task types, built per worker from its settings.
ACTIVITIES: tuple[Callable[[Settings], ActivitySet], ...] = (
    call_http.activities,
    call_grpc.activities,
    call_a2a.activities,
    call_mcp.activities,
    call_openapi.activities,
    run_process.activities,
    run_container.activities,
)


def kind_of(task: TaskModel) -> str:
    """The key of the type a task was read as (``use.extensions`` extend by it)."""
    return next((t.key for t in TASK_TYPES if t.key in task.definition), "")


__all__ = ["ACTIVITIES", "TASK_TYPES", "kind_of"]
