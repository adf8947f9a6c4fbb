"""Every example of the specification validates, or names the one thing this runner lacks.

The files are the specification's own (tests/spec/examples/, unchanged). A
file listed in ABSENT needs something this runner does not have; it must be
rejected with one clear message naming it — and the day it is supported,
its entry must go (the test fails while it still stands).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import load_definition

EXAMPLES = Path(__file__).parent / "examples"
# file → the fragment its single rejection must contain.
ABSENT: dict[str, str] = {
    # Its function lives on raw.githubusercontent.com; this machine has no network.
    "call-custom-function-cataloged.yaml": "cannot fetch it",
    "call-asyncapi-publish.yaml": "'call: asyncapi' is not supported yet",
    "call-asyncapi-subscribe-consume-amount.yaml": "'call: asyncapi' is not supported yet",
    "call-asyncapi-subscribe-consume-forever-foreach.yaml": "'call: asyncapi' is not supported yet",
    "call-asyncapi-subscribe-consume-until.yaml": "'call: asyncapi' is not supported yet",
    "call-asyncapi-subscribe-consume-while.yaml": "'call: asyncapi' is not supported yet",
}
FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml"))


def test_the_specs_examples_are_all_here() -> None:
    assert len(FILES) >= 66
    assert set(ABSENT) <= set(FILES)


@pytest.mark.parametrize("name", [f for f in FILES if f not in ABSENT])
def test_spec_example_validates(name: str) -> None:
    load_definition(EXAMPLES / name)


@pytest.mark.parametrize("name", sorted(ABSENT))
def test_spec_example_needing_what_is_absent_is_rejected_with_one_message_naming_it(
    name: str,
) -> None:
    with pytest.raises(DefinitionError) as info:
        load_definition(EXAMPLES / name)
    assert len(info.value.problems) == 1, str(info.value)
    assert ABSENT[name] in str(info.value)
