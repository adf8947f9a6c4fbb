"""Runtime expressions before they run: recognised, compiled, analysed (cached per body).

Everything here looks at an expression's text, never at data: whether a
string is ``${ ... }`` and its jq body, the jq program a body becomes (the
arguments destructured from one input array, and the prelude that keeps jq
deterministic inside workflows), compiling it to check its syntax (each
distinct body once: compiling costs ~1.6 ms, see docs/decisions.md), which
``$names`` it uses (only those are bound and serialized), whether it reads
the clock or Zigflow's ``uuid``, and whether it is bounded by construction
(then it may run in-process). Reading a definition needs only this module;
evaluation (``dsl/expressions.py``) builds on it.

jq can read the clock and the process environment, which workflow code must
never do (a replay would see different values). The prelude rebinds them:
``now`` is the workflow's deterministic time, ``env``/``$ENV`` are empty,
``input``/``inputs`` fail with a clear message, ``debug``/``stderr`` do nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jq

from workflow_runner.dsl.jq_subset import TOKEN, Closure, compile_subset

EXPRESSION = re.compile(r"^\s*\$\{(?P<body>.*)\}\s*$", re.DOTALL)

# Every argument an expression may use, whether or not a run provides it.
STANDARD_ARGS = (
    "context",
    "input",
    "output",
    "workflow",
    "task",
    "runtime",
    "secrets",
    "data",  # Zigflow
    "env",  # Zigflow
    "authorization",
)

# Bound (as ``$__zigflow``) in the Zigflow dialect only: it carries the value of
# ``uuid`` for this evaluation, made by the workflow so that a replay sees the
# same one, and its presence defines Zigflow's jq functions (see _program_text).
ZIGFLOW_FUNCTIONS_ARG = "__zigflow"
_ZIGFLOW_PRELUDE = (
    "def uuid: $__zigflow.uuid; "
    "def timestamp: $__now | floor; "
    "def timestamp_iso8601: $__now | floor | todate; "
)
_USES_UUID = re.compile(r"(?<![A-Za-z0-9_$.])uuid(?![A-Za-z0-9_])")


@lru_cache(maxsize=4096)
def uses_clock(body: str) -> bool:
    """Whether ``body`` may read the workflow's time (``now``, Zigflow's ``timestamp``...,
    all defined on ``$__now``): when not, the caller need not ask Temporal for it."""
    return "now" in body or "timestamp" in body


def uses_uuid(body: str) -> bool:
    """Whether ``body`` may call Zigflow's ``uuid`` (then the workflow makes one for it)."""
    return _USES_UUID.search(body) is not None


_PRELUDE = (
    "def now: $__now; "
    "def env: {}; "
    'def input: error("jq input is not available in workflow expressions"); '
    'def inputs: error("jq inputs is not available in workflow expressions"); '
    "def debug: .; def debug(msg): .; def stderr: .; "
    "def input_filename: null; def input_line_number: 0; "
    "def localtime: gmtime; def strflocaltime(f): strftime(f); "
    "def halt: .; def halt_error: error(.); def halt_error(code): error(.); "
    "def get_search_list: []; "
)


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and EXPRESSION.match(value) is not None


def expression_body(value: str) -> str:
    """The jq text of ``${ ... }``, or the string itself for expression-only fields."""
    match = EXPRESSION.match(value)
    return match.group("body").strip() if match else value.strip()


@lru_cache(maxsize=4096)
def _compile(body: str, names: tuple[str, ...]) -> Any:
    """Compiled in this process only to check syntax: compiling always terminates."""
    return jq.compile(_program_text(body, names))


@lru_cache(maxsize=4096)
def _subset(body: str) -> Closure | None:
    """The Python closure of ``body`` (dsl/jq_subset.py), only for a body jq compiles:
    the subset's parser leans on jq's grammar for what it does not check itself."""
    if check_syntax(body, tuple(sorted(referenced_names(body) - {"ENV"}))) is not None:
        return None
    return compile_subset(body)


def check_syntax(body: str, names: tuple[str, ...]) -> str | None:
    """A compile error message, or ``None`` when the expression is valid jq."""
    try:
        _compile(body, names)
    except ValueError as e:
        return _clean_jq_message(str(e))
    return None


def _clean_jq_message(message: str) -> str:
    first = message.strip().splitlines()[0] if message.strip() else message
    return first.replace("jq: error: ", "").split(" at <top-level>")[0]


_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@lru_cache(maxsize=4096)
def referenced_names(body: str) -> frozenset[str]:
    """``$names`` an expression mentions: only those are bound (and serialized)."""
    return frozenset(_VARIABLE.findall(body))


