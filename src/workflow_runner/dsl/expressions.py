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
from collections.abc import Awaitable, Callable, Mapping
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


_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_SIMPLE_PATH = re.compile(r"^(\.|\$[A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*)*)$")
_MISSING = object()


@lru_cache(maxsize=4096)
def referenced_names(body: str) -> frozenset[str]:
    """``$names`` an expression mentions: only those are bound (and serialized)."""
    return frozenset(_VARIABLE.findall(body))


def select_args(body: str, args: Mapping[str, Any]) -> dict[str, Any]:
    wanted = referenced_names(body)
    return {name: value for name, value in args.items() if name in wanted}


def _fast_path(body: str, data: Any, args: Mapping[str, Any]) -> Any:
    """``.``, ``.a.b``, ``$x.a``: plain lookups need no jq (and no JSON round trip).

    Returns ``_MISSING`` when the expression is not such a path or a step is
    not an object, so jq decides (and reports errors) exactly as it would.
    """
    match = _SIMPLE_PATH.match(body)
    if match is None:
        return _MISSING
    root, path = match.groups()
    if root == ".":
        value = data
    elif root[1:] in args:
        value = args[root[1:]]
    else:
        return _MISSING
    for key in path.split(".")[1:]:
        if value is None:
            return None
        if not isinstance(value, dict):
            return _MISSING
        value = value.get(key)
    return value


def try_fast_path(body: str, data: Any, args: Mapping[str, Any]) -> tuple[bool, Any]:
    value = _fast_path(body, data, args)
    return (False, None) if value is _MISSING else (True, value)


def larger_than(value: Any, limit: int) -> bool:
    """Whether ``value``'s JSON is (roughly) over ``limit`` bytes, without serializing it.

    Stops walking as soon as the limit is passed, so the check costs O(limit).
    """
    budget = [limit]

    def walk(item: Any) -> bool:
        if isinstance(item, str):
            budget[0] -= len(item) + 2
        elif isinstance(item, dict):
            for key, child in item.items():
                budget[0] -= len(key) + 4
                if budget[0] < 0 or walk(child):
                    return True
        elif isinstance(item, list):
            for child in item:
                budget[0] -= 1
                if budget[0] < 0 or walk(child):
                    return True
        else:
            budget[0] -= 8
        return budget[0] < 0

    return walk(value)


def evaluate(
    body: str, data: Any, args: Mapping[str, Any], *, now: float = 0.0, where: str = ""
) -> Any:
    """Evaluate one jq body; its first result (``null`` when it yields nothing)."""
    args = select_args(body, args)
    hit, value = try_fast_path(body, data, args)
    if hit:
        return value
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


Evaluator = Callable[[str, Any, Mapping[str, Any], str], Awaitable[Any]]


async def evaluate_value(
    value: Any, data: Any, args: Mapping[str, Any], one: Evaluator, where: str
) -> Any:
    """Deep-evaluate: every ``${ }`` string in a structure is replaced by its value.

    ``one`` evaluates a single jq body; the interpreter supplies one that may
    move big evaluations off the workflow thread.
    """
    if isinstance(value, str):
        match = EXPRESSION.match(value)
        return await one(match.group("body").strip(), data, args, where) if match else value
    if isinstance(value, dict):
        return {
            k: await evaluate_value(v, data, args, one, f"{where}/{k}") for k, v in value.items()
        }
    if isinstance(value, list):
        return [
            await evaluate_value(v, data, args, one, f"{where}/{i}") for i, v in enumerate(value)
        ]
    return value


async def evaluate_field(
    value: Any, data: Any, args: Mapping[str, Any], one: Evaluator, where: str
) -> Any:
    """Fields that are always expressions (``if``, ``input.from``, ``output.as`` ...).

    A string is jq with or without ``${ }``; an object or array is evaluated deeply.
    """
    if isinstance(value, str):
        return await one(expression_body(value), data, args, where)
    return await evaluate_value(value, data, args, one, where)


def truthy(value: Any) -> bool:
    """jq's notion: only ``false`` and ``null`` are false."""
    return value is not None and value is not False
