"""The interpreter's own logic against an in-memory fake of its I/O seam: no server, seconds.

What runs on Temporal (timers, activities, signals) is covered by
test_tasks.py on the real dev server; this tier pins down control flow and
data flow so that a change to them fails in well under a second.
"""

from __future__ import annotations

import weakref
from datetime import timedelta
from typing import Any

import pytest

from tests.engine.fake_io import FakeIO, run_dsl
from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.tasks.run_process import ProcessRequest

ERR = "https://serverlessworkflow.io/spec/1.0.0/errors/"
OPEN_ERR = "https://open-workflow-specification.org/spec/1.0.0/errors/"


async def test_input_from_output_as_and_export_as_shape_the_data_in_spec_order() -> None:
    body = """
  - first:
      input:
        from: ${ .order }
      set:
        total: ${ .qty * .price }
      export:
        as: '${ $context + {seen: .total} }'
  - second:
      set:
        fromContext: ${ $context.seen }
        original: ${ $workflow.input.order.qty }
      output:
        as: '${ . + {checked: true} }'
"""
    out = await run_dsl(body, {"order": {"qty": 3, "price": 5}})
    assert out == {"fromContext": 15, "original": 3, "checked": True}


async def test_if_false_skips_the_task_and_passes_its_input_on() -> None:
    io = FakeIO()
    body = """
  - skipped:
      if: ${ .n > 5 }
      set:
        never: true
  - kept:
      set:
        n: ${ .n + 1 }
"""
    assert await run_dsl(body, {"n": 1}, io) == {"n": 2}
    assert ("/do/0/skipped", "skipped") in io.notes


async def test_switch_jumps_to_the_first_matching_case_and_then_end_stops_the_run() -> None:
    body = """
  - route:
      switch:
        - small:
            when: ${ .n < 10 }
            then: small
        - other:
            then: big
  - big:
      set:
        size: big
      then: end
  - small:
      set:
        size: small
"""
    assert await run_dsl(body, {"n": 3}) == {"size": "small"}
    assert await run_dsl(body, {"n": 30}) == {"size": "big"}


async def test_then_jumps_backwards_until_a_condition_exits_the_list() -> None:
    body = """
  - bump:
      set:
        n: ${ .n + 1 }
  - check:
      switch:
        - again:
            when: ${ .n < 5 }
            then: bump
        - done:
            then: exit
  - never:
      set:
        n: -1
"""
    assert await run_dsl(body, {"n": 0}) == {"n": 5}


async def test_for_iterates_maps_as_key_value_and_binds_each_and_at() -> None:
    body = """
  - loop:
      for:
        in: ${ .m }
        each: entry
        at: i
      do:
        - acc:
            set:
              seen: '${ .seen + [{k: $entry.key, v: $entry.value, i: $i}] }'
"""
    out = await run_dsl(body, {"m": {"a": 1, "b": 2}, "seen": []})
    assert out == {"seen": [{"k": "a", "v": 1, "i": 0}, {"k": "b", "v": 2, "i": 1}]}


class Page(dict[str, Any]):
    """A response document that can be watched (a dict subclass takes weak references)."""


async def test_a_for_loop_keeps_no_earlier_iterations_output_alive() -> None:
    """The spec's for returns the last iteration's output: 50 pages fetched in a loop must
    not all stay in memory until it ends (they did, in a list only Zigflow reads)."""
    pages: list[weakref.ref[Page]] = []
    seen: list[int] = []

    def fetch(request: Any) -> Page:
        # how many earlier pages are still referenced when the next one is fetched
        seen.append(sum(ref() is not None for ref in pages))
        page = Page(number=len(seen))
        pages.append(weakref.ref(page))
        return page

    body = """
  - pages:
      for:
        in: ${ [range(0; 50)] }
        each: n
      do:
        - fetch:
            call: http
            with: {method: get, endpoint: 'http://127.0.0.1/page'}
"""
    out = await run_dsl(body, io=FakeIO(activities={"call_http": fetch}))
    assert out == {"number": 50}
    assert len(seen) == 50 and max(seen) <= 2, seen


async def test_for_while_stops_the_loop_when_it_turns_false() -> None:
    body = """
  - loop:
      for:
        in: ${ [1,2,3,4,5] }
      while: ${ .sum < 3 }
      do:
        - add:
            set:
              sum: ${ .sum + $item }
"""
    assert await run_dsl(body, {"sum": 0}) == {"sum": 3}


async def test_fork_returns_every_branch_output_in_declaration_order() -> None:
    body = """
  - both:
      fork:
        branches:
          - a:
              set:
                x: 1
          - b:
              set:
                y: 2
"""
    assert await run_dsl(body, {}) == [{"x": 1}, {"y": 2}]


