"""Expressions over large documents: evaluated without shipping the document again.

An expression whose input is over 256 KiB runs in a local activity (jq takes
~0.4 s to parse 5 MB, too long for workflow code); it used to receive the
whole document as its input, which Temporal encoded, compressed and stored
as a second blob. Now it gets a token for an in-process shelf, so a run over
a 5 MB document stores exactly one blob for it (the HTTP result) and its
marker carries only the result. Paths piped to ``length``/``keys``/``type``
need no jq at all.
"""

from __future__ import annotations

from typing import Any

import jq
import pytest

from tests.harness import Harness, workflow
from tests.httpserver import LocalHTTPServer
from workflow_runner.dsl.expressions import from_json, to_json, try_fast_path

FIVE_MB = 5_000_000


def _flow(url: str, expression: str) -> str:
    return workflow(
        f"""
  - fetch:
      call: http
      with: {{method: get, endpoint: '{url}'}}
  - count:
      set: {{count: '${{ {expression} }}'}}
"""
    )


async def _run_keys(h: Harness, workflow_id: str) -> list[str]:
    return [k async for k in h.store.list_keys("v0/") if f"/wi/{workflow_id}/" in k]


async def _markers(h: Harness, workflow_id: str) -> list[int]:
    """Sizes (bytes) of the run's local-activity marker events."""
    history = await h.client.get_workflow_handle(workflow_id).fetch_history()
    return [e.ByteSize() for e in history.events if e.HasField("marker_recorded_event_attributes")]


async def test_a_jq_expression_over_a_5_mb_document_stores_one_blob_and_no_marker_carries_it(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    url = f"{http_server.url}/big?size={FIVE_MB}"
    expected = sum(
        1 for p in from_json(http_server.catalog(FIVE_MB))["products"] if p["stock"] > 10
    )
    handle = await harness.start(_flow(url, "[.products[] | select(.stock > 10)] | length"))
    assert await handle.result() == {"count": expected}
    # One blob: the HTTP result. Before, the expression's local activity input
    # (the document again) was a second one.
    assert len(await _run_keys(harness, handle.id)) == 1
    markers = await _markers(harness, handle.id)
    assert len(markers) == 1  # evaluated off the workflow thread, in a local activity...
    assert markers[0] < 2048  # ...whose marker carries the count, not the document


async def test_counting_the_items_of_a_5_mb_document_needs_no_jq_and_no_marker(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    url = f"{http_server.url}/big?size={FIVE_MB}"
    expected = len(from_json(http_server.catalog(FIVE_MB))["products"])
    handle = await harness.start(_flow(url, ".products | length"))
    assert await handle.result() == {"count": expected}
    assert await _markers(harness, handle.id) == []
    assert len(await _run_keys(harness, handle.id)) == 1


VALUES: list[Any] = [
    None,
    "héllo wörld",
    "",
    [1, [2], {"a": 3}],
    {"b": 1, "a": 2, "é": 3},
    {},
    [],
    7,
    -3,
    2.5,
    True,
    {"x": {"y": [1, 2, 3]}},
]
EXPRESSIONS = [
    ". | length",
    "length",
    ".x | length",
    ".x.y | length",
    "keys",
    ". | keys",
    "type",
    ".x | type",
    ".x.y | length | type",
    "$v | length",
]


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_paths_piped_to_builtins_answer_what_jq_answers(expression: str) -> None:
    for value in VALUES:
        hit, ours = try_fast_path(expression, value, {"v": value})
        try:
            theirs = jq.compile(f". as [$d, $v] | $d | {expression}").input_value([value, value])
            expected: Any = theirs.first()
        except ValueError:
            assert not hit, f"{expression} on {value!r}: jq fails, the fast path answered {ours!r}"
            continue
        if hit:
            assert ours == expected and type(ours) is type(expected), (expression, value)


def test_json_helpers_write_temporals_bytes_and_keep_big_integers_and_nan() -> None:
    import json

    value = {"b": [1, 2.5, None, True], "a": {"z": "x", "y": "q\\"}, "n": 10**15}
    assert to_json(value) == json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    assert from_json(to_json(value)) == value
    assert from_json(b"[NaN]")[0] != from_json(b"[NaN]")[0]  # NaN read, as before
    big = {"id": 10**30, "neg": -(2**70)}  # beyond orjson's 64 bits, both ways
    assert from_json(to_json(big)) == big
    assert isinstance(from_json(to_json(big))["id"], int)
