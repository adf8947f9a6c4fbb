"""``fork``: branches run concurrently; all outputs (as the dialect shapes them:
a list, or Zigflow's map by branch name), or the first to finish."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.model import Bindings, TaskList
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import (
    Execution,
    Outcome,
    Task,
    TaskType,
    checked,
    scope_of,
)


@dataclass(frozen=True, kw_only=True)
class ForkTask(Task):
    branches: TaskList
    compete: bool = False

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        scope = scope_of(args)
        branches = [run.run_task(checked(b), value, scope) for b in self.branches.tasks]
        if self.compete:
            output, _ = await run.io.first_completed(branches)
            return output, None
        import asyncio  # here, not at the top: reading definitions (validate) stays light

        results = await asyncio.gather(*branches)
        names = [b.name for b in self.branches.tasks]
        return run.policy.fork_output(names, [output for output, _ in results]), None


def read(reader: DefinitionReader, node: TaskNode) -> ForkTask | None:
    spec = node.raw["fork"]
    base = node.at("fork")
    if not isinstance(spec, dict) or "branches" not in spec:
        reader.problem(base, "fork needs 'branches': a list of tasks to run concurrently")
        return None
    for key in spec:
        if key not in ("branches", "compete"):
            reader.problem(f"{base}/{key}", f"unknown fork property {key!r}")
    compete = spec.get("compete", False)
    if not isinstance(compete, bool):
        reader.problem(f"{base}/compete", "compete must be true or false")
    branches = reader.do_list(f"{base}/branches", spec["branches"], node.scope)
    if branches is None:
        return None
    return ForkTask(**node.common, branches=branches, compete=compete is True)


TYPE: TaskType = TaskType("fork", frozenset({"fork"}), read)
