"""``emit``: publish a CloudEvent to the run's own event buffer (and ``emitted_events``).

The task's output is the full CloudEvents 1.0 envelope: ``specversion``,
``id`` (a UUID unless given), ``source`` (the run unless given), ``type``,
``time`` (now unless given), ``datacontenttype`` (JSON when there is data),
``data`` and any extension attributes written in ``emit.event.with``.
A listen in the same run (another fork branch, a later task) hears it, and so does
the task queue's event router (engine/scheduling/triggers.py: ``schedule.on`` definitions).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import is_expression
from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.events import ATTRIBUTE_NAME
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType

STRING_ATTRIBUTES = ("id", "source", "type", "subject", "time", "dataschema", "datacontenttype")


@dataclass(frozen=True, kw_only=True)
class EmitTask(Task):
    attributes: Mapping[str, Any]  # emit.event.with; may hold ${ }

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        where = self.pointer + "/emit/event/with"
        attributes = await run.eval_value(dict(self.attributes), value, args, where)
        for name in STRING_ATTRIBUTES:
            given = attributes.get(name)
            if name in attributes and (not isinstance(given, str) or not given):
                raise WorkflowError.of(
                    "validation",
                    f"emitted event attribute {name!r} must be a non-empty string, got {given!r}",
                    instance=f"{where}/{name}",
                )
        return await run.io.emit(attributes), None


def read(reader: DefinitionReader, node: TaskNode) -> EmitTask | None:
    spec = node.raw["emit"]
    event = spec.get("event") if isinstance(spec, dict) else None
    attributes = event.get("with") if isinstance(event, dict) else None
    if not isinstance(attributes, dict):
        reader.problem(node.at("emit"), "emit needs 'event: {with: {type, source, data}}'")
        return None
    base = node.at("emit", "event", "with")
    if "type" not in attributes:
        reader.problem(base, "emit.event.with needs 'type' (the CloudEvent's type)")
    for name, given in attributes.items():
        if not ATTRIBUTE_NAME.match(str(name)) and name not in ("data", "data_base64"):
            reader.problem(
                f"{base}/{name}",
                f"{name!r} is not a CloudEvents attribute name (lower-case a-z and 0-9, "
                "at most 20 characters)",
            )
        elif name in STRING_ATTRIBUTES and not isinstance(given, str):
            reader.problem(f"{base}/{name}", f"emit.event.with.{name} must be a string")
        elif name in STRING_ATTRIBUTES and not given and not is_expression(given):
            reader.problem(f"{base}/{name}", f"emit.event.with.{name} must not be empty")
    reader.expressions_in(node.at("emit"), spec, node.scope)
    return EmitTask(**node.common, attributes=attributes)


TYPE: TaskType = TaskType("emit", frozenset({"emit"}), read)
