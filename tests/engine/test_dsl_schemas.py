"""``input.schema``/``output.schema`` on the real dev server: the error crosses Temporal intact."""

from __future__ import annotations

from tests.harness import Harness, workflow

ERR = "https://serverlessworkflow.io/spec/1.0.0/errors/"

EXTRA = """input:
  schema:
    format: json
    document:
      type: object
      required: [qty]
      properties:
        qty: {type: integer, minimum: 1}
"""
BODY = """
  - total:
      set:
        total: ${ .qty * 2 }
      output:
        schema:
          document: {type: object, required: [total]}
"""


async def test_a_run_with_valid_input_completes_and_invalid_input_fails_with_a_validation_error(
    harness: Harness,
) -> None:
    text = workflow(BODY, extra=EXTRA)
    assert await harness.run(text, {"qty": 3}) == {"total": 6}
    error = await harness.fail(text, {"qty": 0})
    assert (error["type"], error["status"]) == (ERR + "validation", 400)
    assert error["instance"] == "/input"
    assert "$.qty" in error["detail"] and "minimum of 1" in error["detail"]
