"""``run: shell`` and ``run: script``: the task — its model, reader and typed request.

The process runs in the ``run_process`` activity (``run_process_activity.py``:
a minimal environment, shell-quoted arguments, the process group killed on
cancellation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.secrets import SecretScope
from workflow_runner.engine.tasks.base import ActivityCall, ActivitySet, Execution, Outcome, Task

if TYPE_CHECKING:  # the worker's settings; reading a definition needs none
    from workflow_runner.config import Settings

ACTIVITY = "run_process"
SCRIPT_LANGUAGES = frozenset({"python"})


@dataclass
class ProcessRequest:
    """The activity's argument: everything evaluated, secrets still as tokens."""

    kind: str  # "shell" or "script"
    command: str = ""  # shell command, or the script's code
    arguments: Any = None
    environment: dict[str, Any] = field(default_factory=dict)
    returns: str = "stdout"
    wait: bool = True
    stdin: str | None = None
    instance: str = ""
    secret_scope: SecretScope | None = None


@dataclass(frozen=True, kw_only=True)
class RunProcessTask(Task):
    kind: str  # shell | script
    body: Mapping[str, Any]  # run.shell / run.script as written; ${ } evaluated per run
    returns: str = "stdout"
    wait: bool = True

    async def execute(self, run: Execution, value: Any, args: dict[str, Any]) -> Outcome:
        where = f"{self.pointer}/run/{self.kind}"
        body = await run.eval_value(dict(self.body), value, args, where)
        request = ProcessRequest(
            kind=self.kind,
            command=body.get("command", body.get("code", "")),
            arguments=body.get("arguments"),
            environment=body.get("environment") or {},
            returns=self.returns,
            wait=self.wait,
            stdin=body.get("stdin"),
            instance=self.pointer,
        )
        return await run.io.activity(
            ActivityCall(ACTIVITY, request, self.timeout, self.pointer)
        ), None


def read(reader: DefinitionReader, node: TaskNode, kind: str) -> RunProcessTask | None:
    spec = node.raw["run"]
    body = spec[kind]
    inner = node.at("run", kind)
    if kind == "shell" and not (isinstance(body, dict) and isinstance(body.get("command"), str)):
        reader.problem(inner, "run.shell needs 'command'")
        return None
    if kind == "script":
        if not isinstance(body, dict) or body.get("language") not in SCRIPT_LANGUAGES:
            reader.problem(
                inner, "run.script needs 'language: python' (other languages are not supported yet)"
            )
            return None
        if "code" not in body:
            reader.problem(
                inner, "run.script needs 'code' (external 'source' is not supported yet)"
            )
            return None
    return RunProcessTask(
        **node.common,
        kind=kind,
        body=body,
        returns=str(spec.get("return", "stdout")),
        wait=bool(spec.get("await", True)),
    )


def activities(settings: Settings) -> ActivitySet:
    """The worker's ``run_process``."""
    from workflow_runner.engine.tasks.run_process_activity import ProcessActivities

    return ActivitySet([ProcessActivities(dict(settings.secrets)).run_process])
