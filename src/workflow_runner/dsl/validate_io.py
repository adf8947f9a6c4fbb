"""Checks of the tasks that do I/O (call, run, listen, emit), split from validate.py.

A mixin of ``Validator``: it uses the validator's ``problem`` and
``expressions_in``, declared here so the type checker knows them.
"""

from __future__ import annotations

from typing import Any

from workflow_runner.dsl.loader import pointer_join
from workflow_runner.dsl.tasks import (
    HTTP_WITH,
    NOT_YET_CALLS,
    RUN_KINDS,
    SCRIPT_LANGUAGES,
    SUPPORTED_CALLS,
)


class IoTaskChecks:
    def problem(self, pointer: str, message: str) -> None:
        raise NotImplementedError

    def expressions_in(self, pointer: str, value: Any, scope: tuple[str, ...]) -> None:
        raise NotImplementedError

    def task_call(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        call = task["call"]
        base = pointer_join(pointer, "call")
        if call in NOT_YET_CALLS:
            self.problem(base, f"'call: {call}' is not supported yet; only 'call: http' is")
            return
        if call not in SUPPORTED_CALLS:
            self.problem(
                base,
                f"unknown call {call!r}: custom functions are not supported yet; use 'call: http'",
            )
            return
        spec = task.get("with")
        with_pointer = pointer_join(pointer, "with")
        if not isinstance(spec, dict):
            self.problem(pointer, "call: http needs 'with: {method, endpoint}'")
            return
        for key in spec:
            if key not in HTTP_WITH:
                self.problem(pointer_join(with_pointer, key), f"unknown http property {key!r}")
        if "method" not in spec or "endpoint" not in spec:
            self.problem(with_pointer, "call: http needs 'method' and 'endpoint'")
        endpoint = spec.get("endpoint")
        if isinstance(endpoint, dict):
            if "uri" not in endpoint:
                self.problem(pointer_join(with_pointer, "endpoint"), "endpoint needs 'uri'")
            if "authentication" in endpoint:
                self.problem(
                    pointer_join(pointer_join(with_pointer, "endpoint"), "authentication"),
                    "endpoint authentication is not supported yet; pass headers with $secrets",
                )
        output = spec.get("output", "content")
        if output not in ("content", "response", "raw"):
            self.problem(
                pointer_join(with_pointer, "output"), "output must be content, response or raw"
            )
        self.expressions_in(with_pointer, spec, scope)

    def task_run(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        spec = task["run"]
        base = pointer_join(pointer, "run")
        kinds = [k for k in RUN_KINDS if isinstance(spec, dict) and k in spec]
        if len(kinds) != 1:
            self.problem(base, "run needs exactly one of shell, script, workflow")
            return
        kind = kinds[0]
        for key in spec:
            if key not in (kind, "await", "return"):
                self.problem(pointer_join(base, key), f"unknown run property {key!r}")
        body = spec[kind]
        inner = pointer_join(base, kind)
        if kind == "container":
            self.problem(
                inner, "'run: container' is not supported yet (no container runtime in local mode)"
            )
        elif kind == "shell" and not (
            isinstance(body, dict) and isinstance(body.get("command"), str)
        ):
            self.problem(inner, "run.shell needs 'command'")
        elif kind == "script":
            if not isinstance(body, dict) or body.get("language") not in SCRIPT_LANGUAGES:
                self.problem(
                    inner,
                    "run.script needs 'language: python' (other languages are not supported yet)",
                )
            elif "code" not in body:
                self.problem(
                    inner, "run.script needs 'code' (external 'source' is not supported yet)"
                )
        elif kind == "workflow" and not (isinstance(body, dict) and "name" in body):
            self.problem(inner, "run.workflow needs 'name' (and namespace, version)")
        if spec.get("return", "stdout") not in ("stdout", "stderr", "code", "all", "none"):
            self.problem(
                pointer_join(base, "return"), "return must be stdout, stderr, code, all or none"
            )
        self.expressions_in(base, spec, scope)

    def task_listen(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        spec = task["listen"]
        base = pointer_join(pointer, "listen")
        to = spec.get("to") if isinstance(spec, dict) else None
        if not isinstance(to, dict) or not ({"one", "any", "all"} & set(to)):
            self.problem(base, "listen needs 'to' with one, any or all")
            return
        for key in spec:
            if key != "to":
                self.problem(pointer_join(base, key), f"listen.{key} is not supported yet")
        for key in to:
            if key == "until":
                self.problem(
                    pointer_join(pointer_join(base, "to"), key),
                    "listen.to.until is not supported yet",
                )
            elif key not in ("one", "any", "all"):
                self.problem(
                    pointer_join(pointer_join(base, "to"), key),
                    f"unknown listen.to property {key!r}",
                )

    def task_emit(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        spec = task["emit"]
        event = spec.get("event") if isinstance(spec, dict) else None
        if not isinstance(event, dict) or not isinstance(event.get("with"), dict):
            self.problem(
                pointer_join(pointer, "emit"), "emit needs 'event: {with: {type, source, data}}'"
            )
            return
        self.expressions_in(pointer_join(pointer, "emit"), spec, scope)
