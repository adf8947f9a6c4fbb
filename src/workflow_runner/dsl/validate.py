"""Static checks of a workflow definition, before anything runs.

Every problem is collected (not only the first) with file, line, column, the
JSON pointer of the offending node and a sentence saying what to change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from workflow_runner.dsl.durations import parse_duration
from workflow_runner.dsl.errors import DefinitionError, Problem
from workflow_runner.dsl.expressions import (
    STANDARD_ARGS,
    check_syntax,
    expression_body,
    is_expression,
)
from workflow_runner.dsl.loader import Locations, pointer_join
from workflow_runner.dsl.tasks import (
    COMMON,
    FLOW_DIRECTIVES,
    TASK_PROPERTIES,
    task_type,
)
from workflow_runner.dsl.validate_io import IoTaskChecks

TOP_LEVEL = frozenset(
    {"document", "input", "use", "do", "timeout", "output", "schedule", "evaluate"}
)
SUPPORTED_USE = frozenset({"errors", "secrets", "timeouts", "retries"})


@dataclass
class Validator(IoTaskChecks):
    file: str
    locations: Locations
    problems: list[Problem] = field(default_factory=list)
    use_errors: frozenset[str] = frozenset()
    use_retries: frozenset[str] = frozenset()
    use_timeouts: frozenset[str] = frozenset()

    def problem(self, pointer: str, message: str) -> None:
        line, column = self._location(pointer)
        self.problems.append(Problem(self.file, line, column, pointer, message))

    def _location(self, pointer: str) -> tuple[int, int]:
        while pointer not in self.locations and pointer:
            pointer = pointer.rsplit("/", 1)[0]
        return self.locations.get(pointer, (1, 1))

    # -- workflow -------------------------------------------------------------

    def workflow(self, data: Any) -> None:
        if not isinstance(data, dict):
            self.problem("", "a workflow definition must be a YAML mapping with document and do")
            return
        for key in data:
            if key not in TOP_LEVEL:
                self.problem(pointer_join("", key), f"unknown top-level property {key!r}")
        self.document(data.get("document"))
        self.use(data.get("use"))
        if "schedule" in data:
            self.problem("/schedule", "'schedule' is not supported yet; start runs with the CLI")
        evaluate = data.get("evaluate")
        if evaluate is not None and (
            not isinstance(evaluate, dict) or evaluate.get("language", "jq") != "jq"
        ):
            self.problem(
                "/evaluate", "only jq runtime expressions are supported (evaluate.language: jq)"
            )
        if "input" in data:
            self.io_spec("/input", data["input"], ("from", "schema"), ())
        if "output" in data:
            self.io_spec("/output", data["output"], ("as", "schema"), ())
        if "timeout" in data:
            self.timeout("/timeout", data["timeout"])
        if "do" not in data:
            self.problem("", "missing 'do': the list of tasks to run")
        else:
            self.do_list("/do", data["do"], ())

    def document(self, doc: Any) -> None:
        if not isinstance(doc, dict):
            self.problem("/document", "missing 'document' with dsl, namespace, name and version")
            return
        for key in ("dsl", "namespace", "name", "version"):
            if not isinstance(doc.get(key), str) or not doc.get(key):
                self.problem(
                    pointer_join("/document", key), f"document.{key} must be a non-empty string"
                )
        dsl = str(doc.get("dsl", ""))
        if dsl and not dsl.startswith("1.0"):
            self.problem(
                "/document/dsl", f"DSL version {dsl!r} is not supported; this runner reads 1.0.x"
            )

    def use(self, use: Any) -> None:
        if use is None:
            return
        if not isinstance(use, dict):
            self.problem("/use", "'use' must be a mapping")
            return
        for key, value in use.items():
            pointer = pointer_join("/use", key)
            if key not in SUPPORTED_USE:
                self.problem(pointer, f"use.{key} is not supported yet")
            elif key == "secrets":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    self.problem(pointer, "use.secrets must be a list of secret names")
            elif not isinstance(value, dict):
                self.problem(pointer, f"use.{key} must be a mapping of names to definitions")
        errors, retries, timeouts = (use.get(k) for k in ("errors", "retries", "timeouts"))
        if isinstance(errors, dict):
            self.use_errors = frozenset(errors)
            for name, error in errors.items():
                self.error_definition(pointer_join("/use/errors", name), error)
        if isinstance(retries, dict):
            self.use_retries = frozenset(retries)
        if isinstance(timeouts, dict):
            self.use_timeouts = frozenset(timeouts)
            for name, timeout in timeouts.items():
                self.timeout(pointer_join("/use/timeouts", name), timeout)

    # -- tasks ----------------------------------------------------------------

    def do_list(self, pointer: str, tasks: Any, scope: tuple[str, ...]) -> None:
        if not isinstance(tasks, list) or not tasks:
            self.problem(pointer, "must be a non-empty list of tasks, each '- name: {...}'")
            return
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
            if name in names:
                self.problem(pointer_join(item_pointer, name), f"duplicate task name {name!r}")
            names.append(name)
        for index, item in enumerate(tasks):
            if isinstance(item, dict) and len(item) == 1:
                ((name, task),) = item.items()
                self.task(pointer_join(pointer_join(pointer, index), name), task, names, scope)
        self.busy_loops(pointer, tasks, names)

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
            if not isinstance(task, dict) or task_type(task) != "set" or "if" in task:
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

    def task(self, pointer: str, task: Any, siblings: list[str], scope: tuple[str, ...]) -> None:
        if not isinstance(task, dict):
            self.problem(pointer, "a task must be a mapping, e.g. 'set: {...}' or 'call: http'")
            return
        kind = task_type(task)
        if kind is None:
            keys = ", ".join(sorted(task)) or "nothing"
            self.problem(
                pointer,
                f"unknown task type (found {keys}); expected one of "
                + ", ".join(sorted(TASK_PROPERTIES)),
            )
            return
        allowed = TASK_PROPERTIES[kind] | COMMON
        for key in task:
            if key not in allowed:
                self.problem(
                    pointer_join(pointer, key), f"unknown property {key!r} for a {kind} task"
                )
        if "if" in task:
            self.expression(pointer_join(pointer, "if"), task["if"], scope, bare=True)
        if "input" in task:
            self.io_spec(pointer_join(pointer, "input"), task["input"], ("from", "schema"), scope)
        if "output" in task:
            self.io_spec(pointer_join(pointer, "output"), task["output"], ("as", "schema"), scope)
        if "export" in task:
            self.io_spec(pointer_join(pointer, "export"), task["export"], ("as", "schema"), scope)
        if "timeout" in task:
            self.timeout(pointer_join(pointer, "timeout"), task["timeout"])
        if "then" in task:
            self.then(pointer_join(pointer, "then"), task["then"], siblings)
        getattr(self, f"task_{kind}")(pointer, task, scope)

    def then(self, pointer: str, target: Any, siblings: Iterable[str]) -> None:
        if not isinstance(target, str) or (
            target not in FLOW_DIRECTIVES and target not in siblings
        ):
            self.problem(
                pointer,
                f"'then: {target}' names no task in this list; use continue, exit, end or one of: "
                + ", ".join(siblings),
            )

    def task_do(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        self.do_list(pointer_join(pointer, "do"), task["do"], scope)

    def task_set(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        value = task["set"]
        if not isinstance(value, dict | str):
            self.problem(
                pointer_join(pointer, "set"), "set must be a mapping (or one ${ } expression)"
            )
        self.expressions_in(pointer_join(pointer, "set"), value, scope)

    def task_switch(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        cases = task["switch"]
        base = pointer_join(pointer, "switch")
        if not isinstance(cases, list) or not cases:
            self.problem(base, "switch must be a non-empty list of '- caseName: {when, then}'")
            return
        siblings = self._siblings_of(pointer)
        for index, item in enumerate(cases):
            item_pointer = pointer_join(base, index)
            if (
                not isinstance(item, dict)
                or len(item) != 1
                or not isinstance(next(iter(item.values())), dict)
            ):
                self.problem(
                    item_pointer, "each switch case must be 'caseName: {when: ..., then: ...}'"
                )
                continue
            ((name, case),) = item.items()
            case_pointer = pointer_join(item_pointer, name)
            for key in case:
                if key not in ("when", "then"):
                    self.problem(
                        pointer_join(case_pointer, key), f"unknown switch case property {key!r}"
                    )
            if "when" in case:
                self.expression(pointer_join(case_pointer, "when"), case["when"], scope, bare=True)
            if "then" not in case:
                self.problem(
                    case_pointer, "a switch case needs 'then' (continue, exit, end or a task name)"
                )
            else:
                self.then(pointer_join(case_pointer, "then"), case["then"], siblings)

    def task_for(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        spec = task["for"]
        base = pointer_join(pointer, "for")
        if not isinstance(spec, dict) or "in" not in spec:
            self.problem(base, "for needs 'in' (the collection) and optionally 'each' and 'at'")
            return
        for key in spec:
            if key not in ("each", "in", "at"):
                self.problem(pointer_join(base, key), f"unknown for property {key!r}")
        self.expression(pointer_join(base, "in"), spec["in"], scope, bare=True)
        inner = (*scope, str(spec.get("each", "item")), str(spec.get("at", "index")))
        if "while" in task:
            self.expression(pointer_join(pointer, "while"), task["while"], inner, bare=True)
        if "do" not in task:
            self.problem(pointer, "a for task needs 'do': the tasks to run for each item")
        else:
            self.do_list(pointer_join(pointer, "do"), task["do"], inner)

    def task_fork(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        spec = task["fork"]
        base = pointer_join(pointer, "fork")
        if not isinstance(spec, dict) or "branches" not in spec:
            self.problem(base, "fork needs 'branches': a list of tasks to run concurrently")
            return
        for key in spec:
            if key not in ("branches", "compete"):
                self.problem(pointer_join(base, key), f"unknown fork property {key!r}")
        if not isinstance(spec.get("compete", False), bool):
            self.problem(pointer_join(base, "compete"), "compete must be true or false")
        self.do_list(pointer_join(base, "branches"), spec["branches"], scope)

    def task_try(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        self.do_list(pointer_join(pointer, "try"), task["try"], scope)
        catch = task.get("catch")
        base = pointer_join(pointer, "catch")
        if catch is None:
            self.problem(pointer, "a try task needs 'catch'")
            return
        if not isinstance(catch, dict):
            self.problem(base, "catch must be a mapping")
            return
        for key in catch:
            if key not in ("errors", "as", "when", "exceptWhen", "retry", "do"):
                self.problem(pointer_join(base, key), f"unknown catch property {key!r}")
        errors = catch.get("errors")
        if errors is not None and (not isinstance(errors, dict) or set(errors) - {"with"}):
            self.problem(
                pointer_join(base, "errors"), "catch.errors must be {with: {type, status, ...}}"
            )
        inner = (*scope, str(catch.get("as", "error")))
        for key in ("when", "exceptWhen"):
            if key in catch:
                self.expression(pointer_join(base, key), catch[key], inner, bare=True)
        if "retry" in catch:
            self.retry(pointer_join(base, "retry"), catch["retry"])
        if "do" in catch:
            self.do_list(pointer_join(base, "do"), catch["do"], inner)

    def retry(self, pointer: str, retry: Any) -> None:
        if isinstance(retry, str):
            if retry not in self.use_retries:
                self.problem(pointer, f"retry policy {retry!r} is not defined in use.retries")
            return
        if not isinstance(retry, dict):
            self.problem(pointer, "retry must be a mapping or the name of a use.retries policy")
            return
        for key in retry:
            if key not in ("delay", "backoff", "limit", "jitter", "when", "exceptWhen"):
                self.problem(pointer_join(pointer, key), f"unknown retry property {key!r}")
        if "delay" in retry:
            self.duration(pointer_join(pointer, "delay"), retry["delay"])
        backoff = retry.get("backoff")
        if backoff is not None and (
            not isinstance(backoff, dict)
            or len(backoff) != 1
            or next(iter(backoff)) not in ("constant", "linear", "exponential")
        ):
            self.problem(
                pointer_join(pointer, "backoff"),
                "backoff must be one of constant, linear or exponential",
            )

    def task_raise(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        spec = task["raise"]
        base = pointer_join(pointer, "raise")
        error = spec.get("error") if isinstance(spec, dict) else None
        if error is None:
            self.problem(base, "raise needs 'error': an error definition or a use.errors name")
        elif isinstance(error, str):
            if error not in self.use_errors:
                self.problem(
                    pointer_join(base, "error"), f"error {error!r} is not defined in use.errors"
                )
        else:
            self.error_definition(pointer_join(base, "error"), error)

    def error_definition(self, pointer: str, error: Any) -> None:
        if not isinstance(error, dict) or "type" not in error or "status" not in error:
            self.problem(pointer, "an error needs at least 'type' (a URI) and 'status'")

    def task_wait(self, pointer: str, task: dict[str, Any], scope: tuple[str, ...]) -> None:
        self.duration(pointer_join(pointer, "wait"), task["wait"])

    # -- shared pieces --------------------------------------------------------

    def io_spec(
        self, pointer: str, spec: Any, keys: tuple[str, ...], scope: tuple[str, ...]
    ) -> None:
        if not isinstance(spec, dict):
            self.problem(pointer, f"must be a mapping with {' or '.join(keys)}")
            return
        for key in spec:
            if key not in keys:
                self.problem(
                    pointer_join(pointer, key),
                    f"unknown property {key!r}; expected {' or '.join(keys)}",
                )
        if keys[0] in spec:
            self.expression(pointer_join(pointer, keys[0]), spec[keys[0]], scope, bare=True)

    def timeout(self, pointer: str, timeout: Any) -> None:
        if isinstance(timeout, str) and timeout in self.use_timeouts:
            return
        if not isinstance(timeout, dict) or "after" not in timeout:
            self.problem(pointer, "timeout must be {after: duration} or a use.timeouts name")
            return
        self.duration(pointer_join(pointer, "after"), timeout["after"])

    def duration(self, pointer: str, value: Any) -> None:
        if is_expression(value):
            return
        try:
            parse_duration(value)
        except ValueError as e:
            self.problem(pointer, str(e))

    def expression(self, pointer: str, value: Any, scope: tuple[str, ...], *, bare: bool) -> None:
        if isinstance(value, str) and (bare or is_expression(value)):
            error = check_syntax(expression_body(value), _names(scope))
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

    def _siblings_of(self, task_pointer: str) -> list[str]:
        """Names of the tasks in the same do list (switch targets), from the locations index."""
        list_pointer = task_pointer.rsplit("/", 2)[0]
        names = []
        for pointer in self.locations:
            head, _, name = pointer.rpartition("/")
            parent, _, index = head.rpartition("/")
            if parent == list_pointer and index.isdigit() and name:
                names.append(name.replace("~1", "/").replace("~0", "~"))
        return names


def _names(scope: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(STANDARD_ARGS) | set(scope)))


def validate(data: Any, locations: Locations, file: str) -> None:
    """Raise ``DefinitionError`` listing every problem, or return when the definition is valid."""
    validator = Validator(file, locations)
    validator.workflow(data)
    if validator.problems:
        raise DefinitionError(validator.problems)
