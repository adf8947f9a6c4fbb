"""``run: workflow``: another definition as a Temporal child workflow.

The child's definition travels with the parent's run request (found next to
the main file by ``engine/catalog.py``), so any worker can run it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task


def reference_of(spec: Mapping[str, Any]) -> str:
    """``namespace/name:version`` of a ``run.workflow`` block (namespace defaults to default)."""
    return f"{spec.get('namespace', 'default')}/{spec.get('name')}:{spec.get('version', '')}"


@dataclass(frozen=True, kw_only=True)
class RunWorkflowTask(Task):
    spec: Mapping[str, Any]  # run.workflow: name, namespace, version, input (may hold ${ })
    by_type: bool = False  # Zigflow's run.workflow.type: a Temporal workflow type

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        where = self.pointer + "/run/workflow"
        child = await run.eval_value(dict(self.spec), value, args, where)
        # without run.workflow.input: the task's $input (the spec: its input; Zigflow:
        # the workflow input, what Zigflow hands its children)
        child_input = child.get("input", args.get("input", value))
        if self.by_type:
            target = child.get("type")
            if not isinstance(target, str) or not target:
                raise WorkflowError.of(
                    "expression", f"run.workflow.type must be a workflow type, got {target!r}"
                )
            return await run.io.run_workflow(target, child_input, self.pointer, by_type=True), None
        return await run.io.run_workflow(reference_of(child), child_input, self.pointer), None


def read(reader: DefinitionReader, node: TaskNode, kind: str) -> RunWorkflowTask | None:
    body = node.raw["run"]["workflow"]
    by_type = reader.dialect.run_workflow_by_type
    if by_type and isinstance(body, dict) and "type" in body:
        return RunWorkflowTask(**node.common, spec=body, by_type=True)
    if not (isinstance(body, dict) and "name" in body):
        wanted = "'type' (a workflow type) or 'name'" if by_type else "'name'"
        reader.problem(
            node.at("run", "workflow"), f"run.workflow needs {wanted} (and namespace, version)"
        )
        return None
    return RunWorkflowTask(**node.common, spec=body)
