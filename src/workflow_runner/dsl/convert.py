"""Rewrite a definition between the spec dialect and Zigflow's, where the rewrite is faithful.

Pure text rewriting (no engine, nothing runs): the file is parsed only to find
*where* things are, and the rewrite edits those lines, so comments, anchors
and layout survive. What is rewritten is what means the same after the
rewrite:

- ``document.taskQueue``/``workflowType`` ↔ ``document.namespace``/``name``;
- Zigflow's ``$input`` (the workflow's input) ↔ the spec's ``$workflow.input``;
- a Zigflow ``catch.as`` error read as ``$data.<as>`` ↔ the spec's ``$<as>``
  inside that catch's ``do``.

Everything whose meaning differs and has no faithful spelling in the other
dialect is a :class:`Finding` naming its place (``file:line:column (pointer)``):
``$data.<task>`` results, ``$output`` inside a task, a non-competing ``fork``
(a map keyed by branch in Zigflow, a list in the spec), a ``for`` (collected
iterations in Zigflow, the last one in the spec), Zigflow's jq functions,
``wait`` expressions, duplicate task names, multi-workflow documents,
``call: activity``, ``$workflow``/``$task``/``$runtime``/``$secrets`` (spec
only). Blocking findings make ``convert`` exit non-zero unless ``--force``;
notes (settings that live outside the file, e.g. ``$env`` prefixes) do not.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from workflow_runner.dsl.dialect import SPEC, ZIGFLOW, detect
from workflow_runner.dsl.loader import load_yaml

TARGETS = (SPEC, ZIGFLOW)
_EXPR = re.compile(r"\$\{(.*?)\}\s*$|\$\{(.*)\}", re.DOTALL)
_DATA_REF = re.compile(r"\$data\.([A-Za-z_][\w-]*)")
_ZIGFLOW_FUNCTIONS = re.compile(r"(?<![\w$.])(uuid|timestamp_iso8601|timestamp)(?![\w(])")
_SPEC_ONLY_VARS = re.compile(r"\$(task|runtime|secrets|authorization)\b|\$workflow\.(?!input\b)")
_FOREIGN_VARS = re.compile(r"\$(context|input|output|data|env|workflow|task|runtime|secrets)\b")


@dataclass(frozen=True)
class Finding:
    """A place the rewrite cannot carry over faithfully (``blocking``) or a note for the user."""

    file: str
    line: int
    column: int
    pointer: str
    message: str
    blocking: bool = True

    def __str__(self) -> str:
        kind = "" if self.blocking else "note: "
        return f"{self.file}:{self.line}:{self.column} ({self.pointer}): {kind}{self.message}"


@dataclass
class Conversion:
    text: str
    source_dialect: str
    target: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.blocking]


def _walk(value: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    yield pointer, value
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _walk(child, f"{pointer}/{str(key).replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _walk(child, f"{pointer}/{index}")


def _expressions(data: Any) -> Iterator[tuple[str, str]]:
    """(pointer, text) of every string holding a ``${ }`` runtime expression."""
    for pointer, value in _walk(data):
        if isinstance(value, str) and "${" in value:
            yield pointer, value


def _tasks(data: Any) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(pointer, name, body) of every task in every task list (do, try, catch.do, branches)."""
    for pointer, value in _walk(data):
        if not isinstance(value, list) or not re.search(r"/(do|try|branches)$", pointer):
            continue
        for index, item in enumerate(value):
            if isinstance(item, dict) and len(item) == 1:
                name, body = next(iter(item.items()))
                if isinstance(body, dict):
                    yield f"{pointer}/{index}/{name}", str(name), body


