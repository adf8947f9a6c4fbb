"""A real OAuth2 / OpenID Connect authority and protected resources on 127.0.0.1 (stdlib).

One server plays both parts, so a test can count the token requests the
workflow made and check what the resource received:

* ``POST /oauth2/token`` (and ``/custom/token``, ``/oidc/token``): RFC 6749 token
  endpoint — grants ``client_credentials``, ``password`` and token exchange;
  client authentication ``client_secret_basic``, ``client_secret_post``,
  ``client_secret_jwt`` (HS256, verified), ``private_key_jwt`` (the assertion is
  compared with the one registered) and ``none`` (public clients); form or JSON
  bodies. A refusal is 401 ``{"error": "invalid_client"}`` (or 400
  ``invalid_grant``), as real authorities answer.
* ``GET /.well-known/openid-configuration``: discovery, pointing at ``/oidc/token``.
* ``GET /protected``: needs a live bearer token it issued (401 otherwise) and
  answers with the Authorization header it got, so a test can prove that the
  workflow's output does not carry it.
* ``GET /basic``, ``GET /digest`` (RFC 7616, MD5, qop=auth), ``GET /bearer``:
  fixed credentials, also echoing the Authorization header.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

from tests.httpserver import QuietHandler, in_background

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
REALM = "auth-test"


@dataclass
class Issued:
    token: str
    client: str
    scope: str
    audience: list[str]
    user: str | None
    expires_at: float


@dataclass
class AuthState:
    clients: dict[str, str] = field(default_factory=dict)  # id -> secret
    public_clients: set[str] = field(default_factory=set)
    assertions: dict[str, str] = field(default_factory=dict)  # id -> private_key_jwt assertion
    users: dict[str, str] = field(default_factory=dict)
    basic: tuple[str, str] = ("", "")
    digest: tuple[str, str] = ("", "")
    bearer: str = ""
    expires_in: int | None = 3600
    token_requests: list[dict[str, Any]] = field(default_factory=list)
    issued: dict[str, Issued] = field(default_factory=dict)
    resource_requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Handler(QuietHandler):
    server: AuthServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        path = urlparse(self.path).path
        if path in ("/oauth2/token", "/custom/token", "/oidc/token"):
            self._token(path, raw)
        else:
            self._json({"error": "not found"}, 404)

    def do_GET(self) -> None:
        path = urlparse(self.path).path
        state = self.server.state
        authorization = self.headers.get("Authorization", "")
        with state.lock:
            state.resource_requests.append({"path": path, "authorization": authorization})
        if path == "/.well-known/openid-configuration":
            self._json(
                {
                    "issuer": self.server.url,
                    "token_endpoint": self.server.url + "/oidc/token",
                    "jwks_uri": self.server.url + "/jwks",
                }
            )
        elif path == "/protected":
            token = authorization.removeprefix("Bearer ")
            issued = state.issued.get(token) if authorization.startswith("Bearer ") else None
            if issued is None or time.monotonic() >= issued.expires_at:
                self._json(
                    {"error": "invalid_token"},
                    401,
                    {"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
                return
            self._json(
                {
                    "client": issued.client,
                    "user": issued.user,
                    "scope": issued.scope,
                    "audience": issued.audience,
                    "authorization": authorization,
                    "token": token,
                }
            )
        elif path == "/basic":
            expected = "Basic " + base64.b64encode(":".join(state.basic).encode()).decode()
            if authorization != expected:
                self._json({"error": "bad credentials"}, 401, {"WWW-Authenticate": "Basic"})
                return
            self._json({"user": state.basic[0], "authorization": authorization})
        elif path == "/bearer":
            if authorization != f"Bearer {state.bearer}":
                self._json({"error": "bad token"}, 401, {"WWW-Authenticate": "Bearer"})
                return
            self._json({"ok": True, "authorization": authorization})
        elif path == "/digest":
            user = self._digest_user(authorization)
            if user is None:
                nonce = secrets.token_hex(16)
                challenge = f'Digest realm="{REALM}", nonce="{nonce}", qop="auth", algorithm=MD5'
                self._json({"error": "challenge"}, 401, {"WWW-Authenticate": challenge})
                return
            self._json({"user": user, "authorization": authorization})
        else:
            self._json({"error": "not found"}, 404)

    # -- digest ---------------------------------------------------------------

    def _digest_user(self, header: str) -> str | None:
        if not header.startswith("Digest "):
            return None
        fields = {
            m.group(1): (m.group(2) if m.group(2) is not None else m.group(3))
            for m in re.finditer(r'(\w+)=(?:"([^"]*)"|([^,\s]*))', header[7:])
        }
        user, password = self.server.state.digest

        def md5(text: str) -> str:
            return hashlib.md5(text.encode()).hexdigest()

        if fields.get("username") != user or fields.get("realm") != REALM:
            return None
        ha1 = md5(f"{user}:{REALM}:{password}")
        ha2 = md5(f"GET:{fields.get('uri')}")
        expected = md5(
            f"{ha1}:{fields.get('nonce')}:{fields.get('nc')}:{fields.get('cnonce')}:auth:{ha2}"
        )
        return user if hmac.compare_digest(expected, fields.get("response", "")) else None

    # -- the token endpoint ---------------------------------------------------------

    def _token(self, path: str, raw: bytes) -> None:
        state = self.server.state
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("application/json"):
            body: dict[str, Any] = json.loads(raw or b"{}")
        else:
            form = parse_qs(raw.decode(), keep_blank_values=True)
            body = {k: v[0] if len(v) == 1 else v for k, v in form.items()}
        authorization = self.headers.get("Authorization", "")
        with state.lock:
            state.token_requests.append(
                {
                    "path": path,
                    "content_type": content_type,
                    "authorization": authorization,
                    "body": body,
                }
            )
        client = self._client(body, authorization, path)
        if client is None:
            self._json(
                {"error": "invalid_client", "error_description": "client authentication failed"},
                401,
                {"WWW-Authenticate": f'Basic realm="{REALM}"'},
            )
            return
        grant = body.get("grant_type")
        user = None
        if grant == "password":
            user = str(body.get("username"))
            if state.users.get(user) != body.get("password"):
                self._json({"error": "invalid_grant", "error_description": "bad user"}, 400)
                return
        elif grant == TOKEN_EXCHANGE:
            if not body.get("subject_token") or not body.get("subject_token_type"):
                self._json({"error": "invalid_request"}, 400)
                return
            user = f"on-behalf-of:{body['subject_token_type']}"
        elif grant != "client_credentials":
            self._json({"error": "unsupported_grant_type"}, 400)
            return
        audience = body.get("audience", [])
        token = f"at-{len(state.issued) + 1}-{secrets.token_hex(12)}"
        lifetime = state.expires_in
        with state.lock:
            state.issued[token] = Issued(
                token,
                client,
                str(body.get("scope", "")),
                audience if isinstance(audience, list) else [audience],
                user,
                time.monotonic() + (lifetime if lifetime is not None else 3600),
            )
        answer: dict[str, Any] = {"access_token": token, "token_type": "bearer"}
        if lifetime is not None:
            answer["expires_in"] = lifetime
        self._json(answer)

    def _client(self, body: dict[str, Any], authorization: str, path: str) -> str | None:
        """The authenticated client id, or None (wrong or missing credentials)."""
        state = self.server.state
        if authorization.startswith("Basic "):
            pair = base64.b64decode(authorization[6:]).decode()
            client_id, _, secret = pair.partition(":")
            client_id, secret = unquote(client_id), unquote(secret)
            return client_id if state.clients.get(client_id) == secret else None
        if body.get("client_assertion_type") == JWT_BEARER:
            assertion = str(body.get("client_assertion", ""))
            client_id = str(body.get("client_id", ""))
            if state.assertions.get(client_id) == assertion:
                return client_id
            header, payload, signature = [*assertion.split("."), "", "", ""][:3]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            known = state.clients.get(claims.get("iss", ""))
            if known is None or claims.get("aud") != self.server.url + path:
                return None
            expected = hmac.new(
                known.encode(), f"{header}.{payload}".encode(), hashlib.sha256
            ).digest()
            given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
            ok = hmac.compare_digest(expected, given) and claims.get("exp", 0) > time.time()
            return str(claims["iss"]) if ok else None
        client_id = str(body.get("client_id", ""))
        if "client_secret" in body:
            return client_id if state.clients.get(client_id) == body["client_secret"] else None
        return client_id if client_id in state.public_clients else None


class AuthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = AuthState()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def revoke_all(self) -> None:
        """Forget every issued token (an authority restart): cached tokens now get 401."""
        with self.state.lock:
            self.state.issued.clear()


@contextmanager
def serving_auth() -> Iterator[AuthServer]:
    with in_background(AuthServer()) as server:
        yield server
