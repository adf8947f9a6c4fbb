"""``run: shell`` and ``run: script``: the task — its model, reader and typed request.

The process runs in the ``run_process`` activity (``run_process_activity.py``:
a minimal environment, shell-quoted arguments, the process group killed on
cancellation).

``script.source`` names a file next to the definition. It is read when the
definition is read (on the client) and its text travels in the run request
as the script's ``code``: the worker never reads the client's files, and the
code a run executed is in its history. A URL is refused: fetching code at
run time would make a run depend on what a server answers that day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.secrets import SecretScope
from workflow_runner.engine.tasks.base import ActivityCall, ActivitySet, Execution, Outcome, Task

if TYPE_CHECKING:  # the worker's settings; reading a definition needs none
    from workflow_runner.config import Settings

ACTIVITY = "run_process"
# The spec says ``js``; its own examples write ``javascript``.
SCRIPT_LANGUAGES = {"python": "python", "js": "js", "javascript": "js"}


@dataclass
class ProcessRequest:
    """The activity's argument: everything evaluated, secrets still as tokens."""

    kind: str  # "shell" or "script"
    language: str = ""  # script: python | js
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
            language=SCRIPT_LANGUAGES.get(str(body.get("language")), ""),
            command=body.get("command", body.get("code", "")),
            arguments=body.get("arguments"),
            environment=body.get("environment") or {},
            returns=self.returns,
            wait=self.wait,
            stdin=body.get("stdin"),
            instance=self.pointer,
        )
        result = await run.io.activity(ActivityCall(ACTIVITY, request, self.timeout, self.pointer))
        # Spec: a process not awaited "cannot output the process's result. In this
        # case, it should simply output its transformed input".
        return (result if self.wait else value), None


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
                inner,
                "run.script needs 'language: python' or 'language: js' "
                "(other languages are not supported yet)",
            )
            return None
        if "code" not in body:
            if "source" not in body:
                reader.problem(inner, "run.script needs 'code' or 'source' (a file)")
                return None
            code = _read_source(reader, node.at("run", kind, "source"), body["source"])
            if code is None:
                return None
            # Travels in the run request: the worker re-reads this data, not the file.
            body["code"] = code
    return RunProcessTask(
        **node.common,
        kind=kind,
        body=body,
        returns=str(spec.get("return", "stdout")),
        wait=bool(spec.get("await", True)),
    )


def _read_source(reader: DefinitionReader, pointer: str, source: Any) -> str | None:
    """The text of ``script.source`` (a path relative to the definition, or ``file://``)."""
    endpoint = source.get("endpoint") if isinstance(source, dict) else None
    if isinstance(endpoint, dict):
        endpoint = endpoint.get("uri")
    if not isinstance(endpoint, str) or not endpoint:
        reader.problem(pointer, "script.source needs 'endpoint': the script's file path")
        return None
    where = f"{pointer}/endpoint"
    if "://" in endpoint and not endpoint.startswith("file://"):
        reader.problem(
            where,
            f"script.source {endpoint!r}: only local files are supported (no code is fetched "
            "from a URL); save the script next to the definition and name its path",
        )
        return None
    path = Path(endpoint.removeprefix("file://"))
    if not path.is_absolute():
        if reader.file.startswith("<"):
            reader.problem(
                where,
                f"script.source {endpoint!r}: a relative path needs the "
                "definition's file to resolve against",
            )
            return None
        path = Path(reader.file).parent / path
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        reader.problem(where, f"script.source {endpoint!r} cannot be read: {e}")
        return None


def activities(settings: Settings) -> ActivitySet:
    """The worker's ``run_process``."""
    from workflow_runner.engine.tasks.run_process_activity import ProcessActivities

    return ActivitySet([ProcessActivities(dict(settings.secrets)).run_process])
