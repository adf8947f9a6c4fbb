"""Endpoint authentication end to end: the dev server, a worker, and a real authority.

tests/authserver.py is both the OAuth2/OIDC authority and the protected
resources; what it received (token requests, Authorization headers) is the
ground truth, since the workflow's own output is redacted.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.authserver import AuthServer, serving_auth
from tests.engine.test_secrets import _payloads
from tests.harness import Harness, make_harness, workflow
from workflow_runner.cli.logs import install_handler, log_file
from workflow_runner.engine.tasks.authentication_activity import TokenCache, auth_for
from workflow_runner.runtime.devserver import DevServer

CLIENT_SECRET = "client-s3cret-value-9f2"
USER_PASSWORD = "user-pa55word-77c"
AUTH_ERROR = "https://serverlessworkflow.io/spec/1.0.0/errors/authentication"


@pytest.fixture
def authority() -> Iterator[AuthServer]:
    """A fresh authority per test: the worker's token cache is keyed by its URL."""
    with serving_auth() as server:
        server.state.clients["runner"] = CLIENT_SECRET
        server.state.users["alice"] = USER_PASSWORD
        yield server


@asynccontextmanager
async def authed_harness(server: DevServer, directory: Path, **env: str) -> AsyncIterator[Harness]:
    secrets = {
        "WORKFLOW_SECRET_CLIENT_SECRET": CLIENT_SECRET,
        "WORKFLOW_SECRET_USER_PASSWORD": USER_PASSWORD,
    }
    async with make_harness(server, directory, **{**secrets, **env}) as harness:
        yield harness


SECRETS = "use:\n  secrets:\n    - client_secret\n    - user_password\n"


def _call(name: str, uri: str, authentication: str, extra: str = "") -> str:
    """A call: http task; ``authentication`` is YAML indented for endpoint.authentication."""
    return f"""
  - {name}:
      call: http
      with:
        method: get
        endpoint:
          uri: {uri}
          authentication:
{authentication}{extra}"""


def _oauth2(server: AuthServer, **overrides: str) -> str:
    lines = {
        "authority": server.url,
        "grant": "client_credentials",
        "client": "{ id: runner, secret: '${ $secrets.client_secret }' }",
        "scopes": "[ api, read ]",
        "audiences": "[ runtime ]",
        **overrides,
    }
    return "            oauth2:\n" + "".join(
        f"              {k}: {v}\n" for k, v in lines.items() if v
    )


# -- basic, bearer, digest ------------------------------------------------------------


async def test_basic_authentication_sends_the_credentials_and_keeps_the_password_out_of_the_output(
    temporal_server: DevServer, tmp_path: Path, authority: AuthServer
) -> None:
    authority.state.basic = ("alice", USER_PASSWORD)
    auth = "            basic:\n              username: alice\n"
    auth += "              password: ${ $secrets.user_password }\n"
    text = workflow(_call("get", f"{authority.url}/basic", auth), extra=SECRETS)
    async with authed_harness(temporal_server, tmp_path) as harness:
        out = await harness.run(text)
    assert out["user"] == "alice"  # the resource accepted the credentials
    # It echoed the Authorization header back: the base64 credentials are redacted.
    assert out["authorization"] == "⟦secret:authorization⟧"
    assert USER_PASSWORD not in json.dumps(out)


async def test_bearer_authentication_sends_the_token_and_sets_authorization_for_output_as(
    harness: Harness, authority: AuthServer
) -> None:
    authority.state.bearer = "static-bearer-token"
    auth = "            bearer:\n              token: ${ .token }\n"
    extra = "\n      output:\n        as: '${ {auth: $authorization, ok: .ok} }'\n"
    text = workflow(_call("get", f"{authority.url}/bearer", auth, extra))
    out = await harness.run(text, {"token": "static-bearer-token"})
    assert out == {"auth": {"scheme": "Bearer", "parameter": "static-bearer-token"}, "ok": True}
    assert authority.state.resource_requests[-1]["authorization"] == "Bearer static-bearer-token"


