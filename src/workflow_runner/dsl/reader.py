"""Reading a definition: validation and the typed model in one walk, before anything runs.

Every problem is collected (not only the first) with file, line, column, the
JSON pointer of the offending node and a sentence saying what to change.
Reading succeeds only when there is no problem at all, so the model it
returns is complete: defaults applied, named references resolved.

The reader knows the workflow's frame (``document``, ``use``, ``do`` lists and
what every task shares); each task type reads its own properties through the
:class:`TaskKind` it registers (``engine/tasks``), so this module never
changes when a task type is added. The ``use`` section and the named
definitions in it are read by ``dsl/use_section.py`` (bound here as methods).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from workflow_runner.dsl.dialect import SPEC_DIALECT, Dialect, detect, stamp_of
from workflow_runner.dsl.durations import parse_duration
from workflow_runner.dsl.errors import DefinitionError, Problem
from workflow_runner.dsl.expression_syntax import (
    STANDARD_ARGS,
    ZIGFLOW_FUNCTIONS_ARG,
    check_syntax,
    expression_body,
    is_expression,
)
from workflow_runner.dsl.extensions import Extension
from workflow_runner.dsl.loader import Locations, pointer_join
from workflow_runner.dsl.metadata import check_definition as check_metadata
from workflow_runner.dsl.model import Document, RetryPolicy, TaskList, TaskModel, WorkflowModel
from workflow_runner.dsl.schedule import read_schedule
from workflow_runner.dsl.schemas import DataSchema, read_schema
from workflow_runner.dsl.use_section import (
    read_error_definition,
    read_function,
    read_retry,
    read_use,
)

TOP_LEVEL = frozenset(
    {"document", "input", "use", "do", "timeout", "output", "schedule", "evaluate"}
)
# Properties every task may have, beside its own.
COMMON = frozenset({"if", "input", "output", "export", "timeout", "then", "metadata"})
FLOW_DIRECTIVES = frozenset({"continue", "exit", "end"})


@dataclass(frozen=True)
class TaskNode:
    """One task as written, with what its reader needs to check and build it."""

    name: str
    pointer: str
    raw: dict[str, Any]
    scope: tuple[str, ...]  # loop and error variables visible here
    siblings: tuple[str, ...]  # names a ``then`` may jump to
    common: dict[str, Any]  # TaskModel's shared fields, already read

    def at(self, *path: str | int) -> str:
        pointer = self.pointer
        for token in path:
            pointer = pointer_join(pointer, token)
        return pointer


class TaskKind(Protocol):
    """A task type as the reader sees it: its key, its properties, how to read it."""

    @property
    def key(self) -> str: ...

    @property
    def properties(self) -> frozenset[str]: ...

    def read(self, reader: DefinitionReader, node: TaskNode) -> TaskModel | None:
        """The typed task, or ``None`` after reporting what is wrong through ``reader``."""
        ...


@dataclass
class DefinitionReader:
    file: str
    locations: Locations
    kinds: Sequence[TaskKind]  # in matching order: a ``for`` task also has ``do``
    problems: list[Problem] = field(default_factory=list)
    errors: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    retries: dict[str, RetryPolicy] = field(default_factory=dict)
    timeouts: dict[str, timedelta] = field(default_factory=dict)
    # use.authentications as written and use.secrets: read by the engine's
    # authentication module (engine/tasks/authentication.py), which owns policies.
    authentications: dict[str, Any] = field(default_factory=dict)
    secret_names: tuple[str, ...] = ()
    # use.functions as written (catalog functions included by engine/functions.py,
    # keyed by their reference), each read once on first use (``function``); use.catalogs.
    functions: dict[str, Any] = field(default_factory=dict)
    catalogs: dict[str, Any] = field(default_factory=dict)
    function_models: dict[str, TaskModel | None] = field(default_factory=dict)
    functions_reading: list[str] = field(default_factory=list)
    dialect: Dialect = SPEC_DIALECT  # the reading rules (dsl/dialect.py)
    block_names: frozenset[str] = frozenset()  # Zigflow: do blocks a switch may run
    extensions: tuple[Extension, ...] = ()  # use.extensions (dsl/extensions.py)

    def problem(self, pointer: str, message: str) -> None:
        line, column = self._location(pointer)
        self.problems.append(Problem(self.file, line, column, pointer, message))

    def _location(self, pointer: str) -> tuple[int, int]:
        while pointer not in self.locations and pointer:
            pointer = pointer.rsplit("/", 1)[0]
        return self.locations.get(pointer, (1, 1))

    def kind_of(self, task: Mapping[str, Any]) -> TaskKind | None:
        return next((kind for kind in self.kinds if kind.key in task), None)

    # -- use: the section and the named definitions in it (dsl/use_section.py) --

    use = read_use
    function = read_function
    retry = read_retry
    error_definition = read_error_definition

    # -- workflow -------------------------------------------------------------

    def workflow(self, data: Any) -> WorkflowModel | None:
        if not isinstance(data, dict):
            self.problem("", "a workflow definition must be a YAML mapping with document and do")
            return None
        for key in data:
            if key not in TOP_LEVEL and key not in self.dialect.top_level_extra:
                self.problem(pointer_join("", key), f"unknown top-level property {key!r}")
        document = self.document(data.get("document"))
        secrets = self.use(data.get("use"))
        check_metadata(data, self.problem)  # Temporal options in metadata (dsl/metadata.py)
        schedule = read_schedule(data["schedule"], self.problem) if "schedule" in data else None
        evaluate = data.get("evaluate")
        if evaluate is not None and (
            not isinstance(evaluate, dict) or evaluate.get("language", "jq") != "jq"
        ):
            self.problem(
                "/evaluate", "only jq runtime expressions are supported (evaluate.language: jq)"
            )
        input_from = (
            self.io_spec("/input", data["input"], ("from", "schema"), ())
            if ("input" in data)
            else None
        )
        output_as = (
            self.io_spec("/output", data["output"], ("as", "schema"), ())
            if ("output" in data)
            else None
        )
        input_schema = self.io_schema("/input", data.get("input"))
        output_schema = self.io_schema("/output", data.get("output"))
        timeout = self.timeout("/timeout", data["timeout"]) if "timeout" in data else None
        tasks: TaskList | None = None
        if "do" not in data:
            self.problem("", "missing 'do': the list of tasks to run")
        else:
            self.block_names = self.dialect.runnable_blocks(data["do"])
            tasks = self.do_list("/do", data["do"], ())
        if document is None or tasks is None or self.problems:
            return None
        workflows = self.workflows(tasks)
        if workflows:
            # Zigflow: every named do block is a workflow of its own; this
            # definition runs the one its stamp names (the first by default).
            chosen = stamp_of(data).get("workflow") or workflows[0]
            if chosen not in workflows:
                self.problem(
                    "/do",
                    f"no workflow named {chosen!r} in this document; it defines: "
                    + ", ".join(workflows),
                )
                return None
            block = next(t for t in tasks.tasks if t.name == chosen)
            inner = getattr(block, "tasks", None)  # a do task's list (engine/tasks/do.py)
            if not isinstance(inner, TaskList):
                return None
            blocks = tuple(t for t in tasks.tasks if t is not block)
            tasks = inner
            document = Document(
                dsl=document.dsl,
                namespace=document.namespace,
                name=chosen,
                version=document.version,
                raw=document.raw,
            )
        else:
            blocks = ()
        activity_timeout = None
        if self.dialect.name != SPEC_DIALECT.name:
            # Zigflow reads the top-level timeout as the activities' start-to-close
            # timeout (deprecated there), not as a limit on the whole run.
            activity_timeout, timeout = timeout, None
        return WorkflowModel(
            document=document,
            do=tasks,
            secrets=secrets,
            input_from=input_from,
            output_as=output_as,
            input_schema=input_schema,
            output_schema=output_schema,
            timeout=timeout,
            errors=dict(self.errors),
            dialect=self.dialect.name,
            workflows=workflows,
            blocks=blocks,
            activity_timeout=activity_timeout,
            schedule=schedule,
            extensions=self.extensions,
        )

    def workflows(self, tasks: TaskList) -> tuple[str, ...]:
        """Zigflow: the names of the workflows a top-level ``do`` of only named ``do``
        blocks defines (empty when the document is one workflow)."""
        if not self.dialect.multiple_workflows:
            return ()
        blocks = [t for t in tasks.tasks if set(t.definition) & {"do", "for"} == {"do"}]
        if len(blocks) != len(tasks.tasks):
            return ()
        return tuple(dict.fromkeys(t.name for t in blocks))

    def document(self, doc: Any) -> Document | None:
        namespace_key, name_key = self.dialect.namespace_field, self.dialect.name_field
        if not isinstance(doc, dict):
            self.problem(
                "/document", f"missing 'document' with dsl, {namespace_key}, {name_key} and version"
            )
            return None
        for key in ("dsl", namespace_key, name_key, "version"):
            if not isinstance(doc.get(key), str) or not doc.get(key):
                self.problem(
                    pointer_join("/document", key), f"document.{key} must be a non-empty string"
                )
        if namespace_key in doc:
            queue_problem = self.dialect.check_task_queue(doc[namespace_key])
            if queue_problem:
                self.problem(pointer_join("/document", namespace_key), queue_problem)
        dsl = str(doc.get("dsl", ""))
        if dsl and not dsl.startswith("1.0"):
            self.problem(
                "/document/dsl", f"DSL version {dsl!r} is not supported; this runner reads 1.0.x"
            )
        return Document(
            dsl=dsl,
            namespace=str(doc.get(namespace_key, "")),
            name=str(doc.get(name_key, "")),
            version=str(doc.get("version", "")),
            raw=doc,
        )

    # -- task lists -----------------------------------------------------------

    def do_list(self, pointer: str, tasks: Any, scope: tuple[str, ...]) -> TaskList | None:
        if not isinstance(tasks, list) or not tasks:
            self.problem(pointer, "must be a non-empty list of tasks, each '- name: {...}'")
            return None
        names: list[str] = []
        for index, item in enumerate(tasks):
            item_pointer = pointer_join(pointer, index)
            if not isinstance(item, dict) or len(item) != 1:
                self.problem(
                    item_pointer,
                    "each task must be a mapping of exactly one name to its definition",
                )
                continue
            ((name, _),) = item.items()
            if name in names and not self.dialect.duplicate_task_names:
                self.problem(pointer_join(item_pointer, name), f"duplicate task name {name!r}")
            names.append(name)
        read: list[TaskModel | None] = []
        for index, item in enumerate(tasks):
            if isinstance(item, dict) and len(item) == 1:
                ((name, task),) = item.items()
                task_pointer = pointer_join(pointer_join(pointer, index), name)
                read.append(self.task(task_pointer, str(name), task, tuple(names), scope))
        self.busy_loops(pointer, tasks, names)
        models = [task for task in read if task is not None]
        if len(models) != len(tasks):
            return None
        return TaskList(pointer, tuple(models))

    def busy_loops(self, pointer: str, tasks: list[Any], names: list[str]) -> None:
        """A ``then`` cycle made only of unconditional ``set`` tasks can never end.

        Cycles through a switch, an ``if``, a wait, a listen or any I/O are
        legitimate (polling loops); this one would spin in one workflow task.
        """
        entries = [
            next(iter(item.items())) if isinstance(item, dict) and len(item) == 1 else (None, None)
            for item in tasks
        ]

        def step(index: int) -> int | None:
            _, task = entries[index]
            if not isinstance(task, dict) or "if" in task:
                return None
            kind = self.kind_of(task)
            if kind is None or kind.key != "set":
                return None
            target = task.get("then", "continue")
            if target == "continue":
                return index + 1 if index + 1 < len(entries) else None
            return names.index(target) if target in names else None

        reported: set[int] = set()
        for start in range(len(entries)):
            seen: list[int] = []
            current: int | None = start
            while current is not None and current not in seen:
                seen.append(current)
                current = step(current)
            if current is not None and current == start and not reported & set(seen):
                reported.update(seen)
                cycle = " -> ".join(str(entries[i][0]) for i in [*seen, start])
                name = entries[start][0]
                self.problem(
                    pointer_join(pointer_join(pointer, start), str(name)),
                    f"'then' loop {cycle} has no condition, wait or I/O: it would never end",
                )

    def task(
        self,
        pointer: str,
        name: str,
        task: Any,
        siblings: tuple[str, ...],
        scope: tuple[str, ...],
    ) -> TaskModel | None:
        if not isinstance(task, dict):
            self.problem(pointer, "a task must be a mapping, e.g. 'set: {...}' or 'call: http'")
            return None
        kind = self.kind_of(task)
        if kind is None:
            keys = ", ".join(sorted(task)) or "nothing"
            self.problem(
                pointer,
                f"unknown task type (found {keys}); expected one of "
                + ", ".join(sorted(k.key for k in self.kinds)),
            )
            return None
        allowed = kind.properties | COMMON
        for key in task:
            if key not in allowed:
                self.problem(
                    pointer_join(pointer, key), f"unknown property {key!r} for a {kind.key} task"
                )
        common: dict[str, Any] = {"name": name, "pointer": pointer, "definition": task}
        if "if" in task:
            self.expression(pointer_join(pointer, "if"), task["if"], scope, bare=True)
            common["condition"] = task["if"]
        for key, expr_key, field_name in (
            ("input", "from", "input_from"),
            ("output", "as", "output_as"),
            ("export", "as", "export_as"),
        ):
            if key in task:
                common[field_name] = self.io_spec(
                    pointer_join(pointer, key), task[key], (expr_key, "schema"), scope
                )
                common[f"{key}_schema"] = self.io_schema(pointer_join(pointer, key), task[key])
        if "timeout" in task:
            common["timeout"] = self.timeout(pointer_join(pointer, "timeout"), task["timeout"])
        if "then" in task:
            self.then(pointer_join(pointer, "then"), task["then"], siblings)
            common["then"] = task["then"] if task["then"] != "continue" else None
        before = len(self.problems)
        model = kind.read(self, TaskNode(name, pointer, task, scope, siblings, common))
        return model if len(self.problems) == before else None

    def then(self, pointer: str, target: Any, siblings: Iterable[str]) -> None:
        if not isinstance(target, str) or (
            target not in FLOW_DIRECTIVES and target not in siblings
        ):
            self.problem(
                pointer,
                f"'then: {target}' names no task in this list; use continue, exit, end or one of: "
                + ", ".join(siblings),
            )

    # -- shared pieces --------------------------------------------------------

    def io_spec(
        self, pointer: str, spec: Any, keys: tuple[str, ...], scope: tuple[str, ...]
    ) -> Any:
        """Check ``input``/``output``/``export``; the expression under ``keys[0]``, if any."""
        if not isinstance(spec, dict):
            self.problem(pointer, f"must be a mapping with {' or '.join(keys)}")
            return None
        for key in spec:
            if key not in keys:
                self.problem(
                    pointer_join(pointer, key),
                    f"unknown property {key!r}; expected {' or '.join(keys)}",
                )
        if keys[0] in spec:
            self.expression(pointer_join(pointer, keys[0]), spec[keys[0]], scope, bare=True)
        return spec.get(keys[0])

    def io_schema(self, pointer: str, spec: Any) -> DataSchema | None:
        """``schema`` of an ``input``/``output``/``export`` mapping, checked as a JSON Schema."""
        if not isinstance(spec, dict) or "schema" not in spec:
            return None
        return read_schema(pointer_join(pointer, "schema"), spec["schema"], self.problem)

    def timeout(self, pointer: str, timeout: Any) -> timedelta | None:
        if isinstance(timeout, str) and timeout in self.timeouts:
            return self.timeouts[timeout]
        if not isinstance(timeout, dict) or "after" not in timeout:
            self.problem(pointer, "timeout must be {after: duration} or a use.timeouts name")
            return None
        after = pointer_join(pointer, "after")
        if is_expression(timeout["after"]):
            self.problem(after, "timeout.after must be a duration, not an expression")
            return None
        return self.duration(after, timeout["after"])

    def duration(self, pointer: str, value: Any) -> timedelta | None:
        """The duration, or ``None`` for an expression (evaluated at run time) or a problem."""
        if is_expression(value):
            return None
        try:
            return parse_duration(value)
        except ValueError as e:
            self.problem(pointer, str(e))
            return None

    def names(self, scope: tuple[str, ...]) -> tuple[str, ...]:
        """The ``$``-variables (and, in the Zigflow dialect, functions) an expression may use."""
        return _zigflow_names(scope) if self.dialect.zigflow_functions else _names(scope)

    def expression(self, pointer: str, value: Any, scope: tuple[str, ...], *, bare: bool) -> None:
        if isinstance(value, str) and (bare or is_expression(value)):
            error = check_syntax(expression_body(value), self.names(scope))
            if error:
                self.problem(pointer, f"invalid jq expression {expression_body(value)!r}: {error}")
        elif isinstance(value, dict | list):
            self.expressions_in(pointer, value, scope)
        elif bare and not isinstance(value, bool | int | float) and value is not None:
            self.problem(pointer, "must be a jq expression")

    def expressions_in(self, pointer: str, value: Any, scope: tuple[str, ...]) -> None:
        if isinstance(value, str):
            if is_expression(value):
                self.expression(pointer, value, scope, bare=False)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.expressions_in(pointer_join(pointer, key), item, scope)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.expressions_in(pointer_join(pointer, index), item, scope)


def _names(scope: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(STANDARD_ARGS) | set(scope)))


def _zigflow_names(scope: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({*STANDARD_ARGS, *scope, ZIGFLOW_FUNCTIONS_ARG}))


def read_workflow(
    data: Any,
    locations: Locations,
    file: str,
    kinds: Sequence[TaskKind],
    override: str | None = None,
) -> WorkflowModel:
    """The typed definition; ``DefinitionError`` listing every problem when it is invalid.

    ``override`` (``spec``/``zigflow``) reads it in that dialect whatever its document says.
    """
    try:
        dialect = detect(data, override)
    except ValueError as e:
        raise DefinitionError([Problem(file, 1, 1, "", str(e))]) from None
    reader = DefinitionReader(file, locations, kinds, dialect=dialect)
    model = reader.workflow(data)
    if reader.problems or model is None:
        raise DefinitionError(reader.problems or [Problem(file, 1, 1, "", "invalid definition")])
    return model
