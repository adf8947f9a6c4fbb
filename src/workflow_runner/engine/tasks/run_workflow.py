"""``run: workflow``: another definition as a Temporal child workflow.

The child's definition travels with the parent's run request (found next to
the main file by ``engine/catalog.py``), so any worker can run it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task


def reference_of(spec: Mapping[str, Any]) -> str:
    """``namespace/name:version`` of a ``run.workflow`` block (namespace defaults to default)."""
    return f"{spec.get('namespace', 'default')}/{spec.get('name')}:{spec.get('version', '')}"


@dataclass(frozen=True, kw_only=True)
class RunWorkflowTask(Task):
    spec: Mapping[str, Any]  # run.workflow: name, namespace, version, input (may hold ${ })

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        where = self.pointer + "/run/workflow"
        child = await run.eval_value(dict(self.spec), value, args, where)
        child_input = child.get("input", value)
        return await run.io.run_workflow(reference_of(child), child_input, self.pointer), None


def read(reader: DefinitionReader, node: TaskNode, kind: str) -> RunWorkflowTask | None:
    body = node.raw["run"]["workflow"]
    if not (isinstance(body, dict) and "name" in body):
        reader.problem(
            node.at("run", "workflow"), "run.workflow needs 'name' (and namespace, version)"
        )
        return None
    return RunWorkflowTask(**node.common, spec=body)
