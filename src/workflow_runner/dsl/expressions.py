"""Runtime expressions: jq through the ``jq`` package, deterministic inside workflows.

Each distinct expression is compiled once (compiling costs ~1.6 ms, an
evaluation on a 500 KB input ~17 ms: see docs/decisions.md). Arguments are passed as
one input array destructured into ``$context``, ``$input``, ... so the
compiled program is reusable whatever their values.

jq can read the clock and the process environment, which workflow code must
never do (a replay would see different values). The prelude rebinds them:
``now`` is the workflow's deterministic time, ``env``/``$ENV`` are empty,
``input``/``inputs`` fail with a clear message, ``debug``/``stderr`` do nothing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from json.encoder import encode_basestring_ascii as _encode_string  # type: ignore[attr-defined]
from typing import Any

import jq
import orjson

from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.jq_pool import POOL, BudgetExceeded, JqError
from workflow_runner.dsl.jq_subset import UNKNOWN, Closure, compile_subset

EXPRESSION = re.compile(r"^\s*\$\{(?P<body>.*)\}\s*$", re.DOTALL)

# During a workflow activation the Temporal sandbox swaps builtins.isinstance, process-wide,
# for a thread-local wrapper that unwraps its proxies (~1 µs a call instead of ~50 ns).
# What the per-task paths check is plain data and our own models, never a proxy: they use
# the builtin as it was when this module was imported (by the worker, outside the sandbox).
_isinstance = isinstance

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
# ``$x``, ``$x.a.b``, ``.a.b`` (``.`` alone is matched separately).
_SIMPLE_PATH = re.compile(r"^(\$[A-Za-z_][A-Za-z0-9_]*)?((?:\.[A-Za-z_][A-Za-z0-9_]*)*)$")
_MISSING = object()


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


def _fast_path(body: str, data: Any, args: Mapping[str, Any]) -> Any:
    """``.``, ``.a.b``, ``$x.a``, each optionally piped to ``length``, ``keys`` or ``type``:
    answered here, with no jq and no JSON round trip.

    Why: jq parses its input as JSON text, ~0.4 s for a 5 MB document (and the
    text must be made first), while ``.items | length`` on it needs one
    ``len``. Returns ``_MISSING`` when the expression is not of that shape or
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
    value = _fast_path(body, data, args)
    return (False, None) if value is _MISSING else (True, value)


# -- expressions that are bounded by construction ---------------------------------------

# Inputs up to this size may be evaluated in-process by a bounded expression.
BOUNDED_INPUT_BYTES = 64 * 1024
_BOUNDED_MAX_LENGTH = 300
_TOKEN = re.compile(
    r"""\s+
    |(?P<string>"(?:[^"\\]|\\[^(])*")
    |(?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    |(?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
    |(?P<dot>\.)
    |(?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
    |(?P<word>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>//|==|!=|<=|>=|[-+*/%<>(){}\[\]:,])
    |(?P<other>.)""",
    re.VERBOSE,
)
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
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(body) if m.lastgroup]
    if tokens.count(("op", "*")) > 1:
        return False
    brackets: list[str] = []
    for i, (kind, text) in enumerate(tokens):
        before = tokens[i - 1] if i else ("op", "(")
        after = tokens[i + 1] if i + 1 < len(tokens) else ("op", ")")
        key = kind == "word" and after == ("op", ":") and bool(brackets) and brackets[-1] == "{"
        if kind == "other" or (kind == "word" and text not in _BOUNDED_WORDS and not key):
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


def json_size(value: Any, stop_after: int) -> int:
    """Bytes of ``value`` as compact JSON (how Temporal's converter writes it), exactly.

    Stops walking as soon as the count passes ``stop_after`` (and returns
    that partial count), so the check costs O(min(size, stop_after)): a
    runaway output is measured no further than the limit it breaks.
    """
    return _walk(value, stop_after, 0, [True])


