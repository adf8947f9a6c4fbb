"""Dialects: the reading rules of the spec and of Zigflow, chosen once per document.

Zigflow (the reference engine for DSL workflows on Temporal) reads the same
YAML with a few different rules: its document names a Temporal task queue and
workflow type (``document.taskQueue``/``workflowType``) instead of
``namespace``/``name``, it accepts duplicate task names and a ``.anchors``
block of YAML anchors, ``wait`` may hold expressions or ``until``, a top-level
``do`` of named ``do`` blocks defines several workflows, and ``uuid``,
``timestamp``, ``timestamp_iso8601`` are jq functions. Every one of those
reading differences is a field of :class:`Dialect`, so the reader and the
task readers ask the dialect instead of testing its name. What differs at run
time (the data model) is ``engine/dialects.py``.

A document is read in the Zigflow dialect when its ``document`` has
``taskQueue`` or ``workflowType``; ``WORKFLOW_DIALECT`` or ``--dialect``
override that. An override travels with the definition (``DIALECT_KEY`` in
its data), so a worker re-reading a run request reads it the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

SPEC = "spec"
ZIGFLOW = "zigflow"
NAMES = (SPEC, ZIGFLOW)

# Stamped into a definition's data by an override (and by a served block of a
# multi-workflow document): {"dialect": "zigflow", "workflow": "block name"}.
DIALECT_KEY = "x-workflow-runner"

# Zigflow's taskQueue rule (pkg/zigflow validation): a DNS-label shape, letters of either case.
_TASK_QUEUE = re.compile(r"^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$")


@dataclass(frozen=True)
class Dialect:
    """How a document is read; the name is what ``validate`` prints."""

    name: str
    # document.<namespace field> and document.<name field>
    namespace_field: str
    name_field: str
    duplicate_task_names: bool
    top_level_extra: frozenset[str]  # accepted top-level keys beyond the spec's
    # wait: {seconds: ${ }} and wait: {until: timestamp}
    wait_expressions: bool
    # uuid, timestamp, timestamp_iso8601 as jq functions
    zigflow_functions: bool
    # a top-level do of named do blocks only: one workflow per block
    multiple_workflows: bool
    # listen with no timeout: Zigflow's metadata.timeout default (None: wait forever)
    listen_timeout: timedelta | None
    # the document names the task queue its workflows are served and started on
    # (document.taskQueue); otherwise TEMPORAL_TASK_QUEUE
    own_task_queue: bool
    # a switch case may name a do block anywhere in the document (Zigflow runs the
    # block as a child workflow of that name), not only a task of its own list
    switch_runs_any_block: bool
    # run.workflow.type: a child by Temporal workflow type on the run's task queue
    # (Zigflow; its name/namespace/version are not used there), beside run.workflow.name
    run_workflow_by_type: bool

    def runnable_blocks(self, do: Any) -> frozenset[str]:
        """The names of the ``do`` blocks (a ``for`` is not one) anywhere in ``do``, which
        a switch may run by name in this dialect (empty when only siblings may be named)."""
        if not self.switch_runs_any_block:
            return frozenset()
        found: set[str] = set()

        def walk(node: Any) -> None:
            if isinstance(node, list):
                for item in node:
                    if isinstance(item, dict) and len(item) == 1:
                        ((name, task),) = item.items()
                        if isinstance(task, dict) and "do" in task and "for" not in task:
                            found.add(str(name))
                    walk(item)
            elif isinstance(node, dict):
                for value in node.values():
                    walk(value)

        walk(do)
        return frozenset(found)

    def check_task_queue(self, value: Any) -> str | None:
        """Zigflow refuses a task queue outside its rule; so do we."""
        if self.name != ZIGFLOW or (isinstance(value, str) and _TASK_QUEUE.match(value)):
            return None
        return (
            f"document.taskQueue {value!r} is not a valid task queue: Zigflow requires an "
            "RFC 1123 DNS label of either case (letters, digits and '-', at most 63, "
            "starting and ending with a letter or digit)"
        )


SPEC_DIALECT = Dialect(
    name=SPEC,
    namespace_field="namespace",
    name_field="name",
    duplicate_task_names=False,
    top_level_extra=frozenset({DIALECT_KEY}),
    wait_expressions=False,
    zigflow_functions=False,
    multiple_workflows=False,
    listen_timeout=None,
    own_task_queue=False,
    switch_runs_any_block=False,
    run_workflow_by_type=False,
)
ZIGFLOW_DIALECT = Dialect(
    name=ZIGFLOW,
    namespace_field="taskQueue",
    name_field="workflowType",
    duplicate_task_names=True,
    top_level_extra=frozenset({".anchors", DIALECT_KEY}),
    wait_expressions=True,
    zigflow_functions=True,
    multiple_workflows=True,
    listen_timeout=timedelta(seconds=60),
    own_task_queue=True,
    switch_runs_any_block=True,
    run_workflow_by_type=True,
)
DIALECTS = {SPEC: SPEC_DIALECT, ZIGFLOW: ZIGFLOW_DIALECT}


def stamp_of(data: Any) -> dict[str, Any]:
    """What an override stamped into the definition (empty when nothing was)."""
    stamp = data.get(DIALECT_KEY) if isinstance(data, dict) else None
    return stamp if isinstance(stamp, dict) else {}


def detect(data: Any, override: str | None = None) -> Dialect:
    """The dialect ``data`` is read in: the override, else the stamp, else its document."""
    chosen = override or stamp_of(data).get("dialect")
    if chosen:
        if chosen not in DIALECTS:
            raise ValueError(f"unknown dialect {chosen!r}; expected spec or zigflow")
        return DIALECTS[chosen]
    document = data.get("document") if isinstance(data, dict) else None
    if isinstance(document, dict) and ("taskQueue" in document or "workflowType" in document):
        return ZIGFLOW_DIALECT
    return SPEC_DIALECT


def stamped(data: dict[str, Any], **values: str) -> dict[str, Any]:
    """``data`` with ``values`` added to its stamp (a copy: the original is shared)."""
    return {**data, DIALECT_KEY: {**stamp_of(data), **values}}
