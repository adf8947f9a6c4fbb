"""``call: http`` as an activity, with httpx.

Status handling follows the DSL: a 4xx is the caller's mistake and will not
improve on retry (non-retryable communication error); a 5xx or a connection
failure may (retryable). A large response is just a large activity result:
the claim check offloads it at the payload layer.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
from temporalio import activity

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.activities.errors import activity_failure
from workflow_runner.engine.secrets import redact, redact_value, reveal


@dataclass
class HttpRequest:
    method: str
    uri: str
    headers: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    output: str = "content"
    redirect: bool = False
    instance: str = ""


class HttpActivities:
    """Holds one ``httpx.AsyncClient`` for the worker's life (connection reuse)."""

    def __init__(self, secrets: dict[str, str], timeout_seconds: float = 300.0) -> None:
        self.secrets = secrets
        self.client = httpx.AsyncClient(timeout=timeout_seconds)

    async def close(self) -> None:
        await self.client.aclose()

    @activity.defn(name="call_http")
    async def call_http(self, request: HttpRequest) -> Any:
        headers = {str(k): str(v) for k, v in reveal(request.headers, self.secrets).items()}
        params = {k: _query_value(v) for k, v in reveal(request.query, self.secrets).items()}
        # Merge, not replace: httpx drops a URI's own query string when given params.
        uri = httpx.URL(reveal(request.uri, self.secrets)).copy_merge_params(params)
        body = reveal(request.body, self.secrets)
        kwargs: dict[str, Any] = {"headers": headers}
        if body is not None:
            if isinstance(body, str | bytes):
                kwargs["content"] = body
            else:
                kwargs["json"] = body
        method = request.method.upper()
        try:
            response = await self.client.request(
                method, uri, follow_redirects=request.redirect, **kwargs
            )
        except httpx.HTTPError as e:
            error = WorkflowError.of(
                "communication",
                redact(f"{method} {request.uri} failed: {type(e).__name__}: {e}", self.secrets),
                title="HTTP request failed",
                instance=request.instance,
            )
            raise activity_failure(error, retryable=True) from None
        ok_until = 399 if request.redirect else 299
        if not 200 <= response.status_code <= ok_until:
            error = WorkflowError(
                type="https://serverlessworkflow.io/spec/1.0.0/errors/communication",
                status=response.status_code,
                title=f"HTTP {response.status_code} {response.reason_phrase}",
                detail=redact(
                    f"{method} {request.uri} returned {response.status_code}: "
                    f"{response.text[:500]}",
                    self.secrets,
                ),
                instance=request.instance,
            )
            raise activity_failure(error, retryable=response.status_code >= 500)
        return redact_value(shape_output(request, response), self.secrets)


def _query_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def decode_content(response: httpx.Response) -> Any:
    """JSON stays JSON (arrays too), text stays text, anything else is base64."""
    if not response.content:
        return None
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.endswith("json"):  # application/json and any +json type
        try:
            return response.json()
        except ValueError:
            return response.text
    if content_type.startswith("text/") or content_type in ("application/xml", ""):
        try:
            return response.content.decode(response.encoding or "utf-8")
        except UnicodeDecodeError:
            pass
    return base64.b64encode(response.content).decode()


def shape_output(request: HttpRequest, response: httpx.Response) -> Any:
    if request.output == "raw":
        return base64.b64encode(response.content).decode()
    content = decode_content(response)
    if request.output == "response":
        return {
            "request": {
                "method": request.method.upper(),
                "uri": request.uri,
                "headers": request.headers,
            },
            "statusCode": response.status_code,
            "headers": dict(response.headers),
            "content": content,
        }
    return content
