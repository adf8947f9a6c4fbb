"""What a worker serves on its task queue — definitions by workflow type, run limits —
for its workflows to read.

Workflow code runs in the sandbox and gets only its run's input; what the
worker was configured with — run limits, the definitions it serves by
workflow type — reaches it through this registry, keyed by task queue.
(Our package is passed through the sandbox, so this module is shared.)
Several workers of one queue in one process stack; the latest one wins. One
process may serve several queues (a worker per queue: Zigflow documents name
their own), so one workflow type may be served on several queues, each with
its own definition: the registry is keyed by (queue, type).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workflow_runner.config import workflow_env
from workflow_runner.dsl.dialect import DIALECTS
from workflow_runner.dsl.metadata import ActivityOptions
from workflow_runner.dsl.model import WorkflowModel
from workflow_runner.engine.catalog import resolve_references
from workflow_runner.engine.definition import Definition, model_of
from workflow_runner.engine.limits import DEFAULT_LIMITS, RunLimits
from workflow_runner.engine.scheduling.repeat import AFTER_TYPE
from workflow_runner.engine.scheduling.triggers import ROUTER_TYPE

# The type of ad hoc runs, whose request carries the definition (``run FILE``,
# ``start FILE``, child workflows): no served definition may take this name.
AD_HOC_TYPE = "DslWorkflow"
# Workflow types every worker registers besides the ad hoc one: a definition cannot take them.
RESERVED_TYPES = {
    AD_HOC_TYPE: "ad hoc runs",
    ROUTER_TYPE: "the event router of schedule.on",
    AFTER_TYPE: "the loops of schedule.after",
}


class DefinitionConflictError(ValueError):
    """Two different definitions claim one workflow type on one task queue."""


@dataclass(frozen=True)
class Registered:
    """A definition a worker serves as a workflow type of its own."""

    data: dict[str, Any]  # the definition, as the run request would carry it
    source: str
    children: dict[str, dict[str, Any]] = field(default_factory=dict)  # run: workflow targets
    env: dict[str, str] = field(default_factory=dict)  # WORKFLOW_ENV_* of the worker


# CONTINUE_AS_NEW_AFTER_EVENTS' default (engine/continuation.py).
CONTINUE_AS_NEW_AFTER_EVENTS = 10_000


@dataclass(frozen=True, eq=False)
class QueueConfig:
    limits: RunLimits = DEFAULT_LIMITS
    definitions: Mapping[str, Registered] = field(default_factory=dict)
    continue_as_new_events: int = CONTINUE_AS_NEW_AFTER_EVENTS


DEFAULT = QueueConfig()
_lock = threading.Lock()
_by_queue: dict[str, list[QueueConfig]] = {}


def register(task_queue: str, config: QueueConfig) -> None:
    with _lock:
        _by_queue.setdefault(task_queue, []).append(config)


def unregister(task_queue: str, config: QueueConfig) -> None:
    with _lock:
        stack = _by_queue.get(task_queue, [])
        if config in stack:
            stack.remove(config)
        if not stack:
            _by_queue.pop(task_queue, None)


def config_for(task_queue: str) -> QueueConfig:
    """The configuration of the (latest) worker of ``task_queue`` in this process."""
    with _lock:
        stack = _by_queue.get(task_queue)
        return stack[-1] if stack else DEFAULT


def queue_of(definition: Definition, default: str) -> str:
    """The task queue ``definition`` is served and started on: a Zigflow document names
    its own (``document.taskQueue``, as Zigflow's worker polls it); a spec one runs on
    ``default`` (TEMPORAL_TASK_QUEUE)."""
    if DIALECTS[definition.dialect].own_task_queue and definition.model.document.namespace:
        return definition.model.document.namespace
    return default


def by_queue(definitions: Iterable[Definition], default: str) -> dict[str, list[Definition]]:
    """``definitions`` grouped by the task queue each is served on (``default`` first,
    always present: every worker process also takes ad hoc runs there)."""
    grouped: dict[str, list[Definition]] = {default: []}
    for definition in definitions:
        grouped.setdefault(queue_of(definition, default), []).append(definition)
    return grouped


def _each_workflow(definitions: Iterable[Definition]) -> Iterable[Definition]:
    """Every workflow of every definition: a Zigflow document of named ``do`` blocks
    defines one per block, served under the block's name (as Zigflow registers them)."""
    for definition in definitions:
        if definition.model.workflows:
            yield from (definition.workflow(name) for name in definition.model.workflows)
        else:
            yield definition


def serve(definitions: Iterable[Definition]) -> dict[str, Registered]:
    """The definitions a worker serves, by workflow type (``document.name``, Zigflow's
    ``document.workflowType``, or each block name of a Zigflow multi-workflow document).

    Versioning: a task queue serves one definition per name, so a changed
    definition cannot replay under runs that started with the old one. Run a
    new version side by side under its own name (``order-approval-v2``) or on
    its own task queue, and retire the old worker when its runs are done.
    """
    served: dict[str, Registered] = {}
    for definition in _each_workflow(definitions):
        name = definition.name
        if name in RESERVED_TYPES:
            raise DefinitionConflictError(
                f"{definition.source}: the name {name!r} is reserved for {RESERVED_TYPES[name]}"
            )
        known = served.get(name)
        if known is not None:
            if known.data != definition.data:
                raise DefinitionConflictError(
                    f"two different definitions are named {name!r}: {known.source} and "
                    f"{definition.source}; a task queue serves one definition per name "
                    "(give a new version its own name or task queue)"
                )
            continue
        served[name] = Registered(
            data=definition.data,
            source=definition.source,
            children=resolve_references(definition, Path(definition.source).parent),
            env=workflow_env(),
        )
    return served


# A served definition is the same dict on every run of its type (engine/registry.py): its
# model is found by identity, where model_of would serialize it to find it by content
# (47 µs a run for bench/overhead.yaml, more for bigger definitions).
# With it, the activity options of its tasks (a function of the definition and the task),
# read once per process instead of once per run.
_SERVED_MODELS: dict[int, tuple[dict[str, Any], WorkflowModel, dict[str, ActivityOptions]]] = {}


def served_model(definition: dict[str, Any]) -> WorkflowModel:
    """The model of a definition this process serves (its registry's dict), found by identity."""
    return _served(definition)[1]


def served_options(definition: dict[str, Any]) -> dict[str, ActivityOptions]:
    """The activity options of its tasks by pointer, filled in as its runs read them."""
    return _served(definition)[2]


def _served(
    definition: dict[str, Any],
) -> tuple[dict[str, Any], WorkflowModel, dict[str, ActivityOptions]]:
    known = _SERVED_MODELS.get(id(definition))
    if known is not None and known[0] is definition:
        return known
    options: dict[str, ActivityOptions] = {}
    entry = (definition, model_of(definition), options)
    if len(_SERVED_MODELS) >= 256:  # workers restarted in one process: forget the old ones
        _SERVED_MODELS.clear()
    _SERVED_MODELS[id(definition)] = entry  # the dict kept: its id stays its own
    return entry
