"""The ``run_container`` activity: the I/O half of ``run: container`` (task side:
``run_container.py``), through the engine's CLI (``podman`` or ``docker``).

Secrets never reach the engine's command line (``ps`` shows it to every user):
an environment variable is passed as ``-e NAME`` and its value travels in the
engine process's own environment, which is the allow-listed one of
``run_process`` plus the variables that locate the engine. The container is
always named, so a cancelled or timed-out task removes it (``rm -f``) rather
than leaving it running after its client was killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from typing import Any

from temporalio import activity

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.activities.errors import ActivityProblem, activity_failure, dsl_failures
from workflow_runner.engine.secrets import redact, reveal
from workflow_runner.engine.tasks.run_container import ACTIVITY, ContainerRequest
from workflow_runner.engine.tasks.run_process_activity import (
    child_environment,
    shape_result,
    tail,
)

ENGINES = ("podman", "docker")
# What the engine CLI needs to find its daemon/socket; paths and addresses, not secrets.
ENGINE_VARIABLES = frozenset(
    {"DOCKER_HOST", "DOCKER_CONTEXT", "DOCKER_CONFIG", "CONTAINER_HOST", "XDG_RUNTIME_DIR"}
)
PULL = {"ifNotPresent": "missing", "always": "always", "never": "never"}
PROBE_SECONDS = 15.0


def engine_missing(message: str, instance: str) -> ActivityProblem:
    """No usable engine: the message says which one was looked for and what failed."""
    error = WorkflowError.of(
        "configuration", message, title="No container engine", instance=instance
    )
    return ActivityProblem(error, retryable=False)


class ContainerActivities:
    def __init__(self, secrets: dict[str, str], engine: str | None) -> None:
        self.secrets = secrets
        self.engine = engine
        self._checked: str | None = None  # the engine's path once it answered

    @activity.defn(name=ACTIVITY)
    async def run_container(self, request: ContainerRequest) -> Any:
        with dsl_failures(request.instance):
            return await self._run(await self._engine(request.instance), request)

    async def _engine(self, instance: str) -> str:
        """The engine's path, after it answered ``info`` once (a CLI without its daemon
        would otherwise fail every run with the engine's own, less helpful, message)."""
        if self._checked is not None:
            return self._checked
        wanted = [self.engine] if self.engine else list(ENGINES)
        found = [(name, shutil.which(name)) for name in wanted]
        present = [(name, path) for name, path in found if path]
        if not present:
            raise engine_missing(
                "run: container needs a container engine, and "
                + (
                    f"CONTAINER_ENGINE={self.engine!r} is not an executable on the worker's PATH"
                    if self.engine
                    else "neither podman nor docker is on the worker's PATH"
                )
                + "; install one or set CONTAINER_ENGINE",
                instance,
            )
        name, path = present[0]
        assert path is not None
        proc = await asyncio.create_subprocess_exec(
            path,
            "info",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=child_environment(_engine_environment()),
        )
        try:
            _, err = await asyncio.wait_for(proc.communicate(), PROBE_SECONDS)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise engine_missing(
                f"run: container needs a container engine: {name} ({path}) did not answer "
                f"'{name} info' within {PROBE_SECONDS:.0f} s",
                instance,
            ) from None
        if proc.returncode != 0:
            reason = tail(err.decode(errors="replace"), 300) or f"exit code {proc.returncode}"
            raise engine_missing(
                f"run: container needs a container engine: {name} is on the PATH ({path}) "
                f"but not usable: {reason}",
                instance,
            )
        self._checked = path
        return path

    async def _run(self, engine: str, request: ContainerRequest) -> Any:
        scope = request.secret_scope
        declared = reveal(request.environment, self.secrets, scope)
        environment = {str(k): str(v) for k, v in declared.items()}
        argv = engine_argv(engine, request, list(environment))
        argv = [str(a) for a in reveal(argv, self.secrets, scope)]
        stdin = reveal(request.stdin, self.secrets, scope)
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=child_environment({**_engine_environment(), **environment}),
            start_new_session=True,
        )
        if not request.wait:
            return None
        try:
            out, err = await proc.communicate(stdin.encode() if stdin is not None else None)
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            await _remove(engine, request.name)
            raise
        if request.cleanup == "eventually":
            _remove_later(engine, request.name, request.cleanup_after_seconds)
        stdout = redact(out.decode(errors="replace"), self.secrets)
        stderr = redact(err.decode(errors="replace"), self.secrets)
        code = proc.returncode if proc.returncode is not None else -1
        if code != 0 and request.returns not in ("code", "all"):
            error = WorkflowError.of(
                "runtime",
                f"container {request.image} exited with code {code}: "
                f"{tail(stderr) or tail(stdout)}",
                title="Container process failed",
                instance=request.instance,
            )
            raise activity_failure(error, retryable=False)
        return shape_result(request.returns, code, stdout, stderr)


def engine_argv(engine: str, request: ContainerRequest, env_names: list[str]) -> list[Any]:
    """``<engine> run ...``: values of the environment are not in it (see the module doc)."""
    argv: list[Any] = [engine, "run", "--name", request.name, "--pull", PULL[request.pull_policy]]
    if request.cleanup == "always":
        argv.append("--rm")
    if request.stdin is not None:
        argv.append("-i")
    for name in env_names:
        argv += ["-e", name]
    for host, container in request.ports.items():
        argv += ["-p", f"{host}:{container}"]
    for host, container in request.volumes.items():
        argv += ["-v", f"{host}:{container}"]
    argv.append(request.image)
    if request.command:
        # Arguments become $1, $2... of the command, as in the spec's example.
        argv += ["/bin/sh", "-c", request.command, "sh", *map(_word, request.arguments)]
    else:
        argv += [_word(a) for a in request.arguments]
    return argv


def _word(value: Any) -> Any:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def _engine_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in ENGINE_VARIABLES}


async def _remove(engine: str, name: str) -> None:
    with contextlib.suppress(OSError):
        proc = await asyncio.create_subprocess_exec(
            engine,
            "rm",
            "-f",
            name,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=child_environment(_engine_environment()),
        )
        await asyncio.wait_for(proc.wait(), PROBE_SECONDS)


_LATER: set[asyncio.Task[None]] = set()


def _remove_later(engine: str, name: str, seconds: float) -> None:
    """``cleanup: eventually``: removed after the delay by this worker process (not durable:
    a worker restarted meanwhile leaves the container for the engine's own pruning)."""

    async def later() -> None:
        await asyncio.sleep(seconds)
        await _remove(engine, name)

    task = asyncio.get_running_loop().create_task(later())
    _LATER.add(task)
    task.add_done_callback(_LATER.discard)
