"""A definition's ``schedule`` on Temporal: create or update, delete, list.

What a scheduled run starts: the definition **by its workflow type** (its
name), on the task queue, as ``worker --definitions`` serves it
(engine/registry.py). Not an ad hoc ``DslWorkflow`` run carrying the
definition, because:

- the schedule stays a few hundred bytes, instead of a copy of the
  definition (and every ``run: workflow`` child) frozen into Temporal's
  schedule state, which a redeploy of the workers would silently not update;
- a scheduled run is then exactly what any Temporal client would start, and
  the Web UI shows it under the definition's name.

The price: a worker must serve the definition (``worker --definitions``,
which also creates the schedule when it starts); otherwise each scheduled run
fails at once naming the type and the command to run.

Mapping (dsl/schedule.py reads and checks the definition):

- ``every`` → an interval spec; ``cron`` → a cron expression (UTC); both may
  be given. Overlap policy ``ALLOW_ALL``: the spec says ``every`` runs
  "regardless of whether the previous run is still in progress", and a cron
  line runs on time in Unix too.
- ``after`` — "again, this long after the previous run completes" — has no
  Temporal Schedule form (a schedule's times do not depend on when runs
  end): it is a loop workflow whose id is the schedule id
  (engine/scheduling/repeat.py), created with signal-with-start, terminated on delete.
- ``on`` is a trigger registered in the task queue's event router
  (engine/scheduling/triggers.py); delete removes it. Its runs' input is the events.

Ids: ``dsl:{namespace}/{name}:{version}`` (the definition's reference), so a
new version of a definition is a schedule of its own, and re-applying the same
file updates its schedule in place — also when its kind changed (the old
form, a Temporal Schedule, a loop or a trigger of that id, is removed).
Zigflow's ``metadata.scheduleId``, ``scheduleWorkflowName`` and
``scheduleInput`` are honoured when present (``scheduleInput`` is ignored by
``on``: its runs' input is the events).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
    WorkflowHandle,
)
from temporalio.service import RPCError, RPCStatusCode

from workflow_runner.config import workflow_env
from workflow_runner.engine.definition import Definition
from workflow_runner.engine.scheduling.repeat import (
    AFTER_TYPE,
    CONFIGURE_SIGNAL,
    loop_config,
    loop_memo,
)
from workflow_runner.engine.scheduling.triggers import (
    EVENT_SIGNAL,
    ROUTER_TYPE,
    TRIGGERS_MEMO,
    TRIGGERS_SIGNAL,
    Trigger,
    router_id,
)

ID_PREFIX = "dsl:"
MEMO_KEY = "workflow-runner-definition"


class ScheduleError(ValueError):
    """A definition whose schedule cannot become a Temporal Schedule; names the definition."""


@dataclass(frozen=True)
class ScheduleEntry:
    """One schedule as ``schedule --list`` shows it."""

    id: str
    definition: str | None  # the reference, from the schedule's memo
    workflow_type: str | None
    every: tuple[timedelta, ...] = ()
    cron: tuple[str, ...] = ()
    paused: bool = False
    recent_runs: int | None = None  # a Temporal Schedule's; None: not tracked
    after: timedelta | None = None
    on: Mapping[str, Any] | None = None
    task_queue: str | None = None  # after, on: where the loop / the router runs

    @property
    def kind(self) -> str:
        return "on" if self.on is not None else "after" if self.after is not None else "clock"


def schedule_id(definition: Definition) -> str:
    metadata = _metadata(definition)
    custom = metadata.get("scheduleId")
    if isinstance(custom, str) and custom:
        return custom
    return ID_PREFIX + definition.reference


def workflow_type_of(definition: Definition) -> str:
    custom = _metadata(definition).get("scheduleWorkflowName")
    return custom if isinstance(custom, str) and custom else definition.name


def temporal_schedule(definition: Definition, task_queue: str) -> Schedule:
    """The Temporal Schedule for ``definition``; ``ScheduleError`` when it has none or
    cannot have one."""
    model = definition.model.schedule
    where = f"{definition.source}: {definition.reference}"
    if model is None:
        raise ScheduleError(f"{where} has no top-level 'schedule'")
    if model.after is not None or model.on is not None:
        kind = "after" if model.after is not None else "on"
        raise ScheduleError(
            f"{where}: schedule.{kind} is not a Temporal Schedule (its runs do not start at "
            "clock times); apply_schedule runs it as "
            + ("a loop workflow" if kind == "after" else "a trigger of the event router")
        )
    spec = ScheduleSpec(
        intervals=[ScheduleIntervalSpec(every=model.every)] if model.every else [],
        cron_expressions=[model.cron] if model.cron else [],
    )
    args = _input_args(definition)
    action = ScheduleActionStartWorkflow(
        workflow_type_of(definition),
        args=args,
        id=f"{definition.name}-scheduled",  # Temporal appends the scheduled time
        task_queue=task_queue,
    )
    return Schedule(
        action=action,
        spec=spec,
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.ALLOW_ALL),
    )


def check_schedule(definition: Definition, task_queue: str) -> str:
    """What ``apply_schedule`` would create (``clock``, ``after`` or ``on``), checked without
    connecting; ``ScheduleError`` when it cannot be created."""
    model = definition.model.schedule
    if model is None:
        raise ScheduleError(f"{definition.source}: {definition.reference} has no 'schedule'")
    if model.on is not None:
        return "on"
    if model.after is not None:
        _input_args(definition)
        return "after"
    temporal_schedule(definition, task_queue)
    return "clock"


async def apply_schedule(client: Client, definition: Definition, task_queue: str) -> str:
    """Create the definition's schedule, or update it in place when it exists; its id.

    Another form of the same id (the definition's schedule changed kind) is removed.
    """
    kind = check_schedule(definition, task_queue)
    sid = schedule_id(definition)
    if kind == "on":
        await _register_trigger(client, definition, task_queue)
    elif kind == "after":
        await _start_loop(client, definition, task_queue)
    else:
        schedule = temporal_schedule(definition, task_queue)
        memo = {MEMO_KEY: definition.reference}
        try:
            await client.create_schedule(sid, schedule, memo=memo)
        except ScheduleAlreadyRunningError:

            def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
                return ScheduleUpdate(schedule=schedule)

            await client.get_schedule_handle(sid).update(update)
    if kind != "clock":
        await _delete_clock(client, sid)
    if kind != "after":
        await _stop_loop(client, sid)
    if kind != "on":
        await _remove_trigger(client, sid, task_queue)
    return sid


async def delete_schedule(
    client: Client, definition: Definition, task_queue: str | None = None
) -> bool:
    """Delete the definition's schedule, whatever its kind (an ``on`` trigger is looked
    for on ``task_queue``); ``False`` when there was none."""
    sid = schedule_id(definition)
    found = await _delete_clock(client, sid)
    found = await _stop_loop(client, sid) or found
    if task_queue is not None:
        found = await _remove_trigger(client, sid, task_queue) or found
    return found


async def send_event(client: Client, task_queue: str, event: Mapping[str, Any]) -> bool:
    """Send ``event`` to the event router of ``task_queue``; ``False`` when the queue has
    none (no ``schedule.on`` definition registered there: nothing to start)."""
    try:
        await client.get_workflow_handle(router_id(task_queue)).signal(EVENT_SIGNAL, event)
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _delete_clock(client: Client, sid: str) -> bool:
    try:
        await client.get_schedule_handle(sid).delete()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _start_loop(client: Client, definition: Definition, task_queue: str) -> None:
    model = definition.model.schedule
    assert model is not None and model.after is not None
    config = loop_config(
        workflow_type_of(definition), model.after, _input_args(definition), definition.reference
    )
    await client.start_workflow(
        AFTER_TYPE,
        args=[config, 0],
        id=schedule_id(definition),
        task_queue=task_queue,
        start_signal=CONFIGURE_SIGNAL,
        start_signal_args=[config],
        memo=loop_memo(config),
    )


async def _stop_loop(client: Client, sid: str) -> bool:
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(sid)
    try:
        described = await handle.describe()
        if described.workflow_type != AFTER_TYPE or described.close_time is not None:
            return False
        await handle.terminate(reason="schedule deleted (workflow-runner schedule --delete)")
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def _register_trigger(client: Client, definition: Definition, task_queue: str) -> None:
    model = definition.model.schedule
    assert model is not None and model.on is not None
    trigger = Trigger(
        schedule_id(definition), workflow_type_of(definition), model.on, definition.reference
    ).to_json()
    await client.start_workflow(
        ROUTER_TYPE,
        {"triggers": [trigger]},
        id=router_id(task_queue),
        task_queue=task_queue,
        start_signal=TRIGGERS_SIGNAL,
        start_signal_args=[{"set": {trigger["id"]: trigger}}],
        memo={TRIGGERS_MEMO: [trigger]},
    )


async def _remove_trigger(client: Client, sid: str, task_queue: str) -> bool:
    """Remove trigger ``sid`` from the queue's router; whether its memo listed it."""
    handle: WorkflowHandle[Any, Any] = client.get_workflow_handle(router_id(task_queue))
    try:
        described = await handle.describe()
        if described.close_time is not None:
            return False
        listed = await described.memo_value(TRIGGERS_MEMO, [])
        await handle.signal(TRIGGERS_SIGNAL, {"remove": [sid]})
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return any(isinstance(t, dict) and t.get("id") == sid for t in listed)


