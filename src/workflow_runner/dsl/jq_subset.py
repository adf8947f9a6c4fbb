"""A small part of jq, evaluated in Python when that is sure to give jq's answer.

Why: a ``set`` such as ``${ . + {n: (.n + 1)} }`` costs ~30 µs through the
``jq`` package (the input is written as JSON text, parsed by jq, the output
written and parsed back), most of a DSL task's cost: bench/overhead.yaml runs
about 110 of them per run. Compiled here to Python closures they cost a few
microseconds, with no JSON round trip.

Correctness rule: a closure answers only when it is sure to give what jq
would; anything else returns :data:`UNKNOWN` and jq decides (and words its
errors). Its inputs must be *plain* (``json_values.measure``): no float without
a fraction (jq turns ``3.0`` into ``3``), no lone surrogate, string keys only;
then what it passes through is what jq would pass through.

It answers paths (``.a.b``, ``$x.a``, ``(...).a``), literals
(integers, JSON strings, ``true``/``false``/``null``), ``+`` ``-`` ``*`` ``/``
``%`` on numbers (results jq prints as integers come back as ``int``, as they
do through JSON), ``+`` on strings, arrays and objects, ``==`` ``!=`` on any
values, ``<`` ``<=`` ``>`` ``>=`` on scalars, ``and``, ``or``, ``//``, array
and object construction, and ``[range(n)]`` / ``[range(a; b)]`` with
literal bounds. A type jq refuses, an integer beyond 2^53, a non-finite or
big float, unary minus: all UNKNOWN. tests/dsl/test_jq_subset.py checks
every construct against jq itself, values of every JSON type included.
The parser follows jq's precedence (``//`` below ``or`` below ``and``
below comparisons below ``+``/``-`` below ``*``/``/``/``%``; object values
are terms), and only programs jq itself compiles are given to it.
"""

from __future__ import annotations

import json
import math
import re
import weakref
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

UNKNOWN: Any = object()
"""What a closure returns when jq must decide."""

Closure = Callable[[Any, Mapping[str, Any]], Any]

# Numbers are doubles in jq: integers are exact up to 2^53.
_EXACT = 2**53
# A double jq writes without a fraction or exponent below this is read back as an int.
_INTEGRAL_FLOAT = 1e15
# [range(n)]: larger ranges go to jq (in an evaluator process, with its budget).
MAX_RANGE = 100_000