async def test_digest_authentication_by_name_answers_the_servers_challenge(
    temporal_server: DevServer, tmp_path: Path, authority: AuthServer
) -> None:
    authority.state.digest = ("alice", USER_PASSWORD)
    extra = (
        SECRETS
        + "  authentications:\n    site:\n      digest:\n        username: alice\n"
        + "        password: ${ $secrets.user_password }\n"
    )
    text = workflow(_call("get", f"{authority.url}/digest", "            use: site\n"), extra)
    async with authed_harness(temporal_server, tmp_path) as harness:
        out = await harness.run(text)
    assert out["user"] == "alice"
    seen = [r["authorization"] for r in authority.state.resource_requests]
    assert seen[0] == "" and seen[1].startswith('Digest username="alice"')  # challenge, answer
    assert USER_PASSWORD not in json.dumps(out) and USER_PASSWORD not in seen[1]


# -- oauth2 / oidc -----------------------------------------------------------------------


async def test_oauth2_client_credentials_token_is_fetched_once_for_two_calls(
    temporal_server: DevServer, tmp_path: Path, authority: AuthServer
) -> None:
    """Same policy twice: one token request; a third call asking other scopes gets its own."""
    named = "".join(line[6:] + "\n" for line in _oauth2(authority).splitlines())
    extra = SECRETS + "  authentications:\n    api:\n" + named
    body = (
        _call("first", f"{authority.url}/protected", "            use: api\n")
        + _call("second", f"{authority.url}/protected", "            use: api\n")
        + _call("other", f"{authority.url}/protected", _oauth2(authority, scopes="[ admin ]"))
        + "\n      output:\n        as: '${ {scope: .scope, client: .client, aud: .audience} }'\n"
    )
    async with authed_harness(temporal_server, tmp_path) as harness:
        out = await harness.run(workflow(body, extra))
    assert out == {"scope": "admin", "client": "runner", "aud": ["runtime"]}
    requests = authority.state.token_requests
    assert len(requests) == 2, requests  # first + second shared one token
    first = requests[0]
    assert first["path"] == "/oauth2/token"  # the default endpoints.token
    assert first["content_type"].startswith("application/x-www-form-urlencoded")
    assert first["body"] == {  # client_secret_post is the default client authentication
        "grant_type": "client_credentials",
        "scope": "api read",
        "audience": "runtime",
        "client_id": "runner",
        "client_secret": CLIENT_SECRET,
    }
    tokens = [r["authorization"] for r in authority.state.resource_requests]
    assert tokens[0] == tokens[1] != tokens[2]


async def test_oauth2_password_grant_with_client_secret_basic_and_a_json_request(
    temporal_server: DevServer, tmp_path: Path, authority: AuthServer
) -> None:
    auth = _oauth2(
        authority,
        grant="password",
        client="{ id: runner, secret: '${ $secrets.client_secret }', "
        "authentication: client_secret_basic }",
        endpoints="{ token: /custom/token }",
        request="{ encoding: application/json }",
        username="alice",
        password="${ $secrets.user_password }",
        audiences="[ a, b ]",
    )
    text = workflow(_call("get", f"{authority.url}/protected", auth), extra=SECRETS)
    async with authed_harness(temporal_server, tmp_path) as harness:
        out = await harness.run(text)
    assert (out["user"], out["client"], out["audience"]) == ("alice", "runner", ["a", "b"])
    (request,) = authority.state.token_requests
    assert request["path"] == "/custom/token"
    assert request["content_type"] == "application/json"
    assert request["authorization"].startswith("Basic ")
    assert "client_secret" not in request["body"]
    assert request["body"]["password"] == USER_PASSWORD