async def test_retry_waits_with_exponential_backoff_and_gives_up_after_the_attempt_limit() -> None:
    failures = WorkflowError.of("communication", "down")
    io = FakeIO(activities={"call_http": lambda request: failures})
    body = """
  - guarded:
      try:
        - fetch:
            call: http
            with:
              method: get
              endpoint: http://127.0.0.1:9/x
      catch:
        errors:
          with:
            type: https://serverlessworkflow.io/spec/1.0.0/errors/communication
        retry:
          delay:
            seconds: 2
          backoff:
            exponential: {}
          limit:
            attempt:
              count: 4
"""
    with pytest.raises(WorkflowError) as info:
        await run_dsl(body, {}, io)
    assert info.value.type == ERR + "communication"
    assert io.sleeps == [timedelta(seconds=2), timedelta(seconds=4), timedelta(seconds=8)]
    assert len(io.calls) == 4


async def test_catch_matches_the_other_spec_host_and_recovers_with_the_error_bound() -> None:
    body = f"""
  - guarded:
      try:
        - boom:
            raise:
              error:
                type: {OPEN_ERR}runtime
                status: 503
                title: Nope
      catch:
        errors:
          with:
            type: {ERR}runtime
            status: 503
        as: problem
        do:
          - recover:
              set:
                caught: ${{ $problem.title }}
                at: ${{ $problem.instance }}
"""
    out = await run_dsl(body, {})
    assert out == {"caught": "Nope", "at": "/do/0/guarded/try/0/boom"}


async def test_catch_with_a_different_status_lets_the_error_through() -> None:
    body = f"""
  - guarded:
      try:
        - boom:
            raise:
              error:
                type: {ERR}runtime
                status: 500
      catch:
        errors:
          with:
            status: 404
        do:
          - never:
              set: {{}}
"""
    with pytest.raises(WorkflowError) as info:
        await run_dsl(body, {})
    assert info.value.status == 500


async def test_a_named_error_from_use_errors_is_raised_with_evaluated_fields() -> None:
    extra = (
        "use:\n  errors:\n    notFound:\n      type: "
        + ERR
        + "communication\n      status: 404\n      detail: '${ \"no \" + .id }'\n"
    )
    with pytest.raises(WorkflowError) as info:
        await run_dsl(
            "  - fail:\n      raise:\n        error: notFound\n", {"id": "A7"}, extra=extra
        )
    assert (info.value.status, info.value.detail) == (404, "no A7")


async def test_http_call_builds_its_typed_request_from_evaluated_fields() -> None:
    seen: list[Any] = []

    def answer(request: Any) -> Any:
        seen.append(request)
        return {"ok": 1}

    io = FakeIO(activities={"call_http": answer})
    body = """
  - fetch:
      call: http
      with:
        method: post
        endpoint: http://127.0.0.1:9/pets/{petId}
        headers:
          x-id: ${ .petId }
        body: '${ {name: .name} }'
"""
    assert await run_dsl(body, {"petId": "a b", "name": "Rex"}, io) == {"ok": 1}
    (request,) = seen
    assert request.uri == "http://127.0.0.1:9/pets/a%20b"
    assert (request.method, request.headers, request.body) == (
        "post",
        {"x-id": "a b"},
        {"name": "Rex"},
    )
    assert request.output == "content" and request.instance == "/do/0/fetch"


async def test_listen_consumes_a_matching_event_and_emit_feeds_the_same_list() -> None:
    body = """
  - announce:
      emit:
        event:
          with:
            type: com.example.ready
            data:
              n: ${ .n }
  - hear:
      listen:
        to:
          one:
            with:
              type: com.example.ready
      output:
        as: ${ .[0] }
"""
    assert await run_dsl(body, {"n": 7}) == {"n": 7}


# -- input/output/export.schema (JSON Schema), in the spec's data-flow order -----------------

PET_SCHEMA = """
input:
  schema:
    format: json
    document:
      type: object
      required: [order]
      properties:
        order:
          type: object
          required: [pet]
          properties:
            pet: {type: object, required: [id], properties: {id: {type: string}}}
  from: ${ .order.pet }
"""


async def test_workflow_input_schema_checks_the_raw_input_before_input_from() -> None:
    body = "\n  - echo:\n      set:\n        id: ${ .id }\n"
    assert await run_dsl(body, {"order": {"pet": {"id": "p1"}}}, extra=PET_SCHEMA) == {"id": "p1"}
    with pytest.raises(WorkflowError) as info:
        await run_dsl(body, {"order": {"pet": {"id": 7}}}, extra=PET_SCHEMA)
    error = info.value
    assert (error.type, error.status, error.instance) == (ERR + "validation", 400, "/input")
    assert error.detail is not None
    assert "$.order.pet.id" in error.detail and "7 is not of type 'string'" in error.detail


