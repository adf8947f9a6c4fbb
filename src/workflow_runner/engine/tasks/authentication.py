"""Endpoint authentication policies: their model, their reader, and what a request carries.

Used by every call kind that talks to an endpoint (``call: http`` today; the
openapi, grpc, mcp and a2a calls take the same three steps):

1. read: ``policy = read_policy(reader, pointer, raw, node.scope)`` on the
   endpoint's ``authentication`` — inline (``{bearer: {token: ...}}``), by
   name (``{use: myPolicy}``, resolved against ``use.authentications``), or a
   scheme whose properties live in a secret (``{basic: {use: mySecret}}``);
2. run (workflow side): ``wire = await policy.resolve(run, value, args, where)``
   evaluates the policy's expressions into a plain JSON-able dict for the
   activity request — ``$secrets`` values are still *tokens* there (see
   engine/secrets.py), so the policy can sit in history like any request;
3. activity side: ``authentication_activity.auth_for(wire, client, secrets,
   scope)`` reveals the tokens, fetches OAuth2/OIDC tokens (cached per worker)
   and returns an ``httpx.Auth`` plus the values to redact.

Why the wire form is a dict and not this dataclass: it crosses the Temporal
boundary inside each call kind's request, and every kind declares its request
as a dataclass of JSON-able fields.

Schemes: ``basic``, ``bearer``, ``digest``, ``oauth2`` and ``oidc``.
``certificate`` and the grants ``authorization_code`` and ``refresh_token``
(both need a user or a token the schema gives no place for) are refused with
a "not supported yet" problem, located, before anything runs.

The reader validates what is literal and leaves ``${ }`` values to run time,
where the activity checks the evaluated policy with the same rules
(``policy_problems``), so a policy held in a secret gets the same messages.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.expressions import is_expression
from workflow_runner.dsl.loader import pointer_join
from workflow_runner.dsl.model import Bindings, JsonObject
from workflow_runner.dsl.reader import DefinitionReader
from workflow_runner.engine.secrets import marker
from workflow_runner.engine.tasks.base import Execution

# The scheme as the policy names it -> the HTTP authorization scheme it sends.
SCHEMES: dict[str, str] = {
    "basic": "Basic",
    "bearer": "Bearer",
    "digest": "Digest",
    "oauth2": "Bearer",
    "oidc": "Bearer",
}
NOT_YET_SCHEMES = frozenset({"certificate"})
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
GRANTS = frozenset({"client_credentials", "password", TOKEN_EXCHANGE})
# dsl.md's own example writes ``grant: client-credentials``; the schema's enum has "_".
GRANT_SPELLINGS = {"client-credentials": "client_credentials"}
NOT_YET_GRANTS = frozenset({"authorization_code", "refresh_token"})
CLIENT_METHODS = frozenset(
    {"client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"}
)
DEFAULT_CLIENT_METHOD = "client_secret_post"
FORM = "application/x-www-form-urlencoded"
ENCODINGS = frozenset({FORM, "application/json"})
DEFAULT_TOKEN_ENDPOINT = "/oauth2/token"
WELL_KNOWN = "/.well-known/openid-configuration"

_PROPERTIES: dict[str, frozenset[str]] = {
    "basic": frozenset({"username", "password"}),
    "digest": frozenset({"username", "password"}),
    "bearer": frozenset({"token"}),
    "oidc": frozenset(
        {
            "authority",
            "grant",
            "client",
            "request",
            "issuers",
            "scopes",
            "audiences",
            "username",
            "password",
            "subject",
            "actor",
        }
    ),
}
_PROPERTIES["oauth2"] = _PROPERTIES["oidc"] | {"endpoints"}
_CLIENT = frozenset({"id", "secret", "assertion", "authentication"})
_ENDPOINTS = frozenset({"token", "revocation", "introspection"})
# The $authorization parameter when the workflow cannot know it (an access
# token or a digest response exists only inside the activity): inert, never revealed.
HIDDEN_PARAMETER = marker("authorization")


@dataclass(frozen=True)
class AuthenticationPolicy:
    """One endpoint authentication policy, read and checked; ``${ }`` values still unevaluated."""

    scheme: str  # a key of SCHEMES
    properties: Mapping[str, Any]  # as written (empty when held by a secret)
    secret: str | None = None  # ``{<scheme>: {use: <secret>}}``: the properties are its JSON
    name: str | None = None  # its name in use.authentications, if it has one
    pointer: str = ""  # where it is written

    async def resolve(self, run: Execution, value: Any, args: Bindings, where: str) -> JsonObject:
        """The wire form sent in the activity request: plain JSON, secrets still tokens."""
        wire: JsonObject = {"scheme": self.scheme, "policy": self.name}
        if self.secret is not None:
            expression = "${ $secrets[" + json.dumps(self.secret) + "] }"
            wire["secret"] = {
                "name": self.secret,
                "value": await run.eval_value(expression, value, args, where),
            }
        else:
            wire["properties"] = await run.eval_value(dict(self.properties), value, args, where)
        return wire


def describe(wire: Mapping[str, Any]) -> JsonObject:
    """``$authorization`` ({scheme, parameter}) as far as the workflow may know it.

    A bearer token is the token as evaluated (a secret's token stays a token);
    basic is the base64 credentials when neither part is a secret. Anything
    only the activity knows — an OAuth2/OIDC access token, a digest response,
    credentials built from secrets — is the inert marker ``HIDDEN_PARAMETER``:
    an access token in the workflow would be in history.
    """
    scheme = str(wire.get("scheme", ""))
    properties = wire.get("properties")
    parameter: Any = HIDDEN_PARAMETER
    if isinstance(properties, dict):
        if scheme == "bearer" and isinstance(properties.get("token"), str):
            parameter = properties["token"]
        elif scheme == "basic":
            user, password = properties.get("username"), properties.get("password")
            plain = isinstance(user, str) and isinstance(password, str)
            if plain and "⟦secret:" not in f"{user}{password}":
                parameter = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"scheme": SCHEMES.get(scheme, scheme), "parameter": parameter}


# -- reading -----------------------------------------------------------------


def read_policy(
    reader: DefinitionReader, pointer: str, raw: Any, scope: tuple[str, ...]
) -> AuthenticationPolicy | None:
    """An endpoint's ``authentication``: inline, or ``{use: name}`` from use.authentications.

    ``None`` after reporting every problem through ``reader`` (an unknown name
    is reported here, at ``.../use``; a bad named policy at its definition).
    """
    if isinstance(raw, dict) and "use" in raw:
        use_pointer = pointer_join(pointer, "use")
        if len(raw) != 1:
            others = ", ".join(sorted(k for k in raw if k != "use"))
            reader.problem(
                pointer, f"'use' names a policy of use.authentications; remove {others} here"
            )
            return None
        name = raw["use"]
        named = _named_policies(reader)
        if not isinstance(name, str) or name not in named:
            known = ", ".join(sorted(named)) or "none is defined"
            reader.problem(
                use_pointer,
                f"authentication policy {name!r} is not defined in use.authentications "
                f"(defined: {known})",
            )
            return None
        return named[name]
    return _read(reader, pointer, raw, scope, name=None)


def _named_policies(reader: DefinitionReader) -> dict[str, AuthenticationPolicy | None]:
    """use.authentications read once per definition, every policy in it (used or not).

    The reader keeps them as written (dsl cannot import the engine); the first
    reference replaces them by their read form, so each is checked, and each
    problem reported, exactly once.
    """
    table = reader.authentications
    if not all(isinstance(v, AuthenticationPolicy | _Invalid) for v in table.values()):
        for name, raw in list(table.items()):
            if isinstance(raw, AuthenticationPolicy | _Invalid):
                continue
            at = pointer_join("/use/authentications", name)
            if isinstance(raw, dict) and "use" in raw:
                reader.problem(
                    pointer_join(at, "use"),
                    "a policy of use.authentications cannot itself be a 'use' reference; "
                    "write the scheme (basic, bearer, digest, oauth2 or oidc) here",
                )
                table[name] = _INVALID
                continue
            policy = _read(reader, at, raw, (), name=str(name))
            table[name] = policy if policy is not None else _INVALID
    return {
        name: (value if isinstance(value, AuthenticationPolicy) else None)
        for name, value in table.items()
    }


class _Invalid:
    """A named policy that was read and found wrong (its problems are already reported)."""


_INVALID = _Invalid()


def _read(
    reader: DefinitionReader, pointer: str, raw: Any, scope: tuple[str, ...], name: str | None
) -> AuthenticationPolicy | None:
    expected = "basic, bearer, digest, oauth2 or oidc"
    if not isinstance(raw, dict) or not raw:
        reader.problem(
            pointer, f"authentication must be a mapping naming one scheme ({expected}) or 'use'"
        )
        return None
    schemes = [key for key in raw if key in SCHEMES or key in NOT_YET_SCHEMES]
    for key in raw:
        if key not in SCHEMES and key not in NOT_YET_SCHEMES:
            reader.problem(
                pointer_join(pointer, key),
                f"unknown authentication scheme {key!r}; expected {expected}",
            )
    if len(schemes) > 1:
        reader.problem(
            pointer,
            f"an authentication policy names exactly one scheme; found {' and '.join(schemes)}",
        )
        return None
    if len(schemes) != 1 or len(raw) != 1:
        return None
    scheme = schemes[0]
    at = pointer_join(pointer, scheme)
    if scheme in NOT_YET_SCHEMES:
        reader.problem(
            at,
            f"{scheme} authentication is not supported yet; use basic, bearer, digest, "
            "oauth2 or oidc",
        )
        return None
    body = raw[scheme]
    if isinstance(body, dict) and "use" in body:
        return _read_secret_based(reader, at, scheme, body, name)
    before = len(reader.problems)
    for path, message in policy_problems(scheme, body, literal_only=True):
        where = at
        for part in path:
            where = pointer_join(where, part)
        reader.problem(where, message)
    reader.expressions_in(at, body, scope)
    if len(reader.problems) != before:
        return None
    return AuthenticationPolicy(scheme, dict(body), None, name, pointer)


def _read_secret_based(
    reader: DefinitionReader, at: str, scheme: str, body: dict[str, Any], name: str | None
) -> AuthenticationPolicy | None:
    secret = body["use"]
    if len(body) != 1:
        others = ", ".join(sorted(k for k in body if k != "use"))
        reader.problem(at, f"'use' loads the whole {scheme} policy from a secret; remove {others}")
        return None
    if not isinstance(secret, str) or not secret:
        reader.problem(pointer_join(at, "use"), "use must name a secret (declared in use.secrets)")
        return None
    if secret not in reader.secret_names:
        reader.problem(
            pointer_join(at, "use"),
            f"secret {secret!r} is not declared in use.secrets; add it there to load the "
            f"{scheme} policy from it",
        )
        return None
    return AuthenticationPolicy(scheme, {}, secret, name, at)


# -- the rules, for the reader (literal values) and the activity (evaluated ones) -------


Path = tuple[str, ...]


def policy_problems(scheme: str, body: Any, *, literal_only: bool) -> list[tuple[Path, str]]:
    """What is wrong with a scheme's properties: ``(path under the scheme, message)``.

    ``literal_only`` (reading): a ``${ }`` value is checked at run time instead.
    Messages never quote a value (it may be a secret).
    """
    problems: list[tuple[Path, str]] = []

    def skip(value: Any) -> bool:
        return literal_only and is_expression(value)

    if skip(body):
        return problems
    if not isinstance(body, dict):
        return [((), f"{scheme} authentication must be a mapping of its properties")]
    allowed = _PROPERTIES[scheme]
    for key in body:
        if key not in allowed:
            problems.append(
                ((str(key),), f"unknown {scheme} property {key!r}; expected {_list(allowed)}")
            )

    def text(path: Path, value: Any, what: str) -> None:
        if not skip(value) and (not isinstance(value, str) or not value):
            problems.append((path, f"{what} must be a non-empty string"))

    def strings(key: str) -> None:
        value = body.get(key)
        if value is None or skip(value):
            return
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problems.append(((key,), f"{key} must be a list of strings"))

    if scheme in ("basic", "digest"):
        for key in ("username", "password"):
            if key not in body:
                problems.append(((), f"{scheme} authentication needs {key!r}"))
            else:
                text((key,), body[key], key)
        return problems
    if scheme == "bearer":
        if "token" not in body:
            problems.append(((), "bearer authentication needs 'token'"))
        else:
            text(("token",), body["token"], "token")
        return problems
    # oauth2 / oidc
    if "authority" not in body:
        problems.append(((), f"{scheme} authentication needs 'authority' (the issuer's URI)"))
    else:
        authority = body["authority"]
        text(("authority",), authority, "authority")
        if (
            isinstance(authority, str)
            and not skip(authority)
            and not authority.startswith(("http://", "https://"))
        ):
            problems.append((("authority",), "authority must be an http:// or https:// URI"))
    grant = body.get("grant")
    grant = GRANT_SPELLINGS.get(grant, grant) if isinstance(grant, str) else grant
    if grant is None:
        problems.append(((), f"{scheme} authentication needs 'grant' ({_list(GRANTS)})"))
    elif not skip(grant):
        if grant in NOT_YET_GRANTS:
            problems.append(
                (
                    ("grant",),
                    f"grant {grant} is not supported yet; use {_list(GRANTS)}",
                )
            )
        elif grant not in GRANTS:
            problems.append((("grant",), f"unknown grant {grant!r}; expected {_list(GRANTS)}"))
    client = body.get("client", {})
    method: Any = DEFAULT_CLIENT_METHOD
    if not skip(client):
        if not isinstance(client, dict):
            problems.append((("client",), "client must be a mapping {id, secret, authentication}"))
            client = {}
        for key in client:
            if key not in _CLIENT:
                problems.append(
                    (
                        ("client", str(key)),
                        f"unknown client property {key!r}; expected {_list(_CLIENT)}",
                    )
                )
        method = client.get("authentication", DEFAULT_CLIENT_METHOD)
        if not skip(method) and method not in CLIENT_METHODS:
            problems.append(
                (
                    ("client", "authentication"),
                    f"unknown client authentication {method!r}; expected {_list(CLIENT_METHODS)}",
                )
            )
        needs = {
            "client_secret_basic": ("id", "secret"),
            "client_secret_post": ("id", "secret"),
            "client_secret_jwt": ("id", "secret"),
            "private_key_jwt": ("id", "assertion"),
            "none": (),
        }.get(method if isinstance(method, str) else "", ())
        for key in needs:
            if key not in client:
                problems.append((("client",), f"client authentication {method} needs client.{key}"))
        for key in ("id", "secret", "assertion"):
            if key in client:
                text(("client", key), client[key], f"client.{key}")
    request = body.get("request")
    if request is not None and not skip(request):
        if not isinstance(request, dict) or set(request) - {"encoding"}:
            problems.append((("request",), "request must be {encoding}"))
        elif not skip(request.get("encoding")) and request.get("encoding", FORM) not in ENCODINGS:
            problems.append(
                (("request", "encoding"), f"request.encoding must be one of {_list(ENCODINGS)}")
            )
    for key in ("scopes", "audiences", "issuers"):
        strings(key)
    if grant == "password":
        for key in ("username", "password"):
            if key not in body:
                problems.append(((), f"grant password needs {key!r}"))
    for key in ("username", "password"):
        if key in body:
            text((key,), body[key], key)
    if grant == TOKEN_EXCHANGE and "subject" not in body:
        problems.append(((), "grant token-exchange needs 'subject' {token, type}"))
    for key in ("subject", "actor"):
        token = body.get(key)
        if token is None or skip(token):
            continue
        if not isinstance(token, dict) or set(token) != {"token", "type"}:
            problems.append(((key,), f"{key} must be {{token, type}}"))
        else:
            text((key, "token"), token["token"], f"{key}.token")
            text((key, "type"), token["type"], f"{key}.type")
    endpoints = body.get("endpoints")
    if endpoints is not None and not skip(endpoints):
        if not isinstance(endpoints, dict) or set(endpoints) - _ENDPOINTS:
            problems.append((("endpoints",), f"endpoints must be a mapping of {_list(_ENDPOINTS)}"))
        else:
            for key, value in endpoints.items():
                text(("endpoints", key), value, f"endpoints.{key}")
    return problems


def _list(names: frozenset[str]) -> str:
    return ", ".join(sorted(names))
