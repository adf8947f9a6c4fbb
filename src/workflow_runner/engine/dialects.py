"""Run-time dialects: the data model the interpreter and the task types consult.

The spec and Zigflow run the same task types with different data models:
what ``.``, ``$input``, ``$output`` and ``$data`` are inside a task, what a
``fork`` or a ``for`` returns, where a caught error is bound, what a ``wait``
outputs, and what a ``switch`` that names a task does. Each of those is one
method of :class:`DataModel` (the spec's) overridden by :class:`ZigflowModel`,
so no task module tests the dialect's name: it asks ``run.policy``.

Zigflow's semantics are taken from its source (pkg/zigflow/tasks/*.go,
pkg/utils/state.go) and its end-to-end suite; docs/dialects.md and the
README's migration table list them with what the runner does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from workflow_runner.dsl.dialect import DIALECTS, SPEC, ZIGFLOW
from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.model import JsonObject, TaskList, TaskModel
from workflow_runner.engine.activity_info import placeholders

# A named jump emitted by a task body (a switch case), as opposed to a task's
# own ``then``: in the Zigflow dialect it runs the named ``do`` block and comes back.
REDIRECT = "\x00run-block:"
FLOW_DIRECTIVES = frozenset({"continue", "exit", "end"})


def is_block(task: TaskModel) -> bool:
    """A plain named ``do`` block (a ``for`` also has ``do``)."""
    return set(task.definition) & {"do", "for"} == {"do"}


class DataModel:
    """The spec's data model (DSL 1.0): what the runner has always done."""

    name = SPEC
    # A switch case naming a task jumps to it (spec), or runs it as a block (Zigflow).
    body_jumps_run_blocks = False
    # True when ``before_task``, ``record`` and ``iteration_done`` give nothing,
    # ``input_var`` and ``dot`` are the value given and ``output_var`` null (the spec's):
    # the interpreter then skips those calls, four per task run, one per expression and
    # one per loop iteration.
    # A subclass overriding any of them must set it False.
    passes_through = True

    @property
    def listen_timeout(self) -> timedelta | None:
        """A listen with no timeout of its own waits this long (None: until an event)."""
        return DIALECTS[self.name].listen_timeout

    def initial_data(self, run_input: Any) -> JsonObject:
        """``$data`` when the run starts."""
        return dict(run_input) if isinstance(run_input, dict) else {}

    def first_input(self, run_input: Any) -> Any:
        """The first task's input (what ``$output`` is before any task ran, in Zigflow)."""
        return run_input

    def workflow_data(self, temporal: Callable[[], Mapping[str, Any]]) -> JsonObject:
        """What ``$data`` starts with from the run's Temporal info (Zigflow's field names).

        ``temporal`` is called only by a dialect that keeps it: building it costs a tenth
        of a millisecond in the sandbox, per run, that the spec's runs never read."""
        return {}

    def dot(self, value: Any, data: JsonObject) -> Any:
        """``.`` in a task's own expressions (``if``, ``set``, ``with``...)."""
        return value

    def input_var(self, task_input: Any, run_input: Any) -> Any:
        """``$input`` inside a task."""
        return task_input

    def output_var(self, previous: Any) -> Any:
        """``$output`` inside a task, before it has an output of its own."""
        return None

    def before_task(self, task: TaskModel) -> JsonObject | None:
        """What goes into ``$data`` before a task runs."""
        return None

    def record(self, task: TaskModel, output: Any) -> JsonObject | None:
        """What a finished task adds to ``$data`` (``set`` merges its own result)."""
        return None

    def declared(self, tasks: TaskList) -> frozenset[int]:
        """Tasks of a list that run only when named (not when the flow reaches them)."""
        return frozenset()

    def fork_output(self, names: Sequence[str], outputs: Sequence[Any]) -> Any:
        return list(outputs)

    def for_items(self, collection: Any, where: str) -> tuple[list[tuple[Any, Any]], bool]:
        """The (``at``, ``each``) pairs a ``for`` iterates, and whether it is a map."""
        if collection is None:
            return [], False
        if isinstance(collection, dict):
            collection = [{"key": k, "value": v} for k, v in collection.items()]
        if not isinstance(collection, list):
            raise WorkflowError.of(
                "expression",
                f"for.in must evaluate to an array, got {type(collection).__name__}",
                instance=where,
            )
        return list(enumerate(collection)), False

    def for_output(
        self, keys: Sequence[Any], outputs: Sequence[Any], by_key: bool, last: Any
    ) -> Any:
        """A ``for``'s output: the spec's is the last iteration's."""
        return last

    def iteration_done(self, task: TaskModel, output: Any) -> JsonObject | None:
        """What ``$data`` holds after one iteration of a ``for``."""
        return None

    # Whether an export inside a ``for`` outlives the loop: the spec's $context is the
    # workflow's; Zigflow's iterations carry it to the next iteration only.
    loop_context_escapes = True

    def caught(self, error_as: str, error: JsonObject) -> tuple[JsonObject, JsonObject]:
        """A caught error: (variables of ``catch.do``, what ``$data`` holds meanwhile)."""
        return {error_as: error}, {}

    def wait_output(self, value: Any) -> Any:
        return value


