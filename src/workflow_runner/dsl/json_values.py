"""JSON values: encoded, decoded and measured the way Temporal's converter writes them.

Separate from expressions because the workflow measures every value it
moves (inputs, outputs, pacing, limits), not only what jq reads: the walk in
:func:`measure` is on the hot path of every task, so it is kept as one
recursive function with no layer around it.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring_ascii as _encode_string  # type: ignore[attr-defined]
from typing import Any

import orjson

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
    """Parse JSON text: the values ``json.loads`` gives, with orjson where it is the same.

    orjson reads bytes in place: for 50 MB it took 0.26 s against 0.49 s, and
    ``json.loads`` first decodes the bytes into a 48 MB string, which is a whole
    extra copy of the document at the decode's peak. orjson and ``json`` differ
    only on integers beyond 64 bits (``10**30`` comes back as ``1e+30``, so a
    20-digit id would silently change) and on what orjson refuses (NaN,
    ``1e400``, lone surrogates, a byte-order mark, nesting past 1024 levels).
    Text that holds a run of 19 digits anywhere (a cheap scan, ~1.4 ns a byte)
    and text orjson refuses go to ``json``, so every value and every error
    message is ``json``'s. ``str`` (jq's output, event data) goes to ``json``.
    """
    if isinstance(data, str) or _has_digit_run(data):
        return json.loads(data)
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


# Digits to "0", everything else to " ": a run of 19 "0"s is a run of 19 digits, the
# shortest integer orjson may read as a float (-9223372036854775809).
_DIGITS_TO_ZERO = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_DIGIT_RUN = b"0" * 19
_SCAN_CHUNK = 1 << 18  # translated a chunk at a time: no second copy of a large document


def _has_digit_run(data: bytes | bytearray) -> bool:
    """Whether ``data`` holds 19 consecutive ASCII digits (in a number, a string or a key)."""
    if len(data) <= _SCAN_CHUNK:
        return _DIGIT_RUN in data.translate(_DIGITS_TO_ZERO)
    overlap = len(_DIGIT_RUN) - 1
    for start in range(0, len(data), _SCAN_CHUNK):
        chunk = data[max(0, start - overlap) : start + _SCAN_CHUNK]
        if _DIGIT_RUN in chunk.translate(_DIGITS_TO_ZERO):
            return True
    return False


# -- the size of a value as JSON, and whether jq reads it back unchanged ---------------


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


def measure_pair(data: Any, args: Any, stop_after: int) -> tuple[int, bool]:
    """``measure([data, args], stop_after)``, without building the list: an expression's
    input and its arguments, measured before every evaluation."""
    plain = [True]
    size = _walk(args, stop_after, _walk(data, stop_after, 3, plain), plain)  # [ , ]: 3 bytes
    return size, plain[0] and size <= stop_after


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")

# The encoded size of short keys already seen (plain ones only): a workflow's values
# repeat their keys from task to task and item to item, and a lookup is ~4x cheaper than
# encoding the key again. Only speed depends on it; every count is the same.
_KEY_SIZES: dict[str, int] = {}
_KEY_SIZES_MAX = 4096
_KEY_SIZE_CACHED_LENGTH = 64


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
        total += 1 + (2 * len(item) or 1)  # braces; a colon per key; commas (no max(): a call)
        for key, child in item.items():
            if type(key) is str:
                size = _KEY_SIZES.get(key)
                if size is None:
                    size = len(_encode_string(key))
                    if not key.isascii() and _LONE_SURROGATE.search(key):
                        plain[0] = False
                    elif len(key) <= _KEY_SIZE_CACHED_LENGTH:
                        if len(_KEY_SIZES) >= _KEY_SIZES_MAX:
                            _KEY_SIZES.clear()
                        _KEY_SIZES[key] = size
                total += size
            else:
                plain[0] = False
                total += len(_encode_string(key if isinstance(key, str) else str(key)))
            if total > stop:
                return total  # (the child's walk would add nothing)
            # leaves inline (ASCII strings, integers, booleans, null): most children are leaves
            child_kind = type(child)
            if child_kind is str and child.isascii():
                total += len(_encode_string(child))
            elif child_kind is int:
                total += _INT_SIZES[child] if 0 <= child < _INT_SIZES_UP_TO else _int_size(child)
            elif child is None or child is True:
                total += 4
            elif child is False:
                total += 5
            else:
                total = _walk(child, stop, total, plain)
            if total > stop:
                return total
        return total
    if kind is list:
        total += 1 + (len(item) or 1)  # brackets and commas
        if total > stop:
            return total
        for child in item:
            child_kind = type(child)
            if child_kind is str and child.isascii():
                total += len(_encode_string(child))
            elif child_kind is int:
                total += _INT_SIZES[child] if 0 <= child < _INT_SIZES_UP_TO else _int_size(child)
            elif child is None or child is True:
                total += 4
            elif child is False:
                total += 5
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
        return total + (_INT_SIZES[item] if 0 <= item < _INT_SIZES_UP_TO else _int_size(item))
    if kind is float:
        if item.is_integer() or item != item or item in (_INFINITY, -_INFINITY):
            plain[0] = False
        return total + len(_encode_float(item))
    plain[0] = False
    return _walk_subclass(item, stop, total, plain)


_INFINITY = float("inf")

# The JSON size of the small non-negative integers, looked up: counters, indexes and steps
# are most of a workflow's numbers, and ``len(int.__repr__(n))`` makes a string for each
# (~0.3 µs; the lookup ~0.05 µs, measured inside a loop of sets).
_INT_SIZES_UP_TO = 10_000
_INT_SIZES = tuple(len(str(n)) for n in range(_INT_SIZES_UP_TO))


def _int_size(number: int) -> int:
    return len(int.__repr__(number))


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
