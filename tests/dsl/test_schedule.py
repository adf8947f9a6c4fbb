"""The top-level ``schedule`` read into the model: every, cron, after, on; bad ones located."""

from __future__ import annotations

from datetime import timedelta

import pytest

from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition

HEADER = "document:\n  dsl: '1.0.0'\n  namespace: test\n  name: s\n  version: '1'\n"
BODY = "do:\n  - a:\n      set: {}\n"


def with_schedule(schedule: str) -> str:
    return HEADER + "schedule:\n" + schedule + BODY


@pytest.mark.parametrize(
    ("schedule", "every", "cron"),
    [
        ("  every: PT1S\n", timedelta(seconds=1), None),
        ("  every: {minutes: 3}\n", timedelta(minutes=3), None),
        ("  cron: '0 0 * * *'\n", None, "0 0 * * *"),
        ("  cron: '*/5 1-3,7 * jan-mar MON-fri'\n", None, "*/5 1-3,7 * jan-mar MON-fri"),
        ("  cron: '@daily'\n", None, "@daily"),
        ("  every: {minutes: 3}\n  cron: '0 0 * * *'\n", timedelta(minutes=3), "0 0 * * *"),
    ],
)
def test_every_and_cron_are_read_into_the_model(
    schedule: str, every: timedelta | None, cron: str | None
) -> None:
    model = parse_definition(with_schedule(schedule)).model.schedule
    assert model is not None and (model.every, model.cron, model.after) == (every, cron, None)


def test_after_is_read_as_a_duration() -> None:
    model = parse_definition(with_schedule("  after: PT10M\n")).model.schedule
    assert model is not None and model.after == timedelta(minutes=10) and model.kinds == ("after",)


@pytest.mark.parametrize(
    ("schedule", "on"),
    [
        ("  on:\n    one:\n      with: {type: x}\n", {"one": {"with": {"type": "x"}}}),
        ("  on:\n    any: []\n", {"any": []}),
        (
            "  on:\n    all:\n      - with: {type: a}\n        correlate:\n"
            "          order: {from: .data.id}\n      - with: {data: '${ .n > 1 }'}\n",
            {
                "all": [
                    {"with": {"type": "a"}, "correlate": {"order": {"from": ".data.id"}}},
                    {"with": {"data": "${ .n > 1 }"}},
                ]
            },
        ),
    ],
)
def test_on_is_read_as_the_strategy_written(schedule: str, on: dict[str, object]) -> None:
    model = parse_definition(with_schedule(schedule)).model.schedule
    assert model is not None and model.kinds == ("on",) and model.on == on


def test_a_definition_without_schedule_has_none() -> None:
    assert parse_definition(HEADER + BODY).model.schedule is None


@pytest.mark.parametrize(
    ("cron", "fragment"),
    [
        ("61 * * * *", "minute field '61': 61 is outside 0-59"),
        ("* 24 * * *", "hour field '24': 24 is outside 0-23"),
        ("* * 0 * *", "day of month field '0': 0 is outside 1-31"),
        ("* * * foo *", "month field 'foo': 'foo' is not a number or a name"),
        ("* * * * 1-9", "day of week field '1-9': 9 is outside 0-7"),
        ("*/0 * * * *", "a step must be at least 1"),
        ("5-1 * * * *", "range '5-1' runs backwards"),
        ("* * * *", "has 4 fields; expected 5"),
        ("@sometimes", "unknown macro"),
        ("", "a cron expression is a string"),
    ],
)
def test_a_bad_cron_is_a_located_error_naming_the_field(cron: str, fragment: str) -> None:
    text = with_schedule(f"  cron: '{cron}'\n")
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "flow.yaml")
    (problem,) = info.value.problems
    assert problem.pointer == "/schedule/cron" and problem.line == 7, str(problem)
    assert fragment in problem.message, problem.message
    assert str(problem).startswith("flow.yaml:7:")


@pytest.mark.parametrize(
    ("schedule", "pointer", "fragment"),
    [
        ("  on:\n    one: {}\n", "/schedule/on/one", "an event filter needs 'with'"),
        ("  on:\n    all: []\n", "/schedule/on/all", "must be a list of event filters"),
        ("  on:\n    one: {with: {type: x}}\n    any: []\n", "/schedule/on", "exactly one of"),
        (
            "  on:\n    any: []\n    until: '${ true }'\n",
            "/schedule/on/until",
            "does not apply",
        ),
        (
            "  on:\n    one:\n      with: {data: '${ .a == $input }'}\n",
            "/schedule/on/one/with/data",
            "no $ variables",
        ),
        (
            "  on:\n    one:\n      with: {type: x}\n      correlate: {k: {expect: 1}}\n",
            "/schedule/on/one/correlate/k",
            "needs 'from'",
        ),
        ("  on:\n    one: {with: {type: x}}\n  every: PT1M\n", "/schedule", "on cannot be"),
        ("  after: PT1M\n  every: PT1M\n", "/schedule", "after cannot be combined with every"),
        ("  {}\n", "/schedule", "needs one of every, cron, after, on"),
        ("  every: PT0.5S\n", "/schedule/every", "at least 1 second"),
        ("  every: soon\n", "/schedule/every", "not an ISO 8601 duration"),
        ("  hourly: true\n", "/schedule/hourly", "unknown schedule property 'hourly'"),
        ("  - every\n", "/schedule", "must be a mapping"),
    ],
)
def test_other_bad_schedules_are_located(schedule: str, pointer: str, fragment: str) -> None:
    with pytest.raises(DefinitionError) as info:
        parse_definition(with_schedule(schedule), "flow.yaml")
    assert any(p.pointer == pointer and fragment in p.message for p in info.value.problems), [
        str(p) for p in info.value.problems
    ]
