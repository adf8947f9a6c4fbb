"""The ``call_grpc`` activity: the I/O half of ``call: grpc`` (task side: ``call_grpc.py``).

Kept in its own module so that reading a definition never imports grpc.

The proto is compiled with ``grpc_tools.protoc`` (run as a child process, so
its error text can be quoted) into a descriptor set, in a private per-worker
directory (0700) keyed by the SHA-256 of the proto's text: a proto is
compiled once per worker however many calls use it (an in-memory map answers
repeat calls; a lock per key stops two concurrent first calls compiling
twice). The descriptor set is loaded into a descriptor pool of its own rather
than importing generated ``*_pb2`` modules: no generated code is executed,
and two protos that share a file name (every team has a ``service.proto``)
cannot collide in ``sys.modules``. The call goes through grpc's generic
channel API with the pool's message classes, which is what the stubs do.

Calls: unary and server-streaming (the output is then the array of
messages); client and bidirectional streaming are refused with a clear
error, a workflow task has one input. The deadline is the activity's own
timeout (the task's ``timeout``, else the engine's default) less a second, so
a slow server fails with DEADLINE_EXCEEDED and names the method instead of
the activity just timing out. The channel is plaintext unless the port is 443
(TLS with the system's CAs): the DSL has no TLS switch for gRPC.

Authentication: ``service.authentication`` arrives resolved (secrets still
tokens) and goes through the shared ``authentication_activity.auth_for`` — the
same policies, token requests and per-worker token cache as ``call: http`` —
and its ``Authorization`` header value is sent as the ``authorization``
metadata. The policy's credentials, the issued token and the header are
redacted from the output and from every error, like the worker's secrets.

Errors: a gRPC status becomes a ``communication`` error whose ``status`` is
the gRPC code's number, naming service, method and target; UNAVAILABLE,
RESOURCE_EXHAUSTED, ABORTED and DEADLINE_EXCEEDED are retried. A proto that
does not compile, or a service or method it does not declare, is a
``configuration`` error; arguments that do not fit the request message are a
``validation`` error (both not retried: they cannot improve).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.resources
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from temporalio import activity
from temporalio.exceptions import ApplicationError

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.engine.activities.errors import ActivityProblem, dsl_failures
from workflow_runner.engine.secrets import MissingSecretError, redact, redact_value, reveal
from workflow_runner.engine.tasks.authentication_activity import AuthenticationError, auth_for
from workflow_runner.engine.tasks.call_grpc import ACTIVITY, GrpcRequest

# A .proto larger than this is not an interface description.
MAX_PROTO_BYTES = 4 * 1024 * 1024
DEFAULT_DEADLINE = timedelta(minutes=10)
PROTOC_TIMEOUT_SECONDS = 60.0
TOKEN_REQUEST_TIMEOUT_SECONDS = 30.0
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    }
)


@dataclass
class _Compiled:
    pool: descriptor_pool.DescriptorPool
    services: list[str]


class GrpcActivities:
    """Holds the worker's proto cache: a private directory and the pools loaded from it."""

    def __init__(self, secrets: dict[str, str], *, max_response_bytes: int) -> None:
        self.secrets = secrets
        self.max_response_bytes = max_response_bytes
        self._dir: Path | None = None
        self._compiled: dict[str, _Compiled] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._http: httpx.AsyncClient | None = None  # token requests and discovery

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    @activity.defn(name=ACTIVITY)
    async def call_grpc(self, request: GrpcRequest) -> Any:
        where = f"{request.service}/{request.method} at {request.host}:{request.port}"

        def otherwise(e: Exception) -> ApplicationError:
            # Whatever failed may quote revealed arguments: only a redacted message leaves.
            message = redact(f"gRPC {where}: {type(e).__name__}: {e}", self.secrets)
            return ApplicationError(message, type=type(e).__name__)

        with dsl_failures(request.instance, otherwise):
            return await self._call(request, where)

    async def _call(self, request: GrpcRequest, where: str) -> Any:
        compiled = await self._load(request)
        service = _find_service(compiled, request)
        method = service.methods_by_name.get(request.method)
        if method is None:
            known = ", ".join(sorted(service.methods_by_name)) or "none"
            raise _configuration(
                request,
                f"service {service.full_name} in {request.proto} has no method "
                f"{request.method!r} (its methods: {known})",
            )
        if method.client_streaming:
            raise _configuration(
                request,
                f"{service.full_name}/{method.name} is a client-streaming method; "
                "only unary and server-streaming calls are supported",
            )
        metadata, secrets = await self._authorization(request)
        try:
            return await self._invoke(request, where, service, method, metadata, secrets)
        except (ActivityProblem, ApplicationError, AuthenticationError, MissingSecretError):
            raise
        except Exception as e:  # may quote the request: redact the credentials as well
            raise RuntimeError(redact(f"{type(e).__name__}: {e}", secrets)) from None

    async def _authorization(
        self, request: GrpcRequest
    ) -> tuple[tuple[tuple[str, str], ...] | None, dict[str, str]]:
        """The call's metadata and what to redact: the worker's secrets plus the policy's."""
        if request.authentication is None:
            return None, self.secrets
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=TOKEN_REQUEST_TIMEOUT_SECONDS)
        authorization = await auth_for(
            request.authentication,
            self._http,
            self.secrets,
            request.secret_scope,
            instance=request.instance,
        )
        if authorization.header is None:  # digest: refused when read, but a secret may hold one
            raise _configuration(
                request,
                f"{authorization.scheme} authentication cannot be sent as gRPC metadata; "
                "use basic, bearer, oauth2 or oidc",
            )
        secrets = {**self.secrets, **authorization.sensitive}
        return (("authorization", authorization.header),), secrets

    async def _invoke(
        self,
        request: GrpcRequest,
        where: str,
        service: ServiceDescriptor,
        method: MethodDescriptor,
        metadata: tuple[tuple[str, str], ...] | None,
        secrets: dict[str, str],
    ) -> Any:
        arguments = reveal(request.arguments, self.secrets, request.secret_scope)
        input_class = message_factory.GetMessageClass(method.input_type)
        output_class = message_factory.GetMessageClass(method.output_type)
        try:
            message = json_format.ParseDict(arguments, input_class())
        except json_format.ParseError as e:
            error = WorkflowError.of(
                "validation",
                redact(
                    f"gRPC {where}: arguments do not fit {method.input_type.full_name}: {e}",
                    secrets,
                ),
                title="Invalid gRPC arguments",
                instance=request.instance,
            )
            raise ActivityProblem(error, retryable=False) from None
        path = f"/{service.full_name}/{method.name}"
        deadline = _deadline_seconds()
        options = [("grpc.max_receive_message_length", self.max_response_bytes)]
        target = f"{request.host}:{request.port}"
        if request.port == 443:
            channel = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options)
        else:
            channel = grpc.aio.insecure_channel(target, options)
        try:
            async with channel:
                if method.server_streaming:
                    stream = channel.unary_stream(
                        path,
                        request_serializer=_serialize,
                        response_deserializer=output_class.FromString,
                    )(message, timeout=deadline, metadata=metadata)
                    replies, total = [], 0
                    async for reply in stream:
                        total += reply.ByteSize()
                        if total > self.max_response_bytes:
                            stream.cancel()
                            raise _too_large(request, where, self.max_response_bytes)
                        replies.append(_to_dict(reply))
                    return redact_value(replies, secrets)
                reply = await channel.unary_unary(
                    path,
                    request_serializer=_serialize,
                    response_deserializer=output_class.FromString,
                )(message, timeout=deadline, metadata=metadata)
                return redact_value(_to_dict(reply), secrets)
        except grpc.aio.AioRpcError as e:
            code = e.code()
            details = redact(e.details() or "", secrets)
            error = WorkflowError(
                type="https://serverlessworkflow.io/spec/1.0.0/errors/communication",
                status=code.value[0],
                title=f"gRPC {code.name}",
                detail=f"gRPC {where} returned {code.name}: {details}",
                instance=request.instance,
            )
            raise ActivityProblem(error, retryable=code in RETRYABLE) from None

    # -- the proto ---------------------------------------------------------------

    async def _load(self, request: GrpcRequest) -> _Compiled:
        text = await self._proto_text(request)
        key = hashlib.sha256(text).hexdigest()
        if key in self._compiled:
            return self._compiled[key]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._compiled:
                self._compiled[key] = await self._compile(request, text, key)
        return self._compiled[key]

    async def _proto_text(self, request: GrpcRequest) -> bytes:
        location = request.proto
        try:
            if location.startswith(("http://", "https://")):
                async with httpx.AsyncClient(timeout=30.0) as client:
                    response = await client.get(location)
                    response.raise_for_status()
                    data = response.content
            else:
                data = await asyncio.to_thread(_read_capped, Path(location))
        except (OSError, httpx.HTTPError) as e:
            raise _configuration(request, f"proto {location} cannot be read: {e}") from None
        if len(data) > MAX_PROTO_BYTES:
            raise _configuration(
                request, f"proto {location} is larger than {MAX_PROTO_BYTES} bytes"
            )
        return data

    async def _compile(self, request: GrpcRequest, text: bytes, key: str) -> _Compiled:
        """protoc → a descriptor set under ``<cache>/<sha256>/``, loaded into its own pool."""
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="workflow-runner-grpc-"))  # 0700
        out = self._dir / key
        descriptor_set = out / "descriptors.pb"
        if not descriptor_set.exists():
            source = out / "src"
            source.mkdir(parents=True, exist_ok=True, mode=0o700)
            name = _proto_file_name(request.proto)
            (source / name).write_bytes(text)
            includes = [f"-I{source}"]
            if not request.proto.startswith(("http://", "https://")):
                includes.append(f"-I{Path(request.proto).parent}")  # for its own imports
            includes.append(f"-I{importlib.resources.files('grpc_tools') / '_proto'}")
            partial = out / "descriptors.pb.partial"
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                *includes,
                "--include_imports",
                f"--descriptor_set_out={partial}",
                name,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=source,
            )
            try:
                _, err = await asyncio.wait_for(proc.communicate(), PROTOC_TIMEOUT_SECONDS)
            except TimeoutError:
                proc.kill()
                await proc.wait()
                raise _configuration(request, f"compiling {request.proto} timed out") from None
            if proc.returncode != 0:
                reason = err.decode(errors="replace").strip().replace(str(source) + os.sep, "")
                raise _configuration(request, f"proto {request.proto} does not compile: {reason}")
            os.replace(partial, descriptor_set)  # never a half-written set under the real name
        files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
        pool = descriptor_pool.DescriptorPool()
        services: list[str] = []
        for file in files.file:
            pool.Add(file)
            services += [
                f"{file.package}.{s.name}" if file.package else s.name for s in file.service
            ]
        return _Compiled(pool, services)