async def list_schedules(client: Client, *, everything: bool = False) -> list[ScheduleEntry]:
    """The schedules this runner created (``everything``: every schedule of the namespace)."""
    entries = []
    async for listed in await client.list_schedules():
        memo = await listed.memo_value(MEMO_KEY, None)
        if not everything and memo is None and not listed.id.startswith(ID_PREFIX):
            continue
        schedule = listed.schedule
        spec = schedule.spec if schedule is not None else None
        entries.append(
            ScheduleEntry(
                id=listed.id,
                definition=memo if isinstance(memo, str) else None,
                workflow_type=getattr(schedule.action, "workflow", None) if schedule else None,
                every=tuple(i.every for i in spec.intervals) if spec else (),
                cron=tuple(spec.cron_expressions) if spec else (),
                paused=bool(schedule and schedule.state.paused),
                recent_runs=len(listed.info.recent_actions) if listed.info else 0,
            )
        )
    entries.extend(await _listed_loops(client))
    entries.extend(await _listed_triggers(client))
    return sorted(entries, key=lambda e: (e.id, e.task_queue or ""))


async def _listed_loops(client: Client) -> list[ScheduleEntry]:
    entries = []
    query = f"WorkflowType = '{AFTER_TYPE}' AND ExecutionStatus = 'Running'"
    async for listed in client.list_workflows(query):
        config = await listed.memo_value(AFTER_TYPE, {})
        reference = await listed.memo_value(MEMO_KEY, None)
        entries.append(
            ScheduleEntry(
                id=listed.id,
                definition=reference if isinstance(reference, str) else None,
                workflow_type=config.get("workflowType"),
                after=timedelta(seconds=float(config.get("afterSeconds", 0))),
                task_queue=listed.task_queue,
            )
        )
    return entries


