"""What a definition asks of Temporal through ``metadata``: activity options, search
attributes, memo and continue-as-new.

The DSL spec has no syntax for these, so the forms are Zigflow's (what users
already write in ``metadata``), plus plain spec-friendly ones where natural:

``document.metadata`` (workflow-wide) and a task's ``metadata`` (that task):

- ``activityOptions``: Zigflow's ``startToCloseTimeout``, ``scheduleToCloseTimeout``,
  ``scheduleToStartTimeout``, ``heartbeatTimeout`` (durations), ``retryPolicy``
  (``initialInterval``, ``backoffCoefficient``, ``maximumInterval``,
  ``maximumAttempts``, ``nonRetryableErrorTypes``), ``summary`` and ``priority``
  (``priorityKey``, ``fairnessKey``, ``fairnessWeight``). A task's options override
  the document's field by field, as in Zigflow.
- ``retry``: the DSL's own retry form (``delay``, ``backoff``, ``limit``) or a
  ``use.retries`` name, mapped onto Temporal's retry policy (``linear`` backoff and
  ``when``/``exceptWhen`` have no Temporal equivalent and are refused).
- ``heartbeat``: Zigflow's task-level heartbeat interval (a duration), accepted and
  checked; our long activities (``call: http``, ``run``) heartbeat on their own every
  third of ``heartbeatTimeout`` whenever one is set (engine/activities/heartbeat.py).
  ``disableEagerExecution`` is accepted too and has no effect (the Python SDK decides
  eager execution per worker).
- ``searchAttributes``: Zigflow's ``{name: {type, value}}`` or a plain ``{name: value}``
  (type inferred); values may be ``${ }`` expressions. Document-level ones are set
  when the run starts, a task's ones when the task starts.
- ``memo``: ``{name: value}`` (``${ }`` allowed), set like search attributes.
- ``canMaxHistoryLength`` (Zigflow) or ``continueAsNew: {maxHistoryLength: N}``
  (document only): continue as new past that many history events.

This module is pure (no temporalio): ``validate`` checks metadata without
importing the SDK; ``engine/temporal_options.py`` turns it into SDK objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any

from workflow_runner.dsl.durations import parse_duration
from workflow_runner.dsl.expression_syntax import is_expression
from workflow_runner.dsl.loader import pointer_join

ACTIVITY_OPTIONS = "activityOptions"
SEARCH_ATTRIBUTES = "searchAttributes"
MEMO = "memo"
HEARTBEAT = "heartbeat"
RETRY = "retry"
CAN_MAX_HISTORY_LENGTH = "canMaxHistoryLength"
CONTINUE_AS_NEW = "continueAsNew"
# What a run records about itself in Temporal's visibility (evaluated when set).
ANNOTATIONS = (SEARCH_ATTRIBUTES, MEMO)
SEARCH_ATTRIBUTE_TYPES = frozenset(
    {"text", "keyword", "int", "double", "bool", "datetime", "keywordlist"}
)
_OPTION_DURATIONS = {
    "startToCloseTimeout": "start_to_close",
    "scheduleToCloseTimeout": "schedule_to_close",
    "scheduleToStartTimeout": "schedule_to_start",
    "heartbeatTimeout": "heartbeat_timeout",
}
_OPTION_KEYS = frozenset({*_OPTION_DURATIONS, "retryPolicy", "summary", "priority"}) | {
    "disableEagerExecution"
}
_RETRY_KEYS = frozenset(
    {
        "initialInterval",
        "backoffCoefficient",
        "maximumInterval",
        "maximumAttempts",
        "nonRetryableErrorTypes",
    }
)
_PRIORITY_KEYS = frozenset({"priorityKey", "fairnessKey", "fairnessWeight"})
TASK_LISTS = frozenset({"do", "try", "branches"})  # keys whose value is a task list
Report = Callable[[str, str], None]  # (JSON pointer, message)


class MetadataError(ValueError):
    """Metadata that cannot be used; the message names the pointer."""


@dataclass(frozen=True)
class RetrySpec:
    """Temporal's retry policy, as written (``None``: Temporal's default for that field)."""

    initial_interval: timedelta | None = None
    backoff_coefficient: float | None = None
    maximum_interval: timedelta | None = None
    maximum_attempts: int | None = None
    non_retryable_error_types: tuple[str, ...] | None = None


@dataclass(frozen=True)
class ActivityOptions:
    """Options of the activities a task schedules; ``None`` fields are left to the engine."""

    start_to_close: timedelta | None = None
    schedule_to_close: timedelta | None = None
    schedule_to_start: timedelta | None = None
    heartbeat_timeout: timedelta | None = None
    heartbeat: timedelta | None = None  # how often the activity heartbeats
    retry: RetrySpec | None = None
    summary: str | None = None
    priority_key: int | None = None
    fairness_key: str | None = None
    fairness_weight: float | None = None

    def over(self, base: ActivityOptions) -> ActivityOptions:
        """These options, falling back field by field on ``base`` (a task's over the document's)."""
        changes = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(base, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True)
class SearchAttribute:
    name: str
    type: str  # one of SEARCH_ATTRIBUTE_TYPES
    value: Any  # may hold ${ } expressions; None unsets


NO_OPTIONS = ActivityOptions()


def _problems(report: Report | None) -> tuple[Report, list[str]]:
    found: list[str] = []
    if report is not None:
        return report, found

    def collect(pointer: str, message: str) -> None:
        found.append(f"{pointer}: {message}")

    return collect, found


def _raise_if(found: list[str]) -> None:
    if found:
        raise MetadataError("; ".join(found))


def _duration(value: Any, pointer: str, report: Report) -> timedelta | None:
    try:
        return parse_duration(value)
    except ValueError as e:
        report(pointer, str(e))
        return None


def _number(value: Any, pointer: str, report: Report, *, integer: bool) -> Any:
    kinds: tuple[type, ...] = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        report(pointer, "must be an integer" if integer else "must be a number")
        return None
    return value


def activity_options(
    metadata: Any,
    pointer: str,
    retries: Mapping[str, Any] | None = None,
    report: Report | None = None,
) -> ActivityOptions:
    """The activity options in one ``metadata`` mapping (``activityOptions``, ``retry``,
    ``heartbeat``); ``MetadataError`` naming the pointer unless ``report`` collects."""
    report, found = _problems(report)
    if not isinstance(metadata, dict):
        return NO_OPTIONS
    values = _options(
        metadata.get(ACTIVITY_OPTIONS), pointer_join(pointer, ACTIVITY_OPTIONS), report
    )
    if metadata.get(RETRY) is not None:
        at = pointer_join(pointer, RETRY)
        if "retry" in values:
            report(at, "give either retry or activityOptions.retryPolicy, not both")
        dsl_retry = metadata[RETRY]
        if isinstance(dsl_retry, str):
            named = (retries or {}).get(dsl_retry)
            if named is None:
                report(at, f"retry policy {dsl_retry!r} is not defined in use.retries")
            dsl_retry = named
        if dsl_retry is not None:
            retry, limit = _dsl_retry(dsl_retry, at, report)
            values["retry"] = retry
            if limit is not None and values.get("schedule_to_close") is None:
                values["schedule_to_close"] = limit
    if metadata.get(HEARTBEAT) is not None:
        values["heartbeat"] = _duration(
            metadata[HEARTBEAT], pointer_join(pointer, HEARTBEAT), report
        )
    _raise_if(found)
    return ActivityOptions(**values)


def options_at(spec: Any, where: str, report: Report | None = None) -> ActivityOptions:
    """A bare ``activityOptions`` mapping (``call: activity``'s ``with.options``)."""
    report, found = _problems(report)
    values = _options(spec, where, report)
    _raise_if(found)
    return ActivityOptions(**values)


def _options(spec: Any, where: str, report: Report) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if spec is None:
        return values
    if not isinstance(spec, dict):
        report(where, "activityOptions must be a mapping")
        return values
    for key, item in spec.items():
        at = pointer_join(where, key)
        if key not in _OPTION_KEYS:
            report(
                at,
                f"unknown activity option {key!r}; expected one of "
                + ", ".join(sorted(_OPTION_KEYS)),
            )
        elif key in _OPTION_DURATIONS:
            values[_OPTION_DURATIONS[key]] = _duration(item, at, report)
        elif key == "retryPolicy":
            values["retry"] = _retry_policy(item, at, report)
        elif key == "summary":
            if not isinstance(item, str):
                report(at, "summary must be a string")
            else:
                values["summary"] = item
        elif key == "priority":
            values.update(_priority(item, at, report))
    return values


def _retry_policy(spec: Any, pointer: str, report: Report) -> RetrySpec | None:
    if not isinstance(spec, dict):
        report(pointer, "retryPolicy must be a mapping")
        return None
    values: dict[str, Any] = {}
    for key, item in spec.items():
        at = pointer_join(pointer, key)
        if key not in _RETRY_KEYS:
            report(
                at,
                f"unknown retryPolicy property {key!r}; expected one of "
                + ", ".join(sorted(_RETRY_KEYS)),
            )
        elif key == "initialInterval":
            values["initial_interval"] = _duration(item, at, report)
        elif key == "maximumInterval":
            values["maximum_interval"] = _duration(item, at, report)
        elif key == "backoffCoefficient":
            values["backoff_coefficient"] = _number(item, at, report, integer=False)
        elif key == "maximumAttempts":
            values["maximum_attempts"] = _number(item, at, report, integer=True)
        elif key == "nonRetryableErrorTypes":
            if not isinstance(item, list) or not all(isinstance(t, str) for t in item):
                report(at, "nonRetryableErrorTypes must be a list of strings")
            else:
                values["non_retryable_error_types"] = tuple(item)
    return RetrySpec(**values)


def _dsl_retry(spec: Any, pointer: str, report: Report) -> tuple[RetrySpec | None, Any]:
    """The DSL retry form as a Temporal retry policy, and its ``limit.duration``."""
    if not isinstance(spec, dict):
        report(pointer, "retry must be a mapping (delay, backoff, limit) or a use.retries name")
        return None, None
    for key in spec:
        if key in ("when", "exceptWhen"):
            report(
                pointer_join(pointer, key),
                f"retry.{key} has no Temporal equivalent on an activity; use "
                "activityOptions.retryPolicy.nonRetryableErrorTypes or a try/catch retry",
            )
        elif key not in ("delay", "backoff", "limit", "jitter"):
            report(pointer_join(pointer, key), f"unknown retry property {key!r}")
    delay = (
        _duration(spec["delay"], pointer_join(pointer, "delay"), report)
        if ("delay" in spec)
        else timedelta(seconds=1)
    )
    backoff = spec.get("backoff") or {"constant": {}}
    coefficient = 1.0
    kind = next(iter(backoff), None) if isinstance(backoff, dict) else None
    if kind == "exponential":
        coefficient = 2.0
    elif kind == "linear":
        report(
            pointer_join(pointer, "backoff"),
            "linear backoff has no Temporal equivalent; use constant or exponential",
        )
    elif kind != "constant":
        report(pointer_join(pointer, "backoff"), "backoff must be constant or exponential")
    limit = spec.get("limit") or {}
    attempts = (limit.get("attempt") or {}).get("count") if isinstance(limit, dict) else None
    if attempts is not None:
        attempts = _number(attempts, pointer_join(pointer, "limit"), report, integer=True)
    duration = None
    if isinstance(limit, dict) and limit.get("duration") is not None:
        duration = _duration(limit["duration"], pointer_join(pointer, "limit"), report)
    return (
        RetrySpec(
            initial_interval=delay, backoff_coefficient=coefficient, maximum_attempts=attempts
        ),
        duration,
    )


def _priority(spec: Any, pointer: str, report: Report) -> dict[str, Any]:
    if not isinstance(spec, dict):
        report(pointer, "priority must be a mapping with priorityKey, fairnessKey, fairnessWeight")
        return {}
    values: dict[str, Any] = {}
    for key, item in spec.items():
        at = pointer_join(pointer, key)
        if key not in _PRIORITY_KEYS:
            report(
                at,
                f"unknown priority property {key!r}; expected one of "
                + ", ".join(sorted(_PRIORITY_KEYS)),
            )
        elif key == "priorityKey":
            number = _number(item, at, report, integer=True)
            if number is not None and number < 1:
                report(at, "priorityKey must be 1 or more (1 runs first)")
            values["priority_key"] = number
        elif key == "fairnessKey":
            if not isinstance(item, str) or len(item.encode()) > 64:
                report(at, "fairnessKey must be a string of at most 64 bytes")
            else:
                values["fairness_key"] = item
        else:
            values["fairness_weight"] = _number(item, at, report, integer=False)
    return values


def search_attributes(
    metadata: Any, pointer: str, report: Report | None = None
) -> tuple[SearchAttribute, ...]:
    """``searchAttributes`` of one ``metadata`` mapping, in Zigflow's or the plain form."""
    report, found = _problems(report)
    spec = metadata.get(SEARCH_ATTRIBUTES) if isinstance(metadata, dict) else None
    if spec is None:
        return ()
    where = pointer_join(pointer, SEARCH_ATTRIBUTES)
    if not isinstance(spec, dict):
        report(where, "searchAttributes must be a mapping of name to {type, value} or value")
        _raise_if(found)
        return ()
    result: list[SearchAttribute] = []
    for name, item in spec.items():
        at = pointer_join(where, name)
        if isinstance(item, dict) and "type" in item:
            kind = str(item["type"]).lower()
            extra = set(item) - {"type", "value"}
            if extra:
                report(at, f"a search attribute has type and value, not {sorted(extra)}")
            if kind not in SEARCH_ATTRIBUTE_TYPES:
                report(
                    pointer_join(at, "type"),
                    f"unknown search attribute type {kind!r}; "
                    "expected one of " + ", ".join(sorted(SEARCH_ATTRIBUTE_TYPES)),
                )
            result.append(SearchAttribute(str(name), kind, item.get("value")))
        else:
            inferred = infer_type(item)
            if inferred is None:
                report(
                    at,
                    "give the search attribute's type ({type: keyword, value: ...}): "
                    "it cannot be inferred from an expression or this value",
                )
            else:
                result.append(SearchAttribute(str(name), inferred, item))
    _raise_if(found)
    return tuple(result)


def infer_type(value: Any) -> str | None:
    """The search attribute type of a plain value (``None`` when it cannot be told)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return None if is_expression(value) else "keyword"
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "keywordlist"
    return None


def memo(metadata: Any, pointer: str, report: Report | None = None) -> dict[str, Any]:
    report, found = _problems(report)
    spec = metadata.get(MEMO) if isinstance(metadata, dict) else None
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        report(pointer_join(pointer, MEMO), "memo must be a mapping of name to value")
    _raise_if(found)
    return dict(spec) if isinstance(spec, dict) else {}


def max_history_length(metadata: Any, pointer: str, report: Report | None = None) -> int | None:
    """Zigflow's ``canMaxHistoryLength`` or ``continueAsNew.maxHistoryLength`` (document)."""
    report, found = _problems(report)
    if not isinstance(metadata, dict):
        return None
    value: Any = None
    at = pointer_join(pointer, CAN_MAX_HISTORY_LENGTH)
    if CAN_MAX_HISTORY_LENGTH in metadata:
        value = metadata[CAN_MAX_HISTORY_LENGTH]
    spec = metadata.get(CONTINUE_AS_NEW)
    if spec is not None:
        at = pointer_join(pointer_join(pointer, CONTINUE_AS_NEW), "maxHistoryLength")
        if not isinstance(spec, dict) or set(spec) - {"maxHistoryLength"}:
            report(
                pointer_join(pointer, CONTINUE_AS_NEW),
                "continueAsNew must be {maxHistoryLength: N}",
            )
        else:
            value = spec.get("maxHistoryLength")
    if value is not None:
        value = _number(value, at, report, integer=True)
        if value is not None and value < 1:
            report(at, "must be a positive number of history events")
            value = None
    _raise_if(found)
    return value if isinstance(value, int) else None


def check(
    metadata: Any, pointer: str, retries: Mapping[str, Any], report: Report, *, document: bool
) -> None:
    """Report every problem of one ``metadata`` mapping (``validate`` and worker start-up)."""
    if metadata is None:
        return
    if not isinstance(metadata, dict):
        report(pointer, "metadata must be a mapping")
        return
    activity_options(metadata, pointer, retries, report)
    search_attributes(metadata, pointer, report)
    memo(metadata, pointer, report)
    if document:
        max_history_length(metadata, pointer, report)
    elif CAN_MAX_HISTORY_LENGTH in metadata or CONTINUE_AS_NEW in metadata:
        report(pointer, "continue-as-new is set in document.metadata, not on a task")


def check_definition(data: Any, report: Report) -> None:
    """Every ``metadata`` of a definition: the document's and each task's (any depth)."""
    if not isinstance(data, dict):
        return
    use = data.get("use")
    retries = use.get("retries") if isinstance(use, dict) else None
    retries = retries if isinstance(retries, dict) else {}
    document = data.get("document")
    if isinstance(document, dict):
        check(document.get("metadata"), "/document/metadata", retries, report, document=True)
    for pointer, task in tasks_of(data):
        check(
            task.get("metadata"), pointer_join(pointer, "metadata"), retries, report, document=False
        )


def tasks_of(data: Any, pointer: str = "") -> list[tuple[str, dict[str, Any]]]:
    """Every task mapping of a definition with its pointer, wherever ``do`` lists nest."""
    found: list[tuple[str, dict[str, Any]]] = []

    def walk(node: Any, at: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in TASK_LISTS and isinstance(value, list):
                    for index, entry in enumerate(value):
                        if isinstance(entry, dict) and len(entry) == 1:
                            name, task = next(iter(entry.items()))
                            task_at = pointer_join(pointer_join(pointer_join(at, key), index), name)
                            if isinstance(task, dict):
                                found.append((task_at, task))
                                walk(task, task_at)
                elif isinstance(value, dict | list):
                    walk(value, pointer_join(at, key))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, pointer_join(at, index))

    walk(data, pointer)
    return found


def resolve(data: Any, pointer: str) -> Any:
    """The value at a JSON pointer in ``data`` (``None`` when absent)."""
    node = data
    for token in pointer.split("/")[1:] if pointer else []:
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict):
            node = node.get(token)
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return None
    return node
