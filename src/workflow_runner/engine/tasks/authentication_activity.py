"""Endpoint authentication inside an activity: a resolved policy becomes an ``httpx.Auth``.

The workflow side (``authentication.py``) sends a policy whose ``$secrets``
values are still tokens. Here, and only here, they are revealed; OAuth2 and
OpenID Connect tokens are requested from the authority; the result is an
:class:`Authorization` — the ``httpx.Auth`` to send with, the ``Authorization``
header value for transports that are not httpx (gRPC metadata, MCP), and every
value that must be redacted from whatever the call returns (passwords, client
secrets, the issued access token, the header itself). None of those values is
ever returned to the workflow, logged, or put in an error message.

Tokens are cached per worker process (``TOKENS``), keyed by a digest of
everything that identifies a token (scheme, token endpoint, grant, client and
its credentials, user, scopes, audiences, subject and actor tokens), until
their ``expires_in`` minus a margin (a tenth of the lifetime, at most a
minute), so a request never leaves with a token about to expire. A token
without ``expires_in`` is not cached. Concurrent calls that need the same
token wait for one request. When a resource answers 401 to a *cached* token
(revoked, or the authority restarted), the token is dropped, a new one is
requested and the request is sent once more.

OAuth2 sends token requests to ``<authority>`` + ``endpoints.token`` (default
``/oauth2/token``; an absolute URI is used as it is). OpenID Connect discovers
the token endpoint at
``<authority>/.well-known/openid-configuration`` (an authority that already
ends with it, as in the spec's examples, is used as it is — for an oauth2
policy without ``endpoints.token`` too); the document is
cached for an hour. ``issuers``, when given, must contain the discovery
document's ``issuer`` and the ``iss`` claim of an access token that is a
JWT (an opaque token cannot be checked, and is accepted).

A token request that fails is the spec's ``authentication`` error (status
401), naming the token endpoint, the authority and the HTTP status with the
server's OAuth2 ``error`` code — never a credential: it is retryable when the
authority is unreachable or answers 5xx/429, final otherwise (a wrong client
secret will not become right).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.model import JsonObject
from workflow_runner.engine.activities.errors import ActivityProblem
from workflow_runner.engine.secrets import SecretScope, redact, reveal
from workflow_runner.engine.tasks.authentication import (
    DEFAULT_CLIENT_METHOD,
    DEFAULT_TOKEN_ENDPOINT,
    FORM,
    GRANT_SPELLINGS,
    SCHEMES,
    TOKEN_EXCHANGE,
    WELL_KNOWN,
    policy_problems,
)

DISCOVERY_TTL_SECONDS = 3600.0
MAX_MARGIN_SECONDS = 60.0
_JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class AuthenticationError(ActivityProblem):
    """A policy that cannot be used, or a token the authority would not give.

    Carries the spec error to raise from the activity; its text holds no credential.
    """


@dataclass
class Authorization:
    """What a call kind needs to send an authenticated request, and to clean up after it."""

    auth: httpx.Auth
    scheme: str  # the HTTP scheme: Basic, Bearer or Digest
    header: str | None  # the Authorization value now; None for digest (it answers a challenge)
    sensitive: dict[str, str] = field(default_factory=dict)  # name -> value, to redact


@dataclass
class _Token:
    access_token: str
    token_type: str
    expires_at: float | None  # monotonic clock; None: not cacheable
    cached: bool = False  # handed out from the cache (so a 401 may mean revoked)

    @property
    def header(self) -> str:
        return f"{self.token_type} {self.access_token}"


class TokenCache:
    """Issued tokens and discovery documents, per worker process (see module docstring)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._tokens: dict[str, _Token] = {}
        self._inflight: dict[str, asyncio.Future[_Token]] = {}
        self._discovery: dict[str, tuple[float, JsonObject]] = {}

    async def token(self, key: str, fetch: Callable[[], Awaitable[_Token]]) -> _Token:
        found = self._tokens.get(key)
        if found is not None and found.expires_at is not None and self.clock() < found.expires_at:
            return _Token(found.access_token, found.token_type, found.expires_at, cached=True)
        self._tokens.pop(key, None)
        pending = self._inflight.get(key)
        if pending is not None and pending.get_loop() is asyncio.get_running_loop():
            return await asyncio.shield(pending)
        future: asyncio.Future[_Token] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            token = await fetch()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as e:
            future.set_exception(e)
            future.exception()  # retrieved: waiters (if any) get it, nobody else logs it
            raise
        finally:
            self._inflight.pop(key, None)
        future.set_result(token)
        if token.expires_at is not None:
            self._tokens[key] = token
        return token

    def forget(self, key: str, token: _Token) -> None:
        """Drop a token the resource refused (only if it is still the cached one)."""
        found = self._tokens.get(key)
        if found is not None and found.access_token == token.access_token:
            del self._tokens[key]

    def discovery(self, url: str) -> JsonObject | None:
        found = self._discovery.get(url)
        return found[1] if found is not None and self.clock() < found[0] else None

    def remember_discovery(self, url: str, document: JsonObject) -> None:
        self._discovery[url] = (self.clock() + DISCOVERY_TTL_SECONDS, document)

    def clear(self) -> None:
        self._tokens.clear()
        self._discovery.clear()


