"""Runtime expressions evaluated: jq through the ``jq`` package, deterministic inside workflows.

An expression is compiled once per distinct body (``dsl/expression_syntax.py``,
which also says what it uses and whether it is bounded); this module runs it
on data. Plain paths (``.a.b``, ``$x.y``, optionally piped to ``length``,
``keys`` or ``type``) are answered here, jq's bounded subset on plain inputs
in Python (``dsl/jq_subset.py``), the rest in a killable evaluator process
within a :class:`Budget` (``dsl/jq_pool.py``). Arguments are passed as one
input array destructured into ``$context``, ``$input``, ... so the compiled
program is reusable whatever their values.

The names the rest of the code has always imported from here (the syntax
helpers and the JSON helpers of ``dsl/json_values.py``) are re-exported, so
``from workflow_runner.dsl.expressions import X`` keeps working; they are the
same objects, not wrappers.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expression_syntax import (
    BOUNDED_INPUT_BYTES,
    EXPRESSION,
    STANDARD_ARGS,
    ZIGFLOW_FUNCTIONS_ARG,
    _body_of,
    _clean_jq_message,
    _compile,
    _program_text,
    _subset,
    check_syntax,
    expression_body,
    field_body,
    is_bounded,
    is_expression,
    referenced_names,
    select_args,
    template_body,
    uses_clock,
    uses_uuid,
    wanted_names,
)
from workflow_runner.dsl.jq_pool import POOL, BudgetExceeded, JqError
from workflow_runner.dsl.jq_subset import UNKNOWN
from workflow_runner.dsl.json_values import (
    from_json,
    json_size,
    larger_than,
    measure,
    measure_pair,
    to_json,
)

__all__ = [
    "BOUNDED_INPUT_BYTES",
    "DEFAULT_BUDGET",
    "EXPRESSION",
    "INLINE_TIMEOUT_CAP",
    "NOT_ANSWERED",
    "STANDARD_ARGS",
    "ZIGFLOW_FUNCTIONS_ARG",
    "Budget",
    "Evaluator",
    "check_syntax",
    "evaluate",
    "evaluate_field",
    "evaluate_value",
    "expression_body",
    "fast_path",
    "fast_path_reaches",
    "field_body",
    "from_json",
    "is_bounded",
    "is_expression",
    "json_size",
    "larger_than",
    "measure",
    "measure_pair",
    "referenced_names",
    "select_args",
    "subset_answer",
    "template_body",
    "to_json",
    "truthy",
    "try_fast_path",
    "uses_clock",
    "uses_uuid",
    "wanted_names",
]

# During a workflow activation the Temporal sandbox swaps builtins.isinstance, process-wide,
# for a thread-local wrapper that unwraps its proxies (~1 µs a call instead of ~50 ns).
# What the per-task paths check is plain data and our own models, never a proxy: they use
# the builtin as it was when this module was imported (by the worker, outside the sandbox).
_isinstance = isinstance

# -- plain paths answered in Python (the fast path) ------------------------------------

# ``$x``, ``$x.a.b``, ``.a.b`` (``.`` alone is matched separately).
_SIMPLE_PATH = re.compile(r"^(\$[A-Za-z_][A-Za-z0-9_]*)?((?:\.[A-Za-z_][A-Za-z0-9_]*)*)$")
_MISSING = object()
NOT_ANSWERED: Any = _MISSING  # what fast_path returns for a body it does not answer


def fast_path(body: str, data: Any, args: Mapping[str, Any]) -> Any:
    """``.``, ``.a.b``, ``$x.a``, each optionally piped to ``length``, ``keys`` or ``type``:
    answered here, with no jq and no JSON round trip.

    Why: jq parses its input as JSON text, ~0.4 s for a 5 MB document (and the
    text must be made first), while ``.items | length`` on it needs one
    ``len``. Returns ``NOT_ANSWERED`` when the expression is not of that shape or
    a step is not what the path or builtin expects (jq would raise), so jq
    decides, and reports errors, exactly as it would.
    """
    if body == ".":
        return data
    shape = _path_shape(body)
    if shape is None:
        return _MISSING
    root, keys, pipes = shape
    if root is None:
        value = data
    elif root in args:
        value = args[root]
    else:
        return _MISSING
    for key in keys:
        if value is None:
            value = None
            break
        if not _isinstance(value, dict):
            return _MISSING
        value = value.get(key)
    for name in pipes:
        if value is _MISSING:
            return _MISSING
        value = _BUILTINS[name](value)
    return value


@lru_cache(maxsize=4096)
def _path_shape(body: str) -> tuple[str | None, tuple[str, ...], tuple[str, ...]] | None:
    """``(variable or None for ., keys, builtins piped to)`` of a body the fast path
    answers, or None: parsed once per body (every run meets the same few)."""
    if "|" in body:
        path, *pipes = (part.strip() for part in body.split("|"))
        if not pipes or any(p not in _BUILTINS for p in pipes):
            return None
    else:
        path, pipes = body, []
    if path == ".":
        return None, (), tuple(pipes)
    match = _SIMPLE_PATH.match(path)
    if match is None or not path:
        return None
    root, keys = match.groups()
    return (root[1:] if root else None), tuple(keys.split(".")[1:]), tuple(pipes)


def fast_path_reaches(body: str, variable: str, key: str) -> bool:
    """Whether ``body``, answered by :func:`fast_path`, may return ``$variable.key`` or a
    value holding it (``$variable`` itself, ``$variable.key...``, piped or not)."""
    shape = _path_shape(body)
    return shape is not None and shape[0] == variable and (not shape[1] or shape[1][0] == key)


def _length(value: Any) -> Any:
    """jq's ``length``: codepoints of a string, items of an array or object, 0 for null,
    the absolute value of an integer (floats and booleans are left to jq)."""
    if value is None:
        return 0
    if isinstance(value, str | list | dict):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return abs(value)
    return _MISSING


def _keys(value: Any) -> Any:
    """jq's ``keys``: an object's keys sorted by codepoint, an array's indices."""
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return sorted(value)
    if isinstance(value, list):
        return list(range(len(value)))
    return _MISSING


