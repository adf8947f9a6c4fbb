"""Every task type on the real dev server, with a real HTTP server for call: http."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from tests.harness import Harness, make_harness, reached, workflow
from tests.httpserver import LocalHTTPServer
from workflow_runner.runtime.devserver import DevServer

ERR = "https://serverlessworkflow.io/spec/1.0.0/errors/"


async def test_set_and_data_flow(harness: Harness) -> None:
    text = workflow(
        """
  - first:
      input:
        from: ${ .order }
      set:
        id: ${ .id }
        total: ${ .qty * .price }
      export:
        as: '${ $context + {firstTotal: .total} }'
  - second:
      if: ${ .total > 10 }
      set:
        big: true
        ctx: ${ $context.firstTotal }
        wfInput: ${ $workflow.input.order.id }
        taskName: ${ $task.name }
      output:
        as: '${ . + {checked: true} }'
  - skipped:
      if: ${ false }
      set:
        never: true
""",
        extra="output:\n  as: '${ {result: .} }'\n",
    )
    out = await harness.run(text, {"order": {"id": "A1", "qty": 3, "price": 5}})
    assert out == {
        "result": {"big": True, "ctx": 15, "wfInput": "A1", "taskName": "second", "checked": True}
    }


async def test_zigflow_data_and_env(harness: Harness, monkeypatch: Any) -> None:
    monkeypatch.setenv("WORKFLOW_ENV_REGION", "eu-west")
    monkeypatch.setenv("SOME_OTHER_SECRET", "nope")
    text = workflow(
        """
  - a:
      set:
        x: 1
  - b:
      set:
        y: ${ $data.x + 1 }
  - c:
      set:
        all: ${ $data }
        region: ${ $env.REGION }
        other: ${ $env.SOME_OTHER_SECRET }
"""
    )
    out = await harness.run(text, {"name": "in"})
    assert out == {"all": {"name": "in", "x": 1, "y": 2}, "region": "eu-west", "other": None}


async def test_expressions_cannot_read_clock_or_environment(harness: Harness) -> None:
    text = workflow(
        """
  - probe:
      set:
        env: ${ env }
        ENV: ${ $ENV }
        nowIsWorkflowTime: ${ now > 1700000000 }
"""
    )
    assert await harness.run(text) == {"env": {}, "ENV": {}, "nowIsWorkflowTime": True}


async def test_switch_then_and_exit_end(harness: Harness) -> None:
    text = workflow(
        """
  - route:
      switch:
        - small:
            when: ${ .n < 10 }
            then: handleSmall
        - other:
            then: handleBig
  - handleSmall:
      set:
        size: small
      then: end
  - handleBig:
      set:
        size: big
"""
    )
    assert await harness.run(text, {"n": 3}) == {"size": "small"}
    assert await harness.run(text, {"n": 30}) == {"size": "big"}


async def test_then_loop_with_counter(harness: Harness) -> None:
    text = workflow(
        """
  - init:
      set:
        i: 0
  - step:
      set:
        i: ${ .i + 1 }
  - check:
      switch:
        - again:
            when: ${ .i < 5 }
            then: step
        - done:
            then: continue
  - finish:
      set:
        final: ${ .i }
"""
    )
    assert await harness.run(text) == {"final": 5}


async def test_for_each_at_while(harness: Harness) -> None:
    text = workflow(
        """
  - init:
      set:
        total: 0
        seen: []
  - loop:
      for:
        each: n
        in: ${ $workflow.input.numbers }
        at: i
      while: ${ .total < 10 }
      do:
        - add:
            set:
              total: ${ .total + $n }
              seen: '${ .seen + [{n: $n, i: $i, viaData: $data.n}] }'
"""
    )
    out = await harness.run(text, {"numbers": [4, 5, 6, 7]})
    assert out["total"] == 15
    assert out["seen"] == [
        {"n": 4, "i": 0, "viaData": 4},
        {"n": 5, "i": 1, "viaData": 5},
        {"n": 6, "i": 2, "viaData": 6},
    ]


async def test_fork_all_and_compete(harness: Harness) -> None:
    both = workflow(
        """
  - parallel:
      fork:
        branches:
          - left:
              set:
                side: left
          - right:
              set:
                side: right
