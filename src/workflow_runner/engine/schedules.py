"""A definition's ``schedule`` as a Temporal Schedule: create or update, delete, list.

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
  end). It is refused with that reason; see docs for the workaround.
- ``on`` is refused by the reader ("not supported yet").

Ids: ``dsl:{namespace}/{name}:{version}`` (the definition's reference), so a
new version of a definition is a schedule of its own, and re-applying the same
file updates its schedule in place. Zigflow's ``metadata.scheduleId``,
``scheduleWorkflowName`` and ``scheduleInput`` are honoured when present.
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
)
from temporalio.service import RPCError, RPCStatusCode

from workflow_runner.config import workflow_env
from workflow_runner.engine.definition import Definition

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
    every: tuple[timedelta, ...]
    cron: tuple[str, ...]
    paused: bool
    recent_runs: int


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
    if model.after is not None:
        raise ScheduleError(
            f"{where}: schedule.after is not supported: a Temporal Schedule fires at times "
            "that do not depend on when the previous run ended; use 'every' (runs overlap "
            "when slower than the interval) or end the workflow with a 'wait' and a 'then' "
            "back to its first task"
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


async def apply_schedule(client: Client, definition: Definition, task_queue: str) -> str:
    """Create the definition's schedule, or update it in place when it exists; its id."""
    schedule = temporal_schedule(definition, task_queue)
    sid = schedule_id(definition)
    memo = {MEMO_KEY: definition.reference}
    try:
        await client.create_schedule(sid, schedule, memo=memo)
    except ScheduleAlreadyRunningError:

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(sid).update(update)
    return sid


async def delete_schedule(client: Client, definition: Definition) -> bool:
    """Delete the definition's schedule; ``False`` when there was none."""
    try:
        await client.get_schedule_handle(schedule_id(definition)).delete()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


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
    return sorted(entries, key=lambda e: e.id)


def scheduled(definitions: Sequence[Definition]) -> list[Definition]:
    """The definitions that carry a schedule."""
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
