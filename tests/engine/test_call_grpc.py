"""call: grpc end to end: a real grpcio server on 127.0.0.1, the real dev server."""

from __future__ import annotations

import asyncio
import functools
import json
import shutil
import stat
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.authserver import AuthServer, serving_auth
from tests.grpc.server import PROTO, GreeterServer, serving
from tests.harness import Harness, make_harness, workflow
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.tasks.call_grpc import CallGrpcTask, GrpcRequest
from workflow_runner.engine.tasks.call_grpc_activity import GrpcActivities
from workflow_runner.runtime.devserver import DevServer

ERR = "https://serverlessworkflow.io/spec/1.0.0/errors/"


@pytest.fixture(scope="module")
def greeter() -> Iterator[GreeterServer]:
    with serving() as server:
        yield server


def call(port: int, method: str, arguments: str, proto: str = str(PROTO), extra: str = "") -> str:
    return workflow(
        f"""
  - greet:
      call: grpc
{extra}      with:
        proto:
          endpoint: {proto}
        service:
          name: test.greeter.Greeter
          host: 127.0.0.1
          port: {port}
        method: {method}
        arguments: {arguments}
"""
    )


async def test_a_unary_call_returns_the_reply_with_the_protos_field_names(
    harness: Harness, greeter: GreeterServer
) -> None:
    text = call(greeter.port, "SayHello", "{name: '${ .user.name }', times: 2}")
    out = await harness.run(text, {"user": {"name": "Ada"}})
    assert out == {
        "message": "Hello, Ada!Hello, Ada!",
        "name_length": 3,  # the proto's name, not nameLength
        "shouted": False,  # a default value is present, not absent
        "at": "2023-11-14T22:13:20Z",
    }


async def test_a_grpc_status_is_a_communication_error_naming_service_and_method(
    harness: Harness, greeter: GreeterServer
) -> None:
    error = await harness.fail(call(greeter.port, "Fail", "{reason: widget}"))
    assert error["type"] == ERR + "communication"
    assert error["status"] == 5 and error["title"] == "gRPC NOT_FOUND"
    assert "test.greeter.Greeter/Fail" in error["detail"]
    assert "no such thing: widget" in error["detail"]
    assert error["instance"] == "/do/0/greet"


async def test_a_method_the_proto_does_not_declare_fails_listing_the_methods_it_has(
    harness: Harness, greeter: GreeterServer
) -> None:
    error = await harness.fail(call(greeter.port, "SayGoodbye", "{name: x}"))
    assert error["type"] == ERR + "configuration"
    assert "no method 'SayGoodbye'" in error["detail"]
    assert "CountTo, Fail, SayHello, Sleep, Whoami" in error["detail"]


async def test_arguments_that_do_not_fit_the_request_message_are_a_validation_error(
    harness: Harness, greeter: GreeterServer
) -> None:
    error = await harness.fail(call(greeter.port, "SayHello", "{nom: x}"))
    assert error["type"] == ERR + "validation"
    assert "test.greeter.HelloRequest" in error["detail"] and "nom" in error["detail"]


async def test_a_server_streaming_method_outputs_every_reply_in_order(
    harness: Harness, greeter: GreeterServer
) -> None:
    out = await harness.run(call(greeter.port, "CountTo", "{name: n, times: 3}"))
    assert [reply["message"] for reply in out] == ["n 1", "n 2", "n 3"]


async def test_secrets_reach_the_server_as_values_and_come_back_redacted(
    harness: Harness, greeter: GreeterServer
) -> None:
    text = workflow(
        f"""
  - greet:
      call: grpc
      with:
        proto:
          endpoint: {PROTO}
        service:
          name: Greeter
          host: 127.0.0.1
          port: {greeter.port}
          authentication:
            bearer:
              token: ${{ $secrets.api_token }}
        method: SayHello
        arguments:
          name: ${{ "to " + $secrets.api_token }}
""",
        extra="use:\n  secrets: [api_token]\n",
    )
    out = await harness.run(text)
    assert greeter.authorizations[-1] == "Bearer s3cr3t-value"
    assert out["message"] == "Hello, to ⟦secret:api_token⟧!"
    assert out["name_length"] == len("to s3cr3t-value")


async def test_a_task_timeout_ends_a_slow_call_with_the_timeout_error_not_cancelled(
    harness: Harness, greeter: GreeterServer
) -> None:
    # The call's deadline is the activity's timeout (less a second); the task's timeout
    # cancels the activity, which used to surface as a "Runtime error: Cancelled".
    text = call(greeter.port, "Sleep", "{times: 30}", extra="      timeout:\n        after: PT2S\n")
    started = asyncio.get_running_loop().time()
    error = await harness.fail(text)
    elapsed = asyncio.get_running_loop().time() - started
    assert error["type"] == ERR + "timeout" and error["title"] == "Task timed out", error
    assert error["instance"] == "/do/0/greet"
    assert elapsed < 15  # not the server's 30 s


