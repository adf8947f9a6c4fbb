"""``call``: picks the call kind's reader (``call: http`` → ``call_http``)."""

from __future__ import annotations

from collections.abc import Callable

from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks import (
    call_a2a,
    call_activity,
    call_function,
    call_grpc,
    call_http,
    call_mcp,
    call_openapi,
    call_unsupported,
)
from workflow_runner.engine.tasks.base import Task, TaskType

CALLS: dict[str, Callable[[DefinitionReader, TaskNode], Task | None]] = {
    "http": call_http.read,
    "grpc": call_grpc.read,
    "activity": call_activity.read,
    "openapi": call_openapi.read,
    "mcp": call_mcp.read,
    "asyncapi": call_unsupported.read_asyncapi,
    "a2a": call_a2a.read,
}
NOT_YET: frozenset[str] = frozenset()


def read(reader: DefinitionReader, node: TaskNode) -> Task | None:
    call = node.raw["call"]
    if call in NOT_YET:
        supported = ", ".join(f"'call: {name}'" for name in sorted(CALLS))
        reader.problem(node.at("call"), f"'call: {call}' is not supported yet; only {supported} is")
        return None
    kind = CALLS.get(call) if isinstance(call, str) else None
    if kind is None:  # a custom function: use.functions, a catalog's or a URL's
        return call_function.read(reader, node, tuple(CALLS))
    return kind(reader, node)


TYPE: TaskType = TaskType("call", frozenset({"call", "with"}), read)
