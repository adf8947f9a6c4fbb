"""``run: shell`` and ``run: script`` as activities.

Arguments are appended to the command as shell-quoted words, so data from
the workflow cannot inject shell syntax. A process outlives nothing: when
the activity is cancelled or times out, the whole process group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.activities.errors import activity_failure
from workflow_runner.engine.secrets import redact, reveal


@dataclass
class ProcessRequest:
    kind: str  # "shell" or "script"
    command: str = ""  # shell command, or the script's code
    arguments: Any = None
    environment: dict[str, Any] = field(default_factory=dict)
    returns: str = "stdout"
    wait: bool = True
    stdin: str | None = None
    instance: str = ""


class ProcessActivities:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets

    @activity.defn(name="run_process")
    async def run_process(self, request: ProcessRequest) -> Any:
        env = {
            **os.environ,
            **{k: str(v) for k, v in reveal(request.environment, self.secrets).items()},
        }
        arguments = reveal(request.arguments, self.secrets)
        if request.kind == "shell":
            command = reveal(request.command, self.secrets)
            # Arguments are appended as shell-quoted words: data cannot become syntax.
            argv = ["/bin/sh", "-c", " ".join([command, *map(shlex.quote, _argv(arguments))])]
        else:
            positional = _argv(arguments) if isinstance(arguments, list) else []
            argv = [sys.executable, "-c", _PYTHON_PRELUDE + request.command, *positional]
            env[_ARGS_VARIABLE] = json.dumps(arguments if isinstance(arguments, dict) else {})
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE
            if request.stdin is not None
            else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        if not request.wait:
            return None
        try:
            out, err = await proc.communicate(
                request.stdin.encode() if request.stdin is not None else None
            )
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        stdout = redact(out.decode(errors="replace"), self.secrets)
        stderr = redact(err.decode(errors="replace"), self.secrets)
        code = proc.returncode if proc.returncode is not None else -1
        if code != 0 and request.returns not in ("code", "all"):
            error = WorkflowError.of(
                "runtime",
                f"{request.kind} exited with code {code}: {_tail(stderr) or _tail(stdout)}",
                title=f"{request.kind.capitalize()} process failed",
                instance=request.instance,
            )
            raise activity_failure(error, retryable=False)
        return _shape(request.returns, code, stdout, stderr)


def _tail(text: str, limit: int = 1000) -> str:
    return text.strip()[-limit:]


def _argv(arguments: Any) -> list[str]:
    if arguments is None:
        return []
    if isinstance(arguments, list):
        return [a if isinstance(a, str) else json.dumps(a) for a in arguments]
    if isinstance(arguments, dict):
        out: list[str] = []
        for key, value in arguments.items():
            out.append(str(key))
            if value is not None:
                out.append(value if isinstance(value, str) else json.dumps(value))
        return out
    return [str(arguments)]


_ARGS_VARIABLE = "WORKFLOW_RUNNER_SCRIPT_ARGS"
# Script arguments given as a mapping become variables of the script.
_PYTHON_PRELUDE = (
    "import json as _json, os as _os\n"
    f"globals().update(_json.loads(_os.environ.pop({_ARGS_VARIABLE!r}, '{{}}')))\n"
)


def _shape(returns: str, code: int, stdout: str, stderr: str) -> Any:
    if returns == "code":
        return code
    if returns == "stderr":
        return stderr.rstrip("\n")
    if returns == "all":
        return {"code": code, "stdout": stdout.rstrip("\n"), "stderr": stderr.rstrip("\n")}
    if returns == "none":
        return None
    return stdout.rstrip("\n")