@pytest.mark.parametrize("suffix", ["", "/.well-known/openid-configuration"])
async def test_oidc_discovers_the_token_endpoint_once_and_signs_a_client_secret_jwt(
    temporal_server: DevServer, tmp_path: Path, authority: AuthServer, suffix: str
) -> None:
    """The authority as the issuer's URL or as its discovery document (the spec's example)."""
    auth = _oauth2(
        authority,
        authority=authority.url + suffix,
        client="{ id: runner, secret: '${ $secrets.client_secret }', "
        "authentication: client_secret_jwt }",
        issuers=f"[ {authority.url} ]",
        audiences="",
    ).replace("oauth2:", "oidc:")
    body = _call("one", f"{authority.url}/protected", auth) + _call(
        "two", f"{authority.url}/protected", auth
    )
    async with authed_harness(temporal_server, tmp_path) as harness:
        out = await harness.run(workflow(body, SECRETS))
    assert out["client"] == "runner"
    (request,) = authority.state.token_requests
    assert request["path"] == "/oidc/token"
    assert request["body"]["client_assertion_type"].endswith("jwt-bearer")
    assert "client_secret" not in request["body"]
    paths = [r["path"] for r in authority.state.resource_requests]
    assert paths.count("/.well-known/openid-configuration") == 1


async def test_oidc_refuses_an_authority_whose_issuer_is_not_listed(
    harness: Harness, authority: AuthServer
) -> None:
    auth = _oauth2(
        authority,
        client="{ id: runner, secret: ignored-here, authentication: client_secret_post }",
        issuers="[ https://elsewhere.example ]",
    ).replace("oauth2:", "oidc:")
    error = await harness.fail(workflow(_call("get", f"{authority.url}/protected", auth)))
    assert error["type"] == AUTH_ERROR
    assert "not one of the policy's issuers" in error["detail"]
    assert authority.state.token_requests == []


async def test_token_exchange_with_a_private_key_jwt_client_assertion(
    harness: Harness, authority: AuthServer
) -> None:
    authority.state.assertions["runner"] = "pre.signed.assertion"
    auth = _oauth2(
        authority,
        grant="urn:ietf:params:oauth:grant-type:token-exchange",
        client="{ id: runner, assertion: pre.signed.assertion, authentication: private_key_jwt }",
        subject="{ token: '${ .user_token }', type: 'urn:ietf:params:oauth:token-type:jwt' }",
    )
    text = workflow(_call("get", f"{authority.url}/protected", auth))
    out = await harness.run(text, {"user_token": "user-jwt"})
    assert out["user"] == "on-behalf-of:urn:ietf:params:oauth:token-type:jwt"
    (request,) = authority.state.token_requests
    assert request["body"]["subject_token"] == "user-jwt"
    assert request["body"]["client_assertion"] == "pre.signed.assertion"
    assert "user-jwt" not in json.dumps(out) and "pre.signed.assertion" not in json.dumps(out)


async def test_an_expired_token_is_refreshed(
    temporal_server: DevServer, tmp_path: Path, authority: AuthServer
) -> None:
    """expires_in 1 s: the call 1.5 s later asks again (the resource rejects stale tokens)."""
    authority.state.expires_in = 1
    body = (
        _call("one", f"{authority.url}/protected", _oauth2(authority))
        + "\n  - pause:\n      wait:\n        milliseconds: 1500\n"
        + _call("two", f"{authority.url}/protected", _oauth2(authority))
    )
    async with authed_harness(temporal_server, tmp_path) as harness:
        out = await harness.run(workflow(body, SECRETS))
    assert out["client"] == "runner"
    assert len(authority.state.token_requests) == 2
    tokens = [r["authorization"] for r in authority.state.resource_requests]
    assert len(tokens) == 2 and tokens[0] != tokens[1]


