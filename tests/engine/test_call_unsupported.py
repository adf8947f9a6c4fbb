"""call: asyncapi fails at validation with one line saying why (call: a2a is supported now)."""

from __future__ import annotations

import pytest

from tests.harness import workflow
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition


def test_an_unsupported_call_kind_is_one_problem_at_its_call_saying_why() -> None:
    text = workflow("  - talk:\n      call: asyncapi\n      with:\n        operation: send\n")
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "wf.yaml")
    (problem,) = [str(p) for p in info.value.problems]
    assert "/do/0/talk/call" in problem and "'call: asyncapi' is not supported yet" in problem
    assert "needs a message broker client" in problem


def test_call_a2a_is_no_longer_refused_as_unsupported() -> None:
    text = workflow(
        "  - talk:\n      call: a2a\n      with:\n        method: tasks/get\n"
        "        server: http://127.0.0.1:1/a2a\n        parameters: {id: t1}\n"
    )
    definition = parse_definition(text, "wf.yaml")
    assert type(definition.model.do.tasks[0]).__name__ == "CallA2aTask"