async def _listed_triggers(client: Client) -> list[ScheduleEntry]:
    entries = []
    query = f"WorkflowType = '{ROUTER_TYPE}' AND ExecutionStatus = 'Running'"
    async for listed in client.list_workflows(query):
        for data in await listed.memo_value(TRIGGERS_MEMO, []):
            trigger = Trigger.from_json(data)
            entries.append(
                ScheduleEntry(
                    id=trigger.id,
                    definition=trigger.definition or None,
                    workflow_type=trigger.workflow_type,
                    on=trigger.on,
                    task_queue=listed.task_queue,
                )
            )
    return entries


def scheduled(definitions: Sequence[Definition]) -> list[Definition]:
    """The definitions that carry a schedule (of any kind)."""
    return [d for d in definitions if d.model.schedule is not None]


def _metadata(definition: Definition) -> Mapping[str, Any]:
    metadata = definition.model.document.raw.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def _input_args(definition: Definition) -> list[Any]:
    """Zigflow's ``scheduleInput``: the scheduled run's arguments, ``$env`` expressions
    evaluated now (against ``WORKFLOW_ENV_*``, as a run's ``$env`` is)."""
    raw = _metadata(definition).get("scheduleInput")
    if raw is None:
        return []
    values = raw if isinstance(raw, list) else [raw]
    env = workflow_env()
    return [_evaluated(v, env) for v in values]


def _evaluated(value: Any, env: Mapping[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _evaluated(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_evaluated(v, env) for v in value]
    if isinstance(value, str) and value.strip().startswith("${") and value.strip().endswith("}"):
        import jq

        body = value.strip()[2:-1]
        try:
            return jq.compile(body, args={"env": dict(env)}).input_value(None).first()
        except (ValueError, StopIteration) as e:
            raise ScheduleError(f"scheduleInput expression {value!r}: {e}") from None
    return value