# jq's tokens, as far as the subset (and expression_syntax.is_bounded) need them.
TOKEN = re.compile(
    r"""\s+
    |(?P<string>"(?:[^"\\]|\\[^(])*")
    |(?P<number>\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
    |(?P<field>\.[A-Za-z_][A-Za-z0-9_]*)
    |(?P<dot>\.)
    |(?P<var>\$[A-Za-z_][A-Za-z0-9_]*)
    |(?P<word>[A-Za-z_][A-Za-z0-9_]*)
    |(?P<op>//|==|!=|<=|>=|[-+*/%<>(){}\[\]:,;])
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_SURROGATE = re.compile("[\ud800-\udfff]")
_COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})


class _Unsupported(Exception):
    """The parser met something it does not translate: jq evaluates the expression."""


@lru_cache(maxsize=4096)
def compile_subset(body: str) -> Closure | None:
    """A closure ``(data, args) -> value | UNKNOWN`` for ``body``, or ``None`` when
    ``body`` is outside the subset (the caller then runs jq).

    The caller must only pass bodies jq compiles (``expression_syntax.check_syntax``):
    the parser relies on jq's grammar for what it does not check itself.
    """
    tokens: list[tuple[str, str]] = []
    for match in TOKEN.finditer(body):
        kind = match.lastgroup
        if kind is None:  # whitespace
            continue
        if kind == "other":
            return None
        tokens.append((kind, match.group()))
    parser = _Parser(tokens)
    try:
        closure = parser.alternative()
        if parser.position != len(tokens):
            return None
    except _Unsupported:
        return None
    return closure


class _Parser:
    """Recursive descent over jq's precedence levels, building closures."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.position = 0

    def peek(self) -> tuple[str, str]:
        if self.position < len(self.tokens):
            return self.tokens[self.position]
        return ("end", "")

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token[0] == "end":
            raise _Unsupported
        self.position += 1
        return token

    def expect(self, text: str) -> None:
        if self.take() != ("op", text):
            raise _Unsupported

    # -- binary operators, lowest precedence first ----------------------------------------

    def alternative(self) -> Closure:
        left = self.disjunction()
        if self.peek() == ("op", "//"):
            self.take()
            return _alternative(left, self.alternative())  # right associative
        return left

    def disjunction(self) -> Closure:
        left = self.conjunction()
        while self.peek() == ("word", "or"):
            self.take()
            left = _or(left, self.conjunction())
        return left

    def conjunction(self) -> Closure:
        left = self.comparison()
        while self.peek() == ("word", "and"):
            self.take()
            left = _and(left, self.comparison())
        return left

    def comparison(self) -> Closure:
        left = self.sum()
        kind, text = self.peek()
        if kind == "op" and text in _COMPARISONS:
            self.take()
            left = _compare(text, left, self.sum())
            if self.peek()[0] == "op" and self.peek()[1] in _COMPARISONS:
                raise _Unsupported  # non-associative in jq
        return left

    def sum(self) -> Closure:
        left = self.product()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            left = _binary(_plus if op == "+" else _minus, left, self.product())
        return left

    def product(self) -> Closure:
        left = self.postfix()
        while self.peek() in (("op", "*"), ("op", "/"), ("op", "%")):
            op = self.take()[1]
            right = self.postfix()
            left = _binary({"*": _times, "/": _divide, "%": _modulo}[op], left, right)
        return left

    # -- terms ---------------------------------------------------------------------------

    def postfix(self) -> Closure:
        term = self.term()
        while self.peek()[0] == "field":
            term = _field(term, self.take()[1][1:])
        return term

    def term(self) -> Closure:
        kind, text = self.take()
        if kind == "dot":
            return _identity
        if kind == "field":
            return _field(_identity, text[1:])
        if kind == "var":
            if text.startswith("$__"):
                raise _Unsupported  # $__loc__, the prelude's own bindings
            return _variable(text[1:])
        if kind == "number":
            if not text.isdigit() or int(text) > _EXACT:
                raise _Unsupported  # jq 1.7 keeps decimal literals as written
            return _constant(int(text))
        if kind == "string":
            return _constant(_string(text))
        if kind == "word" and text in _LITERALS:
            return _constant(_LITERALS[text])
        if (kind, text) == ("op", "("):
            inner = self.alternative()
            self.expect(")")
            return inner
        if (kind, text) == ("op", "["):
            return self.array()
        if (kind, text) == ("op", "{"):
            return self.object()
        raise _Unsupported  # unary minus, functions, keywords...

    def array(self) -> Closure:
        if self.peek() == ("op", "]"):
            self.take()
            return lambda data, args: []
        if self.peek() == ("word", "range"):
            return self.range()
        items = [self.alternative()]
        while self.peek() == ("op", ","):
            self.take()
            items.append(self.alternative())
        self.expect("]")
        return _array(items)

    def range(self) -> Closure:
        """``[range(n)]`` or ``[range(a; b)]`` with integer literals: the whole array term."""
        self.take()
        self.expect("(")
        bounds = [self.integer()]
        if self.peek() == ("op", ";"):
            self.take()
            bounds.append(self.integer())
        self.expect(")")
        self.expect("]")
        start, stop = (0, bounds[0]) if len(bounds) == 1 else (bounds[0], bounds[1])
        if stop - start > MAX_RANGE:
            raise _Unsupported
        return lambda data, args: list(range(start, stop))

    def integer(self) -> int:
        kind, text = self.take()
        if kind != "number" or not text.isdigit() or int(text) > _EXACT:
            raise _Unsupported
        return int(text)

    def object(self) -> Closure:
        entries: list[tuple[str, Closure]] = []
        while self.peek() != ("op", "}"):
            kind, text = self.take()
            if kind == "var" and not text.startswith("$__"):  # {$x}: {"x": $x}
                entries.append((text[1:], _variable(text[1:])))
            elif kind in ("word", "string") and self.peek() == ("op", ":"):
                self.take()
                key = text if kind == "word" else _string(text)
                entries.append((key, self.postfix()))  # jq: an object value is a term
            else:
                raise _Unsupported  # {a} shorthand, computed keys, @formats...
            if self.peek() == ("op", ","):
                self.take()
            elif self.peek() != ("op", "}"):
                raise _Unsupported
        self.take()
        return _object(entries)


_LITERALS: dict[str, Any] = {"true": True, "false": False, "null": None}


def _string(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        raise _Unsupported from None  # an escape jq reads differently, a raw control character
    if not isinstance(value, str) or (not value.isascii() and _SURROGATE.search(value)):
        raise _Unsupported
    return value


# -- closures ------------------------------------------------------------------------------


def _identity(data: Any, args: Mapping[str, Any]) -> Any:
    return data


# The value of each closure :func:`_constant` made (weakly: compiled subsets are cached,
# not kept): a binary operator with a literal operand (``.n + 1``, ``$item * 2``) is
# made without a call for the literal.
_CONSTANT_VALUES: weakref.WeakKeyDictionary[Closure, Any] = weakref.WeakKeyDictionary()
_NOT_CONSTANT = object()


def _constant(value: Any) -> Closure:
    def constant(data: Any, args: Mapping[str, Any]) -> Any:
        return value

    _CONSTANT_VALUES[constant] = value
    return constant


def _variable(name: str) -> Closure:
    def variable(data: Any, args: Mapping[str, Any]) -> Any:
        if name in args:
            return args[name]
        return {} if name == "ENV" else UNKNOWN  # $ENV: rebound to {} by the prelude

    return variable


def _field(of: Closure, key: str) -> Closure:
    if of is _identity:  # ``.key``, the common case: no call for ``.``
        return _dot_field(key)

    def field(data: Any, args: Mapping[str, Any]) -> Any:
        value = of(data, args)
        if value is None:
            return None
        if type(value) is dict:
            return value.get(key)
        return UNKNOWN  # jq: cannot index (or UNKNOWN already)

    return field


def _dot_field(key: str) -> Closure:
    def dot_field(data: Any, args: Mapping[str, Any]) -> Any:
        if data is None:
            return None
        if type(data) is dict:
            return data.get(key)
        return UNKNOWN  # jq: cannot index

    return dot_field


def _array(items: list[Closure]) -> Closure:
    def array(data: Any, args: Mapping[str, Any]) -> Any:
        values = []
        for item in items:
            value = item(data, args)
            if value is UNKNOWN:
                return UNKNOWN
            values.append(value)
        return values

    return array


def _object(entries: list[tuple[str, Closure]]) -> Closure:
    def make(data: Any, args: Mapping[str, Any]) -> Any:
        made = {}
        for key, entry in entries:
            value = entry(data, args)
            if value is UNKNOWN:
                return UNKNOWN
            made[key] = value
        return made

    return make


def _alternative(left: Closure, right: Closure) -> Closure:
    def alternative(data: Any, args: Mapping[str, Any]) -> Any:
        value = left(data, args)
        if value is UNKNOWN:
            return UNKNOWN  # it may be an error, which ``//`` would swallow: jq decides
        if value is not None and value is not False:
            return value
        return right(data, args)

    return alternative


def _or(left: Closure, right: Closure) -> Closure:
    def disjunction(data: Any, args: Mapping[str, Any]) -> Any:
        value = left(data, args)
        if value is UNKNOWN:
            return UNKNOWN
        if value is not None and value is not False:
            return True
        value = right(data, args)
        return value if value is UNKNOWN else value is not None and value is not False

    return disjunction


def _and(left: Closure, right: Closure) -> Closure:
    def conjunction(data: Any, args: Mapping[str, Any]) -> Any:
        value = left(data, args)
        if value is UNKNOWN:
            return UNKNOWN
        if value is None or value is False:
            return False
        value = right(data, args)
        return value if value is UNKNOWN else value is not None and value is not False

    return conjunction


def _binary(op: Callable[[Any, Any], Any], left: Closure, right: Closure) -> Closure:
    # jq evaluates the right operand first; with no side effects and no generators the
    # order shows only in which error is reported, and errors go to jq anyway.
    constant = _CONSTANT_VALUES.get(right, _NOT_CONSTANT)
    if constant is not _NOT_CONSTANT:
        return _binary_constant(op, left, constant)

    def binary(data: Any, args: Mapping[str, Any]) -> Any:
        a = left(data, args)
        if a is UNKNOWN:
            return UNKNOWN
        b = right(data, args)
        if b is UNKNOWN:
            return UNKNOWN
        return op(a, b)

    return binary


def _binary_constant(op: Callable[[Any, Any], Any], left: Closure, b: Any) -> Closure:
    def binary_constant(data: Any, args: Mapping[str, Any]) -> Any:
        a = left(data, args)
        if a is UNKNOWN:
            return UNKNOWN
        return op(a, b)

    return binary_constant


def _is_number(value: Any) -> bool:
    kind = type(value)
    if kind is int:
        return bool(-_EXACT <= value <= _EXACT)
    if kind is float:
        return math.isfinite(value)
    return False


def _number(value: float) -> Any:
    """A computed number as it comes back through jq's JSON: a double jq writes as an
    integer is an ``int``; UNKNOWN where the written form is not certain."""
    if type(value) is int:
        return value if -_EXACT <= value <= _EXACT else UNKNOWN
    if not math.isfinite(value):
        return UNKNOWN
    if value.is_integer():
        return int(value) if abs(value) < _INTEGRAL_FLOAT else UNKNOWN
    return value


def _plus(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    kind = type(a)
    if kind is int and type(b) is int:  # (the common case, without three calls)
        if -_EXACT <= a <= _EXACT and -_EXACT <= b <= _EXACT:
            total = a + b
            return total if -_EXACT <= total <= _EXACT else UNKNOWN
        return UNKNOWN
    if kind is not type(b):
        if _is_number(a) and _is_number(b):
            return _number(a + b)
        return UNKNOWN
    if kind is float:
        return _number(a + b) if _is_number(a) and _is_number(b) else UNKNOWN
    if kind is str or kind is list:
        return a + b
    if kind is dict:
        return {**a, **b}
    return UNKNOWN


def _minus(a: Any, b: Any) -> Any:
    return _number(a - b) if _is_number(a) and _is_number(b) else UNKNOWN


def _times(a: Any, b: Any) -> Any:
    if type(a) is int and type(b) is int:  # (the common case, without three calls)
        if -_EXACT <= a <= _EXACT and -_EXACT <= b <= _EXACT:
            product = a * b
            return product if -_EXACT <= product <= _EXACT else UNKNOWN
        return UNKNOWN
    return _number(a * b) if _is_number(a) and _is_number(b) else UNKNOWN


def _divide(a: Any, b: Any) -> Any:
    if _is_number(a) and _is_number(b) and b != 0:
        return _number(a / b)
    return UNKNOWN


def _modulo(a: Any, b: Any) -> Any:
    # Integers only (jq truncates others), with C's sign: that of the dividend.
    if type(a) is int and type(b) is int and b != 0 and _is_number(a) and _is_number(b):
        remainder = abs(a) % abs(b)
        return -remainder if a < 0 else remainder
    return UNKNOWN


# -- comparisons -----------------------------------------------------------------------------


def _rank(value: Any) -> int:
    """jq's order of types: null < false < true < numbers < strings < arrays < objects;
    -1 for a value that is not JSON (or a number jq would round)."""
    if value is None:
        return 0
    if value is False:
        return 1
    if value is True:
        return 2
    kind = type(value)
    if kind is int or kind is float:
        return 3 if _is_number(value) else -1
    if kind is str:
        return 4
    if kind is list:
        return 5
    if kind is dict:
        return 6
    return -1


def _equal(a: Any, b: Any) -> bool | None:
    """jq's ``==``; None when unsure."""
    rank = _rank(a)
    if rank < 0 or _rank(b) < 0:
        return None
    if rank != _rank(b):
        return False
    if rank == 5:
        if len(a) != len(b):
            return False
        for x, y in zip(a, b, strict=True):
            same = _equal(x, y)
            if same is not True:
                return same
        return True
    if rank == 6:
        if not all(type(k) is str for k in a) or not all(type(k) is str for k in b):
            return None  # jq's keys are strings: {1: x} and {"1": x} are one object there
        if a.keys() != b.keys():
            return False
        for key, x in a.items():
            same = _equal(x, b[key])
            if same is not True:
                return same
        return True
    return bool(a == b)


def _compare(op: str, left: Closure, right: Closure) -> Closure:
    def compare(a: Any, b: Any) -> Any:
        if op in ("==", "!="):
            same = _equal(a, b)
            if same is None:
                return UNKNOWN
            return same if op == "==" else not same
        rank_a, rank_b = _rank(a), _rank(b)
        if rank_a < 0 or rank_b < 0 or rank_a >= 5 or rank_b >= 5:
            return UNKNOWN  # arrays and objects: jq's own ordering
        if rank_a != rank_b:
            a, b = rank_a, rank_b
        elif rank_a < 3:
            a, b = 0, 0  # null, false, true: equal to themselves
        if op == "<":
            return bool(a < b)
        if op == "<=":
            return bool(a <= b)
        if op == ">":
            return bool(a > b)
        return bool(a >= b)

    return _binary(compare, left, right)
