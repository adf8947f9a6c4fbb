"""call: a2a end to end: a real A2A agent on 127.0.0.1 (tests/a2a_server.py), the real dev server.

What the agent received (``agent.state.requests``) is the ground truth: the
message ids, roles and authorization the runner sent.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.a2a_server import A2aServer, serving_agent
from tests.authserver import serving_auth
from tests.harness import Harness, make_harness, workflow
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition
from workflow_runner.runtime.devserver import DevServer

ERR = "https://serverlessworkflow.io/spec/1.0.0/errors/"


@pytest.fixture
def agent() -> Iterator[A2aServer]:
    with serving_agent() as server:
        yield server


def send(name: str, where: str, text: str, extra: str = "") -> str:
    """A message/send task; ``where`` is the YAML naming the agent (agentCard or server)."""
    return f"""
  - {name}:
      call: a2a
      with:
        method: message/send
{where}        parameters:
          message:
            parts:
              - kind: text
                text: {text}
{extra}"""


def card(agent: A2aServer, authentication: str = "") -> str:
    return f"        agentCard:\n          endpoint:\n            uri: {agent.card_url}\n" + (
        f"            authentication:\n{authentication}" if authentication else ""
    )


def server(agent: A2aServer) -> str:
    return f"        server: {agent.url}/a2a\n"


def sent(agent: A2aServer, method: str = "message/send") -> list[dict[str, object]]:
    return [r for r in agent.state.requests if r["method"] == method]


async def test_message_send_through_the_agent_card_outputs_the_task_with_the_spec_defaults(
    harness: Harness, agent: A2aServer
) -> None:
    out = await harness.run(workflow(send("report", card(agent), "Generate the Q1 report.")))
    assert out["kind"] == "task" and out["status"] == {"state": "completed"}
    assert out["artifacts"][0]["parts"] == [
        {"kind": "text", "text": "echo: Generate the Q1 report."}
    ]
    assert agent.state.card_requests == 1
    (request,) = sent(agent)
    assert request["path"] == "/a2a"  # the card's url
    params = request["params"]
    assert isinstance(params, dict)
    message = params["message"]
    assert message["role"] == "user" and message["kind"] == "message"  # the spec's defaults
    assert uuid.UUID(message["messageId"]).version == 5
    assert request["id"] == message["messageId"]


async def test_a_retried_message_send_reuses_its_message_id_and_the_next_call_gets_its_own(
    harness: Harness, agent: A2aServer
) -> None:
    agent.state.fail_next = 1  # the first POST is a 503: the activity is retried
    body = send("first", server(agent), "one") + send("second", server(agent), "two")
    out = await harness.run(workflow(body))
    assert out["artifacts"][0]["parts"][0]["text"] == "echo: two"
    ids = [r["params"]["message"]["messageId"] for r in sent(agent)]  # type: ignore[index]
    assert len(ids) == 3, ids
    assert ids[0] == ids[1] != ids[2]  # the retry repeated it; the second task has its own


async def test_an_authors_message_id_and_role_are_kept_and_a_message_reply_is_the_output(
    harness: Harness, agent: A2aServer
) -> None:
    extra = "            messageId: my-id-1\n            role: agent\n"
    out = await harness.run(workflow(send("greet", server(agent), "hi", extra)))
    assert out == {
        "kind": "message",
        "role": "agent",
        "messageId": "reply-my-id-1",
        "parts": [{"kind": "text", "text": "hello"}],
    }
    (request,) = sent(agent)
    assert request["params"]["message"]["role"] == "agent"  # type: ignore[index]


async def test_tasks_get_with_expression_parameters_returns_the_task_the_agent_kept(
    harness: Harness, agent: A2aServer
) -> None:
    body = (
        send("ask", server(agent), "keep me")
        + f"""
  - check:
      call: a2a
      with:
        method: tasks/get
        server:
          uri: {agent.url}/a2a
        parameters: '${{ {{id: .id, historyLength: 1}} }}'
"""
    )
    out = await harness.run(workflow(body))
    assert out["id"] == "task-1" and out["history"][0]["parts"][0]["text"] == "keep me"
    (request,) = sent(agent, "tasks/get")
    assert request["params"] == {"id": "task-1", "historyLength": 1}


async def test_a_json_rpc_error_is_a_runtime_error_naming_agent_method_and_code_not_retried(
    harness: Harness, agent: A2aServer
) -> None:
    text = workflow(
        f"""
  - check:
      call: a2a
      with:
        method: tasks/get
{card(agent)}        parameters:
          id: nope
