"""``input/output/export.schema`` are checked as JSON Schema when read, never ignored."""

from __future__ import annotations

import pytest

from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition

HEADER = "document:\n  dsl: '1.0.0'\n  namespace: t\n  name: t\n  version: '1'\n"
TASK = "do:\n  - a:\n      set:\n        x: 1\n"


def problems(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "wf.yaml")
    return [str(p) for p in info.value.problems]


def test_a_valid_inline_schema_becomes_part_of_the_typed_model() -> None:
    text = (
        HEADER
        + "input:\n  schema:\n    format: json\n    document:\n      type: object\n"
        + "do:\n  - a:\n      set:\n        x: 1\n"
        + "      output:\n        schema:\n          document: {type: object, required: [x]}\n"
    )
    model = parse_definition(text, "wf.yaml").model
    assert model.input_schema is not None and model.input_schema.document == {"type": "object"}
    (task,) = model.do.tasks
    assert task.output_schema is not None and task.output_schema.pointer == "/do/0/a/output/schema"


@pytest.mark.parametrize(
    ("extra", "body", "pointer", "fragment"),
    [
        (
            "input:\n  schema:\n    format: json\n    document:\n      type: objekt\n",
            TASK,
            "/input/schema/document",
            "invalid JSON Schema: 'objekt' is not valid",
        ),
        (
            "",
            TASK + "      output:\n        schema:\n          document: {required: yes}\n",
            "/do/0/a/output/schema/document",
            "invalid JSON Schema",
        ),
        (
            "output:\n  schema:\n    format: avro\n    document: {}\n",
            TASK,
            "/output/schema/format",
            "format 'avro' is not supported",
        ),
        (
            "",
            TASK + "      input:\n        schema:\n          resource:\n"
            "            endpoint: https://example.com/s.json\n",
            "/do/0/a/input/schema/resource",
            "external schema (schema.resource) is not supported yet",
        ),
        (
            "",
            TASK + "      export:\n        schema:\n          document:\n"
            "            $ref: https://example.com/s.json\n",
            "/do/0/a/export/schema/document/$ref",
            "points outside this schema",
        ),
        (
            "input:\n  schema:\n    format: json\n",
            TASK,
            "/input/schema",
            "schema needs 'document'",
        ),
        (
            "input:\n  schema:\n    document: {}\n    colour: red\n",
            TASK,
            "/input/schema/colour",
            "unknown schema property 'colour'",
        ),
        ("input:\n  schema: object\n", TASK, "/input/schema", "schema must be {format: json"),
    ],
)
def test_a_bad_schema_is_a_located_definition_problem(
    extra: str, body: str, pointer: str, fragment: str
) -> None:
    found = problems(HEADER + extra + body)
    assert any(f"({pointer}): " in p and fragment in p for p in found), found


def test_a_local_ref_inside_the_schema_is_accepted() -> None:
    schema = (
        "    document:\n      $defs:\n        id: {type: string}\n"
        "      properties:\n        id: {$ref: '#/$defs/id'}\n"
    )
    model = parse_definition(HEADER + "input:\n  schema:\n" + schema + TASK, "wf.yaml").model
    assert model.input_schema is not None
