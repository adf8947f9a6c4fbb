"""The run's inbox: events that arrive (signals, CloudEvents, its own emits) and listens.

``DslWorkflow`` holds one ``Inbox`` and delegates to it its dynamic signal
handler, the ``emitted_events`` query and the ``listen`` / ``emit`` parts of
``WorkflowIO``. Kept out of ``workflow.py`` so that the event machinery can
grow (consumption strategies, runtime query and update handlers) without
touching the module every other Temporal concern also lives in.

Signals that arrive before a listen starts are buffered (the dynamic handler
is always there), so a sender never races the workflow. Queries and updates
a listen declares are registered with ``workflow.set_query_handler`` /
``set_update_handler`` when it starts; an update's validator runs before
anything is written to history, so a rejected update leaves no trace there.

An emitted event is also signalled to the task queue's event router
(engine/scheduling/triggers.py), which starts ``schedule.on`` definitions: an external
signal, the cheapest deterministic path out of workflow code (two history
events, no activity). A queue without event-driven definitions has no router;
that signal then fails and is ignored. Histories recorded before this
forwarding existed replay without it (``workflow.patched``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from workflow_runner.dsl.errors import WorkflowError
    from workflow_runner.engine.events import (
        EventBuffer,
        Listener,
        make_event,
        signal_event,
    )
    from workflow_runner.engine.scheduling.triggers import router_id

EVENT_SIGNAL = "event"
# Emitted events kept for the query; older ones are dropped.
EMITTED_WINDOW = 1000
FORWARD_PATCH = "emit-to-event-router"


class Inbox:
    """Events received or emitted by one run, and the waits on them."""

    def __init__(self) -> None:
        self.buffer = EventBuffer()
        self.emitted: list[dict[str, Any]] = []

    def _receive(self, event: dict[str, Any]) -> None:
        dropped = self.buffer.add(event)
        if dropped is not None:
            workflow.logger.warning(
                "no listen consumed the oldest buffered event (type %r, id %r): dropped it; "
                "a run keeps at most %d unconsumed events (%d dropped so far)",
                dropped.get("type"),
                dropped.get("id"),
                self.buffer.limit,
                self.buffer.dropped,
            )

    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """``event`` carries a CloudEvent; any other name is a Zigflow-style signal."""
        payload = workflow.payload_converter().from_payload(args[0].payload) if args else None
        if name == EVENT_SIGNAL and isinstance(payload, dict):
            self._receive(payload)
        else:
            self._receive(signal_event(name, payload, workflow.now().isoformat()))

    def emitted_events(self) -> list[dict[str, Any]]:
        return list(self.emitted)

    async def listen(self, listener: Listener, limit: timedelta | None, pointer: str) -> None:
        """Offer ``listener`` each event, oldest first, until it is done or ``limit`` passes.

        Its queries are registered for the rest of the run; its updates while it waits.
        """
        handlers = listener.handlers
        for name, query in handlers.queries.items():
            workflow.set_query_handler(name, query)
        for name, update in handlers.updates.items():
            workflow.set_update_handler(name, update.handler, validator=update.validator)
        deadline = None if limit is None else workflow.time() + limit.total_seconds()
        seen = -1
        try:
            while True:
                seen = await self.buffer.offer_new(listener, seen)
                if listener.done():
                    return
                remaining = None if deadline is None else max(deadline - workflow.time(), 0.0)
                last = seen

                def arrived_or_done() -> bool:
                    return listener.done() or self.buffer.next_seq - 1 > last  # noqa: B023

                try:
                    await workflow.wait_condition(arrived_or_done, timeout=remaining)
                except TimeoutError:
                    raise WorkflowError.of(
                        "timeout",
                        f"listen {pointer} received no matching event within {limit}",
                        title="Listen timed out",
                        instance=pointer,
                    ) from None
        finally:
            for name in handlers.updates:
                workflow.set_update_handler(name, None)

    async def emit(self, attributes: dict[str, Any]) -> dict[str, Any]:
        event = make_event(
            attributes,
            event_id=str(workflow.uuid4()),
            time=workflow.now().isoformat(),
            source=f"workflow-runner/{workflow.info().workflow_id}",
        )
        self.emitted.append(event)
        if len(self.emitted) > EMITTED_WINDOW:
            del self.emitted[0]
        self._receive(event)
        if workflow.patched(FORWARD_PATCH):
            await self._forward(event)
        return event

    @staticmethod
    async def _forward(event: dict[str, Any]) -> None:
        """Signal ``event`` to the task queue's event router, if there is one."""
        router = router_id(workflow.info().task_queue)
        try:
            await workflow.get_external_workflow_handle(router).signal(EVENT_SIGNAL, event)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # no router: no event-driven definitions on the queue
            workflow.logger.debug("event %r not forwarded to %s: %s", event["id"], router, error)
