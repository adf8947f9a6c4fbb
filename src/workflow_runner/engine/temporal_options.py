"""``dsl/metadata.py``'s typed metadata as temporalio objects (workflow side).

Kept apart from ``metadata.py`` so that ``validate`` never imports temporalio.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio.common import (
    Priority,
    RetryPolicy,
    SearchAttributeKey,
    SearchAttributeUpdate,
)

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.metadata import ActivityOptions, RetrySpec, SearchAttribute

# Before a definition says otherwise: three attempts, 1 s then 2 s apart.
IO_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), backoff_coefficient=2.0, maximum_attempts=3
)
DEFAULT_ACTIVITY_TIMEOUT = timedelta(minutes=10)


def retry_policy(spec: RetrySpec | None) -> RetryPolicy:
    """The definition's retry policy; fields it leaves out keep IO_RETRY's values."""
    if spec is None:
        return IO_RETRY
    return RetryPolicy(
        initial_interval=spec.initial_interval or IO_RETRY.initial_interval,
        backoff_coefficient=(
            spec.backoff_coefficient
            if spec.backoff_coefficient is not None
            else IO_RETRY.backoff_coefficient
        ),
        maximum_interval=spec.maximum_interval,
        maximum_attempts=(
            spec.maximum_attempts
            if spec.maximum_attempts is not None
            else IO_RETRY.maximum_attempts
        ),
        non_retryable_error_types=list(spec.non_retryable_error_types or ()) or None,
    )


def activity_kwargs(options: ActivityOptions, task_timeout: timedelta | None) -> dict[str, Any]:
    """Keyword arguments of ``workflow.execute_activity`` for a task's activity.

    Without a start-to-close timeout, the task's ``timeout`` (else ten minutes) bounds
    each attempt, as before the definition could say more. A schedule-to-close timeout
    alone bounds the whole activity, so no per-attempt default is added then.

    The Web UI's ``summary`` label is set only when the definition gives one: a summary
    is a payload, and the SDK enters the sandbox once per payload it encodes, stores or
    references (4 entries an activity, ~0.15 ms each on a 2-core VM: a default label on
    every activity was 2.5% of a small workflow's CPU; see bench/RESULTS.md).
    """
    start_to_close = options.start_to_close
    if start_to_close is None and options.schedule_to_close is None:
        start_to_close = task_timeout or DEFAULT_ACTIVITY_TIMEOUT
    kwargs: dict[str, Any] = {
        "start_to_close_timeout": start_to_close,
        "schedule_to_close_timeout": options.schedule_to_close,
        "schedule_to_start_timeout": options.schedule_to_start,
        "heartbeat_timeout": options.heartbeat_timeout,
        "retry_policy": retry_policy(options.retry),
    }
    if options.summary is not None:
        kwargs["summary"] = options.summary
    if (
        options.priority_key is not None
        or options.fairness_key is not None
        or options.fairness_weight is not None
    ):
        kwargs["priority"] = Priority(
            priority_key=options.priority_key,
            fairness_key=options.fairness_key,
            fairness_weight=options.fairness_weight,
        )
    return kwargs


def search_attribute_updates(
    attributes: Sequence[SearchAttribute], values: Sequence[Any], pointer: str
) -> list[SearchAttributeUpdate[Any]]:
    """Typed updates for evaluated values; a value of the wrong type is a DSL error."""
    return [
        _update(attribute, value, pointer)
        for attribute, value in zip(attributes, values, strict=True)
    ]


def _update(attribute: SearchAttribute, value: Any, pointer: str) -> SearchAttributeUpdate[Any]:
    name, kind = attribute.name, attribute.type
    key: SearchAttributeKey[Any]
    try:
        if kind == "text":
            key = SearchAttributeKey.for_text(name)
            converted: Any = _string(value)
        elif kind == "keyword":
            key = SearchAttributeKey.for_keyword(name)
            converted = _string(value)
        elif kind == "int":
            key = SearchAttributeKey.for_int(name)
            converted = None if value is None else int(value)
        elif kind == "double":
            key = SearchAttributeKey.for_float(name)
            converted = None if value is None else float(value)
        elif kind == "bool":
            key = SearchAttributeKey.for_bool(name)
            converted = value if value is None or isinstance(value, bool) else _boolean(value)
        elif kind == "datetime":
            key = SearchAttributeKey.for_datetime(name)
            converted = None if value is None else datetime.fromisoformat(str(value))
        else:
            key = SearchAttributeKey.for_keyword_list(name)
            if value is not None and (
                not isinstance(value, list) or not all(isinstance(v, str) for v in value)
            ):
                raise ValueError("a keywordlist is a list of strings")
            converted = value
    except (TypeError, ValueError) as e:
        raise WorkflowError.of(
            "validation",
            f"search attribute {name!r} ({kind}) cannot take {value!r}: {e}",
            instance=pointer,
        ) from None
    return key.value_unset() if converted is None else key.value_set(converted)


def _string(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError("expected a string")


def _boolean(value: Any) -> bool:
    text = str(value).lower()
    if text in ("true", "false"):
        return text == "true"
    raise ValueError("expected true or false")
