"""What a task type is to the engine: a typed model that knows how to run itself.

Each task type is one module in this package holding its model (a frozen
dataclass subclassing :class:`Task`), how it is read from YAML (its
:class:`TaskType`), how it executes, and its activity when it does I/O.
``engine/tasks/__init__.py`` lists them: the registry is that list, nothing
is looked up by name.

A task executes against :class:`Execution`, the interpreter's side of the
bargain (expressions, nested task lists, the Temporal seam), so a task
module never imports the interpreter and the interpreter never knows a
task type.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import MISSING, dataclass, fields
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from workflow_runner.dsl.model import Bindings, Flow, JsonObject, TaskList, TaskModel
from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.continuation import Frame
from workflow_runner.engine.dialects import DataModel
from workflow_runner.engine.events import Listener

Outcome = tuple[Any, Flow]
R = TypeVar("R")


@dataclass(frozen=True, kw_only=True)
class Task(TaskModel):
    """A task the engine can run."""

    @abstractmethod
    async def execute(self, run: Execution, value: Any, args: Bindings) -> Outcome:
        """Run with ``value`` (the task's input after ``input.from``) and ``args`` (its
        ``$``-variables); return the raw output and the flow directive."""

    def rerun_on_resume(self) -> bool:
        """Run again when a continued run re-enters its list past it: what it set up lives
        in the run, not in its state (Zigflow: a query listener registers its handler)."""
        return False


@dataclass(frozen=True)
class ActivityCall:
    """One activity invocation: the registered name and its typed request.

    Request dataclasses are declared once, in the task module that owns the
    activity, and used by both the workflow (here) and the activity itself.
    """

    name: str
    request: object
    timeout: timedelta | None
    pointer: str


_DEFAULTS: dict[type, tuple[tuple[str, Any], ...]] = {}


def wire_fields(request: object) -> dict[str, Any]:
    """A request dataclass's fields as the activity receives them: those still at their
    declared default are left out (the activity's converter puts the default back).

    Why: every activity request is written into history. An HTTP call's request
    carried ``"authentication":null,"body":null,"headers":{},...`` on every call,
    ~185 B that a hand-written worker's plain argument does not have. A value equal
    to the default but of another type (``0`` for ``False``) is kept.
    """
    defaults = _DEFAULTS.get(type(request))
    if defaults is None:
        pairs = []
        for spec in fields(request):  # type: ignore[arg-type]
            if spec.default is not MISSING:
                pairs.append((spec.name, spec.default))
            elif spec.default_factory is not MISSING:
                pairs.append((spec.name, spec.default_factory()))
        defaults = _DEFAULTS[type(request)] = tuple(pairs)
    sent = dict(vars(request))
    for name, default in defaults:
        value = sent[name]
        if value.__class__ is default.__class__ and value == default:
            del sent[name]
    return sent


@dataclass
class ActivitySet:
    """What an I/O task type gives a worker: activity callables, and how to release them."""

    functions: list[Callable[..., Awaitable[Any]]]
    close: Callable[[], Awaitable[None]] | None = None


class WorkflowIO(Protocol):
    """Everything that touches Temporal; ``engine.workflow`` implements it, tests fake it."""

    def now(self) -> float: ...

    def pace(self) -> bool:
        """Before every task run: count it; ``True`` when the run is to yield to Temporal
        first (:meth:`yield_to_temporal`). Split in two so that the ~100 000 task runs of a
        long loop are not each a coroutine: only the rare yield is awaited."""
        ...

    async def yield_to_temporal(self, pointer: str) -> None:
        """Yield to Temporal before ``pointer`` runs (after :meth:`pace` said so)."""
        ...

    def evaluate_now(self, body: str, data: Any, args: Mapping[str, Any], where: str) -> Any:
        """One jq body over ``data``, ``args`` holding only the names it mentions
        (``select_args``): in the workflow when its input is small, else ``NOT_ANSWERED``
        (dsl/expressions.py), and then :meth:`evaluate_later` evaluates it. A synchronous
        first step, because nearly every expression is answered by it (one coroutine less)."""
        ...

    async def evaluate_later(
        self, body: str, data: Any, args: Mapping[str, Any], where: str
    ) -> Any:
        """What :meth:`evaluate_now` did not answer, off the workflow thread (its input was
        measured and counted by :meth:`evaluate_now` already: not again)."""
        ...

    async def sleep(self, delay: timedelta) -> None: ...

    async def activity(self, call: ActivityCall) -> Any: ...

    async def run_workflow(
        self, reference: str, input: Any, pointer: str, *, by_type: bool = False
    ) -> Any:
        """A child workflow: the definition ``reference`` names (``namespace/name:version``),
        or, ``by_type``, the Temporal workflow type ``reference`` on the run's task queue."""
        ...

    async def listen(self, listener: Listener, limit: timedelta | None, pointer: str) -> None:
        """Offer ``listener`` the run's events until it is done (engine/events.py)."""
        ...

    async def emit(self, attributes: JsonObject) -> JsonObject:
        """Publish an event to the run (its listens) and to the task queue's event router."""
        ...

    def progress_note(self, pointer: str, status: str) -> None: ...

    def annotate(self, values: JsonObject, pointer: str) -> None:
        """Record evaluated ``searchAttributes``/``memo`` of a task's metadata on the run."""
        ...

    def continue_as_new_due(self) -> bool:
        """Has history grown enough that the run should continue as new (engine/continuation.py)?"""
        ...

    async def continue_as_new(self, state: JsonObject) -> None:
        """Continue as new with the interpreter's ``state``; never returns in a workflow."""
        ...

    async def first_completed(self, coros: Sequence[Awaitable[Outcome]]) -> Outcome: ...


class Execution(Protocol):
    """The interpreter as a task sees it."""

    context: Any  # $context (export.as writes it)

    @property
    def io(self) -> WorkflowIO: ...

    @property
    def policy(self) -> DataModel:
        """The dialect's data model (engine/dialects.py): what a fork or a for returns..."""
        ...

    async def eval_field(self, expr: Any, value: Any, args: Bindings, where: str) -> Any:
        """An always-expression field (``if``, ``for.in``): jq with or without ``${ }``."""
        ...

    async def eval_value(self, expr: Any, value: Any, args: Bindings, where: str) -> Any:
        """A value in which every ``${ }`` string is evaluated (deeply)."""
        ...

    def answer_now(self, body: str, value: Any, args: Bindings, where: str) -> Any:
        """One jq body (``template_body``'s) over the dialect's ``.``, synchronously, or
        ``NOT_ANSWERED``: then :meth:`answer_later` with the same arguments."""
        ...

    async def answer_later(self, body: str, value: Any, args: Bindings, where: str) -> Any: ...

    async def evaluate(self, body: str, data: Any, args: Mapping[str, Any], where: str) -> Any:
        """One jq body over ``data`` with every binding in ``args`` (``bindings``): the
        callback of ``evaluate_field``/``evaluate_value`` (Zigflow's uuid made here)."""
        ...

    async def run_list(
        self, tasks: TaskList, value: Any, scope: Bindings, frame: Frame | None = None
    ) -> Outcome:
        """Run ``tasks`` in order (``frame``: their :meth:`list_frame`, when a loop
        runs them again and again)."""
        ...

    def list_frame(self, tasks: TaskList) -> AbstractContextManager[Frame]:
        """Where a run of ``tasks`` stands (for a continue-as-new), kept for every run of a
        loop's body rather than made for each."""
        ...

    async def run_task(self, task: Task, value: Any, scope: Bindings) -> Outcome: ...

    def bindings(self, args: Bindings) -> Bindings:
        """The ``$``-variables an expression of the task sees now (``$data``, ``$context``...):
        for listen's query handlers and update validators, which must evaluate synchronously."""
        ...

    def remember(self, values: Mapping[str, Any]) -> None:
        """Merge into Zigflow's ``$data`` (what ``set`` results accumulate in)."""
        ...

    def bind_data(self, values: Mapping[str, Any]) -> Callable[[], None]:
        """Bind loop variables into ``$data``; returns the function that unbinds them."""
        ...

    def save_point(self, pointer: str, position: Callable[[], Any]) -> None:
        """A container task (``do``, ``for``) says it can resume after a continue-as-new:
        ``position()`` is read (only) when the run continues as new inside its body."""
        ...

    def resume_point(self, pointer: str) -> Any:
        """The position a container task saved in the previous run, once; ``None`` when
        the task starts afresh."""
        ...


@dataclass(frozen=True)
class TaskType:
    """A registry entry: the key that identifies the type in YAML and its reader."""

    key: str
    properties: frozenset[str]
    reader: Callable[[DefinitionReader, TaskNode], Task | None]

    def read(self, reader: DefinitionReader, node: TaskNode) -> Task | None:
        return self.reader(reader, node)


def read_with(
    reader: DefinitionReader,
    node: TaskNode,
    kind: str,
    properties: frozenset[str],
    required: Sequence[str] = (),
) -> JsonObject | None:
    """A call task's ``with`` block, its unknown and missing properties reported;
    ``None`` when it is not a mapping or lacks a required property."""
    spec = node.raw.get("with")
    at = node.at("with")
    if not isinstance(spec, dict):
        reader.problem(node.pointer, f"call: {kind} needs 'with: {{{', '.join(required)}}}'")
        return None
    for key in spec:
        if key not in properties:
            reader.problem(f"{at}/{key}", f"unknown {kind} property {key!r}")
    missing = [key for key in required if key not in spec]
    if missing:
        reader.problem(at, f"call: {kind} needs {' and '.join(map(repr, missing))}")
        return None
    return spec


def scope_of(args: Bindings) -> JsonObject:
    """Loop and error variables an inner list inherits (not the per-task arguments)."""
    return {k: v for k, v in args.items() if k not in ("input", "output", "task")}


def checked(model: TaskModel) -> Task:
    """Narrow a model read by a registered type (every one is a ``Task``)."""
    assert isinstance(model, Task), f"{model.pointer}: {type(model).__name__} is not a Task"
    return model
