"""Custom functions: ``call: <name>`` runs the task that ``use.functions.<name>`` defines.

A function is a task (usually a ``call`` or a ``run``) written once and
called by name; ``with`` holds its arguments, which become the function's
input (the spec's inline example: ``call: getPetById`` with ``petId: 69``
fills the ``{petId}`` of the function's endpoint). Without ``with`` the
function gets the calling task's input. The function runs as a task of its
own (its ``input``, ``output``, ``export`` and ``timeout`` apply, its progress
is reported under ``/use/functions/<name>``); its output is the calling
task's raw output, and a ``then`` inside a function is ignored (the caller's
``then`` decides where the flow goes).

Cataloged functions (``call: log:1.0.0@global`` with ``use.catalogs.global``,
or ``call: https://.../function.yaml``) are fetched when the definition is
loaded, by ``engine/functions.py``, and travel in the definition under their
reference; reading them here is a lookup like any other function, so a
worker never fetches a definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from workflow_runner.dsl.expressions import is_expression
from workflow_runner.dsl.model import Bindings
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Execution, Outcome, Task, checked

# ``{name}:{version}@{catalog}`` (dsl.md, "Using Cataloged Functions").
CATALOGED = re.compile(r"^(?P<name>[^:@/\s]+):(?P<version>[^@/\s]+)@(?P<catalog>[^@/\s]+)$")
URL_PREFIXES = ("http://", "https://", "file://")
# The catalog every workflow may use without declaring it (dsl.md, "Default Catalog").
DEFAULT_CATALOG = "default"


def cataloged(call: str) -> tuple[str, str, str] | None:
    """(name, version, catalog) of a ``name:version@catalog`` reference."""
    match = CATALOGED.match(call)
    return (match["name"], match["version"], match["catalog"]) if match else None


def is_function_reference(call: Any) -> bool:
    """A call that names a function outside the definition (a catalog's, or a URL)."""
    return isinstance(call, str) and (call.startswith(URL_PREFIXES) or cataloged(call) is not None)


@dataclass(frozen=True, kw_only=True)
class CallFunctionTask(Task):
    function: Task  # the function's task, read once and shared by every call
    arguments: Any  # ``with`` as written (may hold ${ }), or None: the task's input

    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        function_input = value
        if self.arguments is not None:
            where = self.pointer + "/with"
            function_input = await run.eval_value(self.arguments, value, args, where)
        # A function sees none of the caller's loop or error variables: it is
        # defined at the top level, and its expressions were checked there.
        output, _ = await run.run_task(self.function, function_input, {})
        return output, None


def read(reader: DefinitionReader, node: TaskNode, builtins: tuple[str, ...]) -> Task | None:
    """``call: <function>``; ``builtins`` are the call kinds, named when the function is unknown."""
    call = node.raw["call"]
    at = node.at("call")
    if not isinstance(call, str) or not call:
        reader.problem(at, "call must be 'http', 'openapi'... or the name of a function")
        return None
    arguments = node.raw.get("with")
    if arguments is not None and not isinstance(arguments, dict) and not is_expression(arguments):
        reader.problem(node.at("with"), "with must be a mapping of the function's arguments")
        return None
    model = reader.function(call)
    if model is None:
        if call in reader.functions_reading:
            cycle = [*reader.functions_reading[reader.functions_reading.index(call) :], call]
            reader.problem(
                at, f"function {call!r} calls itself ({' -> '.join(cycle)}); it would never end"
            )
        elif call not in reader.functions:
            reader.problem(at, unknown_function(reader, call, builtins))
        # else: the function is invalid, and its problems are reported where it is defined
        return None
    if arguments is not None:
        reader.expressions_in(node.at("with"), arguments, node.scope)
    return CallFunctionTask(**node.common, function=checked(model), arguments=arguments)


def unknown_function(reader: DefinitionReader, call: str, builtins: tuple[str, ...]) -> str:
    """Why ``call`` names nothing, and what it could name."""
    reference = cataloged(call)
    if reference is not None:
        name, version, catalog = reference
        if catalog not in reader.catalogs and catalog != DEFAULT_CATALOG:
            known = ", ".join(sorted(reader.catalogs)) or "none"
            return (
                f"catalog {catalog!r} is not defined in use.catalogs (defined: {known}; "
                f"'{DEFAULT_CATALOG}' is the definition's own directory)"
            )
        return (
            f"function {name} {version} of catalog {catalog!r} was not loaded: cataloged "
            "functions are fetched when workflow-runner loads the definition (validate, run, "
            "worker --definitions), not from a run request"
        )
    if call.startswith(URL_PREFIXES):
        return (
            f"function {call} was not loaded: functions at a URL are fetched when "
            "workflow-runner loads the definition, not from a run request"
        )
    defined = ", ".join(sorted(reader.functions)) or "none"
    return (
        f"unknown function {call!r}: not a call kind ({', '.join(sorted(builtins))}) nor "
        f"a function of use.functions (defined: {defined}); a cataloged function is "
        "called as name:version@catalog"
    )
