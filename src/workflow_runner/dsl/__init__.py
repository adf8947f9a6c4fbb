"""Serverless Workflow DSL 1.0: YAML with positions, the definition frame, jq, typed errors.

Task types are not known here: each lives in ``engine/tasks`` and reads its
own properties through :class:`~workflow_runner.dsl.reader.DefinitionReader`.
Turning a file into a typed definition is ``engine.definition.load_definition``.
"""

from __future__ import annotations

from workflow_runner.dsl.errors import DefinitionError, Problem, WorkflowError

__all__ = ["DefinitionError", "Problem", "WorkflowError"]
