"""call: mcp end to end: the SDK's MCPServer over stdio (a child process) and over
Streamable HTTP (uvicorn on 127.0.0.1), the real dev server."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Harness, workflow
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition

ERR = "https://serverlessworkflow.io/spec/1.0.0/errors/"
SERVER = Path(__file__).parent.parent / "mcp" / "server.py"
SPEC_EXAMPLES = Path(__file__).parent.parent / "spec" / "examples"


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    import uvicorn

    from tests.mcp.server import http_app

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(http_app(), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the MCP HTTP server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def stdio(method: str, parameters: Any, environment: Any = None, extra: str = "") -> str:
    transport = {"command": sys.executable, "arguments": [str(SERVER)]}
    if environment is not None:
        transport["environment"] = environment
    return workflow(
        f"""
  - ask:
      call: mcp
      with:
        method: {method}
        parameters: {json.dumps(parameters)}
        transport:
          stdio: {json.dumps(transport)}
{extra}""",
        extra="use:\n  secrets: [api_token]\n",
    )


def http(url: str, method: str, parameters: Any) -> str:
    return workflow(
        f"""
  - ask:
      call: mcp
      with:
        method: {method}
        parameters: {json.dumps(parameters)}
        client:
          name: tests
          version: '1.0'
        transport:
          http:
            endpoint: {url}
            headers:
              x-test: yes
"""
    )


async def test_a_tool_called_over_stdio_returns_its_json_rpc_result(harness: Harness) -> None:
    text = stdio("tools/call", {"name": "add", "arguments": {"a": "${ .a }", "b": 3}})
    out = await harness.run(text, {"a": 2})
    assert out["structuredContent"] == {"sum": 5}
    assert out["content"][0]["type"] == "text" and json.loads(out["content"][0]["text"]) == {
        "sum": 5
    }
    assert out.get("isError", False) is False


async def test_an_unknown_tool_is_a_runtime_error_naming_the_tool_and_the_server(
    harness: Harness,
) -> None:
    error = await harness.fail(stdio("tools/call", {"name": "nope", "arguments": {}}))
    assert error["type"] == ERR + "runtime" and error["title"] == "MCP tool failed"
    assert "tool 'nope'" in error["detail"] and "Unknown tool: nope" in error["detail"]
    assert str(SERVER) in error["detail"] and error["instance"] == "/do/0/ask"


async def test_a_tool_that_raises_fails_the_task(harness: Harness) -> None:
    error = await harness.fail(
        stdio("tools/call", {"name": "explode", "arguments": {"reason": "x"}})
    )
    assert error["type"] == ERR + "runtime" and "tool 'explode'" in error["detail"]


async def test_a_stdio_server_sees_only_allow_listed_and_declared_variables(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", "worker-credential")
    env = {"GREETING": "hi", "TOKEN": "${ $secrets.api_token }"}
    names = ["R2_SECRET_ACCESS_KEY", "GREETING", "TOKEN"]
    text = stdio("tools/call", {"name": "environment", "arguments": {"names": names}}, env)
    seen = (await harness.run(text))["structuredContent"]
    assert seen["R2_SECRET_ACCESS_KEY"] == "<unset>"  # the worker's credentials stay behind
    assert seen["GREETING"] == "hi"
    # The child got the secret's value; what came back into the history is the marker.
    assert seen["TOKEN"] == "⟦secret:api_token⟧"


async def test_the_calls_timeout_bounds_a_slow_tool(harness: Harness) -> None:
    text = stdio(
        "tools/call",
        {"name": "sleep", "arguments": {"seconds": 30}},
        extra="        timeout: PT1S\n",
    )
    started = asyncio.get_running_loop().time()
    error = await harness.fail(text)
    assert asyncio.get_running_loop().time() - started < 15
    assert error["title"] == "MCP call timed out" and "did not finish in time" in error["detail"]


async def test_a_command_that_does_not_exist_fails_once_naming_it(harness: Harness) -> None:
    text = workflow(
        """
  - ask:
      call: mcp
      with:
        method: tools/list
        transport:
          stdio:
            command: /nonexistent/mcp-server
"""
    )
    error = await harness.fail(text)
    assert error["type"] == ERR + "runtime" and "/nonexistent/mcp-server" in error["detail"]


async def test_tools_prompts_and_resources_over_streamable_http(
    harness: Harness, mcp_url: str
) -> None:
    called = await harness.run(
        http(mcp_url, "tools/call", {"name": "add", "arguments": {"a": 1, "b": 1}})
    )
    tools = await harness.run(http(mcp_url, "tools/list", {}))
    prompt = await harness.run(
        http(mcp_url, "prompts/get", {"name": "greeting", "arguments": {"name": "Ada"}})
    )
    resource = await harness.run(http(mcp_url, "resources/read", {"uri": "memo://motd"}))
    assert called["structuredContent"] == {"sum": 2}
    assert {"add", "environment", "explode", "sleep"} <= {t["name"] for t in tools["tools"]}
    assert prompt["messages"][0]["content"]["text"] == "Say hello to Ada"
    assert resource["contents"][0]["text"] == "hello from the resource"


async def test_an_unknown_tool_over_http_names_the_endpoint(harness: Harness, mcp_url: str) -> None:
    error = await harness.fail(http(mcp_url, "tools/call", {"name": "nope"}))
    assert "tool 'nope'" in error["detail"] and mcp_url in error["detail"]


async def test_an_unreachable_http_server_is_a_runtime_error_naming_it(harness: Harness) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    url = f"http://127.0.0.1:{port}/mcp"
    error = await harness.fail(http(url, "tools/list", {}))
    assert error["type"] == ERR + "runtime" and url in error["detail"]


def test_the_spec_example_validates() -> None:
    path = SPEC_EXAMPLES / "call-mcp.yaml"
    if not path.exists():
        pytest.skip("the spec examples are not in this checkout")
    definition = parse_definition(path.read_text(), str(path))
    assert definition.reference == "test/mcp-example:0.1.0"


@pytest.mark.parametrize(
    ("spec", "pointer", "message"),
    [
        ("method: tools/run\n        transport: {stdio: {command: x}}", "/method", "one of"),
        (
            "method: tools/call\n        transport: {stdio: {command: x}}",
            "",
            "needs parameters.name",
        ),
        (
            "method: tools/list\n        transport: {stdio: {command: x}, http: {endpoint: y}}",
            "/transport",
            "exactly one of 'stdio' or 'http'",
        ),
        (
            "method: tools/list\n        transport: {http: {uri: y}}",
            "/transport/http",
            "needs 'endpoint'",
        ),
        (
            "method: tools/list\n        timeout: soon\n        transport: {stdio: {command: x}}",
            "/timeout",
            "",
        ),
    ],
)
def test_a_wrong_mcp_call_is_reported_where_it_is_written(
    spec: str, pointer: str, message: str
) -> None:
    text = workflow(f"  - ask:\n      call: mcp\n      with:\n        {spec}\n")
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "wf.yaml")
    problems = [str(p) for p in info.value.problems]
    assert any(message in p and f"/do/0/ask/with{pointer}" in p for p in problems), problems