TOKENS = TokenCache()


async def auth_for(
    policy: Mapping[str, Any],
    client: httpx.AsyncClient,
    secrets: Mapping[str, str],
    scope: SecretScope | None,
    *,
    cache: TokenCache = TOKENS,
    instance: str = "",
) -> Authorization:
    """The ``Authorization`` for a resolved policy (the wire form of ``authentication.py``).

    Raises :class:`AuthenticationError` (a configuration error for a policy
    that is wrong once evaluated or read from its secret; an authentication
    error when the authority refuses) and ``MissingSecretError`` for a secret
    this worker was not given.
    """
    scheme = str(policy.get("scheme"))
    properties = _properties(policy, secrets, scope, instance)
    sensitive = {f"authentication_{i}": value for i, value in enumerate(_credentials(properties))}
    where = _where(policy, scheme)
    problems = policy_problems(scheme, properties, literal_only=False)
    if scheme not in SCHEMES or problems:
        detail = "; ".join(
            f"{'.'.join(path) + ': ' if path else ''}{message}" for path, message in problems
        )
        raise AuthenticationError(
            WorkflowError.of(
                "configuration",
                f"{where} is not usable: {detail or f'unknown scheme {scheme!r}'}",
                title="Invalid authentication policy",
                instance=instance,
            ),
            retryable=False,
        )
    if scheme in ("basic", "digest"):
        user, password = properties["username"], properties["password"]
        if scheme == "digest":
            return Authorization(httpx.DigestAuth(user, password), "Digest", None, sensitive)
        basic = httpx.BasicAuth(user, password)
        header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        sensitive["authorization"] = header
        return Authorization(basic, "Basic", header, sensitive)
    if scheme == "bearer":
        header = f"Bearer {properties['token']}"
        sensitive["authorization"] = header
        return Authorization(_HeaderAuth(header), "Bearer", header, sensitive)
    source = _TokenSource(scheme, properties, client, cache, sensitive, where, instance)
    token = await source.get()
    return Authorization(_TokenAuth(source, token), "Bearer", token.header, sensitive)


def _properties(
    policy: Mapping[str, Any], secrets: Mapping[str, str], scope: SecretScope | None, instance: str
) -> Any:
    """The scheme's properties with secrets revealed; from the secret's JSON for ``use:``."""
    held = policy.get("secret")
    if not isinstance(held, dict):
        return reveal(policy.get("properties"), secrets, scope)
    name = str(held.get("name"))
    text = reveal(held.get("value"), secrets, scope)
    try:
        properties = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        properties = None
    if not isinstance(properties, dict):
        raise AuthenticationError(
            WorkflowError.of(
                "configuration",
                f"secret {name!r} holds the {policy.get('scheme')} policy "
                f"({_where(policy, str(policy.get('scheme')))}), so it must be a JSON object of "
                'its properties, e.g. {"username": ..., "password": ...}',
                title="Invalid authentication secret",
                instance=instance,
            ),
            retryable=False,
        )
    return properties


def _where(policy: Mapping[str, Any], scheme: str) -> str:
    name = policy.get("policy")
    return f"{scheme} policy {name!r}" if name else f"{scheme} policy"


def _credentials(properties: Any) -> list[str]:
    """Every string a policy holds that is a credential (to redact wherever it turns up)."""
    if not isinstance(properties, dict):
        return []
    found: list[str] = []
    for key in ("password", "token"):
        if isinstance(properties.get(key), str):
            found.append(properties[key])
    client = properties.get("client")
    if isinstance(client, dict):
        found += [client[k] for k in ("secret", "assertion") if isinstance(client.get(k), str)]
    for key in ("subject", "actor"):
        token = properties.get(key)
        if isinstance(token, dict) and isinstance(token.get("token"), str):
            found.append(token["token"])
    return found


