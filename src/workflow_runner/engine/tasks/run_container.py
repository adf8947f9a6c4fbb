"""``run: container``: the task — its model, reader and typed request.

The container runs in the ``run_container`` activity (``run_container_activity.py``)
through the engine's own CLI (podman or docker, ``CONTAINER_ENGINE``). A
definition with a container task is valid anywhere; only a worker without a
reachable engine refuses to run it, with one error naming what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.durations import parse_duration
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.secrets import SecretScope
from workflow_runner.engine.tasks.base import ActivityCall, ActivitySet, Execution, Outcome, Task

if TYPE_CHECKING:  # the worker's settings; reading a definition needs none
    from workflow_runner.config import Settings

ACTIVITY = "run_container"
PROPERTIES = frozenset(
    {
        *("image", "name", "command", "ports", "volumes", "environment"),
        *("stdin", "arguments", "lifetime", "pullPolicy"),
    }
)
PULL_POLICIES = ("ifNotPresent", "always", "never")
CLEANUPS = ("always", "never", "eventually")
# What engines accept as a container name; anything else in a generated one becomes '-'.
NAME_UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]+")


@dataclass
class ContainerRequest:
    """The activity's argument: everything evaluated, secrets still as tokens."""

    image: str
    name: str
    command: str | None = None
    arguments: list[Any] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    ports: dict[str, Any] = field(default_factory=dict)
    volumes: dict[str, Any] = field(default_factory=dict)
    stdin: str | None = None
    pull_policy: str = "ifNotPresent"
    cleanup: str = "always"
    cleanup_after_seconds: float = 0.0
    returns: str = "stdout"
    wait: bool = True
    instance: str = ""
    secret_scope: SecretScope | None = None


@dataclass(frozen=True, kw_only=True)
class RunContainerTask(Task):
    body: Mapping[str, Any]  # run.container as written; ${ } evaluated per run
    returns: str = "stdout"
    wait: bool = True

    async def execute(self, run: Execution, value: Any, args: dict[str, Any]) -> Outcome:
        body = await run.eval_value(dict(self.body), value, args, f"{self.pointer}/run/container")
        lifetime = body.get("lifetime") or {}
        after = lifetime.get("after")
        request = ContainerRequest(
            image=str(body["image"]),
            name=str(body.get("name") or await self._default_name(run, value, args)),
            command=body.get("command"),
            arguments=list(body.get("arguments") or []),
            environment=body.get("environment") or {},
            ports=body.get("ports") or {},
            volumes=body.get("volumes") or {},
            stdin=body.get("stdin") if body.get("stdin") is None else str(body["stdin"]),
            pull_policy=str(body.get("pullPolicy", "ifNotPresent")),
            cleanup=str(lifetime.get("cleanup", "always")),
            cleanup_after_seconds=parse_duration(after).total_seconds() if after else 0.0,
            returns=self.returns,
            wait=self.wait,
            instance=self.pointer,
        )
        result = await run.io.activity(ActivityCall(ACTIVITY, request, self.timeout, self.pointer))
        return (result if self.wait else value), None

    async def _default_name(self, run: Execution, value: Any, args: dict[str, Any]) -> str:
        """The spec's convention, ``{workflow.name}-{uuid}.{workflow.namespace}-{task.name}``,
        with the run id as the uuid (unique per run, the same on replay)."""
        info = await run.eval_field(
            "{run: $workflow.runId, doc: ($workflow.definition.document // $workflow.definition)}",
            value,
            args,
            f"{self.pointer}/run/container/name",
        )
        doc = info.get("doc") or {}
        name = f"{doc.get('name')}-{str(info.get('run'))[:12]}.{doc.get('namespace')}-{self.name}"
        return NAME_UNSAFE.sub("-", name)[:128]


def read(reader: DefinitionReader, node: TaskNode, kind: str) -> RunContainerTask | None:
    spec = node.raw["run"]
    body = spec[kind]
    inner = node.at("run", kind)
    if not isinstance(body, dict) or not isinstance(body.get("image"), str):
        reader.problem(inner, "run.container needs 'image'")
        return None
    for key in body:
        if key not in PROPERTIES:
            reader.problem(f"{inner}/{key}", f"unknown container property {key!r}")
    policy = body.get("pullPolicy", "ifNotPresent")
    if policy not in PULL_POLICIES:
        reader.problem(
            f"{inner}/pullPolicy", f"pullPolicy must be one of {', '.join(PULL_POLICIES)}"
        )
    lifetime = body.get("lifetime")
    if lifetime is not None:
        if not isinstance(lifetime, dict) or lifetime.get("cleanup") not in CLEANUPS:
            reader.problem(
                f"{inner}/lifetime", f"lifetime.cleanup must be one of {', '.join(CLEANUPS)}"
            )
        elif lifetime["cleanup"] == "eventually":
            if "after" not in lifetime:
                reader.problem(
                    f"{inner}/lifetime", "cleanup: eventually needs 'after' (a duration)"
                )
            else:
                reader.duration(f"{inner}/lifetime/after", lifetime["after"])
    for key in ("ports", "volumes", "environment"):
        if key in body and not isinstance(body[key], dict):
            reader.problem(f"{inner}/{key}", f"container {key} must be a mapping")
    if "arguments" in body and not isinstance(body["arguments"], list):
        reader.problem(f"{inner}/arguments", "container arguments must be a list")
    return RunContainerTask(
        **node.common,
        body=body,
        returns=str(spec.get("return", "stdout")),
        wait=bool(spec.get("await", True)),
    )


def activities(settings: Settings) -> ActivitySet:
    """The worker's ``run_container``."""
    from workflow_runner.engine.tasks.run_container_activity import ContainerActivities

    return ActivitySet(
        [ContainerActivities(dict(settings.secrets), settings.container_engine).run_container]
    )
