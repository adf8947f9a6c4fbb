"""dsl/jq_subset.py against jq itself: whenever the Python closure answers, jq gives the
same value (type included: ``3`` and ``3.0`` differ once they are JSON again); where jq
fails, the closure leaves it to jq."""

from __future__ import annotations

import itertools
import math
import random
from typing import Any

import pytest

from workflow_runner.dsl.expression_syntax import _compile, check_syntax
from workflow_runner.dsl.expressions import NOT_ANSWERED, evaluate, subset_answer
from workflow_runner.dsl.jq_subset import UNKNOWN, compile_subset
from workflow_runner.dsl.json_values import measure

VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -7,
    2**53,
    2**60,
    3.0,
    2.5,
    -0.5,
    0.1,
    1e16,
    1e300,
    "",
    "a",
    "b",
    "é",
    "\ud800",
    [],
    [1, 2],
    [1, [2, 3.0]],
    {},
    {"a": 1},
    {"a": 1.0},
    {"b": {"c": [1]}, "a": None},
    {"n": 3, "total": None, "x": "s"},
    {"n": 2.5, "a": [1, {"b": 2}]},
    {1: "non-string key"},
    (1, 2),
]
ARGS: dict[str, Any] = {"item": 4, "context": {"k": "v", "n": 2}, "s": "str", "nothing": None}

BINARY_OPERANDS = [".a", ".n", "$item", "$s", "1", "0", "2", '"x"', "null", "true", "[1]", "{}"]
BINARY_OPS = ["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or", "//"]
EXPRESSIONS = [
    ".",
    ".a",
    ".a.b",
    ".b.c",
    "$context",
    "$context.k",
    "$context.missing.deeper",
    "$nothing.x",
    "$ENV",
    "(.a)",
    "(.b).c",
    "{a: 1}.a",
    "[]",
    "[.a, .n]",
    "[1, 2, 3]",
    "{}",
    "{a: .a, b: 2}",
    '{"a b": 1, c: "x"}',
    "{a: 1, a: 2}",
    "{a: 1,}",
    "{$item}",
    "{$item, n: .n}",
    "[range(5)]",
    "[range(2; 5)]",
    "[range(5; 2)]",
    "[range(0)]",
    ". + {n: (.n + 1), step1: 1}",
    ". + {total: ((.total // 0) + $item * 2)}",
    "$context + {answer: .}",
    ".n + 1 * 2",
    "(.n + 1) * 2",
    ".n - 1 - 1",
    ".n / 2 / 2",
    "1 + 2 == 3",
    "1 < 2 and 2 < 1 or true",
    "false or true and false",
    ".a // .b // 3",
    ".a // 1 + 1",
    "null // false",
    ".n == 2",
    ".n < 3",
    '"a" < "b"',
    '"é" > "e"',
    "null < false",
    "true < 0",
    '0 < ""',
    "[1] == [1]",
    "{a: [1, {b: 2}]} == {a: [1, {b: 2}]}",
    "{a: [1, {b: 2}]} == {a: [1, {b: 3}]}",
    ". == {a: 1}",
    "{a: 1} != {b: 1}",
    '"a" + "b"',
    "[1] + [2]",
    "{a: 1} + {b: 2} + {a: 3}",
    "null + null",
    "1 % 3",
    "7 % 0",
    "1 / 0",
    "9007199254740992 + 1",
]
NOT_IN_SUBSET = [
    ".[0]",
    ".a | length",
    "-1",
    "1.5",
    "1e3",
    "not",
    '"\\(.a)"',
    "{a}",
    "{(.a): 1}",
    ".a?",
    "[range(.n)]",
    "[range(1000000)]",
    "..",
    '."a"',
    "$__loc__",
    "9007199254740993",
    '"\\ud800"',
]


def jq(body: str, data: Any, args: dict[str, Any]) -> tuple[bool, Any]:
    """(True, value) as jq in-process gives it, or (False, message) when it fails."""
    names = tuple(sorted(args))
    try:
        program = _compile(body, names)
        return True, program.input_value([data, 0.0, {}, *(args[n] for n in names)]).first()
    except StopIteration:
        return True, None
    except ValueError as error:
        return False, str(error)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values *and* of the same Python types (``1`` is not ``1.0``), key order
    included."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


def check(body: str, data: Any) -> bool:
    """Compare on ``data``; whether the subset answered (it is asked on plain inputs only)."""
    closure = compile_subset(body)
    assert closure is not None, f"{body!r} should be in the subset"
    if not measure([data, ARGS], 10**9)[1]:
        return False
    got = closure(data, ARGS)
    ok, expected = jq(body, data, ARGS)
    if got is UNKNOWN:
        return False
    assert ok, f"{body!r} on {data!r}: jq fails ({expected}), the subset answered {got!r}"
    assert same(got, expected), f"{body!r} on {data!r}: jq {expected!r}, subset {got!r}"
    return True


