"""``call: grpc``: the task — its model, reader, and the typed request it sends.

The call itself happens in the ``call_grpc`` activity (``call_grpc_activity.py``:
the proto compiled once per worker, a unary or server-streaming call with a
deadline, status codes turned into DSL errors). Secrets stay tokens here.

Where the proto comes from: ``proto.endpoint`` is a local file or an
``http(s)`` URL, and the *worker* reads it when the task runs (a proto is an
interface description, not code: fetching it at run time is what a gRPC
client does anyway). A relative path (``file://app/greet.proto`` or
``app/greet.proto``) is made absolute against the definition's directory
when the definition is read, so it does not depend on the worker's working
directory; the file is not read then, so a definition validates on a
machine without the proto. The raw definition is rewritten the same way
(``engine/functions.anchor_documents``), because a worker reads the definition
again from the run request, where a relative path would otherwise resolve
against the worker's working directory.

``service.authentication`` is any endpoint authentication policy
(``authentication.py``: inline, ``use: name``, basic, bearer, oauth2, oidc),
resolved like ``call: http``'s; the activity sends the resulting header as the
``authorization`` metadata of the call. ``digest`` is refused when the
definition is read: it answers an HTTP challenge, which gRPC does not send.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.expressions import is_expression
from workflow_runner.dsl.model import Bindings, JsonObject
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.secrets import SecretScope
from workflow_runner.engine.tasks.authentication import (
    AuthenticationPolicy,
    describe,
    read_policy,
)
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

ACTIVITY = "call_grpc"
WITH_PROPERTIES = frozenset({"proto", "service", "method", "arguments"})
SERVICE_PROPERTIES = frozenset({"name", "host", "port", "authentication"})
# Schemes that cannot become call metadata: a digest answers an HTTP challenge.
NOT_FOR_GRPC = frozenset({"digest"})
DEFAULT_PORT = 50051


@dataclass
class GrpcRequest:
    """The activity's argument: everything evaluated, secrets still as tokens."""

    proto: str  # absolute file path or http(s) URL
    service: str  # fully qualified (package.Service), or a service name unique in the proto
    host: str
    port: int
    method: str
    arguments: JsonObject = field(default_factory=dict)
    instance: str = ""
    secret_scope: SecretScope | None = None
    # service.authentication resolved (authentication.py's wire form): secrets still tokens
    authentication: JsonObject | None = None


@dataclass(frozen=True, kw_only=True)
class CallGrpcTask(Task):
    proto: str  # resolved at read time: absolute path or URL (may hold ${ })
    # service, method, arguments as written (minus service.authentication); ${ } evaluated per run
    spec: Mapping[str, Any]
    authentication: AuthenticationPolicy | None = None

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        spec = await run.eval_value(dict(self.spec), value, args, self.pointer + "/with")
        proto = await run.eval_value(self.proto, value, args, self.pointer + "/with/proto")
        policy = None
        if self.authentication is not None:
            where = self.pointer + "/with/service/authentication"
            policy = await self.authentication.resolve(run, value, args, where)
            args["authorization"] = describe(policy)  # $authorization for output.as, export.as
        service = spec["service"]
        request = GrpcRequest(
            proto=str(proto),
            service=str(service["name"]),
            host=str(service["host"]),
            port=int(service.get("port") or DEFAULT_PORT),
            method=str(spec["method"]),
            arguments=spec.get("arguments") or {},
            instance=self.pointer,
            authentication=policy,
        )
        return await run.io.activity(
            ActivityCall(ACTIVITY, request, self.timeout, self.pointer)
        ), None


def read(reader: DefinitionReader, node: TaskNode) -> CallGrpcTask | None:
    at = node.at("with")
    spec = read_with(reader, node, "grpc", WITH_PROPERTIES, ("proto", "service", "method"))
    if spec is None:
        return None
    proto = _proto_location(reader, f"{at}/proto", spec["proto"])
    service = spec["service"]
    if not isinstance(service, dict) or "name" not in service or "host" not in service:
        reader.problem(f"{at}/service", "service needs 'name' and 'host' (and usually 'port')")
        return None
    for key in service:
        if key not in SERVICE_PROPERTIES:
            reader.problem(f"{at}/service/{key}", f"unknown grpc service property {key!r}")
    port = service.get("port")
    bad_port = not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536
    if port is not None and not is_expression(port) and bad_port:
        reader.problem(f"{at}/service/port", "port must be an integer from 1 to 65535")
    policy = None
    if "authentication" in service:
        policy = _read_authentication(
            reader, f"{at}/service/authentication", service["authentication"], node.scope
        )
        service = {k: v for k, v in service.items() if k != "authentication"}
        spec = {**spec, "service": service}  # the policy is evaluated on its own
    if not isinstance(spec["method"], str) or not spec["method"]:
        reader.problem(f"{at}/method", "method must be the name of a method of the service")
    arguments = spec.get("arguments")
    if arguments is not None and not isinstance(arguments, dict) and not is_expression(arguments):
        reader.problem(f"{at}/arguments", "arguments must be a mapping of field names to values")
    reader.expressions_in(at, spec, node.scope)
    if proto is None:
        return None
    body = {k: v for k, v in spec.items() if k != "proto"}
    return CallGrpcTask(**node.common, proto=proto, spec=body, authentication=policy)


def _proto_location(reader: DefinitionReader, pointer: str, proto: Any) -> str | None:
    """The proto's URL, or its file path made absolute against the definition's directory."""
    endpoint = proto.get("endpoint") if isinstance(proto, dict) else None
    if isinstance(endpoint, dict):
        endpoint = endpoint.get("uri")
    if not isinstance(endpoint, str) or not endpoint:
        reader.problem(pointer, "proto needs 'endpoint': the .proto file's path or URL")
        return None
    if is_expression(endpoint) or endpoint.startswith(("http://", "https://")):
        return endpoint
    if "://" in endpoint and not endpoint.startswith("file://"):
        reader.problem(
            f"{pointer}/endpoint",
            f"proto {endpoint!r}: use a file path, file://, http:// or https://",
        )
        return None
    path = Path(endpoint.removeprefix("file://"))
    if not path.is_absolute() and not reader.file.startswith("<"):
        path = Path(reader.file).resolve().parent / path
    return str(path)


def _read_authentication(
    reader: DefinitionReader, pointer: str, raw: Any, scope: tuple[str, ...]
) -> AuthenticationPolicy | None:
    policy = read_policy(reader, pointer, raw, scope)
    if policy is not None and policy.scheme in NOT_FOR_GRPC:
        reader.problem(
            pointer,
            f"{policy.scheme} authentication cannot be used for grpc (it answers an HTTP "
            "challenge, which gRPC does not send); use basic, bearer, oauth2 or oidc",
        )
        return None
    return policy


def activities(settings: Settings) -> ActivitySet:
    """The worker's ``call_grpc``: one proto cache (compiled once per content), removed at exit."""
    from workflow_runner.engine.tasks.call_grpc_activity import GrpcActivities

    grpc = GrpcActivities(
        dict(settings.secrets),
        max_response_bytes=min(settings.http_max_response_bytes, settings.max_payload_bytes),
    )
    return ActivitySet([grpc.call_grpc], grpc.close)