def _type(value: Any) -> Any:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return _MISSING


_BUILTINS: dict[str, Callable[[Any], Any]] = {"length": _length, "keys": _keys, "type": _type}


def try_fast_path(body: str, data: Any, args: Mapping[str, Any]) -> tuple[bool, Any]:
    """:func:`fast_path` as ``(answered, value)``."""
    value = fast_path(body, data, args)
    return (False, None) if value is _MISSING else (True, value)


# -- evaluation in a killable process -------------------------------------------------

# Workflow code must hand control back to Temporal within 2 s (its deadlock
# detector), so an evaluation inside workflow code gets at most this long,
# whatever EXPRESSION_TIMEOUT_SECONDS says; the rest of the 2 s is left for
# the other work of the same workflow task.
INLINE_TIMEOUT_CAP = 1.0


@dataclass(frozen=True)
class Budget:
    """What one evaluation may spend: EXPRESSION_TIMEOUT_SECONDS, EXPRESSION_MAX_MEMORY_MB."""

    seconds: float = 60.0
    memory_mb: int = 1024
    setting: str = "EXPRESSION_TIMEOUT_SECONDS"

    def inline(self) -> Budget:
        """The budget inside workflow code: capped below Temporal's deadlock detector.

        Asked for every inline evaluation: made once per budget, kept on it (not a
        field: equality, hash and repr ignore it).
        """
        capped: Budget | None = self.__dict__.get("_inline")
        if capped is None:
            capped = self._capped()
            object.__setattr__(self, "_inline", capped)
        return capped

    def _capped(self) -> Budget:
        if self.seconds <= INLINE_TIMEOUT_CAP:
            return self
        return replace(
            self,
            seconds=INLINE_TIMEOUT_CAP,
            setting=(
                f"the cap for expressions evaluated inside workflow code (Temporal's deadlock "
                f"detector allows 2 s; EXPRESSION_TIMEOUT_SECONDS={self.seconds:g} applies to "
                f"inputs over 256 KiB)"
            ),
        )


DEFAULT_BUDGET = Budget()


