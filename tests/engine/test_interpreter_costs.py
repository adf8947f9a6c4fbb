"""The interpreter's cheaper paths give what the general ones gave (bench/interpreter_micro.py
measures what they save): the few arguments one expression needs, ``$data`` unbound after a
loop iteration, a served definition's model, progress notes as the query shows them."""

from __future__ import annotations

import gc
import itertools
import random
from typing import Any

import pytest
from temporalio.converter import DataConverter

import workflow_runner.engine.registry as registry_module
from tests.engine.fake_io import FakeIO
from tests.harness import workflow
from workflow_runner.dsl.expressions import select_args
from workflow_runner.engine.definition import model_of, parse_definition
from workflow_runner.engine.interpreter import Interpreter
from workflow_runner.engine.registry import served_model, served_options
from workflow_runner.engine.secrets import SecretScope
from workflow_runner.engine.tasks.base import wire_fields
from workflow_runner.engine.tasks.call_http import HttpRequest
from workflow_runner.engine.tasks.call_openapi import OpenApiRequest
from workflow_runner.engine.workflow import PROGRESS_WINDOW, DslWorkflow

BODIES = [
    ".",
    "$context",
    "$input + $output",
    "$task.name",
    "$item + $index",
    "$data.x",
    "$workflow.id, $runtime.name, $secrets, $env, $authorization",
    "$error",
    "$nothing",
    "uuid",
    "$context.a + $item",
]
SCOPES: list[dict[str, Any]] = [
    {"input": 1, "output": 2, "task": {"name": "t"}},
    {"input": 1, "task": {"name": "t"}, "item": 3, "index": 0},
    {"input": None, "output": None, "task": None, "context": "a loop variable named context"},
    {"input": 1, "output": 2, "task": {}, "authorization": {"scheme": "Bearer"}, "error": {}},
]


def interpreter(dialect: str) -> Interpreter:
    extra = "" if dialect == "spec" else "  taskQueue: q\n  workflowType: t\n"
    text = workflow("- a: {set: {x: 1}}", extra)
    model = parse_definition(text, "costs.yaml", dialect=dialect).model
    return Interpreter(
        workflow=model,
        io=FakeIO(),
        workflow_info={"id": "w", "runId": "r", "definition": {}, "startedAt": {}},
        secrets={"s": "token"},
        env={"E": "1"},
        context={"a": 1},
        data={"x": 2},
    )


@pytest.mark.parametrize("dialect", ["spec", "zigflow"])
def test_one_expression_gets_the_arguments_the_full_set_would_give_it(dialect: str) -> None:
    run = interpreter(dialect)
    assert run.workflow.dialect == dialect
    for body, scope in itertools.product(BODIES, SCOPES):
        expected = select_args(body, run._arguments(scope))
        got = run._selected(body, scope)
        assert got == expected and list(got) == list(expected), (body, scope)


def test_unbinding_loop_variables_restores_data_as_before_in_the_same_key_order() -> None:
    run = interpreter("spec")
    run.data = {"a": 1, "item": "outer", "b": 2}
    unbind = run.bind_data({"item": "inner", "index": 0})
    assert run.data == {"a": 1, "item": "inner", "b": 2, "index": 0}
    run.remember({"c": 3})
    unbind()
    assert list(run.data.items()) == [("a", 1), ("b", 2), ("c", 3), ("item", "outer")]


def test_a_served_definition_is_read_into_its_model_once(monkeypatch: pytest.MonkeyPatch) -> None:
    data = parse_definition(workflow("- a: {set: {x: 1}}"), "served.yaml").data
    calls: list[object] = []
    real = model_of

    def counting(definition: dict[str, Any]) -> Any:
        calls.append(definition)
        return real(definition)

    monkeypatch.setattr(registry_module, "model_of", counting)
    first = served_model(data)
    assert served_model(data) is first
    assert len(calls) == 1
    assert served_model(dict(data)) is first  # an equal copy: found by content, once more
    assert len(calls) == 2


class Clock:
    def time(self) -> float:
        return 12.5


def test_progress_notes_are_queried_as_numbered_dicts() -> None:
    run = DslWorkflow()
    run._progress.clock = Clock().time
    run.progress_note("/do/0/a", "started")
    run.progress_note("/do/0/a", "completed")
    assert run.progress(1) == [{"task": "/do/0/a", "status": "completed", "at": 12.5, "seq": 1}]
    assert [note["status"] for note in run.progress()] == ["started", "completed"]


def test_a_task_started_twice_runs_until_both_runs_end_and_skips_change_nothing() -> None:
    """Fork branches may run the same task pointer at once: ``status`` lists it running
    until each run ended (completed or failed); a skip was never counted as started."""
    run = DslWorkflow()
    run._progress.clock = Clock().time
    for status in ("started", "started", "skipped", "completed"):
        run.progress_note("/do/0/a", status)
    assert run._progress.running == {"/do/0/a": 1}
    run.progress_note("/do/0/a", "failed")
    run.progress_note("/do/1/b", "completed")  # never started here (a resumed run)
    assert run._progress.running == {}
    assert run._progress.completed == 2
    assert [note["seq"] for note in run.progress(2)] == [2, 3, 4, 5]