def measure(value: Any, stop_after: int) -> tuple[int, bool]:
    """:func:`json_size`, and whether ``value`` is *plain*: jq reads it back unchanged.

    Not plain: a float with no fraction (jq writes ``3.0`` as ``3``), a NaN or
    infinity, a lone surrogate (jq refuses the whole input), a non-string key,
    a tuple or any other non-JSON type; and anything past ``stop_after`` (not
    looked at). Only on plain values may :mod:`~workflow_runner.dsl.jq_subset`
    answer for jq. One walk gives both: the workflow measures every
    expression's input anyway (its pacing counts bytes).
    """
    plain = [True]
    size = _walk(value, stop_after, 0, plain)
    return size, plain[0] and size <= stop_after


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _walk(item: Any, stop: int, total: int, plain: list[bool]) -> int:
    """``total`` plus the JSON size of ``item``; ``plain[0] = False`` on a value jq changes.

    The additions and the early returns are those of the original closure-based walk
    (the partial count past ``stop`` feeds the Pacer, whose yields must replay at the
    same points); exact types are tested first only because it is faster.
    """
    if total > stop:
        return total
    kind = type(item)
    if kind is str:
        if not item.isascii() and _LONE_SURROGATE.search(item):
            plain[0] = False
        return total + len(_encode_string(item))
    if kind is dict:
        total += 1 + max(2 * len(item), 1)  # braces; a colon per key; commas
        for key, child in item.items():
            if type(key) is str:
                if not key.isascii() and _LONE_SURROGATE.search(key):
                    plain[0] = False
                total += len(_encode_string(key))
            else:
                plain[0] = False
                total += len(_encode_string(key if isinstance(key, str) else str(key)))
            if total > stop:
                return total  # (the child's walk would add nothing)
            # short strings and integers inline: most children are leaves
            child_kind = type(child)
            if child_kind is str and child.isascii():
                total += len(_encode_string(child))
            elif child_kind is int:
                total += len(int.__repr__(child))
            else:
                total = _walk(child, stop, total, plain)
            if total > stop:
                return total
        return total
    if kind is list:
        total += 1 + max(len(item), 1)  # brackets and commas
        if total > stop:
            return total
        for child in item:
            child_kind = type(child)
            if child_kind is str and child.isascii():
                total += len(_encode_string(child))
            elif child_kind is int:
                total += len(int.__repr__(child))
            else:
                total = _walk(child, stop, total, plain)
            if total > stop:
                return total
        return total
    if item is None or item is True:
        return total + 4
    if item is False:
        return total + 5
    if kind is int:
        return total + len(int.__repr__(item))
    if kind is float:
        if item.is_integer() or item != item or item in (_INFINITY, -_INFINITY):
            plain[0] = False
        return total + len(_encode_float(item))
    plain[0] = False
    return _walk_subclass(item, stop, total, plain)


_INFINITY = float("inf")


def _walk_subclass(item: Any, stop: int, total: int, plain: list[bool]) -> int:
    """Subclasses of the JSON types, tuples and the rest, as the original walk took them."""
    if isinstance(item, str):
        return total + len(_encode_string(item))
    if isinstance(item, dict):
        total += 1 + max(2 * len(item), 1)
        for key, child in item.items():
            total += len(_encode_string(key if isinstance(key, str) else str(key)))
            total = _walk(child, stop, total, plain)
            if total > stop:
                return total
        return total
    if isinstance(item, list | tuple):
        total += 1 + max(len(item), 1)
        for child in item:
            total = _walk(child, stop, total, plain)
            if total > stop:
                return total
        return total
    if isinstance(item, int):
        return total + len(int.__repr__(item))
    if isinstance(item, float):
        return total + len(_encode_float(item))
    return total + len(json.dumps(item, default=str))


def larger_than(value: Any, limit: int) -> bool:
    """Whether ``value``'s compact JSON is over ``limit`` bytes; costs O(limit) at most."""
    return json_size(value, limit) > limit


def _encode_float(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Infinity" if value > 0 else "-Infinity"
    return float.__repr__(value)


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


@lru_cache(maxsize=4096)
def _program_text(body: str, names: tuple[str, ...]) -> str:
    bindings = ", ".join(["$__d", "$__now", "$ENV", *(f"${n}" for n in names)])
    zigflow = _ZIGFLOW_PRELUDE if ZIGFLOW_FUNCTIONS_ARG in names else ""
    return f". as [{bindings}] | {_PRELUDE}{zigflow}$__d | ({body})"


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
    :func:`measure` said of ``[data, args]`` (measured here when not given).
    """
    if not selected:
        args = select_args(body, args)
        hit, value = try_fast_path(body, data, args)
        if hit:
            return value
    subset = _subset(body)
    if subset is not None:
        if plain is None:
            plain = measure([data, args], BOUNDED_INPUT_BYTES)[1]
        if plain:
            value = subset(data, args)
            if value is not UNKNOWN:
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


# -- JSON ----------------------------------------------------------------------------

_SORTED = orjson.OPT_SORT_KEYS


def to_json(value: Any, *, sort_keys: bool = True) -> bytes:
    """Compact JSON; with ``sort_keys``, the bytes Temporal's JSON converter writes (ASCII data).

    orjson (Rust) is ~9x faster than ``json.dumps`` here: 12 ms against 110 ms
    for a 5 MB document (bench/large_documents.py), and it returns ``bytes``, so
    nothing is encoded a second time before going down a pipe or into a
    payload. Non-ASCII text comes out as UTF-8 instead of ``\\uXXXX`` escapes
    (shorter; decodes to the same strings). What orjson refuses (integers
    beyond 64 bits, non-string keys) goes through ``json``, as before.
    """
    try:
        return orjson.dumps(value, option=_SORTED if sort_keys else None)
    except TypeError:
        text = json.dumps(value, sort_keys=sort_keys, separators=(",", ":"), default=vars)
        return text.encode()


def from_json(data: bytes | bytearray | str) -> Any:
    """Parse JSON text with ``json``, on purpose not orjson.

    orjson reads an integer beyond 64 bits as a float (``10**30`` came back as
    ``1e+30``): a 20-digit id would silently change. Finding such numbers first
    cost ~20 ms per 5 MB, which leaves orjson (~48 ms) no faster than ``json``
    (~62 ms) for decoding; encoding is where it pays.
    """
    return json.loads(data)


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