@pytest.mark.parametrize("body", EXPRESSIONS)
def test_the_subset_gives_what_jq_gives_on_values_of_every_type(body: str) -> None:
    answered = [check(body, data) for data in VALUES]
    assert any(answered) or body in ("7 % 0", "1 / 0", "9007199254740992 + 1"), body


@pytest.mark.parametrize(
    ("left", "op", "right"), list(itertools.product(BINARY_OPERANDS, BINARY_OPS, BINARY_OPERANDS))
)
def test_every_binary_operator_on_every_pair_of_operand_types_matches_jq(
    left: str, op: str, right: str
) -> None:
    body = f"{left} {op} {right}"
    data: list[dict[str, Any]] = [
        {"a": 5, "n": 2},
        {"a": "x", "n": 2.5},
        {"a": [0], "n": None},
        {"a": {}},
    ]
    for value in data:
        check(body, value)


@pytest.mark.parametrize("body", NOT_IN_SUBSET)
def test_what_the_subset_does_not_translate_is_left_to_jq(body: str) -> None:
    assert compile_subset(body) is None


def test_random_expressions_match_jq() -> None:
    rng = random.Random(12)
    leaves = [".", ".a", ".n", ".a.b", "$item", "$context.n", "1", "2", '"s"', "null", "false"]

    def expression(depth: int) -> str:
        if depth == 0 or rng.random() < 0.3:
            return rng.choice(leaves)
        shape = rng.randrange(4)
        if shape == 0:
            return f"({expression(depth - 1)} {rng.choice(BINARY_OPS)} {expression(depth - 1)})"
        if shape == 1:
            return f"[{expression(depth - 1)}, {expression(depth - 1)}]"
        if shape == 2:
            return f"{{k: ({expression(depth - 1)}), j: {rng.choice(leaves)}}}"
        return f"{expression(depth - 1)} {rng.choice(BINARY_OPS)} {expression(depth - 1)}"

    answered = 0
    for _ in range(1500):
        body = expression(3)
        if check_syntax(body, tuple(sorted(ARGS))) is not None:
            continue  # not valid jq (a comparison chain): never reaches the subset
        data = rng.choice(VALUES + [{"a": {"b": 1}, "n": 4}] * 8)
        answered += check(body, data)
    assert answered > 300


def test_the_overhead_benchmarks_expressions_are_answered_without_jq() -> None:
    data = {"n": 1, "step0": 0}
    for body in (
        ". + {n: (.n + 1), step1: 1}",
        ". + {total: ((.total // 0) + $item * 2)}",
        "$context + {answer: .}",
        "[range(100)]",
    ):
        closure = compile_subset(body)
        assert closure is not None and closure(data, ARGS) is not UNKNOWN, body


def test_evaluate_answers_from_the_subset_and_still_reports_jq_errors() -> None:
    assert evaluate(". + {n: (.n + 1)}", {"n": 1}, {}) == {"n": 2}
    assert evaluate("[range(3)]", None, {}) == [0, 1, 2]
    with pytest.raises(Exception, match="cannot be added"):
        evaluate(". + 1", {"n": 1}, {}, in_process=True)


def test_subset_answer_is_the_subsets_value_or_not_answered_never_a_guess() -> None:
    assert subset_answer(". + {n: (.n + 1)}", {"n": 1}, {}) == {"n": 2}
    assert subset_answer("$item * 2", None, {"item": 3}) == 6
    assert subset_answer(". + 1", {"n": 1}, {}) is NOT_ANSWERED  # jq raises: jq says so
    assert subset_answer("[.[] | . * 2]", [1, 2], {}) is NOT_ANSWERED  # not in the subset


def test_integer_sums_and_products_take_the_short_path_with_the_same_answers() -> None:
    # _plus and _times answer int with int without _is_number/_number: same values, and
    # UNKNOWN wherever the general path says a double could not hold the result exactly
    from workflow_runner.dsl import jq_subset

    exact = jq_subset._EXACT
    edges = [0, 1, -1, 7, exact - 1, exact, exact + 1, -exact, -exact - 1, 2**60, -(2**60)]
    for a, b in itertools.product(edges, edges):
        general_sum = jq_subset._number(a + b) if abs(a) <= exact and abs(b) <= exact else UNKNOWN
        general_product = (
            jq_subset._number(a * b) if abs(a) <= exact and abs(b) <= exact else UNKNOWN
        )
        assert jq_subset._plus(a, b) is general_sum or jq_subset._plus(a, b) == general_sum
        assert (
            jq_subset._times(a, b) is general_product or jq_subset._times(a, b) == general_product
        )