def test_a_task_started_before_old_notes_were_dropped_is_still_listed_running() -> None:
    """``running`` is tallied when asked: the notes dropped past the window must still
    count, or a long wait that began thousands of notes ago would vanish from ``status``."""
    run = DslWorkflow()
    run._progress.clock = Clock().time
    run.progress_note("/do/0/waiting", "started")
    run.progress_note("/do/1/done", "started")
    for _ in range(2 * PROGRESS_WINDOW):
        run.progress_note("/do/2/loop/do/0/step", "started")
        run.progress_note("/do/2/loop/do/0/step", "completed")
    run.progress_note("/do/1/done", "completed")
    assert run._progress.offset > 0  # the first notes were dropped
    assert run._progress.running == {"/do/0/waiting": 1}
    assert run.status()["running"] == ["/do/0/waiting"]


def test_notes_kept_after_the_oldest_were_dropped_go_on_numbered_where_those_stopped() -> None:
    run = DslWorkflow()
    run._progress.clock = Clock().time
    total = 3 * PROGRESS_WINDOW + 1
    for number in range(total):
        run.progress_note(f"/do/{number}", "started")
    kept = run.progress(0)
    assert run._progress.offset > 0 and len(kept) <= 2 * PROGRESS_WINDOW
    assert [note["seq"] for note in kept] == list(range(total - len(kept), total))
    assert all(note["task"] == f"/do/{note['seq']}" for note in kept)  # each its own task
    assert run.progress(total - 1) == [
        {"task": f"/do/{total - 1}", "status": "started", "at": 12.5, "seq": total - 1}
    ]


def test_progress_notes_leave_no_object_for_the_garbage_collector_to_track() -> None:
    """A loop of 100 tasks leaves 200 notes: kept as tuples, they made the worker collect
    its young objects 2.6 times as often as a hand-written worker doing the same work."""
    run = DslWorkflow()
    run._progress.clock = Clock().time
    for _ in range(100):
        run.progress_note("/do/0/loop/do/0/add", "started")
        run.progress_note("/do/0/loop/do/0/add", "completed")
    assert len(run.progress()) == 200
    assert not any(gc.is_tracked(item) for item in run._progress.notes)


@pytest.mark.parametrize(
    "request_",
    [
        HttpRequest(
            method="get",
            uri="http://127.0.0.1/x",
            headers={"b": "2", "a": "1"},
            body={"nested": [1, {"k": None}]},
            secret_scope=SecretScope("nonce", ["token"]),
            authentication={"scheme": "bearer", "token": "⟦secret:token:nonce⟧"},
        ),
        OpenApiRequest(document="/x.yaml", operation_id="op", secret_scope=SecretScope()),
    ],
)
def test_an_activity_request_reaches_its_activity_whole_though_its_defaults_are_left_out(
    request_: object,
) -> None:
    """The workflow sends the request's fields minus those at their default; the
    activity's converter rebuilds the same dataclass from them."""
    converter = DataConverter.default.payload_converter
    payloads = converter.to_payloads([wire_fields(request_)])
    assert converter.from_payloads(payloads, [type(request_)]) == [request_]
    assert len(payloads[0].data) <= len(converter.to_payloads([request_])[0].data)


def test_a_plain_http_request_sends_only_what_differs_from_the_defaults() -> None:
    """A GET with no headers, body or secrets: what a hand-written worker would send,
    plus the task's pointer (history bytes: ~185 B less per call than the whole request)."""
    request = HttpRequest(method="get", uri="http://127.0.0.1/x", instance="/do/0/a")
    assert wire_fields(request) == {
        "method": "get",
        "uri": "http://127.0.0.1/x",
        "instance": "/do/0/a",
    }


def test_a_field_equal_to_its_default_but_of_another_type_is_sent() -> None:
    request = HttpRequest(method="get", uri="u", redirect=0)  # type: ignore[arg-type]
    assert wire_fields(request)["redirect"] == 0


def test_a_served_definitions_activity_options_are_shared_by_its_runs() -> None:
    data = parse_definition(workflow("- a: {set: {x: 2}}"), "options.yaml").data
    assert served_options(data) is served_options(data)
    assert served_options(dict(data)) is not served_options(data)


def test_a_pacer_tick_is_an_add_of_one_then_due() -> None:
    # checkpoint's tick must yield exactly where add(1) + due() did: yields replay
    from workflow_runner.engine.limits import Pacer

    rng = random.Random(7)
    ticking, adding = Pacer(every=50), Pacer(every=50)
    for _ in range(5000):
        if rng.random() < 0.3:
            units = rng.randrange(1, 40)
            ticking.add(units)
            adding.add(units)
        else:
            adding.add(1)
            assert ticking.tick() == adding.due()
        assert (ticking.work, ticking.yields) == (adding.work, adding.yields)
    assert ticking.yields > 10
