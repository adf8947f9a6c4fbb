"""``wait``: a durable timer (``workflow.sleep``), so a wait survives worker restarts.

Dialects that allow it (Zigflow) also read ``wait: {seconds: ${ }}`` (units
given by expressions) and ``wait: {until: timestamp}`` (RFC 3339, a moment in
the past does not wait); what the task outputs is the dialect's data model.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from workflow_runner.dsl.durations import parse_duration
from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import is_expression
from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType

UNTIL = "until"


@dataclass(frozen=True, kw_only=True)
class WaitTask(Task):
    delay: timedelta | None  # None: ``expression`` gives it at run time
    expression: Any = None

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        delay = self.delay
        if delay is None:
            where = self.pointer + "/wait"
            evaluated = await run.eval_value(self.expression, value, args, where)
            if isinstance(evaluated, dict) and UNTIL in evaluated:
                left = _until(evaluated[UNTIL], run.io.now(), where + "/until")
                if left > timedelta(0):  # a moment in the past does not wait
                    await run.io.sleep(left)
                return run.policy.wait_output(value), None
            else:
                try:
                    delay = parse_duration(evaluated)
                except ValueError as e:
                    raise WorkflowError.of("expression", str(e), instance=where) from None
        await run.io.sleep(delay)
        return run.policy.wait_output(value), None


def _until(moment: Any, now: float, where: str) -> timedelta:
    """The time left until ``moment`` (RFC 3339) in workflow time; zero when it is past."""
    try:
        if not isinstance(moment, str):
            raise ValueError
        at = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        if at.tzinfo is None:
            raise ValueError
    except ValueError:
        raise WorkflowError.of(
            "expression",
            "wait.until must be an RFC 3339 timestamp such as 2030-01-01T00:00:00Z, "
            f"got {moment!r}",
            instance=where,
        ) from None
    return max(timedelta(seconds=at.timestamp() - now), timedelta(0))


def _has_expression(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_expression(v) for v in value.values())
    return is_expression(value)


def read(reader: DefinitionReader, node: TaskNode) -> WaitTask | None:
    spec = node.raw["wait"]
    pointer = node.at("wait")
    if reader.dialect.wait_expressions and isinstance(spec, dict):
        if UNTIL in spec:
            if set(spec) != {UNTIL}:
                reader.problem(pointer, "wait.until cannot be combined with duration units")
                return None
            until = spec[UNTIL]
            if not is_expression(until):
                try:
                    _until(str(until), 0.0, pointer + "/until")
                except WorkflowError as e:
                    reader.problem(pointer + "/until", e.detail or str(e))
                    return None
            reader.expressions_in(pointer, spec, node.scope)
            return WaitTask(**node.common, delay=None, expression=spec)
        if _has_expression(spec):
            reader.expressions_in(pointer, spec, node.scope)
            return WaitTask(**node.common, delay=None, expression=spec)
    delay = reader.duration(pointer, spec)
    return WaitTask(**node.common, delay=delay, expression=spec if delay is None else None)


TYPE: TaskType = TaskType("wait", frozenset({"wait"}), read)
