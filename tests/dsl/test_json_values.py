"""from_json reads with orjson where orjson reads what json reads, and with json elsewhere."""

from __future__ import annotations

import json
import math
import random
import struct
from typing import Any

import pytest

from workflow_runner.dsl import json_values
from workflow_runner.dsl.json_values import from_json, to_json

EDGE_TEXTS = [
    b'{"a":1,"a":2}',
    b"1e400",
    b"-1e400",
    b"-0",
    b"-0.0",
    b"1E2",
    b'"\\ud800"',
    b"[NaN, Infinity, -Infinity]",
    b'"\\u0000"',
    b'  {"x" : [ ] }  ',
    b"\xef\xbb\xbf{}",
    b"18446744073709551615",
    b"18446744073709551616",
    b"-9223372036854775808",
    b"-9223372036854775809",
    b"-9999999999999999999",
    b"100000000000000000000000000000",
    b'{"id": 12345678901234567890123, "name": "x"}',
    b'"1234567890123456789012345"',
    b"5e-324",
    b"[1.7976931348623157e308]",
    b"[" * 2000 + b"]" * 2000,
]


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not 1.0), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def outcome(parse: Any, text: bytes | bytearray | str) -> tuple[str, Any]:
    try:
        return "value", parse(text)
    except (ValueError, RecursionError) as error:
        return "error", f"{type(error).__name__}: {error}"


@pytest.mark.parametrize("text", EDGE_TEXTS, ids=lambda t: t[:30].decode("latin-1"))
def test_from_json_gives_what_json_loads_gives_on_every_edge_case(text: bytes) -> None:
    for form in (text, bytearray(text)):
        ours, theirs = outcome(from_json, form), outcome(json.loads, form)
        assert ours[0] == theirs[0], (text[:40], ours, theirs)
        if ours[0] == "value":
            assert same(ours[1], theirs[1]), (text[:40], ours, theirs)
        else:
            assert ours[1] == theirs[1]  # json's own message


def test_an_invalid_document_fails_with_jsons_message_naming_the_position() -> None:
    with pytest.raises(json.JSONDecodeError) as raised:
        from_json(b'{"a": 1,, "b": 2}')
    assert "line 1 column 9" in str(raised.value)


def test_a_wide_integer_across_the_scan_chunk_boundary_is_still_read_exactly() -> None:
    wide = 10**25 + 7
    for shift in range(-30, 5):
        pad = json_values._SCAN_CHUNK + shift
        text = b'{"pad": "' + b"x" * pad + b'", "id": ' + str(wide).encode() + b"}"
        value = from_json(text)
        assert value["id"] == wide and isinstance(value["id"], int), shift


def test_a_large_document_with_a_wide_integer_anywhere_keeps_it_exact() -> None:
    items = [{"id": i, "price": i / 7, "name": f"item-{i:07d}"} for i in range(40_000)]
    items[-3]["id"] = -(10**19) - 1
    text = to_json({"items": items})
    assert len(text) > 4 * json_values._SCAN_CHUNK
    value = from_json(text)
    assert value["items"][-3]["id"] == -(10**19) - 1
    assert same(value, json.loads(text))


def test_random_floats_and_documents_read_the_same_as_json_loads() -> None:
    rng = random.Random(7)
    floats: list[float] = []
    while len(floats) < 20_000:
        number = struct.unpack("d", rng.randbytes(8))[0]
        if math.isfinite(number):
            floats.append(number)
    text = json.dumps(floats).encode()
    assert same(from_json(text), json.loads(text))

    def document(depth: int) -> Any:
        kind = rng.randrange(8 if depth < 6 else 5)
        if kind == 0:
            return rng.randint(-(2**70), 2**70)
        if kind == 1:
            return rng.random() * 10 ** rng.randint(-20, 20)
        if kind == 2:
            return "".join(
                chr(rng.choice([rng.randint(32, 126), rng.randint(160, 0x10FFFF)]))
                for _ in range(rng.randint(0, 12))
            )
        if kind == 3:
            return rng.choice([True, False, None])
        if kind == 4:
            return rng.randint(-1000, 1000)
        if kind == 5:
            return [document(depth + 1) for _ in range(rng.randint(0, 5))]
        return {f"k{rng.randint(0, 50)}": document(depth + 1) for _ in range(rng.randint(0, 5))}

    for _ in range(300):
        value = document(0)
        for text in (
            json.dumps(value).encode(),
            to_json(value),
            json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"),
        ):
            assert same(from_json(text), json.loads(text)), text[:200]