"""
    )
    assert await harness.run(both) == [{"side": "left"}, {"side": "right"}]
    race = workflow(
        """
  - race:
      fork:
        compete: true
        branches:
          - slow:
              do:
                - pause:
                    wait: PT30S
                - mark:
                    set:
                      winner: slow
          - fast:
              set:
                winner: fast
"""
    )
    assert await harness.run(race) == {"winner": "fast"}


async def test_raise_inline_and_use_errors(harness: Harness) -> None:
    inline = workflow(
        """
  - boom:
      raise:
        error:
          type: https://example.com/errors/bad-order
          status: 422
          title: Bad order
          detail: ${ "order " + .id + " is invalid" }
"""
    )
    error = await harness.fail(inline, {"id": "X9"})
    assert error == {
        "type": "https://example.com/errors/bad-order",
        "status": 422,
        "title": "Bad order",
        "detail": "order X9 is invalid",
        "instance": "/do/0/boom",
    }
    referenced = workflow(
        "  - boom:\n      raise:\n        error: notAllowed\n",
        extra=(
            "use:\n  errors:\n    notAllowed:\n"
            f"      type: {ERR}authorization\n      status: 403\n      title: Not allowed\n"
        ),
    )
    error = await harness.fail(referenced)
    assert error["status"] == 403 and error["type"] == ERR + "authorization"


async def test_try_catch_filters_as_and_open_spec_uri(harness: Harness) -> None:
    text = workflow(
        f"""
  - guarded:
      try:
        - fail:
            raise:
              error:
                type: {ERR}validation
                status: 400
                detail: bad input
      catch:
        errors:
          with:
            type: https://open-workflow-specification.org/spec/1.0.0/errors/validation
        as: err
        do:
          - recover:
              set:
                recovered: true
                why: ${{ $err.detail }}
"""
    )
    assert await harness.run(text) == {"recovered": True, "why": "bad input"}
    not_matching = text.replace("validation\n        as", "timeout\n        as")
    error = await harness.fail(not_matching)
    assert error["type"] == ERR + "validation" and error["instance"] == "/do/0/guarded/try/0/fail"


async def test_catch_when_and_except_when(harness: Harness) -> None:
    base = workflow(
        f"""
  - guarded:
      try:
        - fail:
            raise:
              error:
                type: {ERR}runtime
                status: 500
      catch:
        CONDITION
        do:
          - recover:
              set:
                caught: true
"""
    )
    assert await harness.run(base.replace("CONDITION", "when: ${ $error.status == 500 }")) == {
        "caught": True
    }
    error = await harness.fail(base.replace("CONDITION", "exceptWhen: ${ $error.status == 500 }"))
    assert error["status"] == 500


async def test_retry_until_success_against_flaky_http(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    text = workflow(
        f"""
  - fetch:
      try:
        - get:
            call: http
            with:
              method: get
              endpoint: {http_server.url}/flaky?key=retry-test&fail=4
      catch:
        errors:
          with:
            status: 503
        retry:
          delay:
            milliseconds: 50
          backoff:
            exponential: {{}}
          limit:
            attempt:
              count: 5
"""
    )
    # 3 Temporal attempts per activity, so the 5th request succeeds on the DSL's 2nd try.
    assert await harness.run(text) == {"attempts": 5}


async def test_wait_iso_and_object_forms(harness: Harness) -> None:
    text = workflow(
        """
  - a:
      wait: PT0.2S
  - b:
      wait:
        milliseconds: 200
  - done:
      set:
        ok: true
"""
    )
    assert await harness.run(text) == {"ok": True}


async def test_task_timeout_is_a_timeout_error(harness: Harness) -> None:
    text = workflow(
        """
  - slow:
      wait: PT30S
      timeout:
        after:
          milliseconds: 300
