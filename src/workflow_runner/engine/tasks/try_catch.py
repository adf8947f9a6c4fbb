"""``try``/``catch``: match errors by type and fields, retry with backoff, or recover.

Retry delays are durable timers (``io.sleep``), so a retry schedule of hours
survives worker restarts; ``limit.duration`` counts from the first attempt in
workflow time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from workflow_runner.dsl.errors import WorkflowError, normalize_error_type
from workflow_runner.dsl.expressions import truthy
from workflow_runner.dsl.model import RetryPolicy, TaskList
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, TaskType, scope_of

CATCH_PROPERTIES = ("errors", "as", "when", "exceptWhen", "retry", "do")


@dataclass(frozen=True, kw_only=True)
class TryTask(Task):
    tasks: TaskList
    error_with: Mapping[str, Any] = field(default_factory=dict)  # catch.errors.with
    error_as: str = "error"
    when: Any = None
    except_when: Any = None
    retry: RetryPolicy | None = None
    recover: TaskList | None = None  # catch.do

    async def execute(self, run: Execution, value: Any, args: dict[str, Any]) -> Outcome:
        started = run.io.now()
        attempt = 0
        while True:
            try:
                return await run.run_list(self.tasks, value, scope_of(args))
            except WorkflowError as error:
                # The spec binds the error as a variable; Zigflow also as $data.<as>.
                error_var, error_data = run.policy.caught(self.error_as, error.to_dict())
                if not await self.catches(run, error, value, {**args, **error_var}):
                    raise
                attempt += 1
                delay = await self.retry_delay(run, attempt, started, value, {**args, **error_var})
                if delay is not None:
                    run.io.progress_note(self.pointer, f"retrying (attempt {attempt + 1})")
                    await run.io.sleep(delay)
                    continue
                if self.recover is not None:
                    unbind = run.bind_data(error_data)
                    try:
                        return await run.run_list(
                            self.recover, value, {**scope_of(args), **error_var}
                        )
                    finally:
                        unbind()
                if self.retry is not None:
                    raise  # retries exhausted and nothing to recover with
                return value, None

    async def catches(
        self, run: Execution, error: WorkflowError, value: Any, args: dict[str, Any]
    ) -> bool:
        for key, expected in self.error_with.items():
            actual = getattr(error, key, None)
            if key == "type":
                if normalize_error_type(str(expected)) != normalize_error_type(str(actual)):
                    return False
            elif expected != actual and str(expected) != str(actual):
                return False
        where = self.pointer + "/catch"
        if self.when is not None and not truthy(
            await run.eval_field(self.when, value, args, where + "/when")
        ):
            return False
        return not (
            self.except_when is not None
            and truthy(await run.eval_field(self.except_when, value, args, where + "/exceptWhen"))
        )

    async def retry_delay(
        self, run: Execution, attempt: int, started: float, value: Any, args: dict[str, Any]
    ) -> timedelta | None:
        """The wait before the next attempt, or ``None`` when no retry is left."""
        retry = self.retry
        if retry is None:
            return None
        if retry.when is not None and not truthy(
            await run.eval_field(retry.when, value, args, self.pointer)
        ):
            return None
        if retry.except_when is not None and truthy(
            await run.eval_field(retry.except_when, value, args, self.pointer)
        ):
            return None
        if retry.max_attempts is not None and attempt >= retry.max_attempts:
            return None
        if (
            retry.max_duration is not None
            and run.io.now() - started >= retry.max_duration.total_seconds()
        ):
            return None
        delay: timedelta = retry.delay
        if retry.backoff == "linear":
            return delay * attempt
        if retry.backoff == "exponential":
            return delay * int(2 ** (attempt - 1))
        return delay


def read(reader: DefinitionReader, node: TaskNode) -> TryTask | None:
    tasks = reader.do_list(node.at("try"), node.raw["try"], node.scope)
    catch = node.raw.get("catch")
    base = node.at("catch")
    if catch is None:
        reader.problem(node.pointer, "a try task needs 'catch'")
        return None
    if not isinstance(catch, dict):
        reader.problem(base, "catch must be a mapping")
        return None
    for key in catch:
        if key not in CATCH_PROPERTIES:
            reader.problem(f"{base}/{key}", f"unknown catch property {key!r}")
    errors = catch.get("errors")
    if errors is not None and (not isinstance(errors, dict) or set(errors) - {"with"}):
        reader.problem(f"{base}/errors", "catch.errors must be {with: {type, status, ...}}")
        errors = None
    error_as = str(catch.get("as", "error"))
    inner = (*node.scope, error_as)
    for key in ("when", "exceptWhen"):
        if key in catch:
            reader.expression(f"{base}/{key}", catch[key], inner, bare=True)
    retry = reader.retry(f"{base}/retry", catch["retry"]) if "retry" in catch else None
    recover = reader.do_list(f"{base}/do", catch["do"], inner) if "do" in catch else None
    if tasks is None:
        return None
    return TryTask(
        **node.common,
        tasks=tasks,
        error_with=(errors or {}).get("with") or {},
        error_as=error_as,
        when=catch.get("when"),
        except_when=catch.get("exceptWhen"),
        retry=retry,
        recover=recover,
    )


TYPE: TaskType = TaskType("try", frozenset({"try", "catch"}), read)
