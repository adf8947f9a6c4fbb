"""Every spelling of a standard error type that the spec repository uses names the same type."""

from __future__ import annotations

import pytest

from workflow_runner.dsl.errors import STANDARD_ERRORS, error_type, normalize_error_type

SPELLINGS = (
    "https://serverlessworkflow.io/spec/1.0.0/errors/{}",
    "https://open-workflow-specification.org/spec/1.0.0/errors/{}",
    "https://serverlessworkflow.io/dsl/errors/types/{}",  # ctk/features/try.feature
    "https://serverlessworkflow.io.io/dsl/errors/types/{}",  # dsl-reference.md's Try example
)


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("kind", sorted(STANDARD_ERRORS))
def test_each_spelling_of_a_standard_type_normalizes_to_the_spec_uri(
    spelling: str, kind: str
) -> None:
    assert normalize_error_type(spelling.format(kind)) == error_type(kind)


@pytest.mark.parametrize(
    "custom",
    [
        "https://serverlessworkflow.io/dsl/errors/types/custom",
        "https://serverlessworkflow.io/errors/types/compliance",
        "https://serverlessworkflow.io/errors/not-implemented",
        "https://fake.com/errors/tickets/undefined-priority",
        "https://serverlessworkflow.io/dsl/errors/types/communication/extra",
    ],
)
def test_a_custom_type_is_left_as_written(custom: str) -> None:
    assert normalize_error_type(custom) == custom
