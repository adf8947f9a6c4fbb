"""The typed definition: what the reader produces and the interpreter walks.

Every default is applied here, once, and every name a definition refers to
(``use.timeouts``, ``use.retries``, ``use.errors``) is resolved while reading,
so the interpreter never looks a key up in a raw mapping. Task models are
frozen dataclasses: a definition is shared by every run a worker executes.

This module knows the parts common to every task (``if``, ``input``,
``output``, ``export``, ``timeout``, ``then``); each task type subclasses
:class:`TaskModel` in its own module under ``engine/tasks``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from workflow_runner.dsl.metadata import ANNOTATIONS
from workflow_runner.dsl.schedule import Schedule
from workflow_runner.dsl.schemas import DataSchema

if TYPE_CHECKING:  # dsl/extensions.py holds task lists of this module's types
    from workflow_runner.dsl.extensions import Extension

# A JSON object of run-time data (a request's headers, a CloudEvent): data, never
# the definition, which is the typed model below.
JsonObject = dict[str, Any]
# The ``$``-variables an expression sees (``$input``, ``$item``, ``$error``...).
Bindings = dict[str, Any]

# What a task hands back to its list: ``None`` = next task, ``"exit"`` = leave
# the list, ``"end"`` = end the run, any other string = jump to that task.
Flow = str | None


@dataclass(frozen=True, kw_only=True)
class TaskModel:
    """What every task has, beside its own properties (validated, defaults applied)."""

    name: str
    pointer: str
    definition: Mapping[str, Any]  # as written: the value of ``$task.definition``
    condition: Any = None  # ``if``: a jq expression, or None
    input_from: Any = None
    output_as: Any = None
    export_as: Any = None
    # Checked where the spec says: raw input (after ``if``, before ``input.from``),
    # output after ``output.as``, the new context after ``export.as``.
    input_schema: DataSchema | None = None
    output_schema: DataSchema | None = None
    export_schema: DataSchema | None = None
    timeout: timedelta | None = None
    then: str | None = None
    # Nothing around the task's own run: no if, input, output, export, timeout, then or
    # metadata annotations. The interpreter runs such a task (a loop's body, usually)
    # without the steps those need (engine/interpreter.py, ``Interpreter.run_list``).
    bare: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        metadata = self.definition.get("metadata")
        annotated = isinstance(metadata, Mapping) and not metadata.keys().isdisjoint(ANNOTATIONS)
        around = (
            self.condition,
            self.input_from,
            self.input_schema,
            self.output_as,
            self.output_schema,
            self.export_as,
            self.export_schema,
            self.timeout,
            self.then,
        )
        object.__setattr__(self, "bare", not annotated and all(p is None for p in around))


@dataclass(frozen=True)
class TaskList:
    """A ``do`` list: its tasks in order, and where ``then: name`` jumps to."""

    pointer: str
    tasks: tuple[TaskModel, ...]

    def index_of(self, name: str) -> int:
        for index, task in enumerate(self.tasks):
            if task.name == name:
                return index
        raise KeyError(name)  # the reader checked every ``then`` target


@dataclass(frozen=True)
class RetryPolicy:
    """``catch.retry``, inline or from ``use.retries``, with the spec's defaults applied."""

    delay: timedelta = timedelta(seconds=1)
    backoff: str = "constant"  # constant | linear | exponential
    max_attempts: int | None = None  # limit.attempt.count
    max_duration: timedelta | None = None  # limit.duration
    when: Any = None
    except_when: Any = None


@dataclass(frozen=True)
class Document:
    dsl: str
    namespace: str
    name: str
    version: str
    raw: Mapping[str, Any]

    @property
    def reference(self) -> str:
        """``namespace/name:version``, how ``run: workflow`` refers to a definition."""
        return f"{self.namespace}/{self.name}:{self.version}"


@dataclass(frozen=True)
class WorkflowModel:
    """A whole validated definition."""

    document: Document
    do: TaskList
    secrets: tuple[str, ...] = ()
    input_from: Any = None
    output_as: Any = None
    input_schema: DataSchema | None = None  # the raw input, before input.from
    output_schema: DataSchema | None = None  # the output, after output.as
    timeout: timedelta | None = None
    errors: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # How it was read (dsl/dialect.py): "spec" or "zigflow"; engine/dialects.py
    # turns it into the run-time data model.
    dialect: str = "spec"
    # Zigflow: the workflows a document of named do blocks defines (this one runs
    # ``do``, the chosen block); the top-level timeout is the activities' default.
    workflows: tuple[str, ...] = ()
    # Zigflow: the document's other top-level do blocks, which a switch runs by name
    blocks: tuple[TaskModel, ...] = ()
    activity_timeout: timedelta | None = None
    schedule: Schedule | None = None  # top-level ``schedule`` (dsl/schedule.py)
    extensions: tuple[Extension, ...] = ()  # use.extensions (dsl/extensions.py)
