"""The ``run_process`` activity: the I/O half of ``run: shell`` / ``run: script``
(task side: ``run_process.py``).

Arguments are appended to the command as shell-quoted words, so data from
the workflow cannot inject shell syntax. A process outlives nothing: when
the activity is cancelled or times out, the whole process group is killed.

A child process gets a minimal environment, not the worker's: the worker
holds the blob store's credentials (``R2_*``, ``S3_*``, ``AWS_*``), the codec
server's token and every ``WORKFLOW_SECRET_*`` value, and a shell command is
often built from workflow data or runs third-party tools. So the child sees
only ``INHERITED_VARIABLES`` (what programs need to find themselves, their
locale, time zone and temporary directory) plus what the task declares in
``environment`` — where a secret is given on purpose, as
``${ $secrets.NAME }``, and only when the definition declares it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import sys
from typing import Any

from temporalio import activity

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.activities.errors import activity_failure, dsl_failures
from workflow_runner.engine.activities.heartbeat import heartbeating
from workflow_runner.engine.activity_info import fill_request
from workflow_runner.engine.secrets import redact, reveal
from workflow_runner.engine.tasks.run_process import ACTIVITY, ProcessRequest

# Passed on from the worker's environment; everything else is withheld. Not
# the proxy variables: their URLs often carry credentials (declare them on the
# task when a command needs them).
INHERITED_VARIABLES = frozenset(
    {
        *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM"),
        *("LANG", "LANGUAGE", "TZ", "TMPDIR"),
        *("SSL_CERT_FILE", "SSL_CERT_DIR"),  # where the trusted CAs are: paths, not secrets
    }
)


def child_environment(declared: dict[str, str]) -> dict[str, str]:
    """The allow-listed part of the worker's environment (``LC_*`` too), then ``declared``."""
    inherited = {
        k: v for k, v in os.environ.items() if k in INHERITED_VARIABLES or k.startswith("LC_")
    }
    return {**inherited, **declared}


class ProcessActivities:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets

    @activity.defn(name=ACTIVITY)
    async def run_process(self, request: ProcessRequest) -> Any:
        # Zigflow's $data.activity: engine/activity_info.py
        request = fill_request(request, ("command", "arguments", "environment", "stdin"))
        with dsl_failures(request.instance):
            return await self._run(request)

    async def _run(self, request: ProcessRequest) -> Any:
        scope = request.secret_scope
        declared = reveal(request.environment, self.secrets, scope)
        env = child_environment({str(k): str(v) for k, v in declared.items()})
        arguments = reveal(request.arguments, self.secrets, scope)
        if request.kind == "shell":
            command = reveal(request.command, self.secrets, scope)
            # Arguments are appended as shell-quoted words: data cannot become syntax.
            argv = ["/bin/sh", "-c", " ".join([command, *map(shlex.quote, _argv(arguments))])]
        else:
            positional = _argv(arguments) if isinstance(arguments, list) else []
            env[_ARGS_VARIABLE] = json.dumps(arguments if isinstance(arguments, dict) else {})
            if request.language == "js":
                node = shutil.which("node", path=env.get("PATH"))
                if node is None:
                    error = WorkflowError.of(
                        "configuration",
                        "run.script with language js needs 'node' on the worker's PATH "
                        f"({env.get('PATH', '')!r}); install Node.js or use python",
                        title="Script runtime not found",
                        instance=request.instance,
                    )
                    raise activity_failure(error, retryable=False)
                argv = [node, "-e", _JS_PRELUDE + request.command, "--", *positional]
            else:
                argv = [sys.executable, "-c", _PYTHON_PRELUDE + request.command, *positional]
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
            async with heartbeating():
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
                f"{request.kind} exited with code {code}: {tail(stderr) or tail(stdout)}",
                title=f"{request.kind.capitalize()} process failed",
                instance=request.instance,
            )
            raise activity_failure(error, retryable=False)
        return shape_result(request.returns, code, stdout, stderr)


def tail(text: str, limit: int = 1000) -> str:
    """The end of a process's output: where its error message usually is."""
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
# The same for js: ``process.argv.slice(1)`` are the list arguments.
_JS_PRELUDE = (
    f"Object.assign(globalThis, JSON.parse(process.env.{_ARGS_VARIABLE} || '{{}}'));"
    f"delete process.env.{_ARGS_VARIABLE};\n"
)


def shape_result(returns: str, code: int, stdout: str, stderr: str) -> Any:
    """The spec's ``run.return``: what a process task outputs."""
    if returns == "code":
        return code
    if returns == "stderr":
        return stderr.rstrip("\n")
    if returns == "all":
        return {"code": code, "stdout": stdout.rstrip("\n"), "stderr": stderr.rstrip("\n")}
    if returns == "none":
        return None
    return stdout.rstrip("\n")