class _HeaderAuth(httpx.Auth):
    """A fixed ``Authorization`` header (bearer)."""

    def __init__(self, header: str) -> None:
        self._header = header

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


class _TokenAuth(httpx.Auth):
    """An OAuth2/OIDC access token; on a 401 to a cached one, one fresh token and one retry."""

    def __init__(self, source: _TokenSource, token: _Token) -> None:
        self._source = source
        self._token = token

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("OAuth2/OIDC authentication needs an httpx.AsyncClient")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        request.headers["Authorization"] = self._token.header
        response = yield request
        if response.status_code == 401 and self._token.cached:
            self._source.forget(self._token)
            self._token = await self._source.get()
            request.headers["Authorization"] = self._token.header
            yield request


class _TokenSource:
    """Where one policy's tokens come from: the cache, or the authority's token endpoint."""

    def __init__(
        self,
        scheme: str,
        properties: JsonObject,
        client: httpx.AsyncClient,
        cache: TokenCache,
        sensitive: dict[str, str],
        where: str,
        instance: str,
    ) -> None:
        self.scheme = scheme
        self.properties = properties
        self.client = client
        self.cache = cache
        self.sensitive = sensitive
        self.where = where
        self.instance = instance
        self.authority = str(properties["authority"])
        self._key = ""

    async def get(self) -> _Token:
        """A token to send (cached or new), recorded among the values to redact."""
        endpoint = await self._token_endpoint()
        self._key = _cache_key(self.scheme, endpoint, self.properties)
        token = await self.cache.token(self._key, lambda: self._request(endpoint))
        previous = self.sensitive.get("access_token")
        if previous is not None and previous != token.access_token:  # refused, then replaced
            self.sensitive["access_token_refused"] = previous
            self.sensitive["authorization_refused"] = self.sensitive["authorization"]
        self.sensitive["access_token"] = token.access_token
        self.sensitive["authorization"] = token.header
        return token

    def forget(self, token: _Token) -> None:
        self.cache.forget(self._key, token)

    async def _token_endpoint(self) -> str:
        endpoints = self.properties.get("endpoints") or {}
        # An oauth2 authority written as its discovery document (dsl.md's own
        # example) without endpoints.token is discovered like an oidc one.
        discover = self.authority.rstrip("/").endswith(WELL_KNOWN) and "token" not in endpoints
        if self.scheme == "oauth2" and not discover:
            path = str(endpoints.get("token", DEFAULT_TOKEN_ENDPOINT))
            if path.startswith(("http://", "https://")):
                return path
            return self.authority.rstrip("/") + "/" + path.lstrip("/")
        document = await self._discover()
        endpoint = document.get("token_endpoint")
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise self._failure(
                "discovery document has no token_endpoint URI", retryable=False, status=None
            )
        return endpoint

    async def _discover(self) -> JsonObject:
        url = self.authority.rstrip("/")
        if not url.endswith(WELL_KNOWN):
            url += WELL_KNOWN
        document = self.cache.discovery(url)
        if document is not None:
            return document
        try:
            response = await self.client.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as e:
            raise self._failure(
                f"OpenID discovery at {url} failed: {type(e).__name__}", retryable=True
            ) from None
        if response.status_code != 200:
            raise self._failure(
                f"OpenID discovery at {url} returned HTTP {response.status_code}",
                retryable=response.status_code >= 500 or response.status_code == 429,
                status=response.status_code,
            )
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise self._failure(
                f"OpenID discovery at {url} did not return a JSON object", retryable=False
            )
        issuers = self.properties.get("issuers")
        if issuers and document.get("issuer") not in issuers:
            raise self._failure(
                f"OpenID discovery at {url} names issuer {document.get('issuer')!r}, "
                "which is not one of the policy's issuers",
                retryable=False,
            )
        self.cache.remember_discovery(url, document)
        return document

    async def _request(self, endpoint: str) -> _Token:
        p = self.properties
        client = p.get("client") or {}
        method = client.get("authentication", DEFAULT_CLIENT_METHOD)
        grant = GRANT_SPELLINGS.get(str(p["grant"]), str(p["grant"]))
        body: dict[str, Any] = {"grant_type": grant}
        if grant == "password":
            body["username"], body["password"] = p["username"], p["password"]
        if grant == TOKEN_EXCHANGE:
            body["subject_token"] = p["subject"]["token"]
            body["subject_token_type"] = p["subject"]["type"]
            if p.get("actor"):
                body["actor_token"] = p["actor"]["token"]
                body["actor_token_type"] = p["actor"]["type"]
        if p.get("scopes"):
            body["scope"] = " ".join(p["scopes"])
        audiences = p.get("audiences") or []
        if audiences:
            body["audience"] = audiences[0] if len(audiences) == 1 else list(audiences)
        headers = {"Accept": "application/json"}
        client_id, secret = str(client.get("id", "")), str(client.get("secret", ""))
        if method == "client_secret_basic":
            pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
            self.sensitive["client_authorization"] = headers["Authorization"]
        elif method == "client_secret_post":
            body["client_id"], body["client_secret"] = client_id, secret
        elif method in ("client_secret_jwt", "private_key_jwt"):
            if client_id:
                body["client_id"] = client_id
            body["client_assertion_type"] = _JWT_BEARER
            body["client_assertion"] = (
                _hs256_assertion(client_id, secret, endpoint)
                if method == "client_secret_jwt"
                else client["assertion"]
            )
            self.sensitive["client_assertion"] = body["client_assertion"]
        elif client_id:  # none: a public client still says who it is
            body["client_id"] = client_id
        requested = self.cache.clock()
        try:
            if (p.get("request") or {}).get("encoding", FORM) == FORM:
                response = await self.client.post(endpoint, data=body, headers=headers)
            else:
                response = await self.client.post(endpoint, json=body, headers=headers)
        except httpx.HTTPError as e:
            raise self._failure(
                f"token request to {endpoint} failed: {type(e).__name__}", retryable=True
            ) from None
        if response.status_code != 200:
            raise self._failure(
                f"token request to {endpoint} returned HTTP {response.status_code}"
                + _oauth_error(response),
                retryable=response.status_code >= 500 or response.status_code == 429,
                status=response.status_code,
            )
        try:
            answer = response.json()
        except ValueError:
            answer = None
        access = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(access, str) or not access:
            raise self._failure(
                f"token response from {endpoint} has no access_token", retryable=False
            )
        assert isinstance(answer, dict)
        token_type = str(answer.get("token_type") or "Bearer")
        if token_type.lower() == "bearer":
            token_type = "Bearer"
        issuers = p.get("issuers")
        issuer = _jwt_issuer(access)
        if issuers and issuer is not None and issuer not in issuers:
            raise self._failure(
                f"the token from {endpoint} was issued by {issuer!r}, which is not one of "
                "the policy's issuers",
                retryable=False,
            )
        lifetime = answer.get("expires_in")
        expires_at = None
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
            expires_at = requested + lifetime - min(MAX_MARGIN_SECONDS, lifetime / 10)
        return _Token(access, token_type, expires_at)

    def _failure(
        self, what: str, *, retryable: bool, status: int | None = None
    ) -> AuthenticationError:
        title = "Token request failed" + (f" (HTTP {status})" if status is not None else "")
        detail = f"{self.where}, authority {self.authority}: {what}"
        return AuthenticationError(
            WorkflowError.of(
                "authentication",
                redact(detail, self.sensitive),
                title=title,
                instance=self.instance,
            ),
            retryable=retryable,
        )