"""
    )
    error = await harness.fail(text)
    assert error["type"] == ERR + "timeout" and error["status"] == 408
    assert error["instance"] == "/do/0/slow"


async def test_call_http_outputs(harness: Harness, http_server: LocalHTTPServer) -> None:
    url = http_server.url
    text = workflow(
        f"""
  - obj:
      call: http
      with:
        method: get
        endpoint: {url}/json
      export:
        as: '${{ {{obj: .}} }}'
  - arr:
      call: http
      with:
        method: get
        endpoint:
          uri: {url}/array
      export:
        as: '${{ $context + {{arr: .}} }}'
  - resp:
      call: http
      with:
        method: get
        endpoint: {url}/text
        output: response
      export:
        as: '${{ $context + {{status: .statusCode, text: .content}} }}'
  - raw:
      call: http
      with:
        method: get
        endpoint: {url}/bytes
        output: raw
      export:
        as: '${{ $context + {{raw: .}} }}'
  - post:
      call: http
      with:
        method: post
        endpoint: {url}/echo
        headers:
          X-Trace: abc
          Authorization: ${{ "Bearer " + $secrets.api_token }}
        query:
          page: 2
        body:
          hello: world
      export:
        as: '${{ $context + {{echo: .}} }}'
  - templ:
      input:
        from: '${{ {{petId: "p 7"}} }}'
      call: http
      with:
        method: get
        endpoint: {url}/pets/{{petId}}
      export:
        as: '${{ $context + {{pet: .}} }}'
  - follow:
      call: http
      with:
        method: get
        endpoint: {url}/redirect
        redirect: true
      output:
        as: '${{ $context + {{redirected: .}} }}'
""",
        extra="use:\n  secrets:\n    - api_token\n",
    )
    handle = await harness.start(text)
    out = await handle.result()
    assert out["obj"] == {"message": "hello", "n": 42}
    assert out["arr"] == [1, 2, 3]
    assert out["status"] == 200 and out["text"] == "plain text"
    assert out["raw"] == base64.b64encode(bytes(range(256))).decode()
    echo = out["echo"]
    assert (
        echo["method"] == "POST"
        and echo["query"] == {"page": "2"}
        and echo["body"] == {"hello": "world"}
    )
    assert echo["headers"]["x-trace"] == "abc"
    # The server saw the secret; what it echoed back is redacted before history.
    assert echo["headers"]["authorization"] == "Bearer ⟦secret:api_token⟧"
    (seen,) = [r for r in http_server.requests if r["path"] == "/echo"][-1:]
    assert seen["headers"]["Authorization"] == "Bearer s3cr3t-value"
    assert out["pet"] == {"id": "p%207"} or out["pet"] == {"id": "p 7"}
    assert out["redirected"] == {"message": "hello", "n": 42}


async def test_secrets_never_enter_history(
    temporal_server: DevServer, tmp_path: Path, http_server: LocalHTTPServer
) -> None:
    """Claim check and compression off, so every payload is in history as plain JSON."""
    env = {"CLAIMCHECK_ENABLED": "false", "CLAIMCHECK_COMPRESSION_ENABLED": "false"}
    async with make_harness(temporal_server, tmp_path, **env) as plain:
        text = workflow(
            f"""
  - post:
      call: http
      with:
        method: post
        endpoint: {http_server.url}/echo
        headers:
          Authorization: ${{ "Bearer " + $secrets.api_token }}
        body:
          token: ${{ $secrets.api_token }}
  - shell:
      run:
        shell:
          command: echo "$TOKEN"
          environment:
            TOKEN: ${{ $secrets.api_token }}