async def test_a_cached_token_the_resource_refuses_is_replaced_once(
    temporal_server: DevServer, tmp_path: Path, authority: AuthServer
) -> None:
    """The authority forgets its tokens between two runs: 401, a new token, one retry."""
    text = workflow(_call("get", f"{authority.url}/protected", _oauth2(authority)), SECRETS)
    async with authed_harness(temporal_server, tmp_path) as harness:
        await harness.run(text)
        authority.revoke_all()
        out = await harness.run(text)
    assert out["client"] == "runner"
    assert len(authority.state.token_requests) == 2
    statuses = [r["authorization"] for r in authority.state.resource_requests]
    assert len(statuses) == 3 and statuses[0] == statuses[1] != statuses[2]


async def test_a_wrong_client_secret_is_an_authentication_error_naming_authority_and_status(
    temporal_server: DevServer, tmp_path: Path, authority: AuthServer
) -> None:
    text = workflow(_call("get", f"{authority.url}/protected", _oauth2(authority)), SECRETS)
    async with authed_harness(
        temporal_server, tmp_path, WORKFLOW_SECRET_CLIENT_SECRET="wrong-secret-value"
    ) as harness:
        error = await harness.fail(text)
    assert error["type"] == AUTH_ERROR and error["status"] == 401
    assert error["instance"] == "/do/0/get"
    assert error["title"] == "Token request failed (HTTP 401)"
    assert f"authority {authority.url}" in error["detail"]
    assert "returned HTTP 401: invalid_client" in error["detail"]
    assert "wrong-secret-value" not in json.dumps(error)
    assert len(authority.state.token_requests) == 1  # not retried: it will not get better
    assert authority.state.resource_requests == []


async def test_a_policy_held_in_a_secret_is_loaded_from_its_json(
    temporal_server: DevServer, tmp_path: Path, authority: AuthServer
) -> None:
    policy = {
        "authority": authority.url,
        "endpoints": {"token": "/custom/token"},
        "grant": "client_credentials",
        "client": {"id": "runner", "secret": CLIENT_SECRET},
        "scopes": ["from-secret"],
    }
    extra = "use:\n  secrets:\n    - oauth_policy\n"
    extra += "  authentications:\n    api:\n      oauth2:\n        use: oauth_policy\n"
    text = workflow(_call("get", f"{authority.url}/protected", "            use: api\n"), extra)
    async with authed_harness(
        temporal_server, tmp_path, WORKFLOW_SECRET_OAUTH_POLICY=json.dumps(policy)
    ) as harness:
        out = await harness.run(text)
        bad = await harness.fail(text.replace("oauth_policy", "client_secret"))
    assert out["scope"] == "from-secret"
    assert authority.state.token_requests[0]["path"] == "/custom/token"
    assert CLIENT_SECRET not in json.dumps(out)
    # A secret that is not a JSON policy: a configuration error that does not quote it.
    assert bad["type"].endswith("/configuration")
    assert "secret 'client_secret' holds the oauth2 policy" in bad["detail"]
    assert CLIENT_SECRET not in json.dumps(bad)


# -- nothing leaks ---------------------------------------------------------------------------


