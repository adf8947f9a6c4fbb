"""``run``: picks the process kind's reader (shell/script → ``run_process``, container →
``run_container``, workflow → ``run_workflow``)."""

from __future__ import annotations

from collections.abc import Callable

from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks import run_container, run_process, run_workflow
from workflow_runner.engine.tasks.base import Task, TaskType

KINDS: dict[str, Callable[[DefinitionReader, TaskNode, str], Task | None]] = {
    "shell": run_process.read,
    "script": run_process.read,
    "container": run_container.read,
    "workflow": run_workflow.read,
}
RETURNS = ("stdout", "stderr", "code", "all", "none")


def read(reader: DefinitionReader, node: TaskNode) -> Task | None:
    spec = node.raw["run"]
    base = node.at("run")
    kinds = [k for k in KINDS if isinstance(spec, dict) and k in spec]
    if len(kinds) != 1:
        reader.problem(base, "run needs exactly one of shell, script, container, workflow")
        return None
    kind = kinds[0]
    for key in spec:
        if key not in (kind, "await", "return"):
            reader.problem(f"{base}/{key}", f"unknown run property {key!r}")
    if spec.get("return", "stdout") not in RETURNS:
        reader.problem(f"{base}/return", "return must be stdout, stderr, code, all or none")
    reader.expressions_in(base, spec, node.scope)
    return KINDS[kind](reader, node, kind)


TYPE: TaskType = TaskType("run", frozenset({"run"}), read)
