"""``DslWorkflow``: the one Temporal workflow type that runs every DSL definition.

It owns what only a Temporal workflow can do (timers, activities, child
workflows, signals, queries) — it is the interpreter's ``WorkflowIO`` — and
hands the typed definition to the interpreter.
Any exception escaping the interpreter fails the run (``failure_exception_types``):
an interpreter bug or a malformed runtime value will not heal by retrying the
workflow task, and a retried task would look like a hang.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflow_runner.dsl.errors import DefinitionError, WorkflowError
    from workflow_runner.dsl.metadata import (
        ANNOTATIONS,
        NO_OPTIONS,
        ActivityOptions,
        activity_options,
        max_history_length,
        memo,
        search_attributes,
    )
    from workflow_runner.dsl.metadata import resolve as resolve_pointer
    from workflow_runner.engine.continuation import FORMAT as CONTINUATION_FORMAT
    from workflow_runner.engine.data_reads import keeps_data
    from workflow_runner.engine.definition import model_of
    from workflow_runner.engine.dialects import model_for
    from workflow_runner.engine.events import Listener
    from workflow_runner.engine.failures import as_dsl_errors, to_application_error
    from workflow_runner.engine.inbox import EVENT_SIGNAL as EVENT_SIGNAL  # cli: emit
    from workflow_runner.engine.inbox import Inbox
    from workflow_runner.engine.interpreter import Interpreter
    from workflow_runner.engine.limits import (
        RunLimits,
        check_payload_size,
        trim_memory_soon,
    )
    from workflow_runner.engine.progress import PROGRESS_WINDOW as PROGRESS_WINDOW  # tests
    from workflow_runner.engine.progress import Progress
    from workflow_runner.engine.registry import (
        AD_HOC_TYPE,
        CONTINUE_AS_NEW_AFTER_EVENTS,
        config_for,
        served_model,
        served_options,
    )
    from workflow_runner.engine.run_request import (
        RunRequest,
        continued_state,
        run_request,
        temporal_info,
    )
    from workflow_runner.engine.secrets import NONCE_ACTIVITY, SecretScope, tokens_for
    from workflow_runner.engine.tasks.base import ActivityCall, Outcome, wire_fields
    from workflow_runner.engine.tasks.call_activity import ExternalActivity
    from workflow_runner.engine.temporal_options import (
        DEFAULT_ACTIVITY_TIMEOUT as DEFAULT_ACTIVITY_TIMEOUT,
    )
    from workflow_runner.engine.temporal_options import (
        activity_kwargs,
        search_attribute_updates,
    )
    from workflow_runner.engine.workflow_expressions import Expressions
    from workflow_runner.engine.workflow_payloads import decode_result, encode_output

EXPRESSION_TIMEOUT = timedelta(minutes=2)


# The SDK accepts both keywords (dynamic + failure types); only its overloads do not say so.
@workflow.defn(dynamic=True, failure_exception_types=[Exception])  # type: ignore[call-overload]
class DslWorkflow:
    """Every workflow type: ``DslWorkflow`` runs the definition its request carries (ad hoc
    runs, children); any other type is a definition the worker serves by name."""

    def __init__(self) -> None:
        self._inbox = Inbox()  # signals, events, listen and emit (engine/inbox.py)
        self._progress = Progress(workflow.time)  # the loop's own time() once it runs
        # WorkflowIO.progress_note, twice a task run: the notes' own method, one call less
        self.progress_note: Callable[[str, str], None] = self._progress.note
        # expressions and the Pacer (engine/workflow_expressions.py): WorkflowIO's methods
        self._expressions = expressions = Expressions()
        self.evaluate_now = expressions.evaluate_now
        self.evaluate_later = expressions.evaluate_later
        # WorkflowIO.pace, before every task run: the Pacer's own tick (one call less).
        # True once enough work was done to yield (limits.WORK_PER_YIELD): counted, so
        # replays yield at the same points.
        self.pace = expressions.pacer.tick
        self.yield_to_temporal = expressions.yield_to_temporal
        self._definitions: dict[str, dict[str, Any]] = {}
        self._env: dict[str, str] = {}
        self._secret_scope = SecretScope()
        self._large = False  # a large payload passed through this run
        self._interpreter: Interpreter | None = None
        self._history_length: Callable[[], int] = lambda: 0  # bound in run (see there)
        self._continue_suggested: Callable[[], bool] = lambda: False
        self._definition: dict[str, Any] = {}  # as the request carried it (metadata lookups)
        self._options: dict[str, ActivityOptions] = {}  # activity options by task pointer
        # continue-as-new (engine/continuation.py): the threshold, what the next run gets
        self._continue_after = CONTINUE_AS_NEW_AFTER_EVENTS
        self._first_argument: Any = None  # the run request (ad hoc) or the input (served)
        self._chain = 1  # runs in this chain so far, this one included
        self._started_at = ""
        self._activity_timeout: timedelta | None = None  # Zigflow: the top-level timeout

    @property
    def _limits(self) -> RunLimits:
        """The task queue's limits (DEFAULT_LIMITS until the run knows its queue): one
        copy, the expressions', which bound each expression's time and memory."""
        return self._expressions.limits

    @workflow.run
    async def run(self, args: Sequence[RawValue]) -> Any:
        info = workflow.info()
        loop = asyncio.get_running_loop()  # the run's own (deterministic) loop
        # Asked before every task (continue_as_new_due). The public path, Info's methods,
        # finds the runtime on the running loop each time (~8% of a loop of sets in the
        # sandbox); the SDK's workflow loop is that runtime, so its own methods are bound
        # once. The public ones where the loop is not (another SDK version, a stand-in).
        self._history_length = getattr(
            loop, "workflow_get_current_history_length", info.get_current_history_length
        )
        self._continue_suggested = getattr(
            loop, "workflow_is_continue_as_new_suggested", info.is_continue_as_new_suggested
        )
        self._progress.clock = loop.time
        queue = config_for(info.task_queue)
        self._expressions.limits = queue.limits
        request = run_request(info.workflow_type, info.task_queue, queue, args)
        continued = continued_state(args)
        self._first_argument = request if info.workflow_type == AD_HOC_TYPE else request.input
        self._definitions = request.definitions
        self._definition = request.definition
        self._env = request.env
        try:
            model = (
                model_of(request.definition)
                if info.workflow_type == AD_HOC_TYPE
                else served_model(request.definition)
            )
            if info.workflow_type != AD_HOC_TYPE:
                self._options = served_options(request.definition)
        except DefinitionError as error:
            raise ApplicationError(
                f"the run request's definition is invalid: {error}",
                type="InvalidDefinition",
                non_retryable=True,
            ) from None
        # Per-chain nonce: only tokens carrying it resolve (see engine/secrets.py). A continued
        # run keeps its chain's: tokens kept in $context or $data must still resolve (the
        # nonce is in history already, inside every request that carries a token).
        names = list(model.secrets)
        if names:
            nonce = continued.get("secretNonce") if continued is not None else None
            if not nonce:
                nonce = await workflow.execute_local_activity(
                    NONCE_ACTIVITY, start_to_close_timeout=EXPRESSION_TIMEOUT, result_type=str
                )
            self._secret_scope = SecretScope(str(nonce), names)
        self._continue_after = (
            max_history_length(model.document.raw.get("metadata"), "/document/metadata")
            or queue.continue_as_new_events
        )
        self._started_at = info.start_time.isoformat()
        self._activity_timeout = model.activity_timeout
        if continued is not None:
            self._started_at = continued["startedAt"]
            self._chain = int(continued["chain"])
            self._progress.offset = int(continued.get("progressSeq", 0))
            for event in continued["events"]:
                self._inbox.buffer.add(event)
        self._expressions.header_definition = dict(model.document.raw)
        interpreter = Interpreter(
            workflow=model,
            io=self,
            workflow_info={
                "id": info.workflow_id,
                "runId": info.run_id,
                "definition": dict(request.definition),  # the whole definition (the spec's)
                "startedAt": {"iso8601": self._started_at},
            },
            secrets=tokens_for(names, self._secret_scope.nonce),
            env=request.env,
            max_then_jumps=self._limits.max_then_jumps,
            keeps_data=keeps_data(model, request.definition),
            data=model_for(model.dialect).workflow_data(lambda: temporal_info(info)),
        )
        self._interpreter = self._expressions.interpreter = interpreter
        if continued is not None:
            interpreter.resume_from(continued)
        try:
            if continued is None:
                await self._annotate_start(interpreter, request.input)
            output = await interpreter.run(request.input)
            encoded = self._encode_output(output)
        except WorkflowError as error:
            raise to_application_error(error) from None
        finally:
            if self._large:
                trim_memory_soon()
        return encoded

    def continue_as_new_due(self) -> bool:
        if not self._progress.completed:  # every run of a chain makes progress, whatever the limit
            return False
        return self._history_length() >= self._continue_after or self._continue_suggested()

    async def continue_as_new(self, state: dict[str, Any]) -> None:
        """Continue as new with the interpreter's state, the events no ``listen`` took yet
        and where the chain began; a large state is offloaded like any payload."""
        await workflow.wait_condition(workflow.all_handlers_finished)
        carried = {
            **state,
            "continuation": CONTINUATION_FORMAT,
            "startedAt": self._started_at,
            "chain": self._chain + 1,
            "events": list(self._inbox.buffer.events.values()),
            "progressSeq": self._progress.next_seq,  # `run`'s printer goes on
            "secretNonce": self._secret_scope.nonce,
        }
        self._check_size(carried, "the state carried to the next run (continue-as-new)", "/")
        workflow.continue_as_new(args=[self._first_argument, carried])

    async def _annotate_start(self, interpreter: Interpreter, run_input: Any) -> None:
        """The document's search attributes and memo, evaluated on the input and upserted as
        the run starts: a definition served by type is started by clients that know nothing
        of them (runs our client starts also carry the literal ones from the start)."""
        metadata = self._definition.get("document", {}).get("metadata")
        if not isinstance(metadata, dict) or not ANNOTATIONS & metadata.keys():
            return
        where = "/document/metadata"
        spec = {key: metadata[key] for key in ANNOTATIONS if key in metadata}
        values = await interpreter.eval_value(spec, run_input, {"input": run_input}, where)
        self.annotate(values, where)

    def annotate(self, values: Mapping[str, Any], pointer: str) -> None:
        """Upsert evaluated ``searchAttributes`` and ``memo`` (a task's as it starts)."""
        attributes = search_attributes(values, pointer)
        if attributes:
            updates = search_attribute_updates(attributes, [a.value for a in attributes], pointer)
            workflow.upsert_search_attributes(updates)
        memo_values = memo(values, pointer)
        if memo_values:
            workflow.upsert_memo(memo_values)

    def _encode_output(self, output: Any) -> Any:
        """The output as sent, checked against CLAIMCHECK_MAX_PAYLOAD_BYTES (workflow_payloads).

        An output refused as over the limit counts as large: the run held it, and its
        memory goes back to the OS with the trim this run schedules as it ends."""
        try:
            encoded, large = encode_output(output, self._limits.max_payload_bytes)
        except WorkflowError:
            self._large = True
            raise
        self._large = self._large or large
        return encoded

    # -- signals and queries --------------------------------------------------

    @workflow.signal(dynamic=True)
    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """``event`` carries a CloudEvent; any other name is a Zigflow-style signal."""
        self._inbox.on_signal(name, args)

    @workflow.query
    def progress(self, since: int = 0) -> list[dict[str, Any]]:
        """Notes from number ``since`` on; each carries its number as ``seq``.

        Only the last PROGRESS_WINDOW or so are kept: a caller that fell
        further behind gets the oldest kept ones and sees the gap in ``seq``.
        """
        return self._progress.since(since)

    @workflow.query
    def status(self) -> dict[str, Any]:
        """Where the run is: the tasks running now and ``$context`` (``workflow-runner status``).

        Any Temporal client can ask it (``temporal workflow query --name status``).
        """
        interpreter = self._interpreter
        return {
            "running": sorted(self._progress.running),
            "context": interpreter.context if interpreter is not None else None,
            "tasksRun": interpreter.runs if interpreter is not None else 0,
        }

    @workflow.query
    def emitted_events(self) -> list[dict[str, Any]]:
        """The events this run emitted (the last ones, see engine/inbox.py)."""
        return self._inbox.emitted_events()

    # -- WorkflowIO for the interpreter ----------------------------------------

    def now(self) -> float:
        return workflow.time()

    def _check_size(self, value: Any, what: str, instance: str) -> None:
        check_payload_size(value, what, self._limits.max_payload_bytes, instance)

    async def sleep(self, delay: timedelta) -> None:
        await workflow.sleep(delay)

    async def activity(self, call: ActivityCall) -> Any:
        """Run a task's activity with the options its definition gives (dsl/metadata.py:
        ``activityOptions``, ``retry``; the task's timeout otherwise); its request carries
        the secret scope. A ``call: activity`` goes to its own name and task queue with
        its arguments as they are, so any worker in any language can serve it."""
        request = call.request
        options = self._activity_options(call.pointer)
        if isinstance(request, ExternalActivity):
            options = request.options.over(options)
            self._check_size(request.arguments, f"the arguments of {call.name}", call.pointer)
            started = workflow.execute_activity(
                call.name,
                args=request.arguments,
                task_queue=request.task_queue,
                result_type=RawValue,
                **activity_kwargs(options, call.timeout or self._activity_timeout),
            )
        else:
            if self._secret_scope.names and hasattr(request, "secret_scope"):
                request = dataclasses.replace(request, secret_scope=self._secret_scope)  # type: ignore[type-var]
            # its fields, those at their default left out (history bytes); a nested
            # dataclass is still written by the converter's asdict; no deep copy of the
            # request (asdict: ~60 isinstance calls, each ~1 µs in the sandbox)
            fields = wire_fields(request)
            self._check_size(fields, f"the request of {call.name}", call.pointer)
            started = workflow.execute_activity(
                call.name,
                fields,
                result_type=RawValue,
                **activity_kwargs(options, call.timeout or self._activity_timeout),
            )
        raw = await as_dsl_errors(started, call.pointer)
        return self._decode(raw.payload)

    def _activity_options(self, pointer: str) -> ActivityOptions:
        """The document's ``metadata`` options under the task's own (read once per task)."""
        known = self._options.get(pointer)
        if known is None:
            document = self._definition.get("document") or {}
            use = self._definition.get("use") or {}
            retries = use.get("retries") if isinstance(use, dict) else None
            base = activity_options(document.get("metadata"), "/document/metadata", retries)
            task = resolve_pointer(self._definition, pointer)
            metadata = task.get("metadata") if isinstance(task, dict) else None
            own = activity_options(metadata, pointer + "/metadata", retries)
            known = self._options[pointer] = own.over(base) if own != NO_OPTIONS else base
        return known

    def _decode(self, payload: Payload) -> Any:
        """An activity result; a large one marks the run as one after which freed memory
        is handed back to the OS."""
        value, large = decode_result(payload, self._limits.max_payload_bytes)
        self._large = self._large or large
        return value

    async def run_workflow(
        self, reference: str, input: Any, pointer: str, *, by_type: bool = False
    ) -> Any:
        if by_type:  # Zigflow's run.workflow.type: any workflow type on this task queue
            self._check_size(input, "the child workflow's input", pointer)
            return await as_dsl_errors(
                workflow.execute_child_workflow(reference, input, id=self._child_id(pointer)),
                pointer,
            )
        definition = self._definitions.get(reference)
        if definition is None:
            known = ", ".join(sorted(self._definitions)) or "none"
            raise WorkflowError.of(
                "configuration",
                f"workflow {reference} was not found next to the main definition (known: {known})",
                instance=pointer,
            )
        self._check_size(input, "the child workflow's input", pointer)
        return await as_dsl_errors(
            workflow.execute_child_workflow(
                AD_HOC_TYPE,
                RunRequest(definition, input, self._definitions, self._env),
                id=self._child_id(pointer),
            ),
            pointer,
        )

    @staticmethod
    def _child_id(pointer: str) -> str:
        return (
            f"{workflow.info().workflow_id}{pointer.replace('/', '.')}-{workflow.uuid4().hex[:8]}"
        )

    async def listen(self, listener: Listener, limit: timedelta | None, pointer: str) -> None:
        await self._inbox.listen(listener, limit, pointer)

    async def emit(self, attributes: dict[str, Any]) -> dict[str, Any]:
        return await self._inbox.emit(attributes)

    async def first_completed(self, coros: Sequence[Awaitable[Outcome]]) -> Outcome:
        tasks = [asyncio.ensure_future(c) for c in coros]
        done, pending = await workflow.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        winner = next(t for t in tasks if t in done)  # lowest index: deterministic
        return winner.result()
