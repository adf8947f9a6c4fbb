"""call: asyncapi and call: a2a fail at validation with one line saying why."""

from __future__ import annotations

import pytest

from tests.harness import workflow
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition


@pytest.mark.parametrize(
    ("kind", "reason"),
    [("asyncapi", "needs a message broker client"), ("a2a", "with 'call: http'")],
)
def test_an_unsupported_call_kind_is_one_problem_at_its_call_saying_why(
    kind: str, reason: str
) -> None:
    text = workflow(f"  - talk:\n      call: {kind}\n      with:\n        method: message/send\n")
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "wf.yaml")
    (problem,) = [str(p) for p in info.value.problems]
    assert "/do/0/talk/call" in problem and f"'call: {kind}' is not supported yet" in problem
    assert reason in problem
