"""What each task type may contain: the catalogue the validator and interpreter share.

Anything not listed is an error naming it: a property this runner ignored
silently would be a workflow that does something other than what it says.
"""

from __future__ import annotations

from typing import Any

COMMON = frozenset({"if", "input", "output", "export", "timeout", "then", "metadata"})

# task type → the properties of its own (beside COMMON)
TASK_PROPERTIES: dict[str, frozenset[str]] = {
    "call": frozenset({"call", "with"}),
    "do": frozenset({"do"}),
    "set": frozenset({"set"}),
    "switch": frozenset({"switch"}),
    "for": frozenset({"for", "while", "do"}),
    "fork": frozenset({"fork"}),
    "try": frozenset({"try", "catch"}),
    "raise": frozenset({"raise"}),
    "wait": frozenset({"wait"}),
    "run": frozenset({"run"}),
    "listen": frozenset({"listen"}),
    "emit": frozenset({"emit"}),
}
# Checked in this order: a `for` task also has `do`.
TYPE_ORDER = (
    "for",
    "try",
    "call",
    "set",
    "switch",
    "fork",
    "raise",
    "wait",
    "run",
    "listen",
    "emit",
    "do",
)

SUPPORTED_CALLS = frozenset({"http"})
NOT_YET_CALLS = frozenset({"grpc", "openapi", "asyncapi", "a2a", "mcp"})
RUN_KINDS = ("shell", "script", "workflow", "container")
FLOW_DIRECTIVES = frozenset({"continue", "exit", "end"})
HTTP_WITH = frozenset({"method", "endpoint", "headers", "body", "query", "output", "redirect"})
SCRIPT_LANGUAGES = frozenset({"python"})


def task_type(task: dict[str, Any]) -> str | None:
    for name in TYPE_ORDER:
        if name in task:
            return name
    return None


def task_entries(do_list: Any) -> list[tuple[str, dict[str, Any]]]:
    """``[{name: task}, ...]`` as pairs; the shape is validated before this is used."""
    out = []
    for item in do_list:
        ((name, task),) = item.items()
        out.append((name, task))
    return out
