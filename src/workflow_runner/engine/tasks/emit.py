"""``emit``: publish a CloudEvent to the run's own event list (and ``emitted_events``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType


@dataclass(frozen=True, kw_only=True)
class EmitTask(Task):
    attributes: Mapping[str, Any]  # emit.event.with; may hold ${ }

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        attributes = await run.eval_value(
            dict(self.attributes), value, args, self.pointer + "/emit"
        )
        return run.io.emit(attributes), None


def read(reader: DefinitionReader, node: TaskNode) -> EmitTask | None:
    spec = node.raw["emit"]
    event = spec.get("event") if isinstance(spec, dict) else None
    if not isinstance(event, dict) or not isinstance(event.get("with"), dict):
        reader.problem(node.at("emit"), "emit needs 'event: {with: {type, source, data}}'")
        return None
    reader.expressions_in(node.at("emit"), spec, node.scope)
    return EmitTask(**node.common, attributes=event["with"])


TYPE: TaskType = TaskType("emit", frozenset({"emit"}), read)