async def test_an_unreachable_server_is_a_communication_error_naming_the_target(
    harness: Harness,
) -> None:
    error = await harness.fail(call(1, "SayHello", "{name: x}"))
    assert error["type"] == ERR + "communication" and error["title"] == "gRPC UNAVAILABLE"
    assert "at 127.0.0.1:1" in error["detail"]


async def test_a_proto_served_over_http_is_fetched_and_used(
    harness: Harness, greeter: GreeterServer
) -> None:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(PROTO.parent))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{PROTO.name}"
        out = await harness.run(call(greeter.port, "SayHello", "{name: web}", proto=url))
    finally:
        server.shutdown()
        server.server_close()
    assert out["message"] == "Hello, web!"


async def test_a_proto_that_does_not_compile_names_the_line(
    harness: Harness, greeter: GreeterServer, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.proto"
    broken.write_text('syntax = "proto3";\nmessage A { strin x = 1; }\n')
    error = await harness.fail(call(greeter.port, "SayHello", "{name: x}", proto=str(broken)))
    assert error["type"] == ERR + "configuration"
    assert "does not compile" in error["detail"] and "broken.proto:2" in error["detail"]


async def test_a_proto_is_compiled_once_per_worker_into_a_private_directory(
    tmp_path: Path,
) -> None:
    proto = tmp_path / "copy" / "greeter.proto"
    proto.parent.mkdir()
    shutil.copy(PROTO, proto)
    grpc = GrpcActivities({}, max_response_bytes=1 << 20)
    compiles = 0
    original = grpc._compile

    async def counting(*args: Any) -> Any:
        nonlocal compiles
        compiles += 1
        return await original(*args)

    grpc._compile = counting  # type: ignore[method-assign,assignment]
    request = GrpcRequest(str(proto), "test.greeter.Greeter", "127.0.0.1", 1, "SayHello")
    try:
        first, second, third = await asyncio.gather(*(grpc._load(request) for _ in range(3)))
        assert first is second is third and compiles == 1
        assert grpc._dir is not None and stat.S_IMODE(grpc._dir.stat().st_mode) == 0o700
        (key,) = [p.name for p in grpc._dir.iterdir()]
        assert len(key) == 64  # the proto's sha256
        assert first.services == ["test.greeter.Greeter"]
        cache = grpc._dir
    finally:
        await grpc.close()
    assert not cache.exists()


def test_the_spec_example_validates_and_resolves_a_relative_proto_next_to_the_definition(
    tmp_path: Path,
) -> None:
    text = call(5011, "SayHello", "{name: x}", proto="file://app/greet.proto")
    definition = parse_definition(text, str(tmp_path / "wf.yaml"))
    (task,) = definition.model.do.tasks
    assert isinstance(task, CallGrpcTask)
    assert task.proto == str(tmp_path.resolve() / "app" / "greet.proto")


@pytest.mark.parametrize(
    ("service", "message"),
    [
        ("{name: G}", "service needs 'name' and 'host'"),
        ("{name: G, host: h, port: 70000}", "port must be an integer from 1 to 65535"),
        (
            "{name: G, host: h, authentication: {digest: {username: u, password: p}}}",
            "digest authentication cannot be used for grpc",
        ),
        (
            "{name: G, host: h, authentication: {use: nowhere}}",
            "authentication policy 'nowhere' is not defined in use.authentications",
        ),
        (
            "{name: G, host: h, authentication: {oauth2: {grant: client_credentials}}}",
            "oauth2 authentication needs 'authority'",
        ),
        ("{name: G, host: h, tls: true}", "unknown grpc service property 'tls'"),
    ],
)
def test_a_wrong_grpc_service_is_reported_where_it_is_written(service: str, message: str) -> None:
    text = workflow(
        "  - g:\n      call: grpc\n      with:\n        proto: {endpoint: a.proto}\n"
        f"        service: {service}\n        method: M\n"
    )
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "wf.yaml")
    problems = [str(p) for p in info.value.problems]
    assert any(message in p and "/do/0/g/with/service" in p for p in problems), problems


async def test_a_relative_proto_is_read_next_to_the_definition_by_a_worker_elsewhere(
    harness: Harness, greeter: GreeterServer
) -> None:
    # The worker runs in pytest's working directory, not the definition's: it must
    # still find app/greeter.proto next to the definition (it re-reads the raw
    # definition from the run request, so the raw definition must carry the path).
    assert Path.cwd().resolve() != harness.directory.resolve()
    (harness.directory / "app").mkdir()
    shutil.copy(PROTO, harness.directory / "app" / PROTO.name)
    text = call(greeter.port, "SayHello", "{name: rel}", proto=f"file://app/{PROTO.name}")
    handle = await harness.start(text)
    assert (await handle.result())["message"] == "Hello, rel!"
    definition = parse_definition(text, str(harness.directory / "main.yaml"))
    proto = definition.data["do"][0]["greet"]["with"]["proto"]["endpoint"]
    assert proto == str(harness.directory.resolve() / "app" / PROTO.name)


