"""The ``call_mcp`` activity: the I/O half of ``call: mcp`` (task side: ``call_mcp.py``).

Kept in its own module so that reading a definition never imports the ``mcp``
SDK (pydantic models, httpx2, anyio: most of a second).

One connection per call: the SDK's ``Client`` connects (stdio: starts the
server as a child process; http: Streamable HTTP), performs the handshake
the spec requires before any request, sends the one method, and closes (the
child process ends with it). A workflow's calls may land on any worker, so
nothing is kept between them.

* The protocol version: a handshake-era version (2024-11-05 … 2025-11-25,
  the spec's default 2025-06-18 among them) connects with the ``initialize``
  handshake, in which the SDK offers its newest handshake version and the
  server may answer with an older one it supports; a stateless-era version
  (2026-07-28) is adopted as given. Others fail, listing what the SDK knows.
* A stdio server gets the same allow-listed environment as ``run: shell``
  (``run_process_activity.child_environment``) plus the task's declared
  ``environment``: never the worker's blob-store credentials or secrets.
  Its stderr is kept (the last lines go into the error when it fails).
* Time is bounded: the call's ``with.timeout`` and the activity's own
  timeout less a second, whichever is shorter, cover connecting, the
  handshake and the request.
* The output is the JSON-RPC result as the server sent it (camelCase keys,
  e.g. ``structuredContent``), secrets redacted. A ``tools/call`` whose
  result says ``isError`` fails the task (a ``runtime`` error naming the
  server and the tool, with the tool's text): the spec makes failures
  ``runtime`` errors, and a failed tool passing as output would go unnoticed.
  A JSON-RPC error is a non-retryable ``runtime`` error; a server that cannot
  be reached or started is a retryable one.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import IO, Any, TextIO, cast

import anyio
import httpx2
from mcp import Client
from mcp.client import Transport
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import Implementation
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.activities.errors import (
    ActivityProblem,
    activity_failure,
    dsl_failures,
)
from workflow_runner.engine.secrets import redact, redact_value, reveal
from workflow_runner.engine.tasks.call_mcp import ACTIVITY, McpRequest
from workflow_runner.engine.tasks.run_process_activity import child_environment

DEFAULT_LIMIT = timedelta(minutes=10)
_STDERR_TAIL = 1000


class McpActivities:
    def __init__(self, secrets: dict[str, str]) -> None:
        self.secrets = secrets

    @activity.defn(name=ACTIVITY)
    async def call_mcp(self, request: McpRequest) -> Any:
        with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as stderr:

            def otherwise(e: Exception) -> ApplicationError:
                if isinstance(e, TimeoutError):
                    # The author's bound (or the activity's): retrying would multiply it.
                    detail = f"MCP {request.method} on {request.server} did not finish in time"
                    return self._failure(request, detail, stderr, "MCP call timed out", False)
                if _leaf(e, FileNotFoundError) is not None:  # no such command: cannot improve
                    detail = f"MCP {request.server} cannot be started: {_describe(e)}"
                    return self._failure(request, detail, stderr, "MCP call failed", False)
                failure = _leaf(e, ActivityProblem)
                if isinstance(failure, ActivityProblem):  # raised inside the SDK's task groups
                    return activity_failure(failure.error, retryable=failure.retryable)
                # Connecting or starting failed (or the server died): the next attempt may not.
                detail = f"MCP {request.method} on {request.server} failed: {_describe(e)}"
                return self._failure(request, detail, stderr, "MCP call failed", True)

            with dsl_failures(request.instance, otherwise):
                return await self._call(request, stderr)

    async def _call(self, request: McpRequest, stderr: IO[str]) -> Any:
        version = request.protocol_version
        if version in HANDSHAKE_PROTOCOL_VERSIONS:
            mode = "legacy"
        elif version in MODERN_PROTOCOL_VERSIONS:
            mode = version
        else:
            known = ", ".join([*HANDSHAKE_PROTOCOL_VERSIONS, *MODERN_PROTOCOL_VERSIONS])
            error = WorkflowError.of(
                "configuration",
                f"MCP protocolVersion {version!r} is not one this worker speaks ({known})",
                instance=request.instance,
            )
            raise ActivityProblem(error, retryable=False)
        scope = request.secret_scope
        parameters = reveal(request.parameters, self.secrets, scope)
        limit = _limit_seconds(request.timeout_seconds)
        with anyio.fail_after(limit):
            async with (
                self._transport(request, stderr) as transport,
                Client(
                    transport,
                    mode=mode,
                    cache=None,
                    client_info=Implementation(
                        name=request.client_name, version=request.client_version
                    ),
                ) as client,
            ):
                try:
                    result = await _send(client, request.method, parameters)
                except MCPError as e:
                    what = _subject(request.method, parameters)
                    error = WorkflowError.of(
                        "runtime",
                        redact(
                            f"MCP {what} on {request.server} failed: {e.message} "
                            f"(JSON-RPC error {e.code})",
                            self.secrets,
                        ),
                        title="MCP error",
                        instance=request.instance,
                    )
                    raise ActivityProblem(error, retryable=False) from None
        output = result.model_dump(mode="json", by_alias=True, exclude_none=True)
        if request.method == "tools/call" and output.get("isError"):
            text = " ".join(
                str(part.get("text", "")) for part in output.get("content", []) if part
            ).strip()
            error = WorkflowError.of(
                "runtime",
                redact(
                    f"MCP tool {parameters.get('name')!r} on {request.server} returned an "
                    f"error: {text or 'no detail'}",
                    self.secrets,
                ),
                title="MCP tool failed",
                instance=request.instance,
            )
            raise ActivityProblem(error, retryable=False)
        return redact_value(output, self.secrets)

    @contextlib.asynccontextmanager
    async def _transport(self, request: McpRequest, stderr: IO[str]) -> AsyncIterator[Transport]:
        """The SDK transport, revealed (secrets in the command, environment or headers)."""
        scope = request.secret_scope
        if request.command:
            environment = reveal(request.environment, self.secrets, scope)
            server = StdioServerParameters(
                command=reveal(request.command, self.secrets, scope),
                args=reveal(request.arguments, self.secrets, scope),
                env=child_environment(environment),
            )
            yield cast(Transport, stdio_client(server, errlog=cast(TextIO, stderr)))
            return
        headers = reveal(request.headers, self.secrets, scope)
        timeout = httpx2.Timeout(30.0, read=300.0)  # the SDK's defaults
        async with httpx2.AsyncClient(headers=headers, timeout=timeout) as http:
            endpoint = reveal(request.endpoint, self.secrets, scope)
            yield cast(Transport, streamable_http_client(endpoint, http_client=http))

    def _failure(
        self, request: McpRequest, detail: str, stderr: IO[str], title: str, retryable: bool
    ) -> ApplicationError:
        tail = _tail(stderr)
        if tail:
            detail += f"; the server's stderr ends: {tail}"
        error = WorkflowError.of(
            "runtime", redact(detail, self.secrets), title=title, instance=request.instance
        )
        return activity_failure(error, retryable=retryable)


async def _send(client: Client, method: str, parameters: dict[str, Any]) -> BaseModel:
    cursor = parameters.get("cursor")
    if method == "tools/call":
        return await client.call_tool(parameters["name"], parameters.get("arguments") or {})
    if method == "tools/list":
        return await client.list_tools(cursor=cursor)
    if method == "prompts/list":
        return await client.list_prompts(cursor=cursor)
    if method == "prompts/get":
        arguments = {str(k): str(v) for k, v in (parameters.get("arguments") or {}).items()}
        return await client.get_prompt(parameters["name"], arguments)
    if method == "resources/list":
        return await client.list_resources(cursor=cursor)
    if method == "resources/read":
        return await client.read_resource(parameters["uri"])
    if method == "resources/templates/list":
        return await client.list_resource_templates(cursor=cursor)
    raise MCPError(-32601, f"method {method!r} is not supported by call: mcp")


def _subject(method: str, parameters: dict[str, Any]) -> str:
    if method in ("tools/call", "prompts/get") and "name" in parameters:
        return f"{method} {parameters['name']!r}"
    if method == "resources/read" and "uri" in parameters:
        return f"{method} {parameters['uri']!r}"
    return method


def _limit_seconds(call_timeout: float | None) -> float:
    """The shorter of the call's own timeout and the activity's timeout less a second."""
    try:
        activity_limit = activity.info().start_to_close_timeout or DEFAULT_LIMIT
    except RuntimeError:  # outside an activity (a direct call in a test)
        activity_limit = DEFAULT_LIMIT
    limit = max(activity_limit.total_seconds() - 1.0, 1.0)
    return min(limit, call_timeout if call_timeout is not None else math.inf)


def _describe(error: BaseException) -> str:
    """An exception group (anyio task groups raise them) as its innermost messages."""
    if isinstance(error, BaseExceptionGroup):
        return "; ".join(_describe(e) for e in error.exceptions)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _leaf(error: BaseException, kind: type[BaseException]) -> BaseException | None:
    """The first ``kind`` inside an exception group (or the error itself)."""
    if isinstance(error, kind):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _leaf(inner, kind)
            if found is not None:
                return found
    return None


def _tail(stderr: IO[str]) -> str:
    try:
        stderr.flush()
        stderr.seek(0)
        text = stderr.read()
    except (OSError, ValueError):
        return ""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines)[-_STDERR_TAIL:]
