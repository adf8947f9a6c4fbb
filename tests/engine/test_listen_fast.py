"""``listen`` and ``emit`` through the in-memory fake (tests/engine/fake_io.py): the
consumption strategies, filters, correlation, read modes, foreach, Zigflow's
Temporal listeners and the definition checks, without a server.

What only Temporal can show (a real query, update, signal and timer) is in
tests/engine/test_listen.py.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from tests.engine.fake_io import FakeIO, run_dsl
from tests.harness import workflow
from workflow_runner.dsl.errors import DefinitionError, WorkflowError
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.events import EventBuffer, make_event, read_event
from workflow_runner.engine.interpreter import Interpreter
from workflow_runner.engine.tasks.listen import parse_go_duration

ZIGFLOW_HEADER = "document:\n  dsl: 1.0.0\n  taskQueue: zig\n  workflowType: t\n  version: 0.0.1\n"


def event(type_: str, data: Any = None, **extra: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "id": f"{type_}-{data}", "source": "test", "type": type_,
            "data": data, **extra}  # fmt: skip


async def run_zigflow(body: str, io: FakeIO) -> Any:
    """``body`` under a Zigflow document header (read and run in the Zigflow dialect)."""
    definition = parse_definition(ZIGFLOW_HEADER + "do:\n" + body, "zig.yaml")
    interpreter = Interpreter(
        workflow=definition.model,
        io=io,
        workflow_info={"id": "fast", "runId": "r1", "definition": {}, "startedAt": {}},
    )
    return await interpreter.run(None)


def problems(body: str, header: str | None = None) -> str:
    text = (header + "do:\n" + body) if header else workflow(body)
    with pytest.raises(DefinitionError) as caught:
        parse_definition(text, "listen.yaml")
    return str(caught.value)


async def test_listen_one_outputs_an_array_of_the_event_data_by_default() -> None:
    body = """
  - hear:
      listen:
        to:
          one:
            with:
              type: com.example.go
"""
    io = FakeIO(events=[event("com.example.other", 1), event("com.example.go", {"x": 1})])
    assert await run_dsl(body, io=io) == [{"x": 1}]
    assert [e["type"] for e in io.buffer.events.values()] == ["com.example.other"]


async def test_listen_read_envelope_and_raw() -> None:
    body = """
  - hear:
      listen:
        to:
          all:
            - with: {type: a}
            - with: {type: b}
        read: {mode}
"""
    encoded = base64.b64encode(b'{"k": 2}').decode()
    events = [
        event("a", {"k": 1}),
        {"specversion": "1.0", "id": "2", "source": "s", "type": "b", "data_base64": encoded},
    ]
    envelope = await run_dsl(body.replace("{mode}", "envelope"), io=FakeIO(events=list(events)))
    assert [e["type"] for e in envelope] == ["a", "b"] and envelope[0]["source"] == "test"
    raw = await run_dsl(body.replace("{mode}", "raw"), io=FakeIO(events=list(events)))
    assert raw == [{"k": 1}, encoded]
    data = await run_dsl(body.replace("{mode}", "data"), io=FakeIO(events=list(events)))
    assert data == [{"k": 1}, {"k": 2}]


async def test_filters_match_runtime_expressions_over_the_attribute_and_regular_expressions() -> (
    None
):
    body = """
  - callDoctor:
      listen:
        to:
          any:
            - with:
                type: com\\.fake-hospital\\.vitals\\..*temperature
                data: ${ .temperature > 38 }
            - with:
                type: com.fake-hospital.vitals.measurements.bpm
                data: ${ .bpm < 60 or .bpm > 100 }
        read: envelope
"""
    io = FakeIO(
        events=[
            event("com.fake-hospital.vitals.measurements.temperature", {"temperature": 37}),
            event("com.fake-hospital.vitals.measurements.bpm", {"bpm": 80}),
            event("com.fake-hospital.vitals.measurements.temperature", {"temperature": 39}),
        ]
    )
    heard = await run_dsl(body, io=io)
    assert [e["data"] for e in heard] == [{"temperature": 39}]


async def test_a_filter_expression_that_is_not_a_boolean_must_equal_the_attribute() -> None:
    body = """
  - hear:
      listen:
        to:
          one:
            with:
              type: order.paid
              subject: ${ $input.orderId }