""",
            extra="use:\n  secrets:\n    - api_token\n",
        )
        handle = await plain.start(text)
        assert await handle.result() == "⟦secret:api_token⟧"
        history = await handle.fetch_history()
        raw = b"".join(event.SerializeToString() for event in history.events)
        assert b"secret:api_token" in raw  # payloads really are readable here
        assert b"s3cr3t-value" not in raw
    assert http_server.requests[-1]["body"] == b'{"token":"s3cr3t-value"}'


def get_task(url: str) -> str:
    return workflow(
        f"  - get:\n      call: http\n      with:\n        method: get\n        endpoint: {url}\n"
    )


async def test_http_4xx_is_not_retried_5xx_is(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    before = len(http_server.requests)
    error = await harness.fail(workflow(get_task(f"{http_server.url}/status/404")))
    assert error["status"] == 404 and error["type"] == ERR + "communication"
    assert len([r for r in http_server.requests[before:] if r["path"] == "/status/404"]) == 1
    before = len(http_server.requests)
    error = await harness.fail(workflow(get_task(f"{http_server.url}/status/502")))
    assert error["status"] == 502
    assert len([r for r in http_server.requests[before:] if r["path"] == "/status/502"]) == 3


async def test_connection_refused_is_a_communication_error(harness: Harness) -> None:
    error = await harness.fail(workflow(get_task("http://127.0.0.1:9/nothing")))
    assert error["type"] == ERR + "communication" and "127.0.0.1:9" in error["detail"]


async def test_2mb_http_response_is_offloaded_and_reduced(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    text = workflow(
        f"""
  - fetch:
      call: http
      with:
        method: get
        endpoint: {http_server.url}/big?size=2000000
  - inStock:
      set:
        products: ${{ .products | map(select(.stock > 0)) }}
  - analyze:
      call: http
      with:
        method: post
        endpoint: {http_server.url}/analyze
        body: ${{ . }}
  - summary:
      set:
        count: ${{ .count }}
        categories: ${{ .categories }}
"""
    )
    handle = await harness.start(text)
    out = await handle.result()
    catalog = json.loads(http_server.catalog(2_000_000))
    expected = [p for p in catalog["products"] if p["stock"] > 0]
    assert out == {"count": len(expected), "categories": sorted({p["category"] for p in expected})}
    history = await handle.fetch_history()
    size = sum(e.ByteSize() for e in history.events)
    assert size < 32 * 1024, f"history is {size} bytes"
    blobs = [b async for b in harness.store.list_blobs("v0/ns/default/wt/DslWorkflow/")]
    assert len(blobs) >= 2  # the response, and the reduced list sent to /analyze


async def test_run_shell_and_script(harness: Harness) -> None:
    text = workflow(
        """
  - shell:
      run:
        shell:
          command: echo "$GREETING" && printf '%s|'
          arguments:
            - "a b"
            - "; rm -rf /"
          environment:
            GREETING: ${ "hi " + .who }
      export:
        as: '${ {shell: .} }'
  - code:
      run:
        shell:
          command: echo oops >&2; exit 3
        return: all
      export:
        as: '${ $context + {code: .} }'
  - py:
      run:
        script:
          language: python
          code: |
            import json
            print(json.dumps({"sum": a + b}))
          arguments:
            a: 2
            b: 40
      output:
        as: '${ $context + {py: (. | fromjson)} }'
""",
    )
    out = await harness.run(text, {"who": "there"})
    assert out["shell"] == "hi there\na b|; rm -rf /|"
    assert out["code"] == {"code": 3, "stdout": "", "stderr": "oops"}
    assert out["py"] == {"sum": 42}


async def test_failing_shell_is_a_runtime_error(harness: Harness) -> None:
    error = await harness.fail(
        workflow(
            "  - bad:\n      run:\n        shell:\n          command: echo broken >&2; exit 7\n"
        )
    )
    assert (
        error["type"] == ERR + "runtime"
        and "code 7" in error["detail"]
        and "broken" in error["detail"]
    )


async def test_run_workflow_child(harness: Harness) -> None:
    child = (
        "document:\n  dsl: '1.0.0'\n  namespace: test\n  name: child\n  version: '2.0.0'\n"
        "do:\n  - double:\n      set:\n        doubled: ${ .n * 2 }\n"
    )
    (harness.directory / "child.yaml").write_text(child)
    parent = workflow(
        """
  - callChild:
      run:
        workflow:
          namespace: test
          name: child
          version: '2.0.0'
          input:
            n: ${ .value }
