"""CloudEvent-shaped events for ``listen``/``emit``, and the matching rules.

A filter's ``with`` lists attributes an event must have; object values
match as subsets (so ``data: {status: ok}`` matches any event whose data has
that status). Zigflow's ``with: {type: signal, id: NAME}`` matches the
Temporal signal ``NAME`` and yields its payload rather than the envelope.
"""

from __future__ import annotations

from typing import Any

from workflow_runner.dsl.model import JsonObject


def signal_event(name: str, payload: Any, time: str) -> JsonObject:
    return {
        "specversion": "1.0",
        "type": "signal",
        "id": name,
        "source": "temporal-signal",
        "time": time,
        "data": payload,
    }


def make_event(attributes: JsonObject, *, event_id: str, time: str, source: str) -> JsonObject:
    return {"specversion": "1.0", "id": event_id, "time": time, "source": source, **attributes}


def matches(event: JsonObject, wanted: Any) -> bool:
    if isinstance(wanted, dict):
        return isinstance(event, dict) and all(
            key in event and matches(event[key], value) for key, value in wanted.items()
        )
    return bool(event == wanted)


def _is_signal_filter(filter_with: JsonObject) -> bool:
    return filter_with.get("type") == "signal" and "id" in filter_with


def _take(events: list[JsonObject], filter_spec: JsonObject, used: set[int]) -> int | None:
    wanted = filter_spec.get("with", {}) if isinstance(filter_spec, dict) else {}
    for index, event in enumerate(events):
        if index not in used and matches(event, wanted):
            return index
    return None


def _result(event: JsonObject, filter_spec: JsonObject) -> Any:
    wanted = filter_spec.get("with", {}) if isinstance(filter_spec, dict) else {}
    return event.get("data") if _is_signal_filter(wanted) else event


def consume_matching(events: list[JsonObject], to: JsonObject) -> Any | None:
    """If ``to`` (one / any / all) is satisfied, remove the events it consumes and return them.

    Returns ``None`` while it is not satisfied; the caller waits for more events.
    """
    if "one" in to:
        index = _take(events, to["one"], set())
        if index is None:
            return None
        return _result(events.pop(index), to["one"])
    if "any" in to:
        filters = to["any"] or [{}]
        for filter_spec in filters:
            index = _take(events, filter_spec, set())
            if index is not None:
                return _result(events.pop(index), filter_spec)
        return None
    filters = to.get("all") or []
    used: set[int] = set()
    picked: list[tuple[int, JsonObject]] = []
    for filter_spec in filters:
        index = _take(events, filter_spec, used)
        if index is None:
            return None
        used.add(index)
        picked.append((index, filter_spec))
    results = [_result(events[i], f) for i, f in picked]
    for index in sorted(used, reverse=True):
        events.pop(index)
    return results
