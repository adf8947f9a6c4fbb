"""A task's expressions as the interpreter evaluates them: the ``$``-variables each one
gets, and the way to its value (engine/workflow_expressions.py on the workflow's side).

A mixin of :class:`~workflow_runner.engine.interpreter.Interpreter`, kept apart because it
is the per-expression hot path and has one job: an expression names a few variables, and
only those are looked up (``_selected``), then it is answered synchronously when it can be
(``_one``), awaited only when not (``_later``). ``.`` is the dialect's (``eval_field``,
``eval_value``) or the value given (``_eval_own``: ``input.from``, ``output.as``,
``export.as``).
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from workflow_runner.dsl.expressions import (
    NOT_ANSWERED,
    ZIGFLOW_FUNCTIONS_ARG,
    evaluate_field,
    evaluate_value,
    field_body,
    select_args,
    template_body,
    uses_uuid,
    wanted_names,
)
from workflow_runner.dsl.model import WorkflowModel
from workflow_runner.engine.dialects import DataModel
from workflow_runner.engine.tasks.base import WorkflowIO

RUNTIME = {"name": "workflow-runner", "version": "0.1.0"}
_PER_TASK = frozenset({"input", "output", "task"})  # a task's arguments _arguments sets itself
# The builtin as imported (outside the sandbox, whose thread-local isinstance costs ~1 µs a
# call during activations; see dsl/expressions.py).
_isinstance = isinstance


class TaskExpressions:
    """The interpreter's expression methods; the attributes are the interpreter's."""

    workflow: WorkflowModel
    io: WorkflowIO
    workflow_info: dict[str, Any]
    secrets: dict[str, str]
    env: dict[str, str]
    context: Any
    data: dict[str, Any]
    uuids: int
    policy: DataModel

    def _arguments(self, args: dict[str, Any]) -> dict[str, Any]:
        # One dict built in place (one per expression): the standard variables, then the
        # task's own (loop and error variables, $authorization) over them, keys in that order.
        merged: dict[str, Any] = {}
        if self.workflow.dialect != "spec":
            merged[ZIGFLOW_FUNCTIONS_ARG] = {"uuid": None}
        merged["context"] = self.context
        merged["input"] = args.get("input")
        merged["output"] = args.get("output")
        merged["workflow"] = self.workflow_info
        merged["task"] = args.get("task")
        merged["runtime"] = RUNTIME
        merged["secrets"] = self.secrets
        merged["data"] = self.data
        merged["env"] = self.env
        merged["authorization"] = None
        for key, value in args.items():
            if key not in _PER_TASK:
                merged[key] = value
        return merged

    def _selected(self, body: str, args: dict[str, Any]) -> dict[str, Any]:
        """``select_args(body, self._arguments(args))``, looking up only the few names
        ``body`` mentions instead of building every argument (one expression at a time)."""
        selected: dict[str, Any] = {}
        for name in wanted_names(body):
            if name in args and name not in _PER_TASK:
                selected[name] = args[name]
            elif name in _PER_TASK:
                selected[name] = args.get(name)
            elif name == "context":
                selected[name] = self.context
            elif name == "workflow":
                selected[name] = self.workflow_info
            elif name == "data":
                selected[name] = self.data
            elif name == "runtime":
                selected[name] = RUNTIME
            elif name == "secrets":
                selected[name] = self.secrets
            elif name == "env":
                selected[name] = self.env
            elif name == "authorization":
                selected[name] = None
            elif name == ZIGFLOW_FUNCTIONS_ARG and self.workflow.dialect != "spec":
                selected[name] = {"uuid": None}
        return selected

    async def eval_field(self, expr: Any, value: Any, args: dict[str, Any], where: str) -> Any:
        """A task's own expression: ``.`` is what the dialect says (engine/dialects.py)."""
        policy = self.policy  # (the spec's dot is the value: no call)
        dot = value if policy.passes_through else policy.dot(value, self.data)
        if _isinstance(expr, str):
            body = field_body(expr)
            result = self._one(body, dot, args, where)
            if result is NOT_ANSWERED:
                result = await self._later(body, dot, args, where)
            return result
        return await evaluate_field(expr, dot, self._arguments(args), self.evaluate, where)

    async def eval_value(self, expr: Any, value: Any, args: dict[str, Any], where: str) -> Any:
        policy = self.policy  # (the spec's dot is the value: no call)
        dot = value if policy.passes_through else policy.dot(value, self.data)
        if _isinstance(expr, str):
            body = template_body(expr)
            if body is None:
                return expr
            result = self._one(body, dot, args, where)
            if result is NOT_ANSWERED:
                result = await self._later(body, dot, args, where)
            return result
        return await evaluate_value(expr, dot, self._arguments(args), self.evaluate, where)

    def answer_now(self, body: str, value: Any, args: dict[str, Any], where: str) -> Any:
        """One jq ``body`` over the dialect's ``.``, answered synchronously, or ``NOT_ANSWERED``
        (then :meth:`answer_later`, same arguments). For a task that reads its one expression
        once (``set``): no coroutine and no template lookup per run, ~4% of a loop's
        iteration (bench/loop_iteration.py)."""
        policy = self.policy
        dot = value if policy.passes_through else policy.dot(value, self.data)
        return self._one(body, dot, args, where)

    async def answer_later(self, body: str, value: Any, args: dict[str, Any], where: str) -> Any:
        policy = self.policy
        dot = value if policy.passes_through else policy.dot(value, self.data)
        return await self._later(body, dot, args, where)

    async def _eval_own(self, expr: Any, value: Any, args: dict[str, Any], where: str) -> Any:
        """``input.from``, ``output.as``, ``export.as``: ``.`` is ``value`` in every dialect."""
        if _isinstance(expr, str):
            body = field_body(expr)
            result = self._one(body, value, args, where)
            if result is NOT_ANSWERED:
                result = await self._later(body, value, args, where)
            return result
        return await evaluate_field(expr, value, self._arguments(args), self.evaluate, where)

    # One string (the common case: a set, an if, an output.as) is evaluated here, without
    # evaluate_field/evaluate_value's coroutines, and nearly always without one of its own:
    # ``_one`` answers synchronously; only what it does not answer is awaited.

    def _one(self, body: str, data: Any, args: dict[str, Any], where: str) -> Any:
        """``body``'s value, or ``NOT_ANSWERED`` (then :meth:`_later`, same arguments): a
        uuid to make, or an input too big for the workflow thread. Only the names ``body``
        mentions are looked up (:meth:`_selected`)."""
        selected = self._selected(body, args)
        if ZIGFLOW_FUNCTIONS_ARG in selected and uses_uuid(body):
            return NOT_ANSWERED
        return self.io.evaluate_now(body, data, selected, where)

    async def _later(self, body: str, data: Any, args: dict[str, Any], where: str) -> Any:
        selected = self._selected(body, args)
        if ZIGFLOW_FUNCTIONS_ARG in selected and uses_uuid(body):
            return await self.evaluate(body, data, selected, where)
        return await self.io.evaluate_later(body, data, selected, where)  # (counted by _one)

    async def evaluate(self, body: str, data: Any, args: Mapping[str, Any], where: str) -> Any:
        """One jq body; in the Zigflow dialect a body calling ``uuid`` gets a fresh one.

        The uuid derives from the run id and a counter, so a replay of the run
        makes the same ones in the same order (workflow code must be deterministic).
        """
        if ZIGFLOW_FUNCTIONS_ARG in args and uses_uuid(body):
            self.uuids += 1
            seed = f"{self.workflow_info.get('runId')}/{self.uuids}".encode()
            made = uuid.UUID(bytes=hashlib.sha256(seed).digest()[:16], version=4)
            args = {**args, ZIGFLOW_FUNCTIONS_ARG: {"uuid": str(made)}}
        args = select_args(body, args)
        value = self.io.evaluate_now(body, data, args, where)
        if value is NOT_ANSWERED:
            value = await self.io.evaluate_later(body, data, args, where)
        return value
