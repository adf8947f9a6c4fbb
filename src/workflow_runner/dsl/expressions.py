"""Runtime expressions: jq through the ``jq`` package, deterministic inside workflows.

Each distinct expression is compiled once (compiling costs ~1.6 ms, an
evaluation on a 500 KB input ~17 ms: see NOTES.md). Arguments are passed as
one input array destructured into ``$context``, ``$input``, ... so the
compiled program is reusable whatever their values.

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

from workflow_runner.dsl.errors import WorkflowError

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
    bindings = ", ".join(["$__d", "$__now", "$ENV", *(f"${n}" for n in names)])
    return jq.compile(f". as [{bindings}] | {_PRELUDE}$__d | ({body})")


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


def evaluate(
    body: str, data: Any, args: Mapping[str, Any], *, now: float = 0.0, where: str = ""
) -> Any:
    """Evaluate one jq body; its first result (``null`` when it yields nothing)."""
    names = tuple(sorted(args))
    try:
        program = _compile(body, names)
        return program.input_value([data, now, {}, *(args[n] for n in names)]).first()
    except StopIteration:
        return None
    except ValueError as e:
        raise WorkflowError.of(
            "expression",
            f"jq expression {body!r} failed: {_clean_jq_message(str(e))}",
            title="Expression error",
            instance=where or None,
        ) from None


def evaluate_value(value: Any, data: Any, args: Mapping[str, Any], **kw: Any) -> Any:
    """Deep-evaluate: every ``${ }`` string in a structure is replaced by its value."""
    if isinstance(value, str):
        match = EXPRESSION.match(value)
        return evaluate(match.group("body").strip(), data, args, **kw) if match else value
    if isinstance(value, dict):
        return {k: evaluate_value(v, data, args, **kw) for k, v in value.items()}
    if isinstance(value, list):
        return [evaluate_value(v, data, args, **kw) for v in value]
    return value


def evaluate_field(value: Any, data: Any, args: Mapping[str, Any], **kw: Any) -> Any:
    """Fields that are always expressions (``if``, ``input.from``, ``output.as`` ...).

    A string is jq with or without ``${ }``; an object or array is evaluated deeply.
    """
    if isinstance(value, str):
        return evaluate(expression_body(value), data, args, **kw)
    return evaluate_value(value, data, args, **kw)


def truthy(value: Any) -> bool:
    """jq's notion: only ``false`` and ``null`` are false."""
    return value is not None and value is not False
