"""A real gRPC server on 127.0.0.1 for ``call: grpc`` tests.

Its stubs are generated from ``greeter.proto`` with ``grpc_tools.protoc`` when
the server starts (into a temporary directory, never committed), so the test
also checks that the runner speaks to an ordinary generated-stub server.
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import grpc
from grpc_tools import protoc

PROTO = Path(__file__).with_name("greeter.proto")


def generate_stubs(out: Path) -> tuple[ModuleType, ModuleType]:
    include = Path(protoc.__file__).parent / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"-I{PROTO.parent}",
            f"-I{include}",
            f"--python_out={out}",
            f"--grpc_python_out={out}",
            PROTO.name,
        ]
    )
    assert code == 0, f"protoc failed with {code}"
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("greeter_pb2"), importlib.import_module("greeter_pb2_grpc")
    finally:
        sys.path.remove(str(out))


@dataclass
class GreeterServer:
    port: int
    # The authorization metadata each call arrived with, in order.
    authorizations: list[str | None] = field(default_factory=list)
    # Whoami's check: the authorization metadata -> who it is, or None to refuse
    # (UNAUTHENTICATED). Unset, Whoami refuses every call.
    accept: Callable[[str | None], str | None] | None = None


@contextmanager
def serving() -> Iterator[GreeterServer]:
    with tempfile.TemporaryDirectory() as tmp:
        pb2, pb2_grpc = generate_stubs(Path(tmp))
        state = GreeterServer(0)
        stop = threading.Event()

        class Greeter(pb2_grpc.GreeterServicer):  # type: ignore[name-defined,misc]
            def _note(self, context: Any) -> None:
                metadata = dict(context.invocation_metadata())
                state.authorizations.append(metadata.get("authorization"))

            def SayHello(self, request: Any, context: Any) -> Any:
                self._note(context)
                reply = pb2.HelloReply(
                    message=f"Hello, {request.name}!" * max(request.times, 1),
                    name_length=len(request.name),
                    shouted=request.name.isupper(),
                )
                reply.at.FromSeconds(1_700_000_000)
                return reply

            def Fail(self, request: Any, context: Any) -> Any:
                self._note(context)
                context.abort(grpc.StatusCode.NOT_FOUND, f"no such thing: {request.reason}")

            def CountTo(self, request: Any, context: Any) -> Iterator[Any]:
                self._note(context)
                for i in range(request.times):
                    yield pb2.HelloReply(message=f"{request.name} {i + 1}")

            def Sleep(self, request: Any, context: Any) -> Any:
                self._note(context)
                stop.wait(request.times)
                return pb2.HelloReply(message="slept")

            def Whoami(self, request: Any, context: Any) -> Any:
                self._note(context)
                authorization = state.authorizations[-1]
                who = state.accept(authorization) if state.accept is not None else None
                if who is None:
                    context.abort(grpc.StatusCode.UNAUTHENTICATED, "authorization refused")
                return pb2.HelloReply(message=f"{who}|{authorization}")

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        pb2_grpc.add_GreeterServicer_to_server(Greeter(), server)
        state.port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            yield state
        finally:
            stop.set()
            server.stop(grace=None).wait(5)
            time.sleep(0)
