"""``set``: compute a value from the task's input (deterministic, in the workflow)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.expressions import NOT_ANSWERED, template_body
from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType


@dataclass(frozen=True, kw_only=True)
class SetTask(Task):
    value: Any  # a mapping with ${ } strings inside, or one ${ } expression
    body: str | None  # the jq body when value is one ${ } string (read once), else None
    where: str  # value's pointer, where its errors are named

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        body = self.body
        if body is None:
            result = await run.eval_value(self.value, value, args, self.where)
        else:
            result = run.answer_now(body, value, args, self.where)
            if result is NOT_ANSWERED:
                result = await run.answer_later(body, value, args, self.where)
        if _isinstance(result, dict):
            run.remember(result)
        return result, None


# The builtin as imported: during activations the sandbox's thread-local isinstance costs
# ~1-3 µs a call, ~5% of a loop of sets in bench/interpreter_overhead.py (dsl/expressions.py).
_isinstance = isinstance


def read(reader: DefinitionReader, node: TaskNode) -> SetTask | None:
    value = node.raw["set"]
    if not isinstance(value, dict | str):
        reader.problem(node.at("set"), "set must be a mapping (or one ${ } expression)")
        return None
    where = node.at("set")
    reader.expressions_in(where, value, node.scope)
    body = template_body(value) if isinstance(value, str) else None
    return SetTask(**node.common, value=value, body=body, where=where)


TYPE: TaskType = TaskType("set", frozenset({"set"}), read)
