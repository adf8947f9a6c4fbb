"""Local stand-ins for the outside services some Zigflow examples need.

- The activity workers of ``examples/activity-call/worker`` and
  ``examples/agentic-workflow/activities`` (Go in Zigflow): Python activities
  with the same names, arguments and result shapes, on the same task queues.
  The agentic planner and lookup answer as Zigflow's test makes its Ollama
  mock answer (``e2e_test.go``: plan a lookup first, then the final answer;
  the lookup's source is ``ollama:mock-model``), so no model is needed.
- The gRPC ``providers.v1.BasicService`` of ``examples/external-calls/grpc``:
  ``Command1`` answers as the Go service does (``This has executed <input> and
  the connection is root:password@localhost:3306``).
"""

from __future__ import annotations

import contextlib
import importlib
import random
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

PROTO = Path(__file__).parent / "examples/external-calls/grpc/basic/proto/basic/v1/basic.proto"

MOCK_MODEL = "mock-model"
LOOKUP_ANSWER = "Paris is the capital of France."
FINAL_ANSWER = "The capital of France is Paris, which has five letters."


@activity.defn(name="activitycall.FetchProfile")
async def fetch_profile(user_id: str, request_id: str) -> dict[str, Any]:
    return {
        "userId": user_id,
        "requestId": request_id,
        "tier": random.choice(["gold", "silver", "bronze"]),
        "visits": random.randint(1, 50),
        "metadata": {"lastLogin": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
    }


@activity.defn(name="activitycall.GenerateWelcome")
async def generate_welcome(profile: dict[str, Any]) -> dict[str, str]:
    message = (
        f"Welcome back {profile['userId']}! Your tier is {profile['tier']} and you've "
        f"visited {int(profile.get('visits') or 0)} times."
    )
    return {"message": message, "tier": profile["tier"]}


@activity.defn(name="agent.PlanNextStep")
async def plan_next_step(request: dict[str, Any]) -> dict[str, Any]:
    if not request.get("observations"):
        return {"tool": "lookup", "arguments": {"query": "capital of France"}}
    return {"tool": "final_answer", "arguments": {"answer": FINAL_ANSWER}}


@activity.defn(name="agent.Lookup")
async def lookup(request: dict[str, Any]) -> dict[str, str]:
    return {"answer": LOOKUP_ANSWER, "source": f"ollama:{MOCK_MODEL}"}


@activity.defn(name="agent.SummarisePartialResult")
async def summarise_partial_result(request: dict[str, Any]) -> dict[str, str]:
    return {"answer": f"Partial answer from {len(request.get('observations') or [])} observations"}


ACTIVITY_WORKERS: dict[str, list[Callable[..., Any]]] = {
    "activity-call-worker": [fetch_profile, generate_welcome],
    "agent-worker": [plan_next_step, lookup, summarise_partial_result],
}


@contextlib.asynccontextmanager
async def activity_worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    """The example's own activity worker, on its task queue (plain JSON, like the Go SDK's)."""
    plain = await Client.connect(
        client.service_client.config.target_host, namespace=client.namespace
    )
    worker = Worker(plain, task_queue=task_queue, activities=ACTIVITY_WORKERS[task_queue])
    async with worker:
        yield worker


@contextlib.contextmanager
def grpc_basic_service(directory: Path) -> Iterator[int]:
    """``providers.v1.BasicService`` on 127.0.0.1 (kernel-picked port); yields the port."""
    from concurrent import futures

    import grpc
    from grpc_tools import protoc

    out = directory / "grpc_out"
    out.mkdir(exist_ok=True)
    include = importlib.resources.files("grpc_tools") / "_proto"  # type: ignore[attr-defined]
    code = protoc.main(
        ["protoc", f"-I{PROTO.parent}", f"-I{include}", f"--python_out={out}",
         f"--grpc_python_out={out}", str(PROTO)]
    )  # fmt: skip
    assert code == 0, "protoc failed on basic.proto"
    sys.path.insert(0, str(out))
    try:
        messages = importlib.import_module("basic_pb2")
        services = importlib.import_module("basic_pb2_grpc")
    finally:
        sys.path.remove(str(out))

    class Basic(services.BasicServiceServicer):  # type: ignore[misc, name-defined]
        def Command1(self, request: Any, context: Any) -> Any:
            text = f"This has executed {request.input} and the connection is "
            return messages.Command1Response(output=text + "root:password@localhost:3306")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    services.add_BasicServiceServicer_to_server(Basic(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield port
    finally:
        server.stop(grace=None)
        for name in ("basic_pb2", "basic_pb2_grpc"):
            sys.modules.pop(name, None)


def new_id() -> str:
    return str(uuid.uuid4())
