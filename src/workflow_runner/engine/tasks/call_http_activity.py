"""The ``call_http`` activity: the I/O half of ``call: http`` (task side: ``call_http.py``).

Kept in its own module so that reading and validating a definition never
imports httpx or temporalio (``validate`` starts in a fraction of a second).
Status handling follows the DSL: a 4xx is the caller's mistake and will not
improve on retry (non-retryable communication error); a 5xx or a connection
failure may (retryable). A large response is just a large activity result:
the claim check offloads it at the payload layer.

The body is streamed and capped (``HTTP_MAX_RESPONSE_BYTES``, never above
``CLAIMCHECK_MAX_PAYLOAD_BYTES``): without a cap a 200 MB response was held
several times over (3.7 GB RSS) before it even reached the claim check. Past
the cap the activity fails for good, naming the variable — the same URL will
not get smaller on retry. Memory stays at about one copy of the body plus its
decoded form: chunks go into one ``bytearray``, which JSON/text/base64
decoding read directly, and redaction walks the decoded value in place.

The result is encoded with orjson (dsl/json_values.py
``from_json``/``to_json``; ~9x faster than ``json.dumps`` to encode), and the
result leaves as a ready ``RawValue`` payload: the same bytes Temporal's JSON
converter would write (compact, sorted keys), made once — the worker's size
check (engine/interceptors.py) then measures it without encoding it again.
The body buffer is released as soon as it is decoded, and a large result
asks for freed memory to go back to the OS (``limits.trim_memory_soon``).

Secrets: only the run's own tokens are revealed (``SecretScope``, see
engine/secrets.py); every secret value is redacted from the result, from JSON
keys and header names as well as values, and from byte bodies before they
are base64-encoded.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from temporalio import activity
from temporalio.api.common.v1 import Payload
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import from_json, to_json
from workflow_runner.engine.activities.errors import activity_failure, dsl_failures
from workflow_runner.engine.activities.heartbeat import beat, heartbeating
from workflow_runner.engine.activity_info import fill_request
from workflow_runner.engine.limits import trim_memory_soon
from workflow_runner.engine.secrets import (
    MissingSecretError,
    disarm,
    redact,
    redact_bytes,
    redact_value,
    reveal,
)
from workflow_runner.engine.tasks.authentication_activity import AuthenticationError, auth_for
from workflow_runner.engine.tasks.call_http import (
    ACTIVITY,
    DEFAULT_MAX_RESPONSE_BYTES,
    LIMIT_VARIABLE,
    HttpRequest,
)

# Results at least this big make the worker give freed memory back soon after.
_LARGE_RESULT_BYTES = 1024 * 1024

# How much of an error response is read for the error's detail.
_ERROR_BODY_BYTES = 4096

# httpx logs every request line at INFO, query string (and so any secret in
# it) included; the log handlers redact too (cli/logs.py), this keeps the line
# from being produced at all.
logging.getLogger("httpx").setLevel(logging.WARNING)


@dataclass
class _Response:
    """What shaping the output needs: status, headers and the (capped) body."""

    status_code: int
    headers: httpx.Headers
    encoding: str
    body: bytearray


class ResponseTooLarge(Exception):
    def __init__(self, read: int) -> None:
        self.read = read


class HttpActivities:
    """Holds one ``httpx.AsyncClient`` for the worker's life (connection reuse)."""

    def __init__(
        self,
        secrets: dict[str, str],
        timeout_seconds: float = 300.0,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.secrets = secrets
        self.max_response_bytes = max_response_bytes
        self.client = httpx.AsyncClient(timeout=timeout_seconds)

    async def close(self) -> None:
        await self.client.aclose()

    @activity.defn(name=ACTIVITY)
    async def call_http(self, request: HttpRequest) -> Any:
        # Zigflow's $data.activity (the attempt sending this request...): engine/activity_info.py
        request = fill_request(request, ("uri", "headers", "query", "body"))

        def otherwise(e: Exception) -> ApplicationError:
            # Whatever failed may quote the revealed request (a URL, a header):
            # only a redacted message, without the original as cause, leaves.
            message = redact(f"{request.method.upper()} {request.uri}: {e}", self.secrets)
            return ApplicationError(message, type=type(e).__name__)

        with dsl_failures(request.instance, otherwise):
            async with heartbeating():
                result = await self._call(request)
            if result is None:
                return None
            data = to_json(result)
            del result
            if len(data) >= _LARGE_RESULT_BYTES:
                trim_memory_soon()
            return RawValue(Payload(metadata={"encoding": b"json/plain"}, data=data))

    async def _call(self, request: HttpRequest) -> Any:
        """Authenticate (endpoint.authentication), then send; redact its credentials too.

        The policy's passwords, the issued access token and the Authorization
        header join the worker's secrets for this call's redaction: a server
        that echoes them back cannot get them into the result or an error.
        """
        if request.authentication is None:
            return await self._send(request, None, self.secrets)
        authorization = await auth_for(
            request.authentication,
            self.client,
            self.secrets,
            request.secret_scope,
            instance=request.instance,
        )
        secrets = {**self.secrets, **authorization.sensitive}
        try:
            return await self._send(request, authorization.auth, secrets)
        except (ApplicationError, AuthenticationError, MissingSecretError):
            raise
        except Exception as e:  # may quote the request: redact the credentials as well
            raise RuntimeError(redact(f"{type(e).__name__}: {e}", secrets)) from None

    async def _send(
        self, request: HttpRequest, auth: httpx.Auth | None, secrets: Mapping[str, str]
    ) -> Any:
        scope = request.secret_scope
        headers = {str(k): str(v) for k, v in reveal(request.headers, self.secrets, scope).items()}
        params = {k: _query_value(v) for k, v in reveal(request.query, self.secrets, scope).items()}
        # Merge, not replace: httpx drops a URI's own query string when given params.
        uri = httpx.URL(reveal(request.uri, self.secrets, scope)).copy_merge_params(params)
        body = reveal(request.body, self.secrets, scope)
        kwargs: dict[str, Any] = {"headers": headers}
        if auth is not None:
            kwargs["auth"] = auth
        if body is not None:
            if isinstance(body, str | bytes):
                kwargs["content"] = body
            else:
                kwargs["json"] = body
        method = request.method.upper()
        try:
            async with self.client.stream(
                method, uri, follow_redirects=request.redirect, **kwargs
            ) as streamed:
                ok_until = 399 if request.redirect else 299
                if not 200 <= streamed.status_code <= ok_until:
                    head = await _head(streamed)
                    raise self._status_failure(request, streamed, head, secrets)
                response = _Response(
                    streamed.status_code,
                    streamed.headers,
                    streamed.encoding or "utf-8",
                    await self._read_capped(streamed),
                )
        except ResponseTooLarge as e:
            error = WorkflowError.of(
                "communication",
                f"{method} {request.uri}: response body is larger than {LIMIT_VARIABLE}="
                f"{self.max_response_bytes} bytes (read {e.read} bytes so far); raise "
                f"{LIMIT_VARIABLE} (at most CLAIMCHECK_MAX_PAYLOAD_BYTES) or request less",
                title="HTTP response too large",
                instance=request.instance,
            )
            raise activity_failure(error, retryable=False) from None
        except httpx.HTTPError as e:
            error = WorkflowError.of(
                "communication",
                redact(f"{method} {request.uri} failed: {type(e).__name__}: {e}", secrets),
                title="HTTP request failed",
                instance=request.instance,
            )
            raise activity_failure(error, retryable=True) from None
        return redact_value(self._shape_output(request, response, secrets), secrets)

    async def _read_capped(self, response: httpx.Response) -> bytearray:
        """The decoded body, failing as soon as it exceeds the cap (checked per chunk)."""
        cap = self.max_response_bytes
        declared = response.headers.get("content-length", "")
        identity = response.headers.get("content-encoding", "identity") == "identity"
        if identity and declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(0)  # refuse up front; the server told us the size
        body = bytearray()
        async for chunk in response.aiter_bytes():
            body += chunk
            beat(len(body))
            if len(body) > cap:
                raise ResponseTooLarge(len(body))
        return body

    def _status_failure(
        self,
        request: HttpRequest,
        response: httpx.Response,
        head: bytes,
        secrets: Mapping[str, str],
    ) -> ApplicationError:
        text = redact(head.decode(response.encoding or "utf-8", errors="replace"), secrets)
        error = WorkflowError(
            type="https://serverlessworkflow.io/spec/1.0.0/errors/communication",
            status=response.status_code,
            title=f"HTTP {response.status_code} {response.reason_phrase}",
            detail=redact(
                f"{request.method.upper()} {request.uri} returned {response.status_code}: "
                f"{text[:500]}",
                secrets,
            ),
            instance=request.instance,
        )
        return activity_failure(error, retryable=response.status_code >= 500)

    def _shape_output(
        self, request: HttpRequest, response: _Response, secrets: Mapping[str, str]
    ) -> Any:
        if request.output == "raw":
            return _base64(redact_bytes(response.body, secrets))
        content = self._decode_content(response, secrets)
        if request.output == "response":
            return {
                "request": {
                    "method": request.method.upper(),
                    "uri": disarm(request.uri),
                    "headers": disarm(request.headers),
                },
                "statusCode": response.status_code,
                "headers": dict(response.headers),
                "content": content,
            }
        return content

    def _decode_content(self, response: _Response, secrets: Mapping[str, str]) -> Any:
        """JSON stays JSON (arrays too), text stays text, anything else is base64."""
        body = response.body
        if not body:
            return None
        content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type.endswith("json"):  # application/json and any +json type
            try:
                value = from_json(body)
            except ValueError:
                return body.decode(response.encoding, errors="replace")
            body.clear()  # decoded: the raw bytes need not live as long as the result
            return value
        if content_type.startswith("text/") or content_type in ("application/xml", ""):
            try:
                return body.decode(response.encoding)
            except (UnicodeDecodeError, LookupError):
                pass
        return _base64(redact_bytes(body, secrets))


async def _head(response: httpx.Response) -> bytes:
    """The start of an error response: enough for a message, never the whole of it."""
    head = bytearray()
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= _ERROR_BODY_BYTES:
            break
    return bytes(head[:_ERROR_BODY_BYTES])


def _base64(data: bytes | bytearray) -> str:
    return base64.b64encode(data).decode("ascii")


def _query_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