@lru_cache(maxsize=4096)
def _wanted(body: str) -> tuple[str, ...]:
    return (*sorted(referenced_names(body)), ZIGFLOW_FUNCTIONS_ARG)


def wanted_names(body: str) -> tuple[str, ...]:
    """The names :func:`select_args` keeps for ``body``, in its order (cached)."""
    return _wanted(body)


def select_args(body: str, args: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments ``body`` mentions (and Zigflow's functions): looked up by the few
    names it mentions rather than filtering every argument of the task."""
    return {name: args[name] for name in _wanted(body) if name in args}


# -- expressions that are bounded by construction ---------------------------------------

# Inputs up to this size may be evaluated in-process by a bounded expression.
BOUNDED_INPUT_BYTES = 64 * 1024
_BOUNDED_MAX_LENGTH = 300
_BOUNDED_WORDS = frozenset({"and", "or", "true", "false", "null"})


@lru_cache(maxsize=4096)
def is_bounded(body: str) -> bool:
    """Whether jq provably finishes ``body`` quickly on a small input, so it may run in-process.

    A deliberately small language: paths (``.a.b``, ``$x.y``), literals,
    arithmetic, comparisons, ``//``, ``and``/``or``, and object and array
    construction. No pipe, no function, no iteration, no ``as``, no
    generator (a comma only separates the items of an object or array), so
    every sub-expression yields one value, computed once: time and output
    are at most (expression length) x (input size). ``*`` and ``-`` need a
    number literal on one side (``"x" * 1e9`` and array difference are the
    unbounded cases), the literal of ``*`` at most 10 and one ``*`` at most.
    Everything else goes to a killable evaluator process.
    """
    if len(body) > _BOUNDED_MAX_LENGTH:
        return False
    tokens = [(m.lastgroup, m.group()) for m in TOKEN.finditer(body) if m.lastgroup]
    if tokens.count(("op", "*")) > 1:
        return False
    brackets: list[str] = []
    for i, (kind, text) in enumerate(tokens):
        before = tokens[i - 1] if i else ("op", "(")
        after = tokens[i + 1] if i + 1 < len(tokens) else ("op", ")")
        key = kind == "word" and after == ("op", ":") and bool(brackets) and brackets[-1] == "{"
        if kind == "other" or (kind == "word" and text not in _BOUNDED_WORDS and not key):
            return False
        if text == ";":  # range(0; n), limit(...): argument lists of functions
            return False
        if kind == "dot" and after[0] in ("dot", "string", "field"):
            return False  # .., ."key"
        if kind == "op":
            if text in "([{":
                if text == "[" and before[0] in ("field", "dot", "var", "word", "string", "number"):
                    return False  # .[0], .["k"], .[] ...: indexing and iteration
                if text == "[" and before in (("op", "]"), ("op", ")"), ("op", "}")):
                    return False
                brackets.append(text)
            elif text in ")]}":
                if not brackets or "([{"[")]}".index(text)] != brackets.pop():
                    return False
            elif text == "," and (not brackets or brackets[-1] == "("):
                return False  # a generator
            elif text in ("*", "-") and not _small_number(before, after, text):
                return False
    return not brackets


def _small_number(before: tuple[str | None, str], after: tuple[str | None, str], op: str) -> bool:
    for kind, text in (before, after):
        if kind == "number" and (op == "-" or float(text) <= 10):
            return True
    return False


@lru_cache(maxsize=4096)
def _program_text(body: str, names: tuple[str, ...]) -> str:
    bindings = ", ".join(["$__d", "$__now", "$ENV", *(f"${n}" for n in names)])
    zigflow = _ZIGFLOW_PRELUDE if ZIGFLOW_FUNCTIONS_ARG in names else ""
    return f". as [{bindings}] | {_PRELUDE}{zigflow}$__d | ({body})"


@lru_cache(maxsize=4096)
def _body_of(value: str) -> str | None:
    """The jq body of a ``${ }`` string, ``None`` for a plain string (a task's strings are
    few and met on every run: matched once)."""
    match = EXPRESSION.match(value)
    return match.group("body").strip() if match else None


def template_body(value: str) -> str | None:
    """:func:`evaluate_value` on one string: its jq body, or ``None`` (a plain string)."""
    return _body_of(value)


def field_body(value: str) -> str:
    """:func:`evaluate_field` on one string: its jq body, with or without ``${ }``."""
    body = _body_of(value)
    return value.strip() if body is None else body
