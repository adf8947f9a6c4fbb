"""Serverless Workflow DSL 1.0: loading, validation, runtime expressions, typed errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workflow_runner.dsl.errors import DefinitionError, Problem, WorkflowError
from workflow_runner.dsl.loader import load_yaml, read_definition_file
from workflow_runner.dsl.validate import validate


@dataclass(frozen=True)
class Definition:
    """A validated workflow: its plain data (what the interpreter walks) and where it came from."""

    data: dict[str, Any]
    source: str

    @property
    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.data["document"]
        return doc

    @property
    def reference(self) -> str:
        """namespace/name:version, how run.workflow refers to it."""
        d = self.document
        return f"{d['namespace']}/{d['name']}:{d['version']}"


def parse_definition(text: str, source: str = "<string>") -> Definition:
    data, locations = load_yaml(text, source)
    validate(data, locations, source)
    return Definition(data, source)


def load_definition(path: Path) -> Definition:
    text, source = read_definition_file(path)
    return parse_definition(text, source)


__all__ = [
    "Definition",
    "DefinitionError",
    "Problem",
    "WorkflowError",
    "load_definition",
    "parse_definition",
]
