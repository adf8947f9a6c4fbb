"""The DSL's conformance kit (ctk/features, copied unchanged), every scenario through the CLI.

Each scenario's definition runs with ``workflow-runner run`` on the session's
dev server; the kit's hosts (petstore.swagger.io, httpbin.org) are rewritten
to local stand-ins. Assertions are the kit's own steps; a step this runner
does not understand fails the test, so a new phrasing cannot pass unread.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.spec.gherkin import Scenario, Step, parse
from tests.spec.standins import StandIns, stand_ins

FEATURES = Path(__file__).parent / "ctk"
SCENARIOS = [s for path in sorted(FEATURES.glob("*.feature")) for s in parse(path)]
CLI = [sys.executable, "-m", "workflow_runner.cli.main"]
DONE = re.compile(r"^[✓✗] (/\S+)")


@dataclass
class Outcome:
    code: int
    output: Any
    error: dict[str, Any] | None
    order: list[str]  # task names, in the order they finished
    stderr: str


@pytest.fixture(scope="module")
def servers() -> Iterator[StandIns]:
    with stand_ins() as server:
        yield server


def run_scenario(scenario: Scenario, env: dict[str, str], tmp: Path, hosts: StandIns) -> Outcome:
    definition = next(s.doc for s in scenario.steps if s.text.startswith("a workflow with"))
    assert definition is not None
    path = tmp / "workflow.yaml"
    path.write_text(hosts.rewrite(definition))
    command = [*CLI, "run", str(path)]
    given = [s for s in scenario.steps if s.text.startswith("given the workflow input is")]
    if given and given[0].doc is not None:
        (tmp / "input.json").write_text(json.dumps(yaml.safe_load(given[0].doc)))
        command += ["--input", f"@{tmp / 'input.json'}"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    output = json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else None
    error = None
    if done.returncode == 1 and "\n{" in "\n" + done.stderr:
        error = json.loads(done.stderr[("\n" + done.stderr).index("\n{") :])
    order = [m.group(1).rsplit("/", 1)[-1] for m in map(DONE.match, done.stderr.splitlines()) if m]
    return Outcome(done.returncode, output, error, order, done.stderr)


def at(value: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        assert isinstance(value, dict) and part in value, f"no property {dotted!r} in {value!r}"
        value = value[part]
    return value


def check(step: Step, outcome: Outcome) -> None:
    text, doc = step.text, yaml.safe_load(step.doc) if step.doc else None
    where = f"step {text!r}; stderr:\n{outcome.stderr}"
    if text.startswith(("a workflow with", "given the workflow input", "the workflow is executed")):
        return
    if text == "the workflow should complete":
        assert outcome.code == 0, where
    elif text == "the workflow should complete with output:":
        assert outcome.code == 0, where
        assert outcome.output == doc, where
    elif text == "the workflow should fault":
        assert outcome.code == 1, where
    elif text == "the workflow should fault with error:":
        assert outcome.code == 1 and outcome.error is not None and isinstance(doc, dict), where
        assert {k: outcome.error.get(k) for k in doc} == doc, where
    elif m := re.fullmatch(r"the workflow output should have properties (.+)", text):
        for name in re.findall(r"'([^']+)'", m.group(1)):
            at(outcome.output, name)
    elif m := re.fullmatch(r"the workflow output should have a '(.+)' property with value:", text):
        assert at(outcome.output, m.group(1)) == doc, where
    elif m := re.fullmatch(
        r"the workflow output should have a '(.+)' property containing (\d+) items", text
    ):
        assert len(at(outcome.output, m.group(1))) == int(m.group(2)), where
    elif m := re.fullmatch(r"(\w+) should run first", text):
        assert outcome.order[:1] == [m.group(1)], f"ran {outcome.order}; {where}"
    elif m := re.fullmatch(r"(\w+) should run last", text):
        assert outcome.order[-1:] == [m.group(1)], f"ran {outcome.order}; {where}"
    elif m := re.fullmatch(r"(\w+) should run after (\w+)", text):
        later, earlier = m.group(1), m.group(2)
        assert earlier in outcome.order and later in outcome.order, where
        assert outcome.order.index(later) > outcome.order.index(earlier), where
    else:
        pytest.fail(f"the conformance kit uses a step this runner does not read: {text!r}")


def test_every_feature_file_of_the_kit_has_scenarios() -> None:
    assert len(SCENARIOS) >= 21
    assert all(any(s.text == "the workflow is executed" for s in sc.steps) for sc in SCENARIOS)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[f"{s.feature}: {s.name}" for s in SCENARIOS])
def test_conformance_kit_scenario_passes_through_the_cli(
    scenario: Scenario, env: dict[str, str], tmp_path: Path, servers: StandIns
) -> None:
    outcome = run_scenario(scenario, env, tmp_path, servers)
    for step in scenario.steps:
        check(step, outcome)
