"""Definitions as the engine knows them: YAML read into the typed model by the task registry.

The raw mapping still travels in the run request (it is what Temporal
serializes, and what other workers re-read); every worker turns it into the
typed model once per distinct definition (cached), so a run never walks raw
dictionaries.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from workflow_runner.dsl.dialect import stamped
from workflow_runner.dsl.loader import load_yaml, read_definition_file
from workflow_runner.dsl.model import JsonObject, WorkflowModel
from workflow_runner.dsl.reader import read_workflow
from workflow_runner.engine.functions import include_catalog_functions
from workflow_runner.engine.tasks import TASK_TYPES


@dataclass(frozen=True)
class Definition:
    """A validated workflow: its typed model, its plain data and where it came from."""

    model: WorkflowModel
    data: JsonObject
    source: str

    @property
    def name(self) -> str:
        return self.model.document.name

    @property
    def reference(self) -> str:
        return self.model.document.reference

    @property
    def dialect(self) -> str:
        """``spec`` or ``zigflow``: how it was read (dsl/dialect.py)."""
        return self.model.dialect

    def workflow(self, name: str) -> Definition:
        """Zigflow: the definition of one workflow of a document of named ``do`` blocks."""
        data = stamped(self.data, workflow=name)
        return Definition(model_of(data), data, self.source)


def parse_definition(
    text: str, source: str = "<string>", dialect: str | None = None, workflow: str | None = None
) -> Definition:
    """Raise ``DefinitionError`` (every problem, located) unless ``text`` is a valid workflow.

    ``dialect`` (``spec``/``zigflow``) overrides the one its document selects and
    ``workflow`` picks a workflow of a Zigflow document of several; both are
    stamped into the data, so a worker re-reading the run request reads the same.
    """
    data, locations = load_yaml(text, source)
    choices = {k: v for k, v in (("dialect", dialect), ("workflow", workflow)) if v}
    if choices and isinstance(data, dict):
        data = stamped(data, **choices)
    # Cataloged functions are fetched here, once, and travel with the definition.
    data = include_catalog_functions(data, locations, source)
    return Definition(read_workflow(data, locations, source, TASK_TYPES), data, source)


def load_definition(
    path: Path, dialect: str | None = None, workflow: str | None = None
) -> Definition:
    text, source = read_definition_file(path)
    return parse_definition(text, source, dialect, workflow)


def model_of(data: JsonObject) -> WorkflowModel:
    """The typed model of a definition that arrived as data (a run request)."""
    return _model_of_text(json.dumps(data, sort_keys=True, separators=(",", ":")))


@lru_cache(maxsize=256)
def _model_of_text(text: str) -> WorkflowModel:
    return read_workflow(json.loads(text), {}, "<run request>", TASK_TYPES)