"""
    io = FakeIO(
        events=[event("order.paid", 1, subject="o-1"), event("order.paid", 2, subject="o-2")]
    )
    assert await run_dsl(body, {"orderId": "o-2"}, io=io) == [2]


async def test_any_until_an_expression_keeps_consuming_and_stops_when_it_holds() -> None:
    body = """
  - gather:
      listen:
        to:
          any: []
          until: ( . | length ) >= 3
"""
    io = FakeIO(events=[event("e", n) for n in range(5)])
    assert await run_dsl(body, io=io) == [0, 1, 2]
    assert len(io.buffer.events) == 2


async def test_any_until_a_strategy_stops_on_its_event_which_is_not_in_the_output() -> None:
    body = """
  - vitals:
      listen:
        to:
          any:
            - with:
                type: temperature
          until:
            one:
              with:
                type: checked-out
"""
    io = FakeIO(
        events=[
            event("temperature", 38),
            event("noise", 0),
            event("temperature", 39),
            event("checked-out", "bye"),
            event("temperature", 40),
        ]
    )
    assert await run_dsl(body, io=io) == [38, 39]
    assert [e["data"] for e in io.buffer.events.values()] == [0, 40]


async def test_all_with_correlation_takes_events_of_the_same_patient_only() -> None:
    body = """
  - patient:
      listen:
        to:
          all:
            - with:
                type: temperature
              correlate:
                patient:
                  from: .data.patient
            - with:
                type: bpm
              correlate:
                patient:
                  from: .data.patient
"""
    io = FakeIO(
        events=[
            event("temperature", {"patient": "p1", "v": 39}),
            event("bpm", {"patient": "p2", "v": 120}),
            event("bpm", {"patient": "p1", "v": 130}),
        ]
    )
    out = await run_dsl(body, io=io)
    assert out == [{"patient": "p1", "v": 39}, {"patient": "p1", "v": 130}]
    assert [e["data"]["patient"] for e in io.buffer.events.values()] == ["p2"]


async def test_correlation_expect_comes_from_the_task_input() -> None:
    body = """
  - paid:
      listen:
        to:
          one:
            with:
              type: order.paid
            correlate:
              order:
                from: .data.order
                expect: ${ .orderId }
"""
    io = FakeIO(events=[event("order.paid", {"order": 1}), event("order.paid", {"order": 2})])
    assert await run_dsl(body, {"orderId": 2}, io=io) == [{"order": 2}]


async def test_foreach_runs_its_tasks_per_event_in_order_and_collects_their_output() -> None:
    body = """
  - gossip:
      listen:
        to:
          any: []
          until: ( . | length ) == 2
      foreach:
        item: message
        at: i
        do:
          - shout:
              set:
                text: ${ $message.text + "!" }
                at: ${ $i }
        output:
          as: '${ .text + "/" + ($i | tostring) }'
"""
    io = FakeIO(events=[event("chat", {"text": "hi"}), event("chat", {"text": "yo"})])
    assert await run_dsl(body, io=io) == ["hi!/0", "yo!/1"]


async def test_foreach_without_do_applies_output_as_to_each_event() -> None:
    body = """
  - gossip:
      listen:
        to:
          all:
            - with: {type: a}
            - with: {type: b}
        read: envelope
      foreach:
        output:
          as: ${ $item.type + ($index | tostring) }