async def test_no_credential_or_issued_token_reaches_history_output_or_log(
    temporal_server: DevServer, tmp_path: Path, authority: AuthServer
) -> None:
    """The resource echoes the Authorization header and the token; the log runs at DEBUG."""
    auth = _oauth2(
        authority,
        grant="password",
        username="alice",
        password="${ $secrets.user_password }",
        client="{ id: runner, secret: '${ $secrets.client_secret }', "
        "authentication: client_secret_basic }",
    )
    extra = (
        "\n      output:\n        as: '${ {authorization: $authorization, response: .} }'\n"
        "      export:\n        as: '${ {first: .} }'\n"
    )
    body = (
        _call("one", f"{authority.url}/protected", auth, extra)
        + _call("two", f"{authority.url}/protected", auth, "\n        output: response\n")
        + "\n  - done:\n      set: '${ {first: $context.first, second: .} }'\n"
    )
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("httpx").level)
    env = {"STIGMER_DATA_DIR": str(tmp_path / "data"), "LOG_LEVEL": "DEBUG"}
    async with authed_harness(temporal_server, tmp_path, **env) as harness:
        handler = install_handler(harness.settings, to_file=True)
        try:
            handle = await harness.start(workflow(body, SECRETS))
            out = await handle.result()
            history = await handle.fetch_history()
        finally:
            handler.close()
            root.handlers[:], _, _ = saved
            root.setLevel(saved[1])
            logging.getLogger("httpx").setLevel(saved[2])
    (token,) = authority.state.issued  # one token, used by both calls
    sent = [r["authorization"] for r in authority.state.resource_requests]
    assert sent == [f"Bearer {token}"] * 2  # it really was used...
    first = out["first"]
    assert first["authorization"] == {"scheme": "Bearer", "parameter": "⟦secret:authorization⟧"}
    assert first["response"]["user"] == "alice"
    assert first["response"]["authorization"] == "⟦secret:authorization⟧"
    assert first["response"]["token"] == "⟦secret:access_token⟧"  # ...and echoed back
    assert out["second"]["statusCode"] == 200
    forbidden = [CLIENT_SECRET, USER_PASSWORD, token]
    text = json.dumps(out, ensure_ascii=False)
    log = log_file(harness.settings).read_text(errors="replace")
    assert log  # the log was written
    for value in forbidden:
        assert value not in text, value
        assert value not in log, value
        for event in history.events:
            assert value.encode() not in event.SerializeToString(), (value, event.event_type)
            for payload in _payloads(event):
                assert value.encode() not in payload.SerializeToString()


# -- the token cache, directly (no workflow) -------------------------------------------


def _wire(server: AuthServer, **properties: Any) -> dict[str, Any]:
    return {
        "scheme": "oauth2",
        "policy": None,
        "properties": {
            "authority": server.url,
            "grant": "client_credentials",
            "client": {"id": "runner", "secret": CLIENT_SECRET},
            **properties,
        },
    }


async def test_concurrent_calls_needing_the_same_token_make_one_request(
    authority: AuthServer,
) -> None:
    cache = TokenCache()
    async with httpx.AsyncClient() as client:
        found = await asyncio.gather(
            *(auth_for(_wire(authority), client, {}, None, cache=cache) for _ in range(5))
        )
    assert len(authority.state.token_requests) == 1
    assert len({a.header for a in found}) == 1


async def test_a_token_is_reused_until_its_lifetime_minus_a_tenth_then_requested_again(
    authority: AuthServer,
) -> None:
    authority.state.expires_in = 100
    now = [1000.0]
    cache = TokenCache(clock=lambda: now[0])
    async with httpx.AsyncClient() as client:
        first = await auth_for(_wire(authority), client, {}, None, cache=cache)
        now[0] += 89.9  # inside the margin (10 s of 100 s)
        again = await auth_for(_wire(authority), client, {}, None, cache=cache)
        now[0] += 0.2
        renewed = await auth_for(_wire(authority), client, {}, None, cache=cache)
        other = await auth_for(_wire(authority, scopes=["x"]), client, {}, None, cache=cache)
    assert first.header == again.header != renewed.header != other.header
    assert len(authority.state.token_requests) == 3
    assert CLIENT_SECRET in first.sensitive.values()  # redacted from what the call returns


async def test_a_token_response_without_expires_in_is_not_cached(authority: AuthServer) -> None:
    authority.state.expires_in = None
    cache = TokenCache()
    async with httpx.AsyncClient() as client:
        for _ in range(2):
            await auth_for(_wire(authority), client, {}, None, cache=cache)
    assert len(authority.state.token_requests) == 2


async def test_an_oauth2_authority_written_as_its_discovery_document_is_discovered(
    authority: AuthServer,
) -> None:
    """dsl.md's oauth2 example names the discovery document as the authority."""
    wire = _wire(authority, authority=authority.url + "/.well-known/openid-configuration")
    async with httpx.AsyncClient() as client:
        await auth_for(wire, client, {}, None, cache=TokenCache())
    assert [r["path"] for r in authority.state.token_requests] == ["/oidc/token"]