def evaluate(
    body: str,
    data: Any,
    args: Mapping[str, Any],
    *,
    now: float = 0.0,
    where: str = "",
    budget: Budget = DEFAULT_BUDGET,
    interruptible: bool = False,
    in_process: bool = False,
    selected: bool = False,
    plain: bool | None = None,
) -> Any:
    """Evaluate one jq body; its first result (``null`` when it yields nothing).

    Plain paths are answered here, and so is jq's bounded subset on plain
    inputs (:mod:`~workflow_runner.dsl.jq_subset`); anything else runs in a jq evaluator
    process (:mod:`workflow_runner.dsl.jq_pool`) that is killed when the
    budget runs out, since jq cannot be interrupted in-process.
    ``interruptible`` (activities only) lets a stopping worker kill it:
    :class:`~workflow_runner.dsl.jq_pool.EvaluatorStopped` is raised then.
    ``in_process`` (the caller measured the input: at most
    BOUNDED_INPUT_BYTES) lets an expression that :func:`is_bounded` skip the
    process round trip. ``selected``: the caller already applied
    :func:`select_args` and :func:`try_fast_path`; ``plain``: what
    :func:`measure_pair` said of ``data`` and ``args`` (measured here when not given).
    """
    if not selected:
        args = select_args(body, args)
        hit, value = try_fast_path(body, data, args)
        if hit:
            return value
    if plain is None and _subset(body) is not None:
        plain = measure_pair(data, args, BOUNDED_INPUT_BYTES)[1]
    if plain:
        value = subset_answer(body, data, args)
        if value is not _MISSING:
            return value
    names = tuple(sorted(args))
    if in_process and is_bounded(body):
        try:
            return (
                _compile(body, names)
                .input_value([data, now, {}, *(args[n] for n in names)])
                .first()
            )
        except StopIteration:
            return None
        except ValueError as e:
            raise _expression_error(body, f"failed: {_clean_jq_message(str(e))}", where) from None
    # Key order as the workflow holds it: jq keeps it (``to_entries``, ``keys_unsorted``).
    payload = to_json([data, now, {}, *(args[n] for n in names)], sort_keys=False)
    try:
        output = POOL.evaluate(
            _program_text(body, names),
            payload,
            timeout=budget.seconds,
            memory_mb=budget.memory_mb,
            interruptible=interruptible,
        )
    except JqError as e:
        raise _expression_error(body, f"failed: {_clean_jq_message(str(e))}", where) from None
    except BudgetExceeded as e:
        raise _expression_error(body, _budget_message(e, budget), where) from None
    return from_json(output) if output else None


def subset_answer(body: str, data: Any, args: Mapping[str, Any]) -> Any:
    """``body``'s value from jq's subset in Python (dsl/jq_subset.py), or ``NOT_ANSWERED``;
    only for *plain* ``data`` and ``args`` (:func:`measure_pair`), selected for ``body``.

    The workflow asks it first, before :func:`evaluate` and its keyword arguments,
    budget and clock: most expressions of a loop are answered here.
    """
    subset = _subset(body)
    if subset is None:
        return _MISSING
    value = subset(data, args)
    return _MISSING if value is UNKNOWN else value


def _budget_message(error: BudgetExceeded, budget: Budget) -> str:
    if error.kind == "time":
        return (
            f"did not finish within its time budget of {budget.seconds:g} s ({budget.setting}); "
            "is it an endless loop such as until(false; .) or repeat(.)?"
        )
    if error.kind == "memory":
        return f"ran out of its memory budget of {budget.memory_mb} MiB (EXPRESSION_MAX_MEMORY_MB)"
    return f"could not be evaluated: {error}"


def _expression_error(body: str, problem: str, where: str) -> WorkflowError:
    shown = body if len(body) <= 200 else body[:200] + "..."
    return WorkflowError.of(
        "expression",
        f"jq expression {shown!r} {problem}",
        title="Expression error",
        instance=where or None,
    )


Evaluator = Callable[[str, Any, Mapping[str, Any], str], Awaitable[Any]]


async def evaluate_value(
    value: Any, data: Any, args: Mapping[str, Any], one: Evaluator, where: str
) -> Any:
    """Deep-evaluate: every ``${ }`` string in a structure is replaced by its value.

    ``one`` evaluates a single jq body; the interpreter supplies one that may
    move big evaluations off the workflow thread.
    """
    if _isinstance(value, str):
        body = _body_of(value)
        return value if body is None else await one(body, data, args, where)
    if _isinstance(value, dict):
        return {
            k: await evaluate_value(v, data, args, one, f"{where}/{k}") for k, v in value.items()
        }
    if _isinstance(value, list):
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
    if _isinstance(value, str):
        return await one(field_body(value), data, args, where)
    return await evaluate_value(value, data, args, one, where)


def truthy(value: Any) -> bool:
    """jq's notion: only ``false`` and ``null`` are false."""
    return value is not None and value is not False
