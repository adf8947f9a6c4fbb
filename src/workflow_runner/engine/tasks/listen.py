"""``listen``: wait for events (CloudEvents sent with ``emit``) or Temporal signals.

Consuming happens in ``engine/events.py``; waiting is Temporal's
``wait_condition`` behind ``io.listen``, so a listen survives restarts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType

STRATEGIES = ("one", "any", "all")


@dataclass(frozen=True, kw_only=True)
class ListenTask(Task):
    to: Mapping[str, Any]  # {one|any|all: filters}; filters may hold ${ }

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        to = await run.eval_value(dict(self.to), value, args, self.pointer + "/listen/to")
        return await run.io.listen(to, self.timeout, self.pointer), None


def read(reader: DefinitionReader, node: TaskNode) -> ListenTask | None:
    spec = node.raw["listen"]
    base = node.at("listen")
    to = spec.get("to") if isinstance(spec, dict) else None
    if not isinstance(to, dict) or not (set(STRATEGIES) & set(to)):
        reader.problem(base, "listen needs 'to' with one, any or all")
        return None
    for key in spec:
        if key != "to":
            reader.problem(f"{base}/{key}", f"listen.{key} is not supported yet")
    for key in to:
        if key == "until":
            reader.problem(f"{base}/to/{key}", "listen.to.until is not supported yet")
        elif key not in STRATEGIES:
            reader.problem(f"{base}/to/{key}", f"unknown listen.to property {key!r}")
    reader.expressions_in(f"{base}/to", to, node.scope)
    return ListenTask(**node.common, to=to)


TYPE: TaskType = TaskType("listen", frozenset({"listen"}), read)
