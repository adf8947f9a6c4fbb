"""The YAML loader's bounds: alias expansion, nesting and key shapes, each refused where it happens.

A definition is untrusted text; these are the ways a small file can make the
loader do unbounded work (exponential alias expansion, merge keys, cycles,
nesting deeper than Python's stack), and the ordinary uses of anchors that
must keep working.
"""

from __future__ import annotations

import time

import pytest
import yaml

from workflow_runner.dsl import DefinitionError
from workflow_runner.dsl.loader import (
    MAX_NESTING,
    MIN_NODE_BUDGET,
    load_yaml,
    node_budget,
)


def billion_laughs(levels: int = 9) -> str:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def refusal(text: str) -> str:
    with pytest.raises(DefinitionError) as info:
        load_yaml(text, "wf.yaml")
    (problem,) = info.value.problems
    return str(problem)


def test_a_billion_laughs_is_refused_within_seconds_at_the_alias_that_blows_the_budget() -> None:
    text = billion_laughs()
    assert len(text) < 700  # a few hundred bytes that would build 9**9 strings
    started = time.perf_counter()
    message = refusal(text)
    assert time.perf_counter() - started < 5
    # l0..l4 build 9 + 81 + ... + 59049 nodes; l5's first *l4 crosses 100 000.
    assert message.startswith("wf.yaml:6:10 (/l5/0): alias *l4: ")
    assert f"more than {MIN_NODE_BUDGET} nodes" in message and "alias bomb" in message


def test_merge_keys_are_expanded_under_the_same_budget() -> None:
    lines = ["m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}"]
    for i in range(1, 9):
        lines.append(f"m{i}: &m{i} {{<<: [" + ", ".join([f"*m{i - 1}"] * 9) + "]}")
    message = refusal("\n".join(lines) + "\n")
    assert "alias bomb" in message and ": alias *m" in message


def test_merge_keys_read_as_pyyaml_reads_them() -> None:
    text = (
        "base: &b {x: 1, y: 2}\nother: &o {y: 5, z: 3}\n"
        "m:\n  <<: [*b, *o]\n  x: 9\nn: {<<: *b}\nq: {<<: *b, <<: *o}\nr: {w: 0, <<: [*o, *b]}\n"
    )
    data, locations = load_yaml(text, "wf.yaml")
    expected = yaml.safe_load(text)
    assert data == expected
    assert {k: list(v) for k, v in data.items()} == {k: list(v) for k, v in expected.items()}
    assert locations["/m/x"] == (5, 6)  # the mapping's own key, not the merged one


def test_a_merge_key_of_a_scalar_is_refused_with_its_location() -> None:
    assert refusal("a: &a 1\nb:\n  <<: *a\n").startswith("wf.yaml:1:4 (/b): a merge key '<<'")


@pytest.mark.parametrize(
    ("text", "located"),
    [
        ("a: &a [1, *a]\n", "wf.yaml:1:11 (/a/1): alias *a"),
        ("a: &a\n  b: *a\n", "wf.yaml:2:6 (/a/b): alias *a"),
        ("a: &a {x: 1, <<: *a}\n", "wf.yaml:1:18 (/a): alias *a"),
    ],
)
def test_a_cycle_of_aliases_is_refused_at_the_alias_that_closes_it(text: str, located: str) -> None:
    message = refusal(text)
    assert message.startswith(located + ": ") and "refers to a node that contains it" in message


def test_written_nesting_is_refused_one_level_past_the_limit_where_it_happens() -> None:
    inside = "x: " + "[" * (MAX_NESTING - 1) + "]" * (MAX_NESTING - 1) + "\n"
    data, _ = load_yaml(inside, "wf.yaml")  # the mapping plus MAX_NESTING - 1 lists
    assert isinstance(data["x"], list)
    message = refusal("x: " + "[" * MAX_NESTING + "]" * MAX_NESTING + "\n")
    assert message.startswith(f"wf.yaml:1:{3 + MAX_NESTING}: ") and "nested too deeply" in message


def test_a_hundred_thousand_levels_are_refused_without_a_recursion_error() -> None:
    message = refusal("x: " + "[" * 100_000 + "]" * 100_000 + "\n")
    assert "nested too deeply" in message


def test_nesting_made_by_aliases_is_bounded_like_written_nesting() -> None:
    # Each line nests the previous one a level deeper: 2 levels written, 300 built.
    text = "l0: &l0 [x]\n" + "".join(f"l{i}: &l{i} [*l{i - 1}]\n" for i in range(1, 300))
    message = refusal(text)
    assert message.startswith("wf.yaml:200:14 (/l199/0): alias *l198: ")
    assert "nested too deeply" in message


@pytest.mark.parametrize(
    ("text", "located"),
    [
        ("? [a, b]\n: 1\n", "wf.yaml:1:3: a mapping key must be text, not a list"),
        ("? {a: b}\n: 1\n", "wf.yaml:1:3: a mapping key must be text, not a mapping"),
    ],
)
def test_a_collection_as_a_mapping_key_is_refused(text: str, located: str) -> None:
    # PyYAML would stringify it, and str() of an aliased list is itself an alias bomb.
    assert refusal(text) == located


def test_anchors_reused_as_a_workflow_reuses_them_still_load() -> None:
    retry = (
        "retry: &retry\n  delay: {seconds: 1}\n  backoff: {exponential: {}}\n"
        "  limit: {attempt: {count: 5}}\n"
    )
    calls = "".join(
        f"  - c{i}:\n      call: http\n      with: {{method: get, endpoint: 'http://x/{i}'}}\n"
        f"      retry: *retry\n"
        for i in range(300)
    )
    data, locations = load_yaml(retry + "do:\n" + calls, "wf.yaml")
    assert data["do"][299]["c299"]["retry"] == data["retry"]
    assert locations["/do/299/c299/retry"][0] == 1  # an alias is located at its anchor's node


def test_the_budget_grows_with_the_file_but_never_by_more_than_a_million_nodes() -> None:
    assert node_budget(10) == MIN_NODE_BUDGET
    assert node_budget(10_000) == 500_000
    assert node_budget(1_000_000) == 2_000_000
    # A file of 4 000 nodes may expand 50-fold: 200 000 built nodes are accepted.
    text = (
        "big: &big [" + ", ".join(["x"] * 4_000) + "]\ncopies: [" + ", ".join(["*big"] * 45) + "]\n"
    )
    data, _ = load_yaml(text, "wf.yaml")
    assert len(data["copies"]) == 45 and len(data["copies"][44]) == 4_000