"""
    )
    assert await harness.run(parent, {"value": 21}) == {"doubled": 42}
    missing = parent.replace("name: child", "name: nobody")
    error = await harness.fail(missing)
    assert error["type"] == ERR + "configuration" and "test/nobody:2.0.0" in error["detail"]


async def test_listen_to_signal_zigflow_form(harness: Harness) -> None:
    text = workflow(
        """
  - waitApproval:
      listen:
        to:
          one:
            with:
              type: signal
              id: approve
  - after:
      set:
        approvedBy: ${ .by }
"""
    )
    handle = await harness.start(text)
    await reached(handle, "/do/0/waitApproval")
    await handle.signal("approve", {"by": "alice"})
    assert await handle.result() == {"approvedBy": "alice"}


async def test_listen_cloudevents_all_and_any(harness: Harness) -> None:
    text = workflow(
        """
  - both:
      listen:
        to:
          all:
            - with:
                type: com.example.paid
            - with:
                type: com.example.shipped
                data:
                  carrier: ups
  - either:
      listen:
        to:
          any:
            - with:
                type: com.example.cancelled
            - with:
                type: com.example.done
        read: envelope
      output:
        as: '${ {types: [$context[]?], last: .[0].type} }'
"""
    )
    handle = await harness.start(text)
    for event_type, data in [
        ("com.example.shipped", {"carrier": "dhl"}),  # does not match the filter
        ("com.example.paid", {}),
        ("com.example.shipped", {"carrier": "ups"}),
        ("com.example.done", {}),
    ]:
        await handle.signal(
            "event",
            {
                "specversion": "1.0",
                "id": event_type,
                "source": "t",
                "type": event_type,
                "data": data,
            },
        )
    assert await handle.result() == {"types": [], "last": "com.example.done"}


async def test_listen_timeout(harness: Harness) -> None:
    text = workflow(
        "  - wait:\n      listen:\n        to:\n          one:\n            with:\n"
        "              type: never\n"
        "      timeout:\n        after: PT0.3S\n"
    )
    error = await harness.fail(text)
    assert error["status"] == 408


async def test_emit_is_recorded_and_heard(harness: Harness) -> None:
    text = workflow(
        """
  - both:
      fork:
        branches:
          - hear:
              listen:
                to:
                  one:
                    with:
                      type: com.example.ping
                read: envelope
          - say:
              emit:
                event:
                  with:
                    type: com.example.ping
                    data:
                      n: ${ .n }
"""
    )
    handle = await harness.start(text, {"n": 5})
    (heard,), said = await handle.result()
    assert heard["type"] == said["type"] == "com.example.ping" and heard["data"] == {"n": 5}
    emitted = await handle.query("emitted_events")
    assert [e["type"] for e in emitted] == ["com.example.ping"]


async def test_expression_error_names_task(harness: Harness) -> None:
    error = await harness.fail(
        workflow("  - bad:\n      set:\n        x: ${ .a + 1 }\n"), {"a": "text"}
    )
    assert error["type"] == ERR + "expression" and error["instance"] == "/do/0/bad/set/x"


async def test_the_status_query_names_the_running_task_and_the_context(harness: Harness) -> None:
    text = workflow(
        """
  - remember:
      set:
        order: ${ .order }
      export:
        as: '${ {order: .order} }'
  - waitApproval:
      listen:
        to:
          one:
            with:
              type: signal
              id: approve
"""
    )
    handle = await harness.start(text, {"order": 42})
    await reached(handle, "/do/1/waitApproval")
    status = await handle.query("status")
    assert status["running"] == ["/do/1/waitApproval"]
    assert status["context"] == {"order": 42} and status["tasksRun"] == 2
    await handle.signal("approve", {})
    await handle.result()
    assert (await handle.query("status"))["running"] == []