def _oauth_error(response: httpx.Response) -> str:
    """RFC 6749 §5.2's ``error`` (and description) from a refusal, if the body has one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if not isinstance(body, dict) or not isinstance(body.get("error"), str):
        return ""
    description = body.get("error_description")
    extra = f" ({str(description)[:200]})" if isinstance(description, str) else ""
    return f": {body['error'][:100]}{extra}"


def _cache_key(scheme: str, endpoint: str, properties: JsonObject) -> str:
    """A digest of everything that identifies a token (credentials included, never kept)."""
    identity = {k: v for k, v in properties.items() if k not in ("authority", "endpoints")}
    text = json.dumps([scheme, endpoint, identity], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _hs256_assertion(client_id: str, secret: str, audience: str) -> str:
    """RFC 7523 client authentication: a JWT signed with the client secret (HS256).

    Its times are wall-clock (the authority compares them with its own clock).
    """
    now = int(time.time())
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": os.urandom(16).hex(),
        "iat": now,
        "exp": now + 300,
    }
    payload = _b64url(json.dumps(claims).encode())
    signature = hmac.new(secret.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64url(signature)}"


def _jwt_issuer(token: str) -> str | None:
    """The ``iss`` claim of a JWT access token (unverified: only compared with ``issuers``)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) else None