"""
    )
    error = await harness.fail(text)
    assert error["type"] == ERR + "runtime" and error["title"] == "A2A error"
    assert error["instance"] == "/do/0/check"
    detail = error["detail"]
    assert "A2A agent 'Echo Agent'" in detail and "tasks/get" in detail
    assert "Task not found (JSON-RPC error -32001 TaskNotFoundError)" in detail
    assert '"id": "nope"' in detail  # the error's data
    assert len(sent(agent, "tasks/get")) == 1  # final: an unknown task will not appear


async def test_message_stream_outputs_every_event_result_in_order(
    harness: Harness, agent: A2aServer
) -> None:
    text = workflow(send("stream", card(agent), "flow").replace("message/send", "message/stream"))
    out = await harness.run(text)
    assert [event["kind"] for event in out] == [
        "task",
        "status-update",
        "artifact-update",
        "status-update",
    ]
    assert out[0]["status"]["state"] == "submitted" and out[-1]["final"] is True
    assert out[2]["artifact"]["parts"][0]["text"] == "echo: flow"
    (request,) = sent(agent, "message/stream")
    assert request["accept"] == "text/event-stream"


async def test_bearer_by_name_is_sent_and_without_it_the_error_names_the_cards_scheme(
    harness: Harness, agent: A2aServer
) -> None:
    agent.state.accept = lambda header: header == "Bearer s3cr3t-value"
    extra = (
        "use:\n  secrets: [api_token]\n  authentications:\n    agent:\n      bearer:\n"
        "        token: ${ $secrets.api_token }\n"
    )
    auth = "              use: agent\n"
    output = "      output:\n        as: '${ {state: .status.state, auth: $authorization} }'\n"
    out = await harness.run(workflow(send("ok", card(agent, auth), "x", output), extra))
    assert out["state"] == "completed" and "s3cr3t-value" not in json.dumps(out)
    assert out["auth"]["scheme"] == "Bearer"
    assert sent(agent)[-1]["authorization"] == "Bearer s3cr3t-value"

    error = await harness.fail(workflow(send("no", card(agent), "x")))
    assert error["type"] == ERR + "runtime" and error["status"] == 401
    assert "returned HTTP 401" in error["detail"]
    assert "the agent card asks for: bearer (http bearer)" in error["detail"]


async def test_oauth2_client_credentials_through_the_shared_token_cache(
    temporal_server: DevServer, tmp_path: Path, agent: A2aServer
) -> None:
    client_secret = "a2a-client-s3cret-31"
    with serving_auth() as authority:
        authority.state.clients["runner"] = client_secret

        def live(header: str | None) -> bool:
            token = (header or "").removeprefix("Bearer ")
            return token in authority.state.issued

        agent.state.accept = live
        auth = (
            "              oauth2:\n"
            f"                authority: {authority.url}\n"
            "                grant: client_credentials\n"
            "                client: { id: runner, secret: '${ $secrets.client_secret }' }\n"
        )
        body = send("a", card(agent, auth), "one") + send("b", card(agent, auth), "two")
        text = workflow(body, "use:\n  secrets: [client_secret]\n")
        env = {"WORKFLOW_SECRET_CLIENT_SECRET": client_secret}
        async with make_harness(temporal_server, tmp_path, **env) as harness:
            out = await harness.run(text)
        token_requests = len(authority.state.token_requests)
    assert out["artifacts"][0]["parts"][0]["text"] == "echo: two"
    assert token_requests == 1  # the second call reused the token
    headers = [r["authorization"] for r in sent(agent)]
    assert len(headers) == 2 and headers[0] == headers[1]
    assert client_secret not in json.dumps(out)


async def test_an_agent_that_speaks_no_json_rpc_is_a_configuration_error(
    harness: Harness, agent: A2aServer
) -> None:
    agent.state.transport = "GRPC"
    error = await harness.fail(workflow(send("x", card(agent), "x")))
    assert error["type"] == ERR + "configuration"
    assert "offers GRPC and no JSONRPC interface" in error["detail"]
    assert sent(agent) == []


async def test_an_http_503_is_retried_and_then_fails_naming_the_agent_and_method(
    harness: Harness, agent: A2aServer
) -> None:
    agent.state.fail_next = 99
    error = await harness.fail(workflow(send("x", server(agent), "x")))
    assert error["type"] == ERR + "runtime" and error["status"] == 503
    assert f"A2A agent at {agent.url}/a2a, message/send" in error["detail"]
    assert "agent busy" in error["detail"]
    assert len(sent(agent)) == 3  # the engine's I/O retry policy: three attempts


def test_the_spec_example_validates() -> None:
    text = workflow(
        """
  - GenerateReport:
      call: a2a
      with:
        method: message/send
        agentCard:
          endpoint: https://example.com/.well-known/agent-card.json
        parameters:
          message:
            parts:
              - kind: text
                text: Generate the Q1 sales report.
"""
    )
    assert type(parse_definition(text, "wf.yaml").model.do.tasks[0]).__name__ == "CallA2aTask"


@pytest.mark.parametrize(
    ("body", "pointer", "message"),
    [
        ("server: http://a/x", "/with", "call: a2a needs 'method': one of message/send"),
        (
            "method: message/post\n        server: http://a/x",
            "/with/method",
            "unknown a2a method 'message/post'",
        ),
        ("method: tasks/get\n        parameters: {id: t}", "/with", "needs 'agentCard'"),
        ("method: message/send\n        server: http://a/x", "/with", "parameters.message"),
        (
            "method: message/send\n        server: http://a/x\n        parameters: {message: {}}",
            "/with/parameters/message",
            "message needs 'parts'",
        ),
        (
            "method: tasks/get\n        server: ftp://a/x\n        parameters: {id: t}",
            "/with/server",
            "must be an http:// or https:// URL",
        ),
        (
            "method: tasks/get\n        agentCard: {uri: http://a}\n        parameters: {id: t}",
            "/with/agentCard",
            "agentCard needs 'endpoint'",
        ),
        (
            "method: tasks/get\n        server: {uri: 'http://a', authentication: {use: x}}\n"
            "        parameters: {id: t}",
            "/with/server/authentication/use",
            "'x' is not defined in use.authentications",
        ),
        (
            "method: tasks/get\n        server: http://a\n        parameters: {id: t}\n"
            "        agent: me",
            "/with/agent",
            "unknown a2a property 'agent'",
        ),
        ("method: tasks/cancel\n        server: http://a\n        parameters: {}", "", "id"),
    ],
)
def test_a_wrong_a2a_call_is_reported_where_it_is_written(
    body: str, pointer: str, message: str
) -> None:
    text = workflow(f"  - talk:\n      call: a2a\n      with:\n        {body}\n")
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "wf.yaml")
    problems = [str(p) for p in info.value.problems]
    where = "/do/0/talk" + pointer
    assert any(message in p and where in p for p in problems), problems