async def test_task_input_schema_checks_the_raw_input_and_names_the_failing_path() -> None:
    body = """
  - pick:
      input:
        schema:
          format: json
          document: {type: object, required: [qty], properties: {qty: {type: integer}}}
        from: ${ .qty }
      set:
        n: ${ . }
"""
    assert await run_dsl(body, {"qty": 2}) == {"n": 2}
    with pytest.raises(WorkflowError) as info:
        await run_dsl(body, {"qty": "two"})
    assert info.value.type == ERR + "validation" and info.value.instance == "/do/0/pick"
    assert info.value.detail is not None and "$.qty" in info.value.detail


async def test_task_output_schema_checks_the_output_after_output_as() -> None:
    # The raw output {x: 1} would fail; output.as makes it match: only the transformed is checked.
    body = """
  - shape:
      set:
        x: 1
      output:
        as: '${ {total: .x} }'
        schema:
          document:
            type: object
            required: [total]
            properties: {total: {type: integer}}
            additionalProperties: false
  - broken:
      set:
        x: 1
      output:
        schema:
          document: {type: object, required: [total]}
"""
    with pytest.raises(WorkflowError) as info:
        await run_dsl(body, {})
    error = info.value
    assert (error.type, error.instance) == (ERR + "validation", "/do/1/broken")
    assert error.detail is not None and "'total' is a required property" in error.detail


async def test_export_schema_checks_the_new_context() -> None:
    body = """
  - remember:
      set:
        n: 3
      export:
        as: '${ {count: .n} }'
        schema:
          document: {type: object, properties: {count: {type: string}}}
"""
    with pytest.raises(WorkflowError) as info:
        await run_dsl(body, {})
    assert info.value.detail is not None and "$.count" in info.value.detail


async def test_workflow_output_schema_checks_the_output_after_output_as() -> None:
    extra = (
        "output:\n  as: '${ {result: .n} }'\n"
        "  schema:\n    document: {type: object, properties: {result: {maximum: 5}}}\n"
    )
    body = "\n  - count:\n      set:\n        n: ${ .n }\n"
    assert await run_dsl(body, {"n": 5}, extra=extra) == {"result": 5}
    with pytest.raises(WorkflowError) as info:
        await run_dsl(body, {"n": 6}, extra=extra)
    assert info.value.instance == "/output" and info.value.type == ERR + "validation"


async def test_a_schema_failure_is_caught_by_a_catch_on_the_validation_type() -> None:
    body = """
  - guarded:
      try:
        - strict:
            input:
              schema:
                document: {type: object, required: [id]}
            set:
              ok: true
      catch:
        errors:
          with:
            type: https://serverlessworkflow.io/spec/1.0.0/errors/validation
        as: problem
        do:
          - report:
              set:
                status: ${ $problem.status }
"""
    assert await run_dsl(body, {}) == {"status": 400}


async def test_if_sees_the_raw_input_and_a_skipped_task_is_not_validated() -> None:
    # Spec: `if` is "evaluated against the raw task input before any other expression".
    body = """
  - maybe:
      if: ${ .order != null }
      input:
        from: ${ .order }
        schema:
          document: {type: object, required: [order]}
      set:
        seen: ${ .id }
"""
    assert await run_dsl(body, {"order": {"id": 4}}) == {"seen": 4}
    assert await run_dsl(body, {"other": 1}) == {"other": 1}


async def test_a_catch_with_the_ctks_older_type_uri_catches_the_standard_error() -> None:
    # ctk/features/try.feature: the filter names .../dsl/errors/types/communication.
    io = FakeIO(
        activities={"call_http": lambda _: WorkflowError.of("communication", "503 from the server")}
    )
    body = """
  - tryGetPet:
      try:
        - getPet:
            call: http
            with:
              method: get
              endpoint: http://127.0.0.1:1/pets/1
      catch:
        errors:
          with:
            type: https://serverlessworkflow.io/dsl/errors/types/communication
            status: 500
        as: caught
        do:
          - handle:
              set:
                type: ${ $caught.type }
"""
    assert await run_dsl(body, {}, io) == {"type": ERR + "communication"}


async def test_run_with_await_false_outputs_its_transformed_input() -> None:
    # Spec (run.await): not awaited, the task "should simply output its transformed input".
    io = FakeIO(activities={"run_process": lambda _: None})
    body = """
  - fireAndForget:
      input:
        from: '${ {kept: .a} }'
      run:
        shell:
          command: sleep 1
        await: false
"""
    assert await run_dsl(body, {"a": 1}, io) == {"kept": 1}
    request = io.calls[0].request
    assert isinstance(request, ProcessRequest) and request.wait is False
