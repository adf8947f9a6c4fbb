"""The DSL interpreter. Runs inside the Temporal workflow, so it must be deterministic.

Data flow per task, as in the spec: raw input → ``input.from`` → ``if`` →
the task → ``output.as`` → ``export.as`` (which replaces ``$context``).
Flow directives (``then``) are returned upward as values: ``None`` means
"next task", ``"exit"`` leaves the enclosing list, ``"end"`` ends the run,
a task name jumps within the current list.

Anything with I/O is delegated to ``self.io`` (activities, child workflows,
signals), so this module can be read as pure control flow.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import quote

from workflow_runner.dsl.durations import parse_duration
from workflow_runner.dsl.errors import WorkflowError, normalize_error_type
from workflow_runner.dsl.expressions import evaluate_field, evaluate_value, is_expression, truthy
from workflow_runner.dsl.loader import pointer_join
from workflow_runner.dsl.tasks import task_entries, task_type

Flow = str | None
# MAX_THEN_JUMPS' default. Only jumps back to an earlier (or the same) task can
# make a cycle, so only those are counted: a long ``for`` is never cut short.
MAX_THEN_JUMPS = 10_000


class WorkflowIO(Protocol):
    """What the interpreter needs from Temporal; implemented by ``engine.workflow``."""

    def now(self) -> float: ...

    async def checkpoint(self, pointer: str) -> None:
        """Before every task run: where the workflow may yield to Temporal between batches."""

    async def evaluate(self, body: str, data: Any, args: Mapping[str, Any], where: str) -> Any: ...

    async def sleep(self, delay: timedelta) -> None: ...

    async def call_http(
        self, request: dict[str, Any], limit: timedelta | None, pointer: str
    ) -> Any: ...

    async def run_process(
        self, request: dict[str, Any], limit: timedelta | None, pointer: str
    ) -> Any: ...

    async def run_workflow(self, spec: dict[str, Any], input: Any, pointer: str) -> Any: ...

    async def listen(self, spec: dict[str, Any], limit: timedelta | None, pointer: str) -> Any: ...

    def emit(self, event: dict[str, Any]) -> dict[str, Any]: ...

    def progress_note(self, pointer: str, status: str) -> None: ...

    async def first_completed(self, coros: Sequence[Awaitable[Any]]) -> Any: ...


@dataclass
class Interpreter:
    definition: dict[str, Any]
    io: WorkflowIO
    workflow_info: dict[str, Any]
    secrets: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    context: Any = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    max_then_jumps: int = MAX_THEN_JUMPS
    runs: int = 0
    jumps_back: int = 0

    # -- entry point ----------------------------------------------------------

    async def run(self, raw_input: Any) -> Any:
        self.workflow_info = {**self.workflow_info, "input": raw_input}
        spec = self.definition
        value = raw_input
        if isinstance(raw_input, dict):
            self.data = dict(raw_input)
        if "input" in spec and "from" in spec["input"]:
            value = await self._eval_field(spec["input"]["from"], value, {}, "/input/from")
        body = self._run_do("/do", spec["do"], value, {})
        timeout = self._timeout(spec.get("timeout"))
        output, _ = await self._with_timeout(body, timeout, "")
        if "output" in spec and "as" in spec["output"]:
            output = await self._eval_field(
                spec["output"]["as"], output, {"output": output}, "/output/as"
            )
        return output

    # -- task lists -----------------------------------------------------------

    async def _run_do(
        self, pointer: str, tasks: list[Any], value: Any, scope: dict[str, Any]
    ) -> tuple[Any, Flow]:
        entries = task_entries(tasks)
        names = [name for name, _ in entries]
        index = 0
        while index < len(entries):
            name, task = entries[index]
            value, flow = await self._run_task(
                pointer_join(pointer_join(pointer, index), name), name, task, value, scope
            )
            if flow == "end":
                return value, "end"
            if flow == "exit":
                return value, None
            if flow is not None and flow != "continue":
                target = names.index(flow)
                if target <= index:
                    self._count_jump_back(
                        pointer_join(pointer_join(pointer, index), name), name, flow
                    )
                index = target
                continue
            index += 1
        return value, None

    async def _run_task(
        self, pointer: str, name: str, task: dict[str, Any], raw: Any, scope: dict[str, Any]
    ) -> tuple[Any, Flow]:
        self.runs += 1
        await self.io.checkpoint(pointer)
        kind = task_type(task) or "unknown"
        task_info = {"name": name, "reference": pointer, "definition": task, "input": raw}
        args = {**scope, "task": task_info}
        value = raw
        if "input" in task and "from" in task["input"]:
            value = await self._eval_field(
                task["input"]["from"], raw, args, pointer + "/input/from"
            )
        args["input"] = value
        task_info["input"] = value
        if "if" in task and not truthy(
            await self._eval_field(task["if"], value, args, pointer + "/if")
        ):
            self.io.progress_note(pointer, "skipped")
            return raw, None
        self.io.progress_note(pointer, "started")
        runner: Callable[..., Awaitable[tuple[Any, Flow]]] = getattr(self, f"_task_{kind}")
        timeout = self._timeout(task.get("timeout"))
        try:
            output, flow = await self._with_timeout(
                runner(pointer, task, value, args, timeout), timeout, pointer
            )
        except WorkflowError as error:
            if error.instance is None:
                error.instance = pointer
            self.io.progress_note(pointer, "failed")
            raise
        args["output"] = output
        if "output" in task and "as" in task["output"]:
            output = await self._eval_field(
                task["output"]["as"], output, args, pointer + "/output/as"
            )
            args["output"] = output
        if "export" in task and "as" in task["export"]:
            self.context = await self._eval_field(
                task["export"]["as"], output, args, pointer + "/export/as"
            )
        self.io.progress_note(pointer, "completed")
        if flow is None and "then" in task:
            flow = task["then"]
        return output, flow

    # -- deterministic tasks --------------------------------------------------

    async def _task_do(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        return await self._run_do(pointer + "/do", task["do"], value, _scope(args))

    async def _task_set(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        result = await self._eval_value(task["set"], value, args, pointer + "/set")
        if isinstance(result, dict):
            # Zigflow's $data accumulates every set. Never mutated in place: values
            # are shared with task outputs, so every change makes a new dict.
            self.data = {**self.data, **result}
        return result, None

    async def _task_switch(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        for index, item in enumerate(task["switch"]):
            ((name, case),) = item.items()
            when = case.get("when")
            where = f"{pointer}/switch/{index}/{name}/when"
            if when is None or truthy(await self._eval_field(when, value, args, where)):
                flow: str = case["then"]
                return value, flow
        return value, None

    async def _task_for(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        spec = task["for"]
        collection = await self._eval_field(spec["in"], value, args, pointer + "/for/in")
        if collection is None:
            collection = []
        if isinstance(collection, dict):
            collection = [{"key": k, "value": v} for k, v in collection.items()]
        if not isinstance(collection, list):
            raise WorkflowError.of(
                "expression",
                f"for.in must evaluate to an array, got {type(collection).__name__}",
                instance=pointer + "/for/in",
            )
        each, at = str(spec.get("each", "item")), str(spec.get("at", "index"))
        output = value
        for index, item in enumerate(collection):
            loop_vars = {each: item, at: index}
            scope = {**_scope(args), **loop_vars}
            saved = {k: self.data[k] for k in loop_vars if k in self.data}
            self.data = {**self.data, **loop_vars}
            try:
                if "while" in task:
                    keep_going = await self._eval_field(
                        task["while"], output, {**args, **loop_vars}, pointer + "/while"
                    )
                    if not truthy(keep_going):
                        break
                output, flow = await self._run_do(pointer + "/do", task["do"], output, scope)
            finally:
                kept = {k: v for k, v in self.data.items() if k not in loop_vars}
                self.data = {**kept, **saved}
            if flow == "end":
                return output, "end"
        return output, None

    async def _task_fork(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        spec = task["fork"]
        base = pointer + "/fork/branches"
        branches = [
            self._run_task(
                pointer_join(pointer_join(base, i), name), name, branch, value, _scope(args)
            )
            for i, (name, branch) in enumerate(task_entries(spec["branches"]))
        ]
        if spec.get("compete", False):
            output, _ = await self.io.first_completed(branches)
            return output, None
        results = await asyncio.gather(*branches)
        return [output for output, _ in results], None

    async def _task_try(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        catch = task["catch"]
        retry = self._retry_policy(catch.get("retry"))
        started = self.io.now()
        attempt = 0
        while True:
            try:
                return await self._run_do(pointer + "/try", task["try"], value, _scope(args))
            except WorkflowError as error:
                error_var = {str(catch.get("as", "error")): error.to_dict()}
                if not await self._catches(catch, error, value, {**args, **error_var}, pointer):
                    raise
                attempt += 1
                delay = await self._retry_delay(
                    retry, attempt, started, value, {**args, **error_var}, pointer
                )
                if delay is not None:
                    self.io.progress_note(pointer, f"retrying (attempt {attempt + 1})")
                    await self.io.sleep(delay)
                    continue
                if retry is not None and "do" not in catch:
                    raise  # retries exhausted and nothing to recover with
                if "do" in catch:
                    return await self._run_do(
                        pointer + "/catch/do", catch["do"], value, {**_scope(args), **error_var}
                    )
                return value, None

    async def _catches(
        self,
        catch: dict[str, Any],
        error: WorkflowError,
        value: Any,
        args: dict[str, Any],
        pointer: str,
    ) -> bool:
        wanted = (catch.get("errors") or {}).get("with") or {}
        for key, expected in wanted.items():
            actual = getattr(error, key, None)
            if key == "type":
                if normalize_error_type(str(expected)) != normalize_error_type(str(actual)):
                    return False
            elif expected != actual and str(expected) != str(actual):
                return False
        if "when" in catch and not truthy(
            await self._eval_field(catch["when"], value, args, pointer + "/catch/when")
        ):
            return False
        return not (
            "exceptWhen" in catch
            and truthy(
                await self._eval_field(
                    catch["exceptWhen"], value, args, pointer + "/catch/exceptWhen"
                )
            )
        )

    def _retry_policy(self, retry: Any) -> dict[str, Any] | None:
        if isinstance(retry, str):
            policy: dict[str, Any] = self.definition.get("use", {}).get("retries", {})[retry]
            return policy
        return retry if isinstance(retry, dict) else None

    async def _retry_delay(
        self,
        retry: dict[str, Any] | None,
        attempt: int,
        started: float,
        value: Any,
        args: dict[str, Any],
        pointer: str,
    ) -> timedelta | None:
        """The wait before the next attempt, or ``None`` when no retry is left."""
        if retry is None:
            return None
        if "when" in retry and not truthy(
            await self._eval_field(retry["when"], value, args, pointer)
        ):
            return None
        if "exceptWhen" in retry and truthy(
            await self._eval_field(retry["exceptWhen"], value, args, pointer)
        ):
            return None
        limit = retry.get("limit") or {}
        count = (limit.get("attempt") or {}).get("count")
        if count is not None and attempt >= int(count):
            return None
        max_duration = limit.get("duration")
        if (
            max_duration is not None
            and self.io.now() - started >= parse_duration(max_duration).total_seconds()
        ):
            return None
        delay = parse_duration(retry.get("delay", {"seconds": 1}))
        backoff = next(iter(retry.get("backoff") or {"constant": {}}))
        if backoff == "linear":
            delay = delay * attempt
        elif backoff == "exponential":
            delay = delay * (2 ** (attempt - 1))
        return delay

    async def _task_raise(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        error = task["raise"]["error"]
        if isinstance(error, str):
            error = self.definition["use"]["errors"][error]
        evaluated = await self._eval_value(error, value, args, pointer + "/raise/error")
        raised = WorkflowError.from_dict(evaluated)
        raised.instance = evaluated.get("instance", pointer)
        raise raised

    async def _task_wait(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        spec = task["wait"]
        if is_expression(spec):
            spec = await self._eval_value(spec, value, args, pointer + "/wait")
        await self.io.sleep(parse_duration(spec))
        return value, None

    # -- I/O tasks (delegated) ------------------------------------------------

    async def _task_call(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        spec = await self._eval_value(task["with"], value, args, pointer + "/with")
        endpoint = spec["endpoint"]
        uri = endpoint["uri"] if isinstance(endpoint, dict) else endpoint
        request = {
            "method": str(spec["method"]),
            "uri": _expand_uri_template(str(uri), value),
            "headers": spec.get("headers") or {},
            "query": spec.get("query") or {},
            "body": spec.get("body"),
            "output": spec.get("output", "content"),
            "redirect": bool(spec.get("redirect", False)),
            "instance": pointer,
        }
        return await self.io.call_http(request, limit, pointer), None

    async def _task_run(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        spec = task["run"]
        if "workflow" in spec:
            child = await self._eval_value(spec["workflow"], value, args, pointer + "/run/workflow")
            child_input = child.get("input", value)
            return await self.io.run_workflow(child, child_input, pointer), None
        kind = "shell" if "shell" in spec else "script"
        body = await self._eval_value(spec[kind], value, args, f"{pointer}/run/{kind}")
        request = {
            "kind": kind,
            "command": body.get("command", body.get("code", "")),
            "arguments": body.get("arguments"),
            "environment": body.get("environment") or {},
            "returns": spec.get("return", "stdout"),
            "wait": bool(spec.get("await", True)),
            "stdin": body.get("stdin"),
            "instance": pointer,
        }
        return await self.io.run_process(request, limit, pointer), None

    async def _task_listen(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        spec = await self._eval_value(task["listen"], value, args, pointer + "/listen")
        return await self.io.listen(spec["to"], limit, pointer), None

    async def _task_emit(
        self, pointer: str, task: dict[str, Any], value: Any, args: dict[str, Any], limit: Any
    ) -> tuple[Any, Flow]:
        attributes = await self._eval_value(
            task["emit"]["event"]["with"], value, args, pointer + "/emit"
        )
        return self.io.emit(attributes), None

    # -- helpers --------------------------------------------------------------

    def _count_jump_back(self, pointer: str, name: str, target: str) -> None:
        """An endless ``then`` cycle fails the run instead of looping until history overflows."""
        self.jumps_back += 1
        if self.jumps_back > self.max_then_jumps:
            raise WorkflowError.of(
                "runtime",
                f"more than MAX_THEN_JUMPS ({self.max_then_jumps}) jumps back in this run, the "
                f"last from '{name}' to '{target}': is there a 'then' cycle with no exit?",
                title="Too many then jumps",
                instance=pointer,
            )

    def _arguments(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "context": self.context,
            "input": args.get("input"),
            "output": args.get("output"),
            "workflow": self.workflow_info,
            "task": args.get("task"),
            "runtime": {"name": "workflow-runner", "version": "0.1.0"},
            "secrets": self.secrets,
            "data": self.data,
            "env": self.env,
            "authorization": None,
            **{k: v for k, v in args.items() if k not in ("input", "output", "task")},
        }

    async def _eval_field(self, expr: Any, value: Any, args: dict[str, Any], where: str) -> Any:
        return await evaluate_field(expr, value, self._arguments(args), self.io.evaluate, where)

    async def _eval_value(self, expr: Any, value: Any, args: dict[str, Any], where: str) -> Any:
        return await evaluate_value(expr, value, self._arguments(args), self.io.evaluate, where)

    def _timeout(self, timeout: Any) -> timedelta | None:
        if timeout is None:
            return None
        if isinstance(timeout, str):
            timeout = self.definition["use"]["timeouts"][timeout]
        return parse_duration(timeout["after"])

    async def _with_timeout(
        self, coro: Awaitable[tuple[Any, Flow]], limit: timedelta | None, pointer: str
    ) -> tuple[Any, Flow]:
        if limit is None:
            return await coro
        try:
            return await asyncio.wait_for(coro, limit.total_seconds())
        except TimeoutError:
            raise WorkflowError.of(
                "timeout",
                f"did not finish within {limit}",
                title="Task timed out",
                instance=pointer or "/",
            ) from None


def _scope(args: dict[str, Any]) -> dict[str, Any]:
    """Loop and error variables an inner list inherits (not the per-task arguments)."""
    return {k: v for k, v in args.items() if k not in ("input", "output", "task")}


def _expand_uri_template(uri: str, value: Any) -> str:
    """``/pets/{petId}`` takes ``petId`` from the task input (RFC 6570 level 1)."""
    if "{" not in uri or not isinstance(value, dict):
        return uri
    out, i = [], 0
    while i < len(uri):
        start = uri.find("{", i)
        end = uri.find("}", start)
        if start < 0 or end < 0:
            out.append(uri[i:])
            break
        out.append(uri[i:start])
        name = uri[start + 1 : end]
        out.append(quote(str(value[name]), safe="") if name in value else uri[start : end + 1])
        i = end + 1
    return "".join(out)
