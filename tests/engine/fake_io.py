"""An in-memory ``WorkflowIO``: the interpreter's own logic, tested without a server.

Time is a counter that ``sleep`` advances, activities answer from a table
(a value, or a ``WorkflowError`` to raise), events are a list. Expressions
are evaluated for real (jq), so the data flow under test is the real one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from tests.harness import workflow
from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import evaluate
from workflow_runner.engine.data_reads import keeps_data
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.events import EventBuffer, Listener, make_event
from workflow_runner.engine.interpreter import Interpreter
from workflow_runner.engine.tasks.base import ActivityCall, Outcome

Answer = Callable[[Any], Any]


@dataclass
class FakeIO:
    activities: dict[str, Answer] = field(default_factory=dict)
    children: dict[str, Answer] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    clock: float = 0.0
    checkpoints: int = 0
    sleeps: list[timedelta] = field(default_factory=list)
    calls: list[ActivityCall] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)
    emitted: list[dict[str, Any]] = field(default_factory=list)
    annotations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # updates delivered to the next listen that registers their name: (name, argument);
    # what each got back (the handler's result, or the rejection) lands in ``replies``
    updates: list[tuple[str, Any]] = field(default_factory=list)
    replies: list[tuple[str, Any]] = field(default_factory=list)
    queries: dict[str, Callable[[], Any]] = field(default_factory=dict)
    buffer: EventBuffer = field(default_factory=EventBuffer)

    def now(self) -> float:
        return self.clock

    def pace(self) -> bool:
        self.checkpoints += 1
        return False

    async def yield_to_temporal(self, pointer: str) -> None:
        raise AssertionError("the fake never asks to yield")

    def evaluate_now(self, body: str, data: Any, args: Mapping[str, Any], where: str) -> Any:
        # as the workflow does for small inputs: bounded expressions skip the evaluator process
        return evaluate(body, data, args, now=self.clock, where=where, in_process=True)

    async def evaluate_later(
        self, body: str, data: Any, args: Mapping[str, Any], where: str
    ) -> Any:
        raise AssertionError("the fake evaluates every expression now")

    async def sleep(self, delay: timedelta) -> None:
        self.sleeps.append(delay)
        self.clock += delay.total_seconds()

    async def activity(self, call: ActivityCall) -> Any:
        self.calls.append(call)
        return _answer(self.activities[call.name], call.request)

    async def run_workflow(
        self, reference: str, input: Any, pointer: str, *, by_type: bool = False
    ) -> Any:
        return _answer(self.children[f"type:{reference}" if by_type else reference], input)

    async def listen(self, listener: Listener, limit: timedelta | None, pointer: str) -> None:
        """As the workflow's inbox, with every event already there: ``events`` (given by
        the test) first, then what was emitted; a listen left waiting is a timeout."""
        for event in self.events:
            self.buffer.add(event)
        self.events.clear()
        self.queries.update(listener.handlers.queries)
        for name, argument in list(self.updates):
            update = listener.handlers.updates.get(name)
            if update is None:
                continue
            self.updates.remove((name, argument))
            try:
                update.validator(argument)
            except Exception as rejection:
                self.replies.append((name, rejection))
                continue
            self.replies.append((name, await update.handler(argument)))
        await self.buffer.offer_new(listener, -1)
        if not listener.done():
            if limit is None:
                raise AssertionError(f"{pointer}: the test gave no event this listen accepts")
            raise WorkflowError.of("timeout", f"listen {pointer}: nothing within {limit}")

    async def emit(self, attributes: dict[str, Any]) -> dict[str, Any]:
        event = make_event(
            attributes, event_id=str(len(self.emitted)), time="2026-01-01T00:00:00Z", source="fake"
        )
        self.emitted.append(event)
        self.buffer.add(event)
        return event

    def progress_note(self, pointer: str, status: str) -> None:
        self.notes.append((pointer, status))

    def annotate(self, values: dict[str, Any], pointer: str) -> None:
        self.annotations.append((pointer, values))

    def continue_as_new_due(self) -> bool:
        return False

    async def continue_as_new(self, state: dict[str, Any]) -> None:
        raise AssertionError("the fake never continues as new")

    async def first_completed(self, coros: Sequence[Awaitable[Outcome]]) -> Outcome:
        tasks = [asyncio.ensure_future(c) for c in coros]
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        return next(t for t in tasks if t in done).result()


def _answer(answer: Answer, request: Any) -> Any:
    result = answer(request)
    if isinstance(result, WorkflowError):
        raise result
    return result


async def run_dsl(
    body: str, run_input: Any = None, io: FakeIO | None = None, extra: str = ""
) -> Any:
    """Run the task list ``body`` (YAML under ``do:``) with ``io`` (a fresh fake by default)."""
    definition = parse_definition(workflow(body, extra), "fast.yaml")
    interpreter = Interpreter(
        workflow=definition.model,
        io=io or FakeIO(),
        workflow_info={"id": "fast", "runId": "r1", "definition": {}, "startedAt": {}},
        keeps_data=keeps_data(definition.model, definition.data),  # as the workflow decides
    )
    return await interpreter.run(run_input)
