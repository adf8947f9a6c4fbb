"""The top-level ``schedule`` of a definition, read into :class:`Schedule`.

Spec (dsl-reference.md "Schedule"): ``every`` (a duration; runs whatever the
previous run is doing), ``cron`` (a CRON expression), ``after`` (a delay after
the previous run *completes*) or ``on`` (events that start a run). The engine
turns a schedule into a Temporal Schedule (engine/scheduling/schedules.py).

At least one of them. ``every`` and ``cron`` may be combined (a Temporal
Schedule runs at the times of both, as Zigflow's schedule example expects);
``after`` and ``on`` stand alone: "again after the previous run completes"
and "when an event arrives" contradict a clock, so such a combination is
refused rather than guessed at.

``on`` is an event consumption strategy (``one``, ``any`` or ``all`` of
event filters, as ``listen.to``): each filter needs ``with``, may
``correlate``; ``until`` is refused (it ends a listen; a schedule has no end).
Runtime expressions in it see ``.`` = the event attribute (or the event for
``correlate.from``) and no ``$`` variables: there is no run yet. The model
keeps the strategy as written; engine/scheduling/triggers.py matches events against it.

A cron expression is checked here, field by field, so a typo is an error
with the file, line and field when the definition is read — not a refusal
from the Temporal server when a worker starts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from workflow_runner.dsl.durations import parse_duration
from workflow_runner.dsl.expression_syntax import check_syntax, expression_body, is_expression

KINDS = ("every", "cron", "after", "on")
STRATEGIES = ("one", "any", "all")
# Temporal runs a schedule's actions at most once a second.
MIN_INTERVAL = timedelta(seconds=1)
MACROS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@hourly"})
_FIELDS = (  # name, low, high, names
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    (
        "month",
        1,
        12,
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
    ),
    ("day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_ITEM = re.compile(r"^(?P<range>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>\d+))?$")

Problem = Callable[[str, str], None]


@dataclass(frozen=True)
class Schedule:
    """``every`` and/or ``cron``, or ``after`` alone, or ``on`` alone, validated; the rest
    are ``None``."""

    every: timedelta | None = None
    cron: str | None = None
    after: timedelta | None = None
    on: Mapping[str, Any] | None = None  # the event consumption strategy, as written

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(k for k in KINDS if getattr(self, k) is not None)


def read_schedule(value: Any, problem: Problem, pointer: str = "/schedule") -> Schedule | None:
    """The schedule, or ``None`` after reporting every problem through ``problem``."""
    if not isinstance(value, dict):
        problem(pointer, "schedule must be a mapping with one of: every, cron, after, on")
        return None
    # YAML 1.1 reads an unquoted ``on:`` key as the boolean true (the loader: "True").
    value = {("on" if k is True or k == "True" else k): v for k, v in value.items()}
    unknown = [k for k in value if k not in KINDS]
    for key in unknown:
        problem(f"{pointer}/{key}", f"unknown schedule property {key!r}; use one of {KINDS}")
    given = [k for k in KINDS if k in value]
    if not given:
        problem(pointer, "schedule needs one of every, cron, after, on")
        return None
    alone = [k for k in ("after", "on") if k in given]
    if alone and len(given) > 1:
        others = ", ".join(k for k in given if k != alone[0])
        problem(pointer, f"schedule.{alone[0]} cannot be combined with {others}")
        return None
    if "on" in given:
        on = read_on(value["on"], problem, f"{pointer}/on")
        return None if on is None or unknown else Schedule(on=on)
    durations: dict[str, timedelta] = {}
    for kind in ("every", "after"):
        if kind not in value:
            continue
        try:
            duration = parse_duration(value[kind])
        except ValueError as e:
            problem(f"{pointer}/{kind}", f"schedule.{kind}: {e}")
            continue
        if duration < MIN_INTERVAL:
            problem(
                f"{pointer}/{kind}",
                f"schedule.{kind} must be at least 1 second (PT1S), got {duration}",
            )
            continue
        durations[kind] = duration
    cron: str | None = None
    if "cron" in value:
        reason = cron_problem(value["cron"])
        if reason is not None:
            problem(f"{pointer}/cron", f"schedule.cron {value['cron']!r}: {reason}")
        else:
            cron = " ".join(str(value["cron"]).split())
    if unknown or len(durations) + (cron is not None) != len(given):
        return None
    return Schedule(every=durations.get("every"), cron=cron, after=durations.get("after"))


def read_on(value: Any, problem: Problem, pointer: str) -> dict[str, Any] | None:
    """``schedule.on``: the strategy as written when it is valid, else ``None`` (reported)."""
    if not isinstance(value, dict):
        problem(pointer, "schedule.on needs one of one, any or all (event filters)")
        return None
    kinds = [k for k in STRATEGIES if k in value]
    ok = len(kinds) == 1
    if not ok:
        problem(pointer, "schedule.on needs exactly one of one, any or all")
    for key in value:
        if key == "until":
            problem(
                f"{pointer}/until",
                "schedule.on.until does not apply: a schedule starts a run for every match "
                "and never ends (until ends a listen)",
            )
            ok = False
        elif key not in STRATEGIES:
            problem(f"{pointer}/{key}", f"unknown schedule.on property {key!r}")
            ok = False
    if not ok:
        return None
    kind = kinds[0]
    if kind == "one":
        return {kind: value[kind]} if _filter_ok(value[kind], problem, f"{pointer}/one") else None
    listed = value[kind] if value[kind] is not None else []
    if not isinstance(listed, list) or (kind == "all" and not listed):
        problem(f"{pointer}/{kind}", f"schedule.on.{kind} must be a list of event filters")
        return None
    checks = [_filter_ok(f, problem, f"{pointer}/{kind}/{i}") for i, f in enumerate(listed)]
    return {kind: listed} if all(checks) else None


def _filter_ok(raw: Any, problem: Problem, pointer: str) -> bool:
    if not isinstance(raw, dict) or not isinstance(raw.get("with"), dict) or not raw["with"]:
        problem(pointer, "an event filter needs 'with': the attributes to match")
        return False
    ok = _expressions_ok(raw["with"], problem, f"{pointer}/with")
    for key in raw:
        if key not in ("with", "correlate"):
            problem(f"{pointer}/{key}", f"unknown event filter property {key!r}")
            ok = False
    correlate = raw.get("correlate", {})
    if not isinstance(correlate, dict):
        problem(f"{pointer}/correlate", "correlate must map names to {from, expect}")
        return False
    for name, spec in correlate.items():
        at = f"{pointer}/correlate/{name}"
        if not isinstance(spec, dict) or not isinstance(spec.get("from"), str):
            problem(at, "a correlation needs 'from': a runtime expression")
            ok = False
            continue
        for key in spec:
            if key not in ("from", "expect"):
                problem(f"{at}/{key}", f"unknown correlation property {key!r}")
                ok = False
        ok = _expression_ok(spec["from"], problem, f"{at}/from") and ok
        ok = _expressions_ok(spec.get("expect"), problem, f"{at}/expect") and ok
    return ok


def _expression_ok(text: str, problem: Problem, pointer: str) -> bool:
    body = expression_body(text)
    error = check_syntax(body, ())
    if error:
        problem(
            pointer,
            f"invalid jq expression {body!r}: {error} (schedule.on expressions see only "
            "'.', no $ variables)",
        )
    return not error


def _expressions_ok(value: Any, problem: Problem, pointer: str) -> bool:
    if isinstance(value, str):
        return not is_expression(value) or _expression_ok(value, problem, pointer)
    if isinstance(value, dict):
        return all([_expressions_ok(v, problem, f"{pointer}/{k}") for k, v in value.items()])
    if isinstance(value, list):
        return all([_expressions_ok(v, problem, f"{pointer}/{i}") for i, v in enumerate(value)])
    return True


def cron_problem(expression: Any) -> str | None:
    """Why ``expression`` is not a five-field cron expression (or a macro), or ``None``."""
    if not isinstance(expression, str) or not expression.strip():
        return "a cron expression is a string such as '0 0 * * *'"
    text = expression.strip()
    if text.startswith("@"):
        return None if text.lower() in MACROS else f"unknown macro; use one of {sorted(MACROS)}"
    fields = text.split()
    if len(fields) != 5:
        return f"has {len(fields)} fields; expected 5 (minute hour day-of-month month day-of-week)"
    for text_field, (name, low, high, names) in zip(fields, _FIELDS, strict=True):
        for item in text_field.split(","):
            reason = _item_problem(item, low, high, names)
            if reason is not None:
                return f"{name} field {text_field!r}: {reason}"
    return None


def _item_problem(item: str, low: int, high: int, names: tuple[str, ...]) -> str | None:
    match = _ITEM.match(item)
    if match is None:
        return f"{item!r} is not a value, range (a-b), list (a,b) or step (*/n)"
    if match["step"] is not None and int(match["step"]) == 0:
        return "a step must be at least 1"
    if match["range"] == "*":
        return None
    bounds = []
    for part in match["range"].split("-"):
        number = _value(part, low, names)
        if number is None:
            named = f" or a name ({', '.join(names)})" if names else ""
            return f"{part!r} is not a number{named}"
        if not low <= number <= high:
            return f"{number} is outside {low}-{high}"
        bounds.append(number)
    if len(bounds) == 2 and bounds[0] > bounds[1]:
        return f"range {item!r} runs backwards"
    return None


def _value(part: str, low: int, names: tuple[str, ...]) -> int | None:
    if part.isdigit():
        return int(part)
    lowered = part.lower()
    if lowered in names:
        return names.index(lowered) + low
    return None
