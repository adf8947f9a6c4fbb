"""Zigflow's ``$data.activity``: the running activity's Temporal info, known only inside it.

Zigflow evaluates a call's arguments inside its activity, so
``${ $data.activity.attempt }`` is the attempt that sends the request. Here
arguments are evaluated in workflow code, before any attempt exists. So the
Zigflow dialect binds ``$data.activity`` to placeholders (``⟦activity:attempt⟧``)
and the activity puts the real values in, right before its I/O — the way
secret tokens are revealed. A placeholder that is a whole value becomes the
typed value (an integer attempt); inside a longer string it becomes its text.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

PREFIX = "⟦activity:"
# Zigflow's field names (pkg/utils/state.go, AddActivityInfo).
FIELDS = (
    "activity_id",
    "activity_type_name",
    "attempt",
    "deadline",
    "heartbeat_timeout",
    "is_local_activity",
    "now",
    "priority_key",
    "schedule_to_close_timeout",
    "scheduled_time",
    "start_to_close_timeout",
    "started_time",
    "task_queue",
    "workflow_namespace",
    "workflow_execution_id",
    "workflow_execution_run_id",
    "workflow_type_name",
)
R = TypeVar("R")


def placeholders() -> dict[str, str]:
    """What ``$data.activity`` is in workflow code."""
    return {name: f"{PREFIX}{name}⟧" for name in FIELDS}


def fill(value: Any, info: Mapping[str, Any]) -> Any:
    """``value`` with every placeholder replaced by the activity's info."""
    if isinstance(value, str):
        if PREFIX not in value:
            return value
        for name in FIELDS:
            token = f"{PREFIX}{name}⟧"
            if value == token:
                return info.get(name)
            if token in value:
                value = value.replace(token, _text(info.get(name)))
        return value
    if isinstance(value, dict):
        return {fill(k, info): fill(v, info) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, info) for v in value]
    return value


def fill_request(request: R, fields: tuple[str, ...]) -> R:
    """The request with its ``fields`` filled from the running activity's info (unchanged,
    and no info read, when none holds a placeholder)."""
    values = {name: getattr(request, name) for name in fields}
    if PREFIX not in repr(values):
        return request
    info = current()
    return dataclasses.replace(request, **{k: fill(v, info) for k, v in values.items()})  # type: ignore[type-var]


def current() -> dict[str, Any]:
    """The running activity's info under Zigflow's names."""
    from datetime import UTC, datetime

    from temporalio import activity

    info = activity.info()

    def stamp(moment: datetime | None) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""

    def seconds(delta: Any) -> float:
        return delta.total_seconds() if delta is not None else 0.0

    return {
        "activity_id": info.activity_id,
        "activity_type_name": info.activity_type,
        "attempt": info.attempt,
        "deadline": stamp(
            info.started_time + info.start_to_close_timeout if info.start_to_close_timeout else None
        ),
        "heartbeat_timeout": seconds(info.heartbeat_timeout),
        "is_local_activity": info.is_local,
        "now": stamp(datetime.now(UTC)),
        "priority_key": info.priority.priority_key or 0,
        "schedule_to_close_timeout": seconds(info.schedule_to_close_timeout),
        "scheduled_time": stamp(info.scheduled_time),
        "start_to_close_timeout": seconds(info.start_to_close_timeout),
        "started_time": stamp(info.started_time),
        "task_queue": info.task_queue,
        "workflow_namespace": info.namespace,
        "workflow_execution_id": info.workflow_id,
        "workflow_execution_run_id": info.workflow_run_id,
        "workflow_type_name": info.workflow_type,
    }


def _text(value: Any) -> str:
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
