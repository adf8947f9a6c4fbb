"""Endpoint authentication policies are checked as the definition is read, each located."""

from __future__ import annotations

import pytest

from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.tasks.authentication import AuthenticationPolicy, policy_problems
from workflow_runner.engine.tasks.call_http import CallHttpTask

HEADER = "document:\n  dsl: '1.0.0'\n  namespace: t\n  name: t\n  version: '1'\n"
ENDPOINT = "/do/0/a/with/endpoint/authentication"


def definition(authentication: str, use: str = "") -> str:
    """One call: http task whose endpoint.authentication is ``authentication`` (YAML flow)."""
    return (
        HEADER
        + use
        + "do:\n  - a:\n      call: http\n      with:\n        method: get\n"
        + "        endpoint:\n          uri: http://127.0.0.1:1/x\n"
        + f"          authentication: {authentication}\n"
    )


def problems(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "wf.yaml")
    return [str(p) for p in info.value.problems]


def policy_of(text: str) -> AuthenticationPolicy:
    (task,) = parse_definition(text, "wf.yaml").model.do.tasks
    assert isinstance(task, CallHttpTask) and task.authentication is not None
    return task.authentication


def test_an_unknown_policy_name_is_located_at_use_and_lists_the_defined_ones() -> None:
    use = "use:\n  authentications:\n    known:\n      bearer: {token: abc}\n"
    (p,) = problems(definition("{ use: missing }", use))
    assert f"({ENDPOINT}/use)" in p
    assert "authentication policy 'missing' is not defined in use.authentications" in p
    assert "(defined: known)" in p
    assert p.startswith("wf.yaml:17:")  # the line of the reference


def test_two_schemes_in_one_policy_are_refused() -> None:
    found = problems(definition("{ basic: {username: u, password: p}, bearer: {token: t} }"))
    assert any(
        f"({ENDPOINT})" in p and "names exactly one scheme; found basic and bearer" in p
        for p in found
    ), found


@pytest.mark.parametrize(
    ("authentication", "pointer", "fragment"),
    [
        ("{ kerberos: {} }", "/kerberos", "unknown authentication scheme 'kerberos'"),
        ("{ certificate: {} }", "/certificate", "certificate authentication is not supported yet"),
        ("{ basic: {username: u} }", "/basic", "basic authentication needs 'password'"),
        ("{ bearer: {token: t, colour: red} }", "/bearer/colour", "unknown bearer property"),
        ("{ digest: {username: 5, password: p} }", "/digest/username", "non-empty string"),
        (
            "{ oauth2: {authority: 'http://a', grant: authorization_code, client: {id: c, "
            "secret: s}} }",
            "/oauth2/grant",
            "grant authorization_code is not supported yet",
        ),
        (
            "{ oauth2: {authority: 'http://a', grant: refresh_token} }",
            "/oauth2/grant",
            "not supported yet",
        ),
        ("{ oauth2: {grant: client_credentials} }", "/oauth2", "needs 'authority'"),
        (
            "{ oidc: {authority: 'ftp://a', grant: client_credentials, client: {id: c, "
            "secret: s}} }",
            "/oidc/authority",
            "http:// or https://",
        ),
        (
            "{ oauth2: {authority: 'http://a', grant: client_credentials, "
            "client: {id: c, authentication: client_secret_basic}} }",
            "/oauth2/client",
            "client authentication client_secret_basic needs client.secret",
        ),
        (
            "{ oauth2: {authority: 'http://a', grant: password, client: {id: c, secret: s}} }",
            "/oauth2",
            "grant password needs 'username'",
        ),
        (
            "{ oauth2: {authority: 'http://a', grant: client_credentials, "
            "client: {authentication: none}, request: {encoding: text/xml}} }",
            "/oauth2/request/encoding",
            "request.encoding must be one of",
        ),
        (
            "{ oidc: {authority: 'http://a', grant: client_credentials, "
            "client: {authentication: none}, endpoints: {token: /t}} }",
            "/oidc/endpoints",
            "unknown oidc property 'endpoints'",
        ),
        ("{ bearer: {token: '${ .a | }'} }", "/bearer/token", "invalid jq expression"),
        ("{ basic: {use: creds} }", "/basic/use", "secret 'creds' is not declared in use.secrets"),
        ("{ use: a, basic: {} }", "", "remove basic here"),
    ],
)
def test_policy_problems_name_pointer_and_fix(
    authentication: str, pointer: str, fragment: str
) -> None:
    found = problems(definition(authentication))
    assert any(f"({ENDPOINT}{pointer})" in p and fragment in p for p in found), found


def test_a_bad_named_policy_is_reported_once_at_its_definition_even_if_used_twice() -> None:
    use = "use:\n  authentications:\n    api:\n      bearer: {}\n"
    text = definition("{ use: api }", use)
    text += (
        "  - b:\n      call: http\n      with:\n        method: get\n"
        "        endpoint: {uri: 'http://127.0.0.1:1/y', authentication: {use: api}}\n"
    )
    found = problems(text)
    assert found == [
        "wf.yaml:9:15 (/use/authentications/api/bearer): bearer authentication needs 'token'"
    ]


def test_a_named_policy_cannot_itself_be_a_reference() -> None:
    use = "use:\n  authentications:\n    a:\n      use: b\n    b:\n      bearer: {token: t}\n"
    found = problems(definition("{ use: b }", use) + "")
    assert any(
        "(/use/authentications/a/use)" in p and "cannot itself be a 'use' reference" in p
        for p in found
    ), found


def test_inline_named_and_secret_held_policies_are_read() -> None:
    inline = policy_of(definition("{ bearer: {token: '${ .token }'} }"))
    assert (inline.scheme, inline.properties, inline.name) == (
        "bearer",
        {"token": "${ .token }"},
        None,
    )
    use = (
        "use:\n  secrets: [creds]\n  authentications:\n"
        "    site:\n      oauth2:\n        use: creds\n"
    )
    named = policy_of(definition("{ use: site }", use))
    assert (named.scheme, named.secret, named.name) == ("oauth2", "creds", "site")


def test_the_endpoint_keeps_no_policy_so_it_is_never_evaluated_as_data() -> None:
    (task,) = parse_definition(definition("{ bearer: {token: t} }"), "wf.yaml").model.do.tasks
    assert isinstance(task, CallHttpTask)
    assert task.spec["endpoint"] == {"uri": "http://127.0.0.1:1/x"}


def test_evaluated_policies_get_the_same_rules_without_quoting_values() -> None:
    """What the activity checks once ${ } is evaluated (or the policy came from a secret)."""
    found = policy_problems(
        "oauth2",
        {"authority": "http://a", "grant": "password", "client": {"id": "c", "secret": 7}},
        literal_only=False,
    )
    messages = [message for _, message in found]
    assert "client.secret must be a non-empty string" in messages
    assert "grant password needs 'username'" in messages
    assert all("7" not in m for m in messages)
    assert policy_problems("bearer", {"token": "${ .x }"}, literal_only=True) == []
    assert policy_problems("bearer", {"token": 5}, literal_only=False) == [
        (("token",), "token must be a non-empty string")
    ]


def test_the_grant_spelling_of_the_spec_prose_is_accepted() -> None:
    """dsl.md writes grant: client-credentials; the schema enum has client_credentials."""
    body = {
        "authority": "http://a",
        "grant": "client-credentials",
        "client": {"id": "c", "secret": "s"},
    }
    assert policy_problems("oauth2", body, literal_only=False) == []
