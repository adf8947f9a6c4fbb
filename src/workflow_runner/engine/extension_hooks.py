"""``use.extensions`` at run time: the extensions that apply to a task, run around it.

An extension (dsl/extensions.py) names the task kinds it extends, an optional ``when``,
and task lists to run ``before`` and ``after``. A ``before`` list that ends (``exit`` or
``end``) bypasses the task: its output stands for the task's (a mock). Tasks inside an
extension's lists are not extended again, so an extension cannot recurse into itself.
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.expressions import truthy
from workflow_runner.dsl.extensions import Extension
from workflow_runner.dsl.model import TaskList
from workflow_runner.engine.tasks import kind_of
from workflow_runner.engine.tasks.base import Outcome, Task, checked

if TYPE_CHECKING:
    from workflow_runner.engine.interpreter import Interpreter

# Set while an extension's tasks run (per asyncio task: fork branches don't share it).
IN_EXTENSION: contextvars.ContextVar[bool] = contextvars.ContextVar("in_extension", default=False)


async def extended(run: Interpreter, task: Task, value: Any, args: dict[str, Any]) -> Outcome:
    """The task, with the extensions that apply to it run around it."""
    extensions = run.workflow.extensions
    if not extensions or IN_EXTENSION.get():
        return await task.execute(run, value, args)
    kind = kind_of(task)
    applying: list[Extension] = []
    for extension in extensions:
        if extension.extends(kind) and await _applies(run, extension, task, args):
            applying.append(extension)
    for extension in applying:
        if extension.before is not None:
            output, flow = await _run_extension(run, extension.before, value, args)
            if flow in ("exit", "end"):  # the task is bypassed: the mock's answer is its output
                return output, "end" if flow == "end" else None
    output, flow = await task.execute(run, value, args)
    for extension in applying:
        if extension.after is not None:
            _, after_flow = await _run_extension(run, extension.after, output, args)
            if after_flow == "end":
                return output, "end"
    return output, flow


async def _applies(
    run: Interpreter, extension: Extension, task: Task, args: dict[str, Any]
) -> bool:
    if extension.when is None:
        return True
    # ``$task`` with the task's own definition merged in: the spec's examples write
    # ``$task.call`` and ``$task.with.endpoint`` as well as ``$task.definition...``.
    described = {**dict(task.definition), **(args.get("task") or {})}
    where = f"/use/extensions/{extension.name}/when"
    bound = {**args, "task": described}
    return truthy(await run.eval_field(extension.when, None, bound, where))


async def _run_extension(
    run: Interpreter, tasks: TaskList, value: Any, args: dict[str, Any]
) -> Outcome:
    """An extension's list, its own ``exit``/``end`` reported (``run_list`` absorbs
    ``exit``); tasks inside it are not extended again."""
    token = IN_EXTENSION.set(True)
    try:
        scope: dict[str, Any] = {}
        index = 0
        while index < len(tasks.tasks):
            inner = checked(tasks.tasks[index])
            value, flow = await run.run_task(inner, value, scope)
            if flow in ("exit", "end"):
                return value, flow
            if flow is not None and flow != "continue":
                target = tasks.index_of(flow)
                if target <= index:
                    run.count_jump_back(inner, flow)
                index = target
                continue
            index += 1
        return value, None
    finally:
        IN_EXTENSION.reset(token)
