"""Finding the definitions that ``run: workflow`` tasks refer to.

A reference is ``namespace/name:version``. Definitions are looked up among
the YAML files next to the main one, so a folder of workflows runs as a unit
with no registry to configure.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.dsl.model import JsonObject
from workflow_runner.engine.definition import Definition, load_definition


def workflow_references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        run = value.get("run")
        if isinstance(run, dict) and isinstance(run.get("workflow"), dict):
            spec = run["workflow"]
            yield f"{spec.get('namespace', 'default')}/{spec.get('name')}:{spec.get('version', '')}"
        for item in value.values():
            yield from workflow_references(item)
    elif isinstance(value, list):
        for item in value:
            yield from workflow_references(item)


def resolve_references(main: Definition, directory: Path) -> dict[str, JsonObject]:
    """Every definition reachable through run.workflow, keyed by reference."""
    wanted = set(workflow_references(main.data["do"]))
    if not wanted:
        return {}
    available: dict[str, Definition] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        try:
            candidate = load_definition(path)
        except DefinitionError:
            continue
        available.setdefault(candidate.reference, candidate)
    found: dict[str, JsonObject] = {}
    pending = list(wanted)
    while pending:
        reference = pending.pop()
        if reference in found:
            continue
        definition = available.get(reference)
        if definition is None:
            continue  # the run fails at that task with a configuration error naming it
        found[reference] = definition.data
        pending.extend(workflow_references(definition.data["do"]))
    return found
