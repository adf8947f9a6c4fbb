"""``switch``: the first case whose ``when`` holds decides where the flow goes next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.expressions import truthy
from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType


@dataclass(frozen=True)
class SwitchCase:
    name: str
    pointer: str
    when: Any  # None: the default case
    then: str


@dataclass(frozen=True, kw_only=True)
class SwitchTask(Task):
    cases: tuple[SwitchCase, ...]

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        for case in self.cases:
            if case.when is None or truthy(
                await run.eval_field(case.when, value, args, case.pointer + "/when")
            ):
                return value, case.then
        return value, None


def read(reader: DefinitionReader, node: TaskNode) -> SwitchTask | None:
    items = node.raw["switch"]
    base = node.at("switch")
    if not isinstance(items, list) or not items:
        reader.problem(base, "switch must be a non-empty list of '- caseName: {when, then}'")
        return None
    cases = []
    for index, item in enumerate(items):
        item_pointer = node.at("switch", index)
        if (
            not isinstance(item, dict)
            or len(item) != 1
            or not isinstance(next(iter(item.values())), dict)
        ):
            reader.problem(
                item_pointer, "each switch case must be 'caseName: {when: ..., then: ...}'"
            )
            continue
        ((name, case),) = item.items()
        case_pointer = node.at("switch", index, name)
        for key in case:
            if key not in ("when", "then"):
                reader.problem(f"{case_pointer}/{key}", f"unknown switch case property {key!r}")
        if "when" in case:
            reader.expression(f"{case_pointer}/when", case["when"], node.scope, bare=True)
        if "then" not in case:
            reader.problem(
                case_pointer, "a switch case needs 'then' (continue, exit, end or a task name)"
            )
            continue
        # Zigflow: a case may also name a do block elsewhere in the document (run, then back)
        targets = (*node.siblings, *sorted(reader.block_names - set(node.siblings)))
        reader.then(f"{case_pointer}/then", case["then"], targets)
        cases.append(SwitchCase(str(name), case_pointer, case.get("when"), str(case["then"])))
    return SwitchTask(**node.common, cases=tuple(cases))


TYPE: TaskType = TaskType("switch", frozenset({"switch"}), read)