def _find_service(compiled: _Compiled, request: GrpcRequest) -> ServiceDescriptor:
    """By full name (``package.Service``); a bare name is accepted when it is unambiguous."""
    name = request.service
    if name not in compiled.services:
        matches = [s for s in compiled.services if s.rsplit(".", 1)[-1] == name]
        if len(matches) != 1:
            known = ", ".join(sorted(compiled.services)) or "none"
            raise _configuration(
                request, f"proto {request.proto} declares no service {name!r} (services: {known})"
            )
        name = matches[0]
    return compiled.pool.FindServiceByName(name)


def _to_dict(message: Message) -> dict[str, Any]:
    # Field names as written in the proto, and every field present (a zero count is 0, not absent).
    return json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _deadline_seconds() -> float:
    """The activity's timeout less a second, so the call fails before the activity times out."""
    limit = activity.info().start_to_close_timeout or DEFAULT_DEADLINE
    return max(limit.total_seconds() - 1.0, 1.0)


def _read_capped(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(MAX_PROTO_BYTES + 1)


def _proto_file_name(location: str) -> str:
    name = location.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    return name if name.endswith(".proto") and name != ".proto" else "service.proto"


def _configuration(request: GrpcRequest, detail: str) -> ActivityProblem:
    error = WorkflowError.of(
        "configuration", detail, title="gRPC call misconfigured", instance=request.instance
    )
    return ActivityProblem(error, retryable=False)


def _too_large(request: GrpcRequest, where: str, limit: int) -> ActivityProblem:
    error = WorkflowError.of(
        "communication",
        f"gRPC {where}: the streamed replies exceed {limit} bytes "
        "(HTTP_MAX_RESPONSE_BYTES / CLAIMCHECK_MAX_PAYLOAD_BYTES); request less",
        title="gRPC response too large",
        instance=request.instance,
    )
    return ActivityProblem(error, retryable=False)


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()
