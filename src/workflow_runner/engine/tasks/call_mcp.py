"""``call: mcp``: the task — its model, reader, and the typed request it sends.

The call happens in the ``call_mcp`` activity (``call_mcp_activity.py``: the
``mcp`` SDK's client over stdio or Streamable HTTP, one connection per call,
bounded by the call's ``timeout`` and the activity's). Secrets stay tokens
here: ``${ $secrets.NAME }`` in headers, parameters or a stdio server's
environment is revealed only in the activity.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.model import Bindings, JsonObject
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.secrets import SecretScope
from workflow_runner.engine.tasks.base import (
    ActivityCall,
    ActivitySet,
    Execution,
    Outcome,
    Task,
    read_with,
)

if TYPE_CHECKING:  # the worker's settings; reading a definition needs none
    from workflow_runner.config import Settings

ACTIVITY = "call_mcp"
WITH_PROPERTIES = frozenset(
    {"protocolVersion", "method", "parameters", "timeout", "transport", "client"}
)
METHODS = (
    "tools/list",
    "tools/call",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/read",
    "resources/templates/list",
)
# What each method needs in ``parameters`` (checked when they are written out).
REQUIRED_PARAMETERS = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}
DEFAULT_PROTOCOL_VERSION = "2025-06-18"  # the spec's default
DEFAULT_CLIENT = ("workflow-runner", "1.0")


@dataclass
class McpRequest:
    """The activity's argument: everything evaluated, secrets still as tokens."""

    method: str
    parameters: JsonObject = field(default_factory=dict)
    protocol_version: str = DEFAULT_PROTOCOL_VERSION
    # stdio transport
    command: str = ""
    arguments: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    # http transport
    endpoint: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    client_name: str = DEFAULT_CLIENT[0]
    client_version: str = DEFAULT_CLIENT[1]
    timeout_seconds: float | None = None
    instance: str = ""
    secret_scope: SecretScope | None = None

    @property
    def server(self) -> str:
        """How errors name the server: its command line or its endpoint."""
        if self.command:
            return "stdio server '" + " ".join([self.command, *self.arguments]) + "'"
        return f"server {self.endpoint}"


@dataclass(frozen=True, kw_only=True)
class CallMcpTask(Task):
    spec: Mapping[str, Any]  # call.with as written; ${ } evaluated per run
    call_timeout: float | None  # with.timeout, in seconds

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        spec = await run.eval_value(dict(self.spec), value, args, self.pointer + "/with")
        transport = spec["transport"]
        stdio, http = transport.get("stdio") or {}, transport.get("http") or {}
        endpoint = http.get("endpoint", "")
        client = spec.get("client") or {}
        request = McpRequest(
            method=str(spec["method"]),
            parameters=spec.get("parameters") or {},
            protocol_version=str(spec.get("protocolVersion", DEFAULT_PROTOCOL_VERSION)),
            command=str(stdio.get("command", "")),
            arguments=[str(a) for a in stdio.get("arguments") or []],
            environment={str(k): str(v) for k, v in (stdio.get("environment") or {}).items()},
            endpoint=str(endpoint["uri"] if isinstance(endpoint, dict) else endpoint),
            headers={str(k): str(v) for k, v in (http.get("headers") or {}).items()},
            client_name=str(client.get("name", DEFAULT_CLIENT[0])),
            client_version=str(client.get("version", DEFAULT_CLIENT[1])),
            timeout_seconds=self.call_timeout,
            instance=self.pointer,
        )
        return await run.io.activity(
            ActivityCall(ACTIVITY, request, self.timeout, self.pointer)
        ), None


def read(reader: DefinitionReader, node: TaskNode) -> CallMcpTask | None:
    at = node.at("with")
    spec = read_with(reader, node, "mcp", WITH_PROPERTIES)
    if spec is None:
        return None
    method = spec.get("method")
    if method not in METHODS:
        reader.problem(f"{at}/method", f"method must be one of {', '.join(METHODS)}")
    parameters = spec.get("parameters")
    needed = REQUIRED_PARAMETERS.get(method) if isinstance(method, str) else None
    if needed is not None and (parameters is None or isinstance(parameters, dict)):
        if needed not in (parameters or {}):
            reader.problem(f"{at}/parameters", f"{method} needs parameters.{needed}")
    elif parameters is not None and not isinstance(parameters, dict | str):
        reader.problem(f"{at}/parameters", "parameters must be a mapping or an expression")
    _check_transport(reader, f"{at}/transport", spec.get("transport"))
    client = spec.get("client")
    if client is not None and (not isinstance(client, dict) or "name" not in client):
        reader.problem(f"{at}/client", "client needs 'name' and 'version'")
    version = spec.get("protocolVersion", DEFAULT_PROTOCOL_VERSION)
    if not isinstance(version, str):
        reader.problem(
            f"{at}/protocolVersion", "protocolVersion must be a string such as 2025-06-18"
        )
    call_timeout = None
    if "timeout" in spec:
        limit = reader.duration(f"{at}/timeout", spec["timeout"])
        call_timeout = limit.total_seconds() if limit is not None else None
    reader.expressions_in(at, {k: v for k, v in spec.items() if k != "timeout"}, node.scope)
    body = {k: v for k, v in spec.items() if k != "timeout"}
    return CallMcpTask(**node.common, spec=body, call_timeout=call_timeout)


def _check_transport(reader: DefinitionReader, pointer: str, transport: Any) -> None:
    if not isinstance(transport, dict) or ("stdio" in transport) == ("http" in transport):
        reader.problem(pointer, "transport needs exactly one of 'stdio' or 'http'")
        return
    for key in transport:
        if key not in ("stdio", "http", "options"):
            reader.problem(f"{pointer}/{key}", f"unknown mcp transport property {key!r}")
    stdio, http = transport.get("stdio"), transport.get("http")
    if stdio is not None:
        if not isinstance(stdio, dict) or not stdio.get("command"):
            reader.problem(f"{pointer}/stdio", "stdio needs 'command' (and optional arguments)")
            return
        for key in stdio:
            if key not in ("command", "arguments", "environment"):
                reader.problem(f"{pointer}/stdio/{key}", f"unknown stdio property {key!r}")
        arguments = stdio.get("arguments")
        if arguments is not None and not isinstance(arguments, list):
            reader.problem(f"{pointer}/stdio/arguments", "arguments must be a list of strings")
        environment = stdio.get("environment")
        if environment is not None and not isinstance(environment, dict):
            reader.problem(f"{pointer}/stdio/environment", "environment must be a mapping")
    if http is not None:
        if not isinstance(http, dict) or "endpoint" not in http:
            reader.problem(f"{pointer}/http", "http needs 'endpoint' (the server's URL)")
            return
        for key in http:
            if key not in ("endpoint", "headers"):
                reader.problem(f"{pointer}/http/{key}", f"unknown http transport property {key!r}")
        endpoint = http["endpoint"]
        if isinstance(endpoint, dict) and "authentication" in endpoint:
            reader.problem(
                f"{pointer}/http/endpoint/authentication",
                "endpoint authentication is not supported yet for mcp; "
                "pass an authorization header with ${ $secrets.NAME }",
            )


def activities(settings: Settings) -> ActivitySet:
    """The worker's ``call_mcp``: a connection per call, nothing held between calls."""
    from workflow_runner.engine.tasks.call_mcp_activity import McpActivities

    mcp = McpActivities(dict(settings.secrets))
    return ActivitySet([mcp.call_mcp])
