"""``DslWorkflow``: the one Temporal workflow type that runs every DSL definition.

It owns what only a Temporal workflow can do (timers, activities, child
workflows, signals, queries) and hands the definition to the interpreter.
Any exception escaping the interpreter fails the run (``failure_exception_types``):
an interpreter bug or a malformed runtime value will not heal by retrying the
workflow task, and a retried task would look like a hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflow_runner.dsl.errors import WorkflowError
    from workflow_runner.dsl.expressions import evaluate, larger_than, select_args, try_fast_path
    from workflow_runner.engine.events import consume_matching, make_event, signal_event
    from workflow_runner.engine.failures import to_application_error, to_workflow_error
    from workflow_runner.engine.interpreter import Interpreter
    from workflow_runner.engine.secrets import tokens_for

WORKFLOW_NAME = "DslWorkflow"
EVENT_SIGNAL = "event"
DEFAULT_ACTIVITY_TIMEOUT = timedelta(minutes=10)
# Above this much JSON, jq runs in a local activity rather than in workflow code.
INLINE_EXPRESSION_BYTES = 256 * 1024
EXPRESSION_TIMEOUT = timedelta(minutes=2)
IO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=3
)


@dataclass
class RunRequest:
    """Everything a run needs, resolved by the client before it starts."""

    definition: dict[str, Any]
    input: Any = None
    definitions: dict[str, dict[str, Any]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)


@workflow.defn(name=WORKFLOW_NAME, failure_exception_types=[Exception])
class DslWorkflow:
    def __init__(self) -> None:
        self._events: list[dict[str, Any]] = []
        self._emitted: list[dict[str, Any]] = []
        self._progress: list[dict[str, Any]] = []
        self._definitions: dict[str, dict[str, Any]] = {}
        self._env: dict[str, str] = {}

    @workflow.run
    async def run(self, request: RunRequest) -> Any:
        self._definitions = request.definitions
        self._env = request.env
        info = workflow.info()
        interpreter = Interpreter(
            definition=request.definition,
            io=self,
            workflow_info={
                "id": info.workflow_id,
                "runId": info.run_id,
                "definition": request.definition.get("document", {}),
                "startedAt": {"iso8601": info.start_time.isoformat()},
            },
            secrets=tokens_for(request.definition.get("use", {}).get("secrets", [])),
            env=request.env,
        )
        try:
            return await interpreter.run(request.input)
        except WorkflowError as error:
            raise to_application_error(error) from None

    # -- signals and queries --------------------------------------------------

    @workflow.signal(dynamic=True)
    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """``event`` carries a CloudEvent; any other name is a Zigflow-style signal."""
        payload = workflow.payload_converter().from_payload(args[0].payload) if args else None
        if name == EVENT_SIGNAL and isinstance(payload, dict):
            self._events.append(payload)
        else:
            self._events.append(signal_event(name, payload, workflow.now().isoformat()))

    @workflow.query
    def progress(self, since: int = 0) -> list[dict[str, Any]]:
        return self._progress[since:]

    @workflow.query
    def emitted_events(self) -> list[dict[str, Any]]:
        return list(self._emitted)

    # -- WorkflowIO for the interpreter ----------------------------------------

    def now(self) -> float:
        return workflow.time()

    async def evaluate(self, body: str, data: Any, args: Mapping[str, Any], where: str) -> Any:
        """Small inputs inline; big ones in a local activity (see activities/expressions.py)."""
        args = select_args(body, args)
        hit, value = try_fast_path(body, data, args)
        if hit:
            return value
        if not larger_than([data, args], INLINE_EXPRESSION_BYTES):
            return evaluate(body, data, args, now=workflow.time(), where=where)
        request = {"body": body, "data": data, "args": args, "now": workflow.time(), "where": where}
        return await _as_dsl_errors(
            workflow.execute_local_activity(
                "evaluate_expression",
                request,
                start_to_close_timeout=EXPRESSION_TIMEOUT,
                retry_policy=IO_RETRY,
                summary=where,
            ),
            where,
        )

    async def sleep(self, delay: timedelta) -> None:
        await workflow.sleep(delay)

    def progress_note(self, pointer: str, status: str) -> None:
        self._progress.append({"task": pointer, "status": status, "at": workflow.time()})

    async def call_http(
        self, request: dict[str, Any], limit: timedelta | None, pointer: str
    ) -> Any:
        return await self._activity("call_http", request, limit, pointer)

    async def run_process(
        self, request: dict[str, Any], limit: timedelta | None, pointer: str
    ) -> Any:
        return await self._activity("run_process", request, limit, pointer)

    async def _activity(
        self, name: str, request: dict[str, Any], limit: timedelta | None, pointer: str
    ) -> Any:
        return await _as_dsl_errors(
            workflow.execute_activity(
                name,
                request,
                start_to_close_timeout=limit or DEFAULT_ACTIVITY_TIMEOUT,
                retry_policy=IO_RETRY,
                summary=pointer,
            ),
            pointer,
        )

    async def run_workflow(self, spec: dict[str, Any], input: Any, pointer: str) -> Any:
        reference = f"{spec.get('namespace', 'default')}/{spec['name']}:{spec.get('version', '')}"
        definition = self._definitions.get(reference)
        if definition is None:
            known = ", ".join(sorted(self._definitions)) or "none"
            raise WorkflowError.of(
                "configuration",
                f"workflow {reference} was not found next to the main definition (known: {known})",
                instance=pointer,
            )
        child_id = (
            f"{workflow.info().workflow_id}{pointer.replace('/', '.')}-{workflow.uuid4().hex[:8]}"
        )
        return await _as_dsl_errors(
            workflow.execute_child_workflow(
                WORKFLOW_NAME,
                RunRequest(definition, input, self._definitions, self._env),
                id=child_id,
            ),
            pointer,
        )

    async def listen(self, spec: dict[str, Any], limit: timedelta | None, pointer: str) -> Any:
        result: list[Any] = []

        def ready() -> bool:
            found = consume_matching(self._events, spec)
            if found is None:
                return False
            result.append(found)
            return True

        try:
            await workflow.wait_condition(ready, timeout=limit)
        except TimeoutError:
            raise WorkflowError.of(
                "timeout",
                f"no matching event within {limit}",
                title="Listen timed out",
                instance=pointer,
            ) from None
        return result[0]

    def emit(self, attributes: dict[str, Any]) -> dict[str, Any]:
        event = make_event(
            attributes,
            event_id=str(workflow.uuid4()),
            time=workflow.now().isoformat(),
            source=f"workflow-runner/{workflow.info().workflow_id}",
        )
        self._emitted.append(event)
        self._events.append(event)
        return event

    async def first_completed(self, coros: Sequence[Awaitable[Any]]) -> Any:
        tasks = [asyncio.ensure_future(c) for c in coros]
        done, pending = await workflow.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        winner = next(t for t in tasks if t in done)  # lowest index: deterministic
        return winner.result()


async def _as_dsl_errors(call: Awaitable[Any], pointer: str) -> Any:
    """Failures of activities and child workflows become DSL errors a ``catch`` can match."""
    try:
        return await call
    except asyncio.CancelledError:
        raise
    except Exception as err:
        raise to_workflow_error(err, pointer) from None