class ZigflowModel(DataModel):
    """Zigflow's data model.

    - ``.`` in a task's own expressions: Zigflow evaluates them against null,
      so a Zigflow workflow never reads it; here it is ``$data``, so that
      ``.taskName.field`` (as stigmer writes) reads a task's result. In
      ``output.as``/``export.as`` it is the task's output, as in Zigflow.
    - ``$input`` is the workflow input, ``$output`` the previous task's output.
    - ``$data.workflow`` holds the run's Temporal info (``workflow_type_name``...);
      ``$data.<task>`` holds every task's result (a ``set`` merges its object
      into ``$data``), ``$data.task.name`` the running task, ``$data.<as>`` a
      caught error during ``catch.do``, ``$data.<each>``/``$data.<at>`` the
      loop variables.
    - A ``do`` block after the first task that is not one is a declaration: it
      runs when a switch names it (and comes back), not when reached.
    - ``fork`` returns ``{branch: output}``; ``for`` the collected iterations
      (an array, or a map keyed as the map it iterated; a number n iterates 0..n-1).
    - ``wait`` outputs null.
    - An export inside a ``for`` iteration is seen by the next iterations, not after
      the loop (its own export sees the context from before it).
    """

    name = ZIGFLOW
    body_jumps_run_blocks = True
    passes_through = False

    def initial_data(self, run_input: Any) -> JsonObject:
        return {}

    def first_input(self, run_input: Any) -> Any:
        return None  # Zigflow's state.Output starts empty; $input is the input

    def workflow_data(self, temporal: Callable[[], Mapping[str, Any]]) -> JsonObject:
        # $data.workflow: Zigflow's AddWorkflowInfo (pkg/utils/state.go)
        # $data.activity: filled in by the activity that sends (engine/activity_info.py)
        return {"workflow": dict(temporal()), "activity": placeholders()}

    def dot(self, value: Any, data: JsonObject) -> Any:
        return data

    def input_var(self, task_input: Any, run_input: Any) -> Any:
        return run_input

    def output_var(self, previous: Any) -> Any:
        return previous

    def before_task(self, task: TaskModel) -> JsonObject | None:
        return {"task": {"name": task.name}}

    def record(self, task: TaskModel, output: Any) -> JsonObject | None:
        if set(task.definition) & {"set", "switch", "wait", "raise"}:
            return None
        return {task.name: output}

    def declared(self, tasks: TaskList) -> frozenset[int]:
        first_plain = next(
            (i for i, task in enumerate(tasks.tasks) if not is_block(task)), len(tasks.tasks)
        )
        return frozenset(
            i for i, task in enumerate(tasks.tasks) if i > first_plain and is_block(task)
        )

    def fork_output(self, names: Sequence[str], outputs: Sequence[Any]) -> Any:
        return dict(zip(names, outputs, strict=True))

    def for_items(self, collection: Any, where: str) -> tuple[list[tuple[Any, Any]], bool]:
        if isinstance(collection, dict):
            return list(collection.items()), True
        if isinstance(collection, list):
            return list(enumerate(collection)), False
        if isinstance(collection, int | float) and not isinstance(collection, bool):
            if collection != int(collection):
                raise WorkflowError.of(
                    "expression",
                    f"for.in must be a whole number to count to, got {collection}",
                    instance=where,
                )
            return [(i, i) for i in range(int(collection))], False
        raise WorkflowError.of(
            "expression",
            "for.in must evaluate to an array, an object or a number, got "
            + ("null" if collection is None else type(collection).__name__),
            instance=where,
        )

    def for_output(
        self, keys: Sequence[Any], outputs: Sequence[Any], by_key: bool, last: Any
    ) -> Any:
        if by_key:
            return dict(zip(keys, outputs, strict=True))
        return list(outputs)

    def iteration_done(self, task: TaskModel, output: Any) -> JsonObject | None:
        return {task.name: output}

    loop_context_escapes = False

    def caught(self, error_as: str, error: JsonObject) -> tuple[JsonObject, JsonObject]:
        # Zigflow's caught error carries ``message``; ours has title and detail.
        # The variable stays bound too: it costs nothing and keeps ``$<as>`` usable.
        value = {**error, "message": error.get("detail") or error.get("title")}
        return {error_as: value}, {error_as: value}

    def wait_output(self, value: Any) -> Any:
        return None


MODELS: Mapping[str, DataModel] = {SPEC: DataModel(), ZIGFLOW: ZigflowModel()}


def model_for(dialect: str) -> DataModel:
    """The data model of a dialect name (as recorded on the workflow model)."""
    return MODELS[dialect]
