"""The ``call_a2a`` activity: the I/O half of ``call: a2a`` (task side: ``call_a2a.py``).

Kept in its own module so that reading a definition never imports httpx.

* The agent: with ``agentCard`` the card is fetched (GET, with the policy's
  credentials, at most ``MAX_CARD_BYTES``) and the JSON-RPC request goes to
  its ``url`` — or, when its ``preferredTransport`` is not ``JSONRPC``, to the
  ``JSONRPC`` entry of its ``additionalInterfaces``; an agent that speaks no
  JSON-RPC is a ``configuration`` error. Cards are cached per worker for
  ``CARD_TTL_SECONDS`` (a card describes a deployment, not a conversation).
  With ``server`` the request goes to that URL as it is.
* The request: ``{jsonrpc: "2.0", id, method, params}`` POSTed as JSON.
  ``message/send`` and ``message/stream`` get the spec's defaults:
  ``message.role: user``, ``message.kind: message`` and a ``message.messageId``
  derived (UUID 5) from the workflow id, run id and activity id. Temporal
  retries an activity under the same activity id, so every attempt of one call
  sends the same ``messageId`` (an agent can tell a repeat from a new message),
  while two calls — or the same call in the next loop iteration — get their own.
  The JSON-RPC ``id`` is the same value.
* The answer: the JSON-RPC ``result`` is the output (secrets and credentials
  redacted). ``message/stream`` and ``tasks/resubscribe`` are answered with
  Server-Sent Events, one JSON-RPC response per event: the output is the array
  of their results, in order.
* Errors are the spec's ``runtime`` errors naming the agent (its card's name,
  else its URL) and the method: a JSON-RPC error (with its code and, for A2A's
  own codes, their name) is final; HTTP 429/5xx and an agent that cannot be
  reached are retried; other HTTP statuses are final (a 401/403 names the
  security schemes the card declares). Everything is bounded by the activity's
  timeout less a second, and the answer by ``HTTP_MAX_RESPONSE_BYTES`` /
  ``CLAIMCHECK_MAX_PAYLOAD_BYTES``.
* Authentication: the resolved policy goes through the shared
  ``authentication_activity.auth_for`` (same token cache as ``call: http``);
  its ``httpx.Auth`` signs both the card request and the JSON-RPC call.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

import httpx
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.model import JsonObject
from workflow_runner.engine.activities.errors import ActivityProblem, dsl_failures
from workflow_runner.engine.secrets import redact, redact_value, reveal
from workflow_runner.engine.tasks.authentication_activity import auth_for
from workflow_runner.engine.tasks.call_a2a import (
    ACTIVITY,
    MESSAGE_METHODS,
    STREAMING,
    A2aRequest,
)

CARD_TTL_SECONDS = 300.0
MAX_CARD_BYTES = 1024 * 1024
DEFAULT_DEADLINE = timedelta(minutes=10)
CONNECT_TIMEOUT_SECONDS = 30.0
JSONRPC = "JSONRPC"
# A namespace of our own for the derived message ids (a UUID 5 of the call's identity).
MESSAGE_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:workflow-runner:a2a:message")
# JSON-RPC 2.0's and A2A 0.3's error codes, named in error details.
ERROR_NAMES = {
    -32700: "JSONParseError",
    -32600: "InvalidRequestError",
    -32601: "MethodNotFoundError",
    -32602: "InvalidParamsError",
    -32603: "InternalError",
    -32001: "TaskNotFoundError",
    -32002: "TaskNotCancelableError",
    -32003: "PushNotificationNotSupportedError",
    -32004: "UnsupportedOperationError",
    -32005: "ContentTypeNotSupportedError",
    -32006: "InvalidAgentResponseError",
    -32007: "AuthenticatedExtendedCardNotConfiguredError",
}


class _TooLarge(Exception):
    pass


class A2aActivities:
    """The worker's HTTP client and AgentCard cache, shared by its ``call_a2a`` calls."""

    def __init__(
        self,
        secrets: dict[str, str],
        *,
        max_response_bytes: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secrets = secrets
        self.max_response_bytes = max_response_bytes
        self.clock = clock
        self._client: httpx.AsyncClient | None = None
        self._cards: dict[str, tuple[float, JsonObject]] = {}

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._cards.clear()

    @activity.defn(name=ACTIVITY)
    async def call_a2a(self, request: A2aRequest) -> Any:
        info = activity.info()
        identity = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
        default_id = str(uuid.uuid5(MESSAGE_ID_NAMESPACE, identity))

        def otherwise(e: Exception) -> ApplicationError:
            # Whatever failed may quote revealed parameters: only a redacted message leaves.
            agent = request.card or request.server
            message = redact(
                f"A2A {request.method} to {agent}: {type(e).__name__}: {e}", self.secrets
            )
            return ApplicationError(message, type=type(e).__name__)

        with dsl_failures(request.instance, otherwise):
            return await self._call(request, default_id, _deadline_seconds())

    async def _call(self, request: A2aRequest, default_id: str, deadline: float) -> Any:
        client = self._http()
        scope = request.secret_scope
        auth: httpx.Auth | None = None
        secrets: Mapping[str, str] = self.secrets
        if request.authentication is not None:
            authorization = await auth_for(
                request.authentication, client, self.secrets, scope, instance=request.instance
            )
            auth = authorization.auth
            secrets = {**self.secrets, **authorization.sensitive}
        call = _Call(request, secrets)
        try:
            async with asyncio.timeout(deadline):
                card: JsonObject | None = None
                if request.card:
                    url = str(reveal(request.card, self.secrets, scope))
                    card = await self._card(call, url, auth)
                    call.agent = _agent_name(card, call.agent)
                    endpoint = _jsonrpc_url(call, card, url)
                else:
                    endpoint = str(reveal(request.server, self.secrets, scope))
                    call.agent = f"A2A agent at {endpoint}"
                params = _with_defaults(
                    call, reveal(request.parameters, self.secrets, scope), default_id
                )
                body: JsonObject = {"jsonrpc": "2.0", "id": default_id, "method": request.method}
                if params:
                    body["params"] = params
                if request.method in STREAMING:
                    if (
                        card is not None
                        and (card.get("capabilities") or {}).get("streaming") is False
                    ):
                        raise call.failure(
                            "configuration",
                            f"{request.method}: the agent card says it does not stream "
                            "(capabilities.streaming is false); use message/send and tasks/get",
                            retryable=False,
                        )
                    results = await self._stream(call, client, endpoint, body, auth, card)
                    return redact_value(results, secrets)
                result = await self._post(call, client, endpoint, body, auth, card)
                return redact_value(result, secrets)
        except TimeoutError:
            raise call.failure(
                "runtime",
                f"{request.method} did not finish within {deadline:.0f} s "
                "(the task's timeout, less a second)",
                retryable=False,
                title="A2A call timed out",
            ) from None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            timeout = httpx.Timeout(CONNECT_TIMEOUT_SECONDS, read=None)  # bounded by the deadline
            self._client = httpx.AsyncClient(timeout=timeout)
        return self._client

    # -- the agent card --------------------------------------------------------------

    async def _card(self, call: _Call, url: str, auth: httpx.Auth | None) -> JsonObject:
        cached = self._cards.get(url)
        if cached is not None and self.clock() < cached[0]:
            return cached[1]
        kwargs: dict[str, Any] = {"headers": {"Accept": "application/json"}}
        if auth is not None:
            kwargs["auth"] = auth
        try:
            async with self._http().stream("GET", url, **kwargs) as response:
                if response.status_code != 200:
                    raise call.failure(
                        "runtime",
                        f"agent card {url} returned HTTP {response.status_code}",
                        retryable=_retryable(response.status_code),
                        status=response.status_code,
                    )
                data = await _read_capped(response, MAX_CARD_BYTES)
        except _TooLarge:
            raise call.failure(
                "configuration",
                f"agent card {url} is larger than {MAX_CARD_BYTES} bytes",
                retryable=False,
            ) from None
        except httpx.HTTPError as e:
            raise call.failure(
                "runtime", f"agent card {url} cannot be fetched: {_describe(e)}", retryable=True
            ) from None
        try:
            card = json.loads(data)
        except ValueError:
            card = None
        if not isinstance(card, dict):
            raise call.failure(
                "configuration", f"agent card {url} is not a JSON object", retryable=False
            )
        self._cards[url] = (self.clock() + CARD_TTL_SECONDS, card)
        return card

    # -- JSON-RPC --------------------------------------------------------------------

    async def _post(
        self,
        call: _Call,
        client: httpx.AsyncClient,
        endpoint: str,
        body: JsonObject,
        auth: httpx.Auth | None,
        card: JsonObject | None,
    ) -> Any:
        async with _exchange(call, client, endpoint, body, auth, card, "application/json") as (
            response
        ):
            try:
                data = await _read_capped(response, self.max_response_bytes)
            except _TooLarge:
                raise self._too_large(call) from None
        return _result(call, _json(call, data))

    async def _stream(
        self,
        call: _Call,
        client: httpx.AsyncClient,
        endpoint: str,
        body: JsonObject,
        auth: httpx.Auth | None,
        card: JsonObject | None,
    ) -> list[Any]:
        results: list[Any] = []
        async with _exchange(call, client, endpoint, body, auth, card, "text/event-stream") as (
            response
        ):
            if not response.headers.get("content-type", "").startswith("text/event-stream"):
                # An agent may answer a stream request with one plain JSON-RPC response.
                try:
                    data = await _read_capped(response, self.max_response_bytes)
                except _TooLarge:
                    raise self._too_large(call) from None
                return [_result(call, _json(call, data))]
            total = 0
            async for event in _events(response):
                total += len(event)
                if total > self.max_response_bytes:
                    raise self._too_large(call)
                results.append(_result(call, _json(call, event)))
        return results

    def _too_large(self, call: _Call) -> ActivityProblem:
        return call.failure(
            "runtime",
            f"the answer to {call.request.method} is larger than {self.max_response_bytes} "
            "bytes (HTTP_MAX_RESPONSE_BYTES / CLAIMCHECK_MAX_PAYLOAD_BYTES); request less",
            retryable=False,
            title="A2A response too large",
        )


class _Call:
    """One call's identity for errors (agent + method) and what to redact from them."""

    def __init__(self, request: A2aRequest, secrets: Mapping[str, str]) -> None:
        self.request = request
        self.secrets = secrets
        self.agent = f"A2A agent (card {request.card})" if request.card else "A2A agent"

    def failure(
        self,
        kind: str,
        detail: str,
        *,
        retryable: bool,
        title: str | None = None,
        status: int | None = None,
    ) -> ActivityProblem:
        error = WorkflowError.of(
            kind,
            redact(f"{self.agent}, {self.request.method}: {detail}", self.secrets),
            title=title or ("A2A call failed" if kind == "runtime" else "A2A call misconfigured"),
            instance=self.request.instance,
        )
        if status is not None:
            error = WorkflowError(
                type=error.type,
                status=status,
                title=error.title,
                detail=error.detail,
                instance=error.instance,
            )
        return ActivityProblem(error, retryable=retryable)


@contextlib.asynccontextmanager
async def _exchange(
    call: _Call,
    client: httpx.AsyncClient,
    endpoint: str,
    body: JsonObject,
    auth: httpx.Auth | None,
    card: JsonObject | None,
    accept: str,
) -> AsyncIterator[httpx.Response]:
    """POST the JSON-RPC request: a 2xx response, streamed; any other status is a failure."""
    kwargs: dict[str, Any] = {"json": body, "headers": {"Accept": accept}}
    if auth is not None:
        kwargs["auth"] = auth
    try:
        async with client.stream("POST", endpoint, **kwargs) as response:
            status = response.status_code
            if not 200 <= status < 300:
                head = (await _read_head(response)).strip()
                detail = f"{endpoint} returned HTTP {status}"
                if status in (401, 403):
                    detail += _security(card)
                if head:
                    detail += f": {head}"
                raise call.failure("runtime", detail, retryable=_retryable(status), status=status)
            yield response
    except httpx.HTTPError as e:
        raise call.failure(
            "runtime", f"{endpoint} failed: {_describe(e)}", retryable=True
        ) from None


# -- helpers ---------------------------------------------------------------------------


def _with_defaults(call: _Call, params: Any, default_id: str) -> Any:
    """The spec's defaults for a message: role ``user``, kind ``message``, a stable messageId."""
    if call.request.method not in MESSAGE_METHODS or not isinstance(params, dict):
        return params
    message = params.get("message")
    if not isinstance(message, dict):
        raise call.failure(
            "validation",
            f"parameters.message must be an object {{parts, ...}}, got {type(message).__name__}",
            retryable=False,
        )
    message = {"role": "user", "kind": "message", "messageId": default_id, **message}
    return {**params, "message": message}


def _agent_name(card: JsonObject, fallback: str) -> str:
    name = card.get("name")
    return f"A2A agent {name!r}" if isinstance(name, str) and name else fallback


def _jsonrpc_url(call: _Call, card: JsonObject, source: str) -> str:
    """Where the card's agent takes JSON-RPC: its url, or its JSONRPC additional interface."""
    preferred = card.get("preferredTransport") or JSONRPC
    if str(preferred).upper() == JSONRPC and isinstance(card.get("url"), str) and card["url"]:
        return urljoin(source, str(card["url"]))
    for interface in card.get("additionalInterfaces") or []:
        if (
            isinstance(interface, dict)
            and str(interface.get("transport", "")).upper() == JSONRPC
            and isinstance(interface.get("url"), str)
        ):
            return urljoin(source, str(interface["url"]))
    if str(preferred).upper() != JSONRPC:
        raise call.failure(
            "configuration",
            f"the agent card ({source}) offers {preferred} and no JSONRPC interface; "
            "this runner speaks A2A over JSON-RPC",
            retryable=False,
        )
    raise call.failure(
        "configuration", f"the agent card ({source}) has no 'url' to send to", retryable=False
    )


def _security(card: JsonObject | None) -> str:
    schemes = (card or {}).get("securitySchemes")
    if not isinstance(schemes, dict) or not schemes:
        return ""
    described = []
    for name, scheme in schemes.items():
        kind = scheme.get("type", "?") if isinstance(scheme, dict) else "?"
        extra = scheme.get("scheme") if isinstance(scheme, dict) else None
        described.append(f"{name} ({kind}{' ' + str(extra) if extra else ''})")
    return f" (the agent card asks for: {', '.join(described)}; set the endpoint's authentication)"


def _json(call: _Call, data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        text = data[:200] if isinstance(data, str) else data[:200].decode(errors="replace")
        raise call.failure(
            "runtime", f"the answer is not JSON: {text!r}", retryable=False
        ) from None


def _result(call: _Call, answer: Any) -> Any:
    """A JSON-RPC response's result, or its error as a DSL error naming agent and method."""
    if not isinstance(answer, dict) or answer.get("jsonrpc") != "2.0":
        raise call.failure("runtime", "the answer is not a JSON-RPC 2.0 response", retryable=False)
    if "error" in answer:
        error = answer["error"] if isinstance(answer["error"], dict) else {}
        code = error.get("code")
        name = ERROR_NAMES.get(code) if isinstance(code, int) else None
        message = str(error.get("message") or "no message")[:500]
        data = error.get("data")
        detail = f"{message} (JSON-RPC error {code}{' ' + name if name else ''})"
        if data is not None:
            detail += f"; data: {json.dumps(data)[:500]}"
        raise call.failure("runtime", detail, retryable=False, title="A2A error")
    if "result" not in answer:
        raise call.failure("runtime", "the JSON-RPC response has no result", retryable=False)
    return answer["result"]


async def _events(response: httpx.Response) -> AsyncIterator[str]:
    """The ``data`` of each Server-Sent Event (multi-line data joined with newlines)."""
    lines: list[str] = []
    async for line in response.aiter_lines():
        if not line:
            if lines:
                yield "\n".join(lines)
                lines = []
            continue
        if line.startswith("data:"):
            lines.append(line[5:].removeprefix(" "))
    if lines:
        yield "\n".join(lines)


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise _TooLarge
    return bytes(body)


async def _read_head(response: httpx.Response, limit: int = 300) -> str:
    body = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            body += chunk
            if len(body) >= limit:
                break
    except httpx.HTTPError:
        pass
    return body[:limit].decode(errors="replace")


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


def _describe(e: Exception) -> str:
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _deadline_seconds() -> float:
    """The activity's timeout less a second, so the call fails before the activity times out."""
    limit = activity.info().start_to_close_timeout or DEFAULT_DEADLINE
    return max(limit.total_seconds() - 1.0, 1.0)