class _Converter:
    def __init__(self, text: str, file: str, target: str) -> None:
        if target not in TARGETS:
            raise ValueError(f"--to must be spec or zigflow, not {target!r}")
        self.file = file
        self.target = target
        self.lines = text.splitlines(keepends=True)
        self.data, self.locations = load_yaml(text, file)
        self.source = detect(self.data).name
        self.findings: list[Finding] = []

    def at(self, pointer: str) -> tuple[int, int]:
        while pointer not in self.locations and pointer:
            pointer = pointer.rsplit("/", 1)[0]
        return self.locations.get(pointer, (1, 1))

    def find(self, pointer: str, message: str, *, blocking: bool = True) -> None:
        line, column = self.at(pointer)
        self.findings.append(Finding(self.file, line, column, pointer, message, blocking))

    def edit_line(self, pointer: str, old: str, new: str) -> bool:
        """Replace the first ``old`` on the line of ``pointer``'s node (a key sits there too)."""
        line, _ = self.at(pointer)
        text = self.lines[line - 1]
        if old not in text:
            return False
        self.lines[line - 1] = text.replace(old, new, 1)
        return True

    def sub_lines(self, pointers: list[str], pattern: re.Pattern[str], repl: str) -> None:
        """Apply ``pattern`` inside ``${ }`` on every line one of ``pointers`` starts on."""
        for line in sorted({self.at(p)[0] for p in pointers}):
            text = self.lines[line - 1]

            def inside(match: re.Match[str]) -> str:
                return pattern.sub(repl, match.group(0))

            self.lines[line - 1] = (
                re.sub(r"\$\{.*?\}", inside, text) if "}" in text else (pattern.sub(repl, text))
            )

    def run(self) -> Conversion:
        if not isinstance(self.data, dict) or not isinstance(self.data.get("document"), dict):
            self.find("/document", "no document block: nothing to convert")
            return self.result()
        if self.source == self.target:
            return self.result()
        if self.target == SPEC:
            self.to_spec()
        else:
            self.to_zigflow()
        return self.result()

    def result(self) -> Conversion:
        return Conversion("".join(self.lines), self.source, self.target, self.findings)

    def rename_document(self, fields: tuple[tuple[str, str], ...]) -> None:
        document = self.data["document"]
        for old, new in fields:
            if old in document:
                pointer = f"/document/{old}"
                if not self.edit_line(pointer, f"{old}:", f"{new}:"):
                    self.find(pointer, f"document.{old}: could not rename it to {new} in place")

    # Zigflow -> spec ------------------------------------------------------

    def to_spec(self) -> None:
        self.rename_document((("taskQueue", "namespace"), ("workflowType", "name")))
        if ".anchors" in self.data:
            self.find(
                "/.anchors",
                "the top-level .anchors block holds YAML anchors: the spec refuses unknown "
                "top-level keys; move the anchors to their first use and delete the block",
            )
        self.document_workflows()
        input_refs = [p for p, s in _expressions(self.data) if re.search(r"\$input\b", s)]
        self.sub_lines(input_refs, re.compile(r"\$input\b"), "$workflow.input")
        self.catch_as_to_spec()
        caught = self._caught_names()
        seen: dict[tuple[str, str], str] = {}
        for pointer, name, body in _tasks(self.data):
            scope = pointer.rsplit("/", 2)[0]
            if (scope, name) in seen:
                self.find(
                    pointer,
                    f"task name {name!r} is used twice in one list (Zigflow "
                    "allows it; the spec does not): rename one and its then: targets",
                )
            seen[(scope, name)] = pointer
            self.task_semantics(pointer, body, zigflow_source=True)
        for pointer, text in _expressions(self.data):
            for match in _DATA_REF.finditer(text):
                if match.group(1) in caught.get(pointer, set()):
                    continue
                self.find(
                    pointer,
                    f"$data.{match.group(1)}: Zigflow keeps every task's result "
                    "under $data; the spec has no such variable (export the result into "
                    "$context and read $context instead)",
                )
            if re.search(r"\$data\b(?!\.)", text):
                self.find(pointer, "$data: Zigflow's per-task results have no spec equivalent")
            if re.search(r"\$output\b", text) and "/output/" not in pointer:
                self.find(
                    pointer,
                    "$output: in Zigflow the previous task's output; the spec "
                    "has it only in output.as/export.as of the task itself",
                )
            if _ZIGFLOW_FUNCTIONS.search(_expression_text(text)):
                self.find(
                    pointer,
                    "uuid/timestamp/timestamp_iso8601 are Zigflow jq functions; "
                    "the spec dialect refuses them (pass the value as input)",
                )
            if "$env" in text:
                self.find(
                    pointer,
                    "$env.NAME reads ZIGGY_NAME in Zigflow and WORKFLOW_ENV_NAME "
                    "in this runner's spec dialect: rename the variable",
                    blocking=False,
                )

    def catch_as_to_spec(self) -> None:
        """``$data.<n>`` inside a catch's or a for's ``do`` → ``$<n>`` (the spec's variable)."""
        for pointer, tasks, bound in self._bindings():
            for name in bound:
                pattern = re.compile(rf"\$data\.{re.escape(name)}\b")
                inner = [f"{pointer}/do{p}" for p, s in _expressions(tasks) if pattern.search(s)]
                self.sub_lines(inner, pattern, f"${name}")

    def _bindings(self) -> Iterator[tuple[str, Any, set[str]]]:
        """(pointer of a catch or for, its do list, the names it binds): Zigflow's ``$data.<n>``,
        the spec's ``$<n>`` — catch.as (default error), for.each/at (default item/index)."""
        for pointer, value in _walk(self.data):
            if pointer.endswith("/catch") and isinstance(value, dict):
                yield pointer, value.get("do"), {str(value.get("as", "error"))}
            elif isinstance(value, dict) and isinstance(value.get("for"), dict):
                loop = value["for"]
                names = {str(loop.get("each", "item")), str(loop.get("at", "index"))}
                yield pointer, value.get("do"), names

    def _caught_names(self) -> dict[str, set[str]]:
        """For each expression inside a catch/for do: the names bound there (rewritten)."""
        names: dict[str, set[str]] = {}
        for pointer, tasks, bound in self._bindings():
            for inner, _ in _expressions(tasks):
                names.setdefault(f"{pointer}/do{inner}", set()).update(bound)
        return names

    def document_workflows(self) -> None:
        tasks = self.data.get("do")
        if (
            isinstance(tasks, list)
            and tasks
            and all(
                isinstance(t, dict)
                and len(t) == 1
                and isinstance(next(iter(t.values())), dict)
                and set(next(iter(t.values()))) <= {"do", "metadata"}
                for t in tasks
            )
        ):
            self.find(
                "/do",
                "a top-level do of named do blocks is several workflows in Zigflow "
                "(one Temporal type per block); the spec runs them one after another: "
                "split the blocks into files of their own",
            )

    # spec -> Zigflow ------------------------------------------------------

    def to_zigflow(self) -> None:
        document = self.data["document"]
        namespace = document.get("namespace")
        if isinstance(namespace, str) and not re.fullmatch(
            r"[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?", namespace
        ):
            self.find(
                "/document/namespace",
                f"namespace {namespace!r} is not an RFC 1123 label, "
                "which Zigflow requires of a task queue",
            )
        self.rename_document((("namespace", "taskQueue"), ("name", "workflowType")))
        refs = [p for p, s in _expressions(self.data) if "$workflow.input" in s]
        self.sub_lines(refs, re.compile(r"\$workflow\.input\b"), "$input")
        # The spec dialect's $data starts as the workflow input's keys; Zigflow's holds
        # task results only: $data.<key> naming no task is the input's key, $input.<key>.
        tasks = {name for _, name, _ in _tasks(self.data)}
        for pointer, text in _expressions(self.data):
            keys = {m.group(1) for m in _DATA_REF.finditer(text)} - tasks
            for key in sorted(keys):
                pattern = re.compile(rf"\$data\.{re.escape(key)}\b")
                self.sub_lines([pointer], pattern, f"$input.{key}")
        self.catch_as_to_zigflow()
        for pointer, _, body in _tasks(self.data):
            self.task_semantics(pointer, body, zigflow_source=False)
        catch_vars = self._catch_vars()
        for pointer, text in _expressions(self.data):
            bare = re.sub(r"\$workflow\.input\b", "", text)
            if re.search(r"\$input\b", bare) and "$workflow.input" not in text:
                self.find(
                    pointer,
                    "$input: the task's input in the spec, the workflow's input "
                    "in Zigflow: read the task input as . in input.from instead",
                )
            if _SPEC_ONLY_VARS.search(text):
                self.find(
                    pointer,
                    "$workflow/$task/$runtime/$secrets/$authorization are spec "
                    "runtime variables Zigflow does not provide",
                )
            if re.search(r"\$output\b", text):
                self.find(
                    pointer,
                    "$output: the task's own output in the spec, the previous "
                    "task's output in Zigflow",
                )
            known = {
                "context",
                "input",
                "output",
                "data",
                "env",
                "workflow",
                "task",
                "runtime",
                "secrets",
                "authorization",
                *catch_vars.get(pointer, set()),
            }
            for match in re.finditer(r"\$([A-Za-z_]\w*)", _expression_text(text)):
                if match.group(1) not in known:
                    self.find(
                        pointer,
                        f"${match.group(1)}: a spec variable (e.g. a for.each or "
                        "catch.as name) that Zigflow reads as $data." + match.group(1),
                    )

    def catch_as_to_zigflow(self) -> None:
        for pointer, tasks, bound in self._bindings():
            for name in bound:
                pattern = re.compile(rf"\${re.escape(name)}\b")
                inner = [f"{pointer}/do{p}" for p, s in _expressions(tasks) if pattern.search(s)]
                self.sub_lines(inner, pattern, f"$data.{name}")

    def _catch_vars(self) -> dict[str, set[str]]:
        return self._caught_names()

    # both -----------------------------------------------------------------

    def task_semantics(self, pointer: str, body: dict[str, Any], *, zigflow_source: bool) -> None:
        there = "Zigflow" if zigflow_source else "the spec"
        other = "the spec" if zigflow_source else "Zigflow"
        fork = body.get("fork")
        if isinstance(fork, dict) and not fork.get("compete", False):
            shapes = ("a map keyed by branch name", "a list in branch order")
            mine, theirs = shapes if zigflow_source else shapes[::-1]
            self.find(
                f"{pointer}/fork",
                f"a non-competing fork's result is {mine} in {there} "
                f"and {theirs} in {other}: expressions reading it need rewriting",
            )
        if isinstance(body.get("for"), dict):
            shapes = ("the list of every iteration's output", "the last iteration's output")
            mine, theirs = shapes if zigflow_source else shapes[::-1]
            self.find(
                f"{pointer}/for",
                f"a for task's result is {mine} in {there} and {theirs} "
                f"in {other} (and Zigflow iterates an object as key/value)",
            )
        wait = body.get("wait")
        if isinstance(wait, dict) and (
            "until" in wait or any(isinstance(v, str) and "${" in v for v in wait.values())
        ):
            self.find(
                f"{pointer}/wait",
                "wait with an expression or until is a Zigflow extension the spec does not have",
            )
        call = body.get("call")
        if call == "activity":
            self.find(
                f"{pointer}/call",
                "call: activity (a Temporal activity by name) is "
                "Zigflow's; the spec has no such call",
            )
        listen = body.get("listen")
        if zigflow_source and isinstance(listen, dict):
            text = repr(listen)
            if "'query'" in text or "'update'" in text or "acceptIf" in text:
                self.find(
                    f"{pointer}/listen",
                    "listen to a Temporal query/update or with "
                    "acceptIf is Zigflow's; the spec listens to CloudEvents",
                )
        metadata = body.get("metadata")
        if zigflow_source and isinstance(metadata, dict):
            for key in metadata:
                self.find(
                    f"{pointer}/metadata/{key}",
                    f"metadata.{key} configures Temporal in "
                    "Zigflow; the spec treats metadata as free-form",
                    blocking=False,
                )


def _expression_text(value: str) -> str:
    """The jq inside ``${ }`` (string literals blanked so their words are not read as code)."""
    inner = "".join(a or b for a, b in _EXPR.findall(value)) or value
    return re.sub(r'"(?:[^"\\]|\\.)*"', '""', inner)


def convert(text: str, file: str, to: str) -> Conversion:
    """``text`` rewritten into dialect ``to``, with every place no faithful rewrite exists.

    Raises :class:`~workflow_runner.dsl.errors.DefinitionError` when the YAML
    itself cannot be read, and ``ValueError`` for an unknown target.
    """
    return _Converter(text, file, to).run()