"""
    io = FakeIO(events=[event("b", 1), event("a", 2)])
    assert await run_dsl(body, io=io) == ["b0", "a1"]


async def test_foreach_export_sets_the_context_after_each_item_for_the_next_ones() -> None:
    body = """
  - tally:
      listen:
        to:
          any: []
          until: ( . | length ) == 3
      foreach:
        do:
          - seen:
              set:
                before: ${ $context.total // 0 }
        output:
          as: ${ .before }
        export:
          as: '${ {total: (($context.total // 0) + $item.n)} }'
  - report:
      set:
        befores: ${ . }
        total: ${ $context.total }
"""
    io = FakeIO(events=[event("e", {"n": 1}), event("e", {"n": 10}), event("e", {"n": 100})])
    assert await run_dsl(body, io=io) == {"befores": [0, 1, 11], "total": 111}


async def test_foreach_output_and_export_schemas_are_checked_for_each_item() -> None:
    def body(output_type: str, export_type: str) -> str:
        return f"""
  - tally:
      listen:
        to:
          any: []
          until: ( . | length ) == 2
      foreach:
        output:
          as: ${{ $item.n }}
          schema:
            document: {{type: {output_type}}}
        export:
          as: '${{ {{last: .}} }}'
          schema:
            document: {{type: {export_type}}}
"""

    def events() -> FakeIO:
        return FakeIO(events=[event("e", {"n": 1}), event("e", {"n": 2})])

    assert await run_dsl(body("integer", "object"), io=events()) == [1, 2]
    with pytest.raises(WorkflowError) as caught:
        await run_dsl(body("string", "object"), io=events())
    assert caught.value.type.endswith("/validation")
    assert caught.value.instance == "/do/0/tally/foreach/output"
    with pytest.raises(WorkflowError) as caught:
        await run_dsl(body("integer", "array"), io=events())
    assert caught.value.instance == "/do/0/tally/foreach/export"


async def test_the_buffer_keeps_at_most_its_limit_and_drops_the_oldest() -> None:
    buffer = EventBuffer(limit=3)
    dropped = [buffer.add(event("e", n)) for n in range(5)]
    assert [d["data"] if d else None for d in dropped] == [None, None, None, 0, 1]
    assert [e["data"] for e in buffer.events.values()] == [2, 3, 4] and buffer.dropped == 2


async def test_emit_outputs_a_full_cloudevents_envelope_with_extensions() -> None:
    body = """
  - emitEvent:
      emit:
        event:
          with:
            source: https://fake-source.com
            type: com.fake-source.user.greeted.v1
            subject: ${ .user.firstName }
            traceparent: abc
            data:
              greetings: ${ "Hello \\(.user.firstName) \\(.user.lastName)!" }
"""
    io = FakeIO()
    out = await run_dsl(body, {"user": {"firstName": "John", "lastName": "Doe"}}, io=io)
    assert {"id", "specversion", "time", "source", "type", "data"} <= set(out)
    assert out["source"] == "https://fake-source.com"
    assert out["type"] == "com.fake-source.user.greeted.v1"
    assert out["data"] == {"greetings": "Hello John Doe!"}
    assert (out["subject"], out["traceparent"], out["specversion"]) == ("John", "abc", "1.0")
    assert out["datacontenttype"] == "application/json" and io.emitted == [out]


async def test_emit_refuses_an_attribute_that_evaluates_to_an_empty_source() -> None:
    body = """
  - emitEvent:
      emit:
        event:
          with:
            type: t
            source: ${ .nothing }
"""
    with pytest.raises(WorkflowError) as caught:
        await run_dsl(body, {})
    assert "'source' must be a non-empty string" in str(caught.value)
    assert caught.value.instance == "/do/0/emitEvent/emit/event/with/source"


def test_definition_checks_name_what_is_wrong() -> None:
    no_type = problems(
        "  - e:\n      emit:\n        event:\n          with:\n            data: 1\n"
    )
    assert "needs 'type'" in no_type
    bad_name = problems(
        "  - e:\n      emit:\n        event:\n          with:\n            type: t\n"
        "            Bad_Name: 1\n"
    )
    assert "'Bad_Name' is not a CloudEvents attribute name" in bad_name
    until_on_all = problems(
        "  - l:\n      listen:\n        to:\n          all:\n            - with: {type: a}\n"
        "          until: ${ true }\n"
    )
    assert "until applies to 'any' only" in until_on_all
    nested = problems(
        "  - l:\n      listen:\n        to:\n          any: []\n          until:\n"
        "            any: []\n            until: ${ true }\n"
    )
    assert "cannot have an until of its own" in nested
    export = problems(
        "  - l:\n      listen:\n        to:\n          any: []\n      foreach:\n"
        "        export:\n          into: .\n"
    )
    assert "/do/0/l/foreach/export/into" in export and "unknown property 'into'" in export
    mixed = problems(
        "  - l:\n      listen:\n        to:\n          any:\n"
        "            - with: {type: signal, id: go}\n            - with: {type: com.x}\n"
    )
    assert "mixes Temporal listeners" in mixed and "not supported yet" in mixed
    read = problems("  - l:\n      listen:\n        to:\n          any: []\n        read: body\n")
    assert "listen.read must be data, envelope or raw" in read


def test_go_durations_read_as_zigflow_reads_metadata_timeout() -> None:
    assert parse_go_duration("10s") == timedelta(seconds=10)
    assert parse_go_duration("1m30s") == timedelta(seconds=90)
    assert parse_go_duration("500ms") == timedelta(milliseconds=500)
    with pytest.raises(ValueError, match="not a duration"):
        parse_go_duration("10 seconds")
    bad = problems(
        "  - l:\n      metadata:\n        timeout: soon\n      listen:\n        to:\n"
        "          one:\n            with: {type: signal, id: go}\n",
        ZIGFLOW_HEADER,
    )
    assert "'soon' is not a duration" in bad


def test_read_event_decodes_a_json_string_body_only_for_data() -> None:
    carried = make_event(
        {"type": "t", "data": '{"a": 1}', "datacontenttype": "application/json"},
        event_id="1",
        time="now",
        source="s",
    )
    assert read_event(carried, "data") == {"a": 1}
    assert read_event(carried, "raw") == '{"a": 1}'
    assert read_event(carried, "envelope") is carried


# -- Zigflow's Temporal listeners, through the fake -------------------------------------------


ZIG_SIGNAL = """
  - approveListener:
      metadata:
        timeout: 10s
      listen:
        to:
          one:
            with:
              id: approve
              type: signal
              acceptIf: ${ $data.approveListener.ok }
  - after:
      set:
        seen: ${ $data.approveListener }
"""


def signal(name: str, payload: Any) -> dict[str, Any]:
    return {"specversion": "1.0", "type": "signal", "id": name, "source": "temporal-signal",
            "data": payload}  # fmt: skip


async def test_a_zigflow_signal_listener_skips_payloads_its_accept_if_refuses() -> None:
    io = FakeIO(events=[signal("approve", {"ok": False, "n": 1}), signal("approve", {"ok": True})])
    await run_zigflow(ZIG_SIGNAL, io)
    assert not io.buffer.events  # the refused one was consumed too, as Zigflow's channel does


async def test_a_zigflow_signal_listener_times_out_after_metadata_timeout() -> None:
    io = FakeIO(events=[signal("approve", {"ok": False})])
    with pytest.raises(WorkflowError) as caught:
        await run_zigflow(ZIG_SIGNAL, io)
    assert caught.value.status == 408 and "0:00:10" in str(caught.value)


ZIG_UPDATE = """
  - callDoctor:
      listen:
        to:
          all:
            - with:
                id: temperature
                type: update
                acceptIf: ${ $data.temperature > 38 }
                data:
                  got: ${ $data.temperature }
            - with:
                id: bpm
                type: update
"""


async def test_zigflow_updates_are_validated_by_accept_if_and_return_their_data() -> None:
    io = FakeIO(updates=[("temperature", 37), ("temperature", 39), ("bpm", 120)])
    out = await run_zigflow(ZIG_UPDATE, io)
    assert out == [39, 120]
    (name, rejected), accepted, bpm = io.replies
    assert name == "temperature" and "rejected by acceptIf of /do/0/callDoctor" in str(rejected)
    assert accepted == ("temperature", {"got": 39}) and bpm == ("bpm", None)


async def test_a_zigflow_query_listener_does_not_block_and_answers_from_current_state() -> None:
    body = """
  - queryState:
      listen:
        to:
          one:
            with:
              id: get_state
              type: query
              data:
                status: ${ $data.status }
  - createState:
      set:
        status: running
"""
    io = FakeIO()
    await run_zigflow(body, io)
    assert io.queries["get_state"]() == {"status": "running"}
