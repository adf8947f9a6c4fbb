"""jq runs in killable evaluator processes with a time and memory budget (issue 10, item 8).

The ``jq`` C extension holds the GIL and cannot be interrupted: in-process,
``until(false; .)`` froze the whole worker. These tests drive
``expressions.evaluate`` and the pool behind it directly, without Temporal.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.processes import read_line
from workflow_runner.dsl.errors import WorkflowError
from workflow_runner.dsl.expressions import Budget, evaluate, is_bounded, json_size
from workflow_runner.dsl.jq_pool import CHILD_SCRIPT, POOL

SHORT = Budget(seconds=1.0, memory_mb=256)


@pytest.mark.parametrize(
    "body",
    ["until(false; .)", "[range(1e12)] | length", "repeat(.) | select(false)", "last(range(1e12))"],
)
def test_an_endless_expression_fails_with_its_time_budget_named(body: str) -> None:
    began = time.monotonic()
    with pytest.raises(WorkflowError) as info:
        evaluate(body, {"a": 1}, {}, where="/do/0/spin", budget=SHORT)
    took = time.monotonic() - began
    error = info.value
    assert error.type.endswith("/expression")
    assert error.instance == "/do/0/spin"
    detail = error.detail or ""
    assert body in detail and "1 s (EXPRESSION_TIMEOUT_SECONDS)" in detail
    assert 0.9 < took < 5, took


def test_an_expression_that_allocates_without_bound_fails_with_its_memory_budget_named() -> None:
    with pytest.raises(WorkflowError) as info:
        evaluate('"x" * 1e9 | length', None, {}, budget=Budget(seconds=20, memory_mb=64))
    assert "memory budget of 64 MiB (EXPRESSION_MAX_MEMORY_MB)" in (info.value.detail or "")


def test_the_pool_answers_normally_after_an_evaluator_was_killed() -> None:
    with pytest.raises(WorkflowError):
        evaluate("until(false; .)", 1, {}, budget=Budget(seconds=0.3))
    assert evaluate(". + $n", 1, {"n": 2}) == 3
    assert evaluate("empty", 1, {}) is None
    with pytest.raises(WorkflowError) as info:
        evaluate('error("boom")', 1, {}, where="/do/1/x")
    assert info.value.detail == "jq expression 'error(\"boom\")' failed: boom"


def test_results_keep_their_json_types_through_the_evaluator_process() -> None:
    data = {"s": 'é\n"', "f": 1.5, "i": 10**15, "n": None, "b": [True, False], "o": {}}
    assert evaluate("{s, f, i, n, b, o}", data, {}) == data
    assert evaluate("$x.k", None, {"x": {"k": [1, 2]}}) == [1, 2]
    assert evaluate("now", None, {}, now=123.5) == 123.5
    assert evaluate("env", None, {}) == {}  # the prelude still hides the environment


def test_an_activity_waiting_on_a_runaway_expression_does_not_hold_the_gil() -> None:
    """Local activities wait without the GIL (their budget can be minutes); evaluations
    from workflow code keep it, like in-process jq did, for at most their 1 s budget."""
    done = threading.Event()

    def spin() -> None:
        with pytest.raises(WorkflowError):
            evaluate("until(false; .)", None, {}, budget=Budget(seconds=1.5), interruptible=True)
        done.set()

    thread = threading.Thread(target=spin)
    thread.start()
    ticks = 0
    began = time.monotonic()
    while not done.is_set() and time.monotonic() - began < 10:
        ticks += 1  # this loop could not run at all while jq held the GIL in-process
        time.sleep(0.01)
    thread.join()
    assert done.is_set() and ticks > 50, ticks


def _evaluator_children(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(CHILD_SCRIPT).encode() in argv and str(parent).encode() in argv:
            found.append(int(entry.name))
    return found


def test_a_busy_evaluator_dies_with_its_parent_process() -> None:
    script = (
        "import threading, time, sys\n"
        "from workflow_runner.dsl.expressions import evaluate, Budget\n"
        "threading.Thread(target=evaluate, args=('until(false; .)', 1, {}),"
        " kwargs={'budget': Budget(seconds=600)}, daemon=True).start()\n"
        "print('spinning', flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert read_line(parent.stdout).strip() == "spinning"
        deadline = time.monotonic() + 10
        while not (children := _evaluator_children(parent.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert children, "no evaluator process was started"
        time.sleep(0.5)  # it is inside jq now, not reading its pipe
    finally:
        parent.send_signal(signal.SIGKILL)
        parent.wait()
    deadline = time.monotonic() + 5
    while _alive(children) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(children), "an evaluator outlived its parent"


def _alive(pids: list[int]) -> bool:
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z":
            return True
    return False


def test_the_last_worker_to_detach_kills_every_idle_evaluator() -> None:
    POOL.attach()  # what running_worker does when it starts
    POOL.warm(1)
    pids = POOL.pids()
    assert len(pids) >= 2
    POOL.detach()
    assert POOL.size() == 0
    assert not _alive(pids)
    assert evaluate("1 + 1", None, {}) == 2  # and it starts again on demand


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_json_size_is_the_exact_size_of_temporals_compact_json(value: object) -> None:
    exact = len(json.dumps(value, separators=(",", ":")))
    assert json_size(value, 10**9) == exact
    assert (json_size(value, exact - 1) > exact - 1) is (exact > 0)


@pytest.mark.parametrize(
    "body",
    [
        ". + {n: (.n + 1), step1: 1}",
        "$context + {answer: .}",
        ". + {total: ((.total // 0) + $item * 2)}",
        '{a: .x, "b": [1, 2], c: (.n - 1)}',
        '.a.b == "x" and .c or false',
    ],
)
def test_small_expressions_without_loops_or_functions_may_run_in_process(body: str) -> None:
    assert is_bounded(body)


@pytest.mark.parametrize(
    "body",
    [
        "until(false; .)",
        "[range(1e9)]",
        "repeat(.)",
        ".[]",
        ".a[0]",
        "..",
        "(.a, .b)",
        "[.a, (.b, .c)]",
        ".a | .b",
        '"x" * 1e9',
        ".s * .n",
        ".s * 10 * 10",
        ".a - .b",
        "def f: f; f",
        ". as $x | $x",
        "length",
        '"\\(.a)"',
        "if .a then 1 else 2 end",
        ".a?",
        "{a}",
    ],
)
def test_anything_that_can_loop_or_grow_goes_to_an_evaluator_process(body: str) -> None:
    assert not is_bounded(body)


def test_a_bounded_expression_in_process_gives_what_the_evaluator_gives() -> None:
    data, args = {"n": 1, "s": "é"}, {"item": 3, "context": {"k": [1]}}
    body = '. + {n: (.n + 1), t: ($item * 2), c: $context, s: (.s + "\\n")}'
    assert evaluate(body, data, args, in_process=True) == evaluate(body, data, args)
    with pytest.raises(WorkflowError) as info:
        evaluate(".s + 1", data, {}, in_process=True, where="/do/0/x")
    assert "cannot be added" in (info.value.detail or "")
