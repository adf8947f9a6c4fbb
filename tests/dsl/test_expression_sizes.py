"""``json_size`` / ``measure``: the faster walk gives the counts of the original one, partial
counts included (they feed the workflow's Pacer, whose yields must replay at the same
points), and ``measure`` says which values jq would read back unchanged."""

from __future__ import annotations

import enum
import json
import random
from json.encoder import encode_basestring_ascii  # type: ignore[attr-defined]
from typing import Any

import pytest

from workflow_runner.dsl.expressions import json_size, measure, measure_pair


def reference_size(value: Any, stop_after: int) -> int:
    """The walk as it was written first (a closure over ``total``), kept as the reference."""
    total = 0

    def walk(item: Any) -> None:
        nonlocal total
        if total > stop_after:
            return
        if isinstance(item, str):
            total += len(encode_basestring_ascii(item))
        elif isinstance(item, dict):
            total += 1 + max(2 * len(item), 1)
            for key, child in item.items():
                total += len(encode_basestring_ascii(key if isinstance(key, str) else str(key)))
                walk(child)
                if total > stop_after:
                    return
        elif isinstance(item, list | tuple):
            total += 1 + max(len(item), 1)
            for child in item:
                walk(child)
                if total > stop_after:
                    return
        elif item is None or item is True:
            total += 4
        elif item is False:
            total += 5
        elif isinstance(item, int):
            total += len(int.__repr__(item))
        elif isinstance(item, float):
            total += len(json.dumps(item))
        else:
            total += len(json.dumps(item, default=str))

    walk(value)
    return total


class Text(str):
    pass


class Level(enum.IntEnum):
    HIGH = 3


def random_values(seed: int) -> Any:
    """A function returning random JSON-ish values, leaves of every kind the walk sorts."""
    rng = random.Random(seed)
    leaves: list[Any] = [None, True, False, 0, -5, 2**70, 3.0, 2.5, 1e300, "ab", "é\n"]
    leaves += [9, 10, 99, 100, 9_999, 10_000, -1, -10_000]  # (the table of small sizes' edges)
    leaves += [Text("x"), Level.HIGH, "\ud800"]

    def value(depth: int) -> Any:
        r = rng.random()
        if depth == 0 or r < 0.3:
            return rng.choice(leaves)
        if r < 0.65:
            return {rng.choice(["a", "bb", 1, "é"]): value(depth - 1) for _ in range(3)}
        if r < 0.8:
            return tuple(value(depth - 1) for _ in range(rng.randrange(4)))
        return [value(depth - 1) for _ in range(rng.randrange(5))]

    return value, rng


def test_json_size_counts_as_the_original_walk_including_where_it_stops() -> None:
    value, rng = random_values(3)
    for _ in range(3000):
        item = value(4)
        full = reference_size(item, 10**9)
        for stop in (0, 1, 3, 10, full - 1, full, full + 1, rng.randrange(full + 2)):
            assert json_size(item, stop) == reference_size(item, stop), (item, stop)


@pytest.mark.parametrize(
    "value",
    [{"a": [1, 2.5, "x", None, True]}, [], {}, "é", 2**70, [{"k": {"j": -0.5}}]],
)
def test_values_jq_reads_back_unchanged_are_plain(value: Any) -> None:
    size, plain = measure(value, 10**6)
    assert plain and size == len(json.dumps(value, separators=(",", ":")))


@pytest.mark.parametrize(
    "value",
    [
        {"price": 3.0},  # jq writes 3
        [float("nan")],
        {"s": "\ud800"},  # jq refuses the input
        {1: "x"},
        (1, 2),
        {"t": Text("x")},
    ],
)
def test_values_jq_would_change_are_not_plain(value: Any) -> None:
    assert not measure(value, 10**6)[1]


def test_a_value_measured_only_in_part_is_not_plain() -> None:
    assert not measure({"a": "x" * 100}, 10)[1]


def test_measuring_an_input_and_its_arguments_apart_gives_the_counts_of_measuring_both() -> None:
    # measure_pair is what the workflow calls before every evaluation: its counts must
    # be measure([data, args])'s, partial ones included (they pace the workflow)
    value, rng = random_values(5)
    for _ in range(2000):
        data, args = value(3), {"item": value(2)}
        full = reference_size([data, args], 10**9)
        for stop in (0, 2, 3, 4, full - 1, full, full + 1, rng.randrange(full + 2)):
            assert measure_pair(data, args, stop) == measure([data, args], stop), (data, stop)
            assert measure_pair(data, args, stop)[0] == reference_size([data, args], stop)