def whoami(port: int, authentication: str) -> str:
    """A Whoami call; ``authentication`` is YAML indented for service.authentication."""
    return f"""
  - who:
      call: grpc
      with:
        proto:
          endpoint: {PROTO}
        service:
          name: Greeter
          host: 127.0.0.1
          port: {port}
          authentication:
{authentication}        method: Whoami
        arguments: {{name: me}}
"""


async def test_bearer_authentication_by_name_is_sent_as_authorization_metadata(
    harness: Harness, greeter: GreeterServer
) -> None:
    greeter.accept = lambda header: "api" if header == "Bearer s3cr3t-value" else None
    extra = (
        "use:\n  secrets: [api_token]\n  authentications:\n    api:\n      bearer:\n"
        "        token: ${ $secrets.api_token }\n"
    )
    text = workflow(whoami(greeter.port, "            use: api\n"), extra)
    text += "      output:\n        as: '${ {message: .message, auth: $authorization} }'\n"
    try:
        out = await harness.run(text)
    finally:
        greeter.accept = None
    assert greeter.authorizations[-1] == "Bearer s3cr3t-value"
    # The server echoed the header: it comes back redacted, and $authorization holds
    # the secret's token, never its value.
    assert out["message"] == "api|⟦secret:authorization⟧"
    assert out["auth"]["scheme"] == "Bearer" and "s3cr3t-value" not in json.dumps(out)


async def test_a_refused_authorization_is_a_grpc_unauthenticated_error(
    harness: Harness, greeter: GreeterServer
) -> None:
    greeter.accept = lambda header: None
    auth = "            bearer:\n              token: wrong\n"
    try:
        error = await harness.fail(workflow(whoami(greeter.port, auth)))
    finally:
        greeter.accept = None
    assert error["type"] == ERR + "communication" and error["title"] == "gRPC UNAUTHENTICATED"
    assert greeter.authorizations[-1] == "Bearer wrong"


OAUTH_SECRET = "grpc-client-s3cret-4e1"


async def test_oauth2_client_credentials_token_is_fetched_once_and_sent_as_metadata(
    temporal_server: DevServer, tmp_path: Path, greeter: GreeterServer
) -> None:
    with serving_auth() as authority:
        authority.state.clients["runner"] = OAUTH_SECRET
        greeter.accept = functools.partial(_issued_client, authority)
        auth = (
            "            oauth2:\n"
            f"              authority: {authority.url}\n"
            "              grant: client_credentials\n"
            "              client: { id: runner, secret: '${ $secrets.client_secret }' }\n"
            "              scopes: [ greet ]\n"
        )
        body = whoami(greeter.port, auth) + whoami(greeter.port, auth).replace("- who:", "- again:")
        text = workflow(body, "use:\n  secrets: [client_secret]\n")
        env = {"WORKFLOW_SECRET_CLIENT_SECRET": OAUTH_SECRET}
        try:
            async with make_harness(temporal_server, tmp_path, **env) as harness:
                out = await harness.run(text)
        finally:
            greeter.accept = None
        requests = authority.state.token_requests
    assert len(requests) == 1, requests  # the second call reused the cached token
    assert requests[0]["body"]["grant_type"] == "client_credentials"
    assert requests[0]["body"]["scope"] == "greet"
    sent = greeter.authorizations[-2:]
    assert sent[0] == sent[1] and sent[0] is not None and sent[0].startswith("Bearer at-")
    assert out["message"] == "runner|⟦secret:authorization⟧"
    assert OAUTH_SECRET not in json.dumps(out) and sent[0][7:] not in json.dumps(out)


async def test_an_oauth2_authority_that_refuses_the_client_is_an_authentication_error(
    temporal_server: DevServer, tmp_path: Path, greeter: GreeterServer
) -> None:
    with serving_auth() as authority:
        authority.state.clients["runner"] = "another-secret"
        auth = (
            "            oauth2:\n"
            f"              authority: {authority.url}\n"
            "              grant: client_credentials\n"
            "              client: { id: runner, secret: '${ $secrets.client_secret }' }\n"
        )
        text = workflow(whoami(greeter.port, auth), "use:\n  secrets: [client_secret]\n")
        env = {"WORKFLOW_SECRET_CLIENT_SECRET": OAUTH_SECRET}
        calls = len(greeter.authorizations)
        async with make_harness(temporal_server, tmp_path, **env) as harness:
            error = await harness.fail(text)
    assert error["type"] == ERR + "authentication" and error["status"] == 401
    assert authority.url in error["detail"] and "invalid_client" in error["detail"]
    assert OAUTH_SECRET not in json.dumps(error)
    assert len(greeter.authorizations) == calls  # the gRPC server was never called


def _issued_client(authority: AuthServer, header: str | None) -> str | None:
    """The client a live bearer token was issued to, by the authority's own records."""
    if header is None or not header.startswith("Bearer "):
        return None
    issued = authority.state.issued.get(header.removeprefix("Bearer "))
    return issued.client if issued is not None else None
