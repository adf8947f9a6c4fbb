"""``schedule.on``: the event router that starts a definition when its events arrive.

One router workflow per task queue (type ``workflow-runner-events``, id
``workflow-runner-events:<queue>``) holds the queue's *triggers* — each
event-driven definition's ``schedule.on`` strategy, keyed by its schedule id
— and receives every event meant for event-driven runs as the ``event``
signal: ``emit`` tasks of every run of the queue forward theirs
(engine/inbox.py), ``workflow-runner emit --type`` (no workflow id) sends one.
For each event and trigger it decides, and starts runs of the definition **by
its workflow type** with the consumed events as the input (dsl.md: "the input
is structured as an array containing the events"; ``$workflow.input[0]``).

Why a workflow, and why the triggers live in its state:

- a Temporal workflow is the only thing every worker of the queue (and every
  client) can reach by name without another server; its signals are durable
  and ordered, so no event is lost between a sender and the matching;
- the triggers arrive as signals (``triggers``: set/remove), so they are in
  the router's history: a replay on a worker serving other definitions makes
  the same decisions. Reading them from the worker's registry in workflow code
  would make the router's commands depend on which worker replays it.
  ``workflow-runner schedule FILE`` and ``worker --definitions`` register
  (signal-with-start: the router starts with its first trigger);
  ``schedule FILE --delete`` removes; with no trigger left the router ends.
  Senders use a plain signal: a queue without event-driven definitions has no
  router and the event goes nowhere, as it should.

Strategies (``listen.to``'s, dsl-reference.md "Event Consumption Strategy"):
``one`` and ``any`` start a run per matching event (``any: []`` matches every
event — mind that a run it starts which emits would start another);
``all`` keeps partial groups (oldest first, at most MAX_PENDING_GROUPS per
trigger) and starts one run when every filter has consumed an event, the
input in filter order. ``correlate``: an event joins a group only when its
correlation values equal the group's (``expect``: a fixed value to equal).

Duplicates: an event is identified by its CloudEvents ``source`` + ``id``;
one seen in the last RECENT_EVENT_IDS events is ignored, and a started run's
workflow id is derived from its trigger and events with
``REJECT_DUPLICATE`` reuse, so the same event delivered twice (or a retried
start) starts one run.

Starting is a local activity (one marker event in the router's history, no
child bookkeeping, no pending-children limit; the runs outlive the router by
construction). A start that keeps failing for START_TIMEOUT is dropped with a
warning: dsl.md says ``schedule.on`` faults are invisible to the workflow.
The router continues-as-new every EVENTS_PER_RUN events (or when Temporal
suggests it), carrying triggers, pending groups and recent ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import (
    BOUNDED_INPUT_BYTES,
    DEFAULT_BUDGET,
    evaluate,
    expression_body,
    is_expression,
    json_size,
)
from workflow_runner.engine.events import read_event, same, same_or_pattern

ROUTER_TYPE = "workflow-runner-events"
ROUTER_ID_PREFIX = "workflow-runner-events:"
EVENT_SIGNAL = "event"  # the same name a run's listens receive CloudEvents on
TRIGGERS_SIGNAL = "triggers"
TRIGGERS_MEMO = "workflow-runner-triggers"
START_ACTIVITY = "workflow_runner_start_triggered_run"
MAX_PENDING_GROUPS = 1000
RECENT_EVENT_IDS = 2000
EVENTS_PER_RUN = 1000
START_TIMEOUT = timedelta(minutes=5)
_MISSING = object()


def router_id(task_queue: str) -> str:
    return ROUTER_ID_PREFIX + task_queue


# -- triggers and matching (pure, deterministic) --------------------------------------


@dataclass(frozen=True)
class Trigger:
    """One event-driven definition as the router keeps it (JSON in its history)."""

    id: str  # the schedule id (engine/scheduling/schedules.py)
    workflow_type: str
    on: Mapping[str, Any]  # the strategy as written (dsl/schedule.py checked it)
    definition: str = ""  # the reference, for listing

    @property
    def kind(self) -> str:
        return next(k for k in ("one", "any", "all") if k in self.on)

    @property
    def filters(self) -> list[Mapping[str, Any]]:
        given = self.on[self.kind]
        if self.kind == "one":
            return [given]
        return list(given or [])

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "workflowType": self.workflow_type,
            "on": dict(self.on),
            "definition": self.definition,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Trigger:
        return Trigger(
            str(data["id"]), str(data["workflowType"]), data["on"], str(data.get("definition", ""))
        )


def event_key(event: Mapping[str, Any]) -> str:
    """CloudEvents identity: ``source`` + ``id``."""
    return f"{event.get('source')}\n{event.get('id')}"


def run_id_for(trigger: Trigger, events: Sequence[Mapping[str, Any]]) -> str:
    """The workflow id of the run these events start: the same events, the same id."""
    digest = hashlib.sha256(
        "\n".join([trigger.id, *(event_key(e) for e in events)]).encode()
    ).hexdigest()[:32]
    return f"{trigger.workflow_type}-on-{digest}"


def _evaluate(text: str, dot: Any, now: float, where: str) -> Any:
    small = json_size(dot, BOUNDED_INPUT_BYTES + 1) <= BOUNDED_INPUT_BYTES
    return evaluate(
        expression_body(text),
        dot,
        {},
        now=now,
        where=where,
        budget=DEFAULT_BUDGET.inline(),
        in_process=small,
    )


def _deep(value: Any, now: float, where: str) -> Any:
    if isinstance(value, str) and is_expression(value):
        return _evaluate(value, None, now, where)
    if isinstance(value, dict):
        return {k: _deep(v, now, f"{where}/{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_deep(v, now, f"{where}/{i}") for i, v in enumerate(value)]
    return value


def _attribute(wanted: Any, actual: Any, now: float, where: str, *, pattern: bool) -> bool:
    """As a listen filter matches (engine/tasks/listen.py): an expression with ``.`` = the
    attribute (``true``, or a non-boolean equal to it), objects as subsets, context
    attributes also as a regular expression."""
    if isinstance(wanted, str) and is_expression(wanted):
        result = _evaluate(wanted, actual, now, where)
        return result if isinstance(result, bool) else same(result, actual)
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(
            key in actual and _attribute(item, actual[key], now, f"{where}/{key}", pattern=False)
            for key, item in wanted.items()
        )
    return same_or_pattern(wanted, actual) if pattern else same(wanted, actual)


def filter_match(
    event_filter: Mapping[str, Any], event: Mapping[str, Any], now: float, where: str
) -> dict[str, Any] | None:
    """The event's correlation values when it passes ``event_filter`` (``{}`` without
    ``correlate``), else ``None``. A filter that cannot be evaluated does not match."""
    try:
        for name, wanted in event_filter["with"].items():
            if name == "data":
                if "data" not in event and "data_base64" not in event:
                    return None
                actual = read_event(dict(event), "data")
            elif name in event:
                actual = event[name]
            else:
                return None
            at = f"{where}/with/{name}"
            if not _attribute(wanted, actual, now, at, pattern=name != "data"):
                return None
        values: dict[str, Any] = {}
        for name, spec in (event_filter.get("correlate") or {}).items():
            at = f"{where}/correlate/{name}"
            got = _evaluate(spec["from"], dict(event), now, f"{at}/from")
            if "expect" in spec and got != _deep(spec["expect"], now, f"{at}/expect"):
                return None
            values[name] = got
        return values
    except WorkflowError as error:
        workflow.logger.warning("event filter %s of a schedule.on failed: %s", where, error)
        return None


@dataclass
class Group:
    """A partial ``all`` match: filter index → event, and its correlation values."""

    events: dict[int, dict[str, Any]]
    correlations: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "events": [[i, e] for i, e in sorted(self.events.items())],
            "correlations": self.correlations,
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> Group:
        return Group({int(i): e for i, e in data["events"]}, dict(data["correlations"]))


def _consistent(known: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    return all(known[k] == v for k, v in values.items() if k in known)


def consume(
    trigger: Trigger, groups: list[Group], event: dict[str, Any], now: float
) -> list[list[dict[str, Any]]]:
    """Offer ``event`` to ``trigger``; the event lists whose runs must start now.

    ``groups`` (the trigger's partial ``all`` matches, oldest first) is updated
    in place. An event is consumed by one filter at most, as in a listen.
    """
    filters = trigger.filters
    where = f"{trigger.id}:/schedule/on/{trigger.kind}"
    if trigger.kind == "any" and not filters:
        return [[event]]
    matched: list[tuple[int, dict[str, Any]]] = []
    for index, event_filter in enumerate(filters):
        at = where if trigger.kind == "one" else f"{where}/{index}"
        values = filter_match(event_filter, event, now, at)
        if values is not None:
            matched.append((index, values))
            if trigger.kind != "all":
                return [[event]]
    if not matched:
        return []
    for group in groups:
        for index, values in matched:
            if index not in group.events and _consistent(group.correlations, values):
                group.events[index] = event
                group.correlations.update(values)
                if len(group.events) == len(filters):
                    groups.remove(group)
                    return [[group.events[i] for i in range(len(filters))]]
                return []
    index, values = matched[0]
    groups.append(Group({index: event}, dict(values)))
    if len(filters) == 1:
        groups.pop()
        return [[event]]
    if len(groups) > MAX_PENDING_GROUPS:
        dropped = groups.pop(0)
        workflow.logger.warning(
            "schedule.on of %s: more than %d partial 'all' matches; dropped the oldest (events %s)",
            trigger.id,
            MAX_PENDING_GROUPS,
            [e.get("id") for e in dropped.events.values()],
        )
    return []


# -- starting a run -------------------------------------------------------------------


@activity.defn(name=START_ACTIVITY)
async def start_triggered_run(request: dict[str, Any]) -> str:
    """Start the definition by its workflow type with the events as input (idempotent:
    a second start of the same id is ``duplicate``, not an error)."""
    from temporalio.exceptions import WorkflowAlreadyStartedError

    try:
        await activity.client().start_workflow(
            request["workflowType"],
            request["events"],
            id=request["id"],
            task_queue=request["taskQueue"],
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            memo={"workflow-runner-trigger": request["trigger"]},
        )
    except WorkflowAlreadyStartedError:
        return "duplicate"
    return "started"


# -- the router workflow --------------------------------------------------------------


@workflow.defn(name=ROUTER_TYPE)
class EventRouter:
    """The task queue's event router (see the module docstring)."""

    def __init__(self) -> None:
        self.triggers: dict[str, Trigger] = {}
        self.groups: dict[str, list[Group]] = {}
        self.recent: list[str] = []
        self.recent_set: set[str] = set()
        self.inbox: list[dict[str, Any]] = []
        self.handled = 0
        self.memo_stale = False

    @workflow.signal(name=EVENT_SIGNAL)
    def event(self, event: Any) -> None:
        if isinstance(event, dict):
            self.inbox.append(event)
        else:
            workflow.logger.warning("event router: ignored a non-CloudEvent %r", event)

    @workflow.signal(name=TRIGGERS_SIGNAL)
    def change_triggers(self, change: dict[str, Any]) -> None:
        """``{set: {id: trigger}, remove: [id]}``: register or replace, and remove."""
        for data in (change.get("set") or {}).values():
            trigger = Trigger.from_json(data)
            if self.triggers.get(trigger.id) != trigger:
                self.groups.pop(trigger.id, None)  # a changed strategy starts afresh
            self.triggers[trigger.id] = trigger
        for tid in change.get("remove") or ():
            self.triggers.pop(tid, None)
            self.groups.pop(tid, None)
        self.memo_stale = True

    @workflow.query(name=TRIGGERS_SIGNAL)
    def list_triggers(self) -> list[dict[str, Any]]:
        return [t.to_json() for _, t in sorted(self.triggers.items())]

    @workflow.run
    async def run(self, state: dict[str, Any] | None = None) -> None:
        if state:
            for data in state.get("triggers", []):
                trigger = Trigger.from_json(data)
                self.triggers.setdefault(trigger.id, trigger)
            for tid, groups in (state.get("groups") or {}).items():
                if tid in self.triggers:
                    self.groups.setdefault(tid, [Group.from_json(g) for g in groups])
            for key in state.get("recent", []):
                self._remember(key)
            self.inbox[:0] = list(state.get("inbox", []))
        while True:
            await workflow.wait_condition(
                lambda: bool(self.inbox) or self.memo_stale or not self.triggers
            )
            if self.memo_stale:
                self.memo_stale = False
                workflow.upsert_memo({TRIGGERS_MEMO: self.list_triggers()})
            while self.inbox:
                await self._route(self.inbox.pop(0))
                self.handled += 1
            if not self.triggers and not self.inbox:
                return  # nothing to route for: the next registration starts a new router
            info = workflow.info()
            if self.handled >= EVENTS_PER_RUN or info.is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(self._state())

    def _state(self) -> dict[str, Any]:
        return {
            "triggers": [t.to_json() for _, t in sorted(self.triggers.items())],
            "groups": {tid: [g.to_json() for g in gs] for tid, gs in self.groups.items() if gs},
            "recent": list(self.recent),
            "inbox": list(self.inbox),
        }

    def _remember(self, key: str) -> None:
        self.recent.append(key)
        self.recent_set.add(key)
        if len(self.recent) > RECENT_EVENT_IDS:
            self.recent_set.discard(self.recent.pop(0))

    async def _route(self, event: dict[str, Any]) -> None:
        key = event_key(event)
        if key in self.recent_set:
            workflow.logger.info("event router: event %r seen before; ignored", key)
            return
        self._remember(key)
        now = workflow.time()
        for tid, trigger in sorted(self.triggers.items()):
            groups = self.groups.setdefault(tid, [])
            for events in consume(trigger, groups, event, now):
                await self._start(trigger, events)
            if not groups:
                self.groups.pop(tid, None)

    async def _start(self, trigger: Trigger, events: list[dict[str, Any]]) -> None:
        request = {
            "workflowType": trigger.workflow_type,
            "events": events,
            "id": run_id_for(trigger, events),
            "taskQueue": workflow.info().task_queue,
            "trigger": trigger.id,
        }
        try:
            await workflow.execute_local_activity(
                START_ACTIVITY,
                request,
                result_type=str,
                start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=START_TIMEOUT,
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30)),
                summary=f"start {trigger.workflow_type}",
            )
        except Exception as error:  # a fault of schedule.on is nobody's run's
            workflow.logger.warning(
                "schedule.on of %s: could not start %s (%s): %s",
                trigger.id,
                trigger.workflow_type,
                request["id"],
                error,
            )
