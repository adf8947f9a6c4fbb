"""The run's inbox: events that arrive (signals, CloudEvents, its own emits) and listens.

``DslWorkflow`` holds one ``Inbox`` and delegates to it its dynamic signal
handler, the ``emitted_events`` query and the ``listen`` / ``emit`` parts of
``WorkflowIO``. Kept out of ``workflow.py`` so that the event machinery can
grow (consumption strategies, runtime query and update handlers) without
touching the module every other Temporal concern also lives in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue

with workflow.unsafe.imports_passed_through():
    from workflow_runner.dsl.errors import WorkflowError
    from workflow_runner.engine.events import consume_matching, make_event, signal_event

EVENT_SIGNAL = "event"
# Emitted events kept for the query; older ones are dropped.
EMITTED_WINDOW = 1000


class Inbox:
    """Events received or emitted by one run, and the waits on them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.emitted: list[dict[str, Any]] = []

    def on_signal(self, name: str, args: Sequence[RawValue]) -> None:
        """``event`` carries a CloudEvent; any other name is a Zigflow-style signal."""
        payload = workflow.payload_converter().from_payload(args[0].payload) if args else None
        if name == EVENT_SIGNAL and isinstance(payload, dict):
            self.events.append(payload)
        else:
            self.events.append(signal_event(name, payload, workflow.now().isoformat()))

    def emitted_events(self) -> list[dict[str, Any]]:
        return list(self.emitted)

    async def listen(self, to: Mapping[str, Any], limit: timedelta | None, pointer: str) -> Any:
        spec = dict(to)
        result: list[Any] = []

        def ready() -> bool:
            found = consume_matching(self.events, spec)
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
        self.emitted.append(event)
        if len(self.emitted) > EMITTED_WINDOW:
            del self.emitted[0]
        self.events.append(event)
        return event
