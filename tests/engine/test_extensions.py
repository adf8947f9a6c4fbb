"""``use.extensions``: before/after lists around the tasks of a type (dsl/extensions.py).

Fast tests through the fake IO (the interpreter is the part that applies
extensions) plus the specification's own mocking example on the dev server.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engine.fake_io import FakeIO, run_dsl
from tests.harness import Harness
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import load_definition
from workflow_runner.engine.tasks.call_http import HttpRequest

EXAMPLE = Path(__file__).parents[1] / "spec" / "examples" / "mock-service-extension.yaml"

MOCK = """use:
  extensions:
    - mockService:
        extend: call
        when: ($task.with.endpoint.uri // "") | startswith("https://mocked.service.com")
        before:
          - mockResponse:
              set:
                mocked: true
              then: exit
"""


def http_io() -> FakeIO:
    def answer(request: HttpRequest) -> dict[str, str]:
        return {"real": request.uri}

    return FakeIO(activities={"call_http": answer})


CALLS = """  - mocked:
      call: http
      with:
        method: get
        endpoint:
          uri: https://mocked.service.com/pets
  - real:
      call: http
      with:
        method: get
        endpoint:
          uri: https://real.example.com/pets
      output:
        as: '{ first: $input, second: . }'
"""


async def test_a_before_list_ending_in_exit_replaces_the_call_it_extends() -> None:
    io = http_io()
    output = await run_dsl(CALLS, io=io, extra=MOCK)
    assert output == {
        "first": {"mocked": True},
        "second": {"real": "https://real.example.com/pets"},
    }
    assert [c.request.uri for c in io.calls] == ["https://real.example.com/pets"]  # type: ignore[attr-defined]


async def test_before_and_after_run_around_every_task_of_the_extended_type_only() -> None:
    extra = """use:
  extensions:
    - counting:
        extend: set
        before:
          - countBefore:
              export:
                as: '$context + { before: (($context.before // 0) + 1) }'
              set: {}
        after:
          - countAfter:
              export:
                as: '$context + { after: (($context.after // 0) + 1) }'
              set: {}
"""
    body = """  - a:
      set:
        x: 1
  - w:
      wait:
        seconds: 1
  - b:
      set:
        y: ${ $context }
"""
    output = await run_dsl(body, extra=extra)
    # the set tasks a and b were extended (before+after each); wait was not; the
    # extensions' own set tasks were not extended again.
    assert output == {"y": {"before": 2, "after": 1}}


async def test_an_after_lists_output_is_discarded_and_the_task_keeps_its_own() -> None:
    extra = """use:
  extensions:
    - audit:
        extend: all
        after:
          - noise:
              set:
                noise: true
"""
    assert await run_dsl("  - a:\n      set:\n        x: 1\n", extra=extra) == {"x": 1}


async def test_when_false_leaves_the_task_alone() -> None:
    extra = MOCK.replace("mocked.service.com", "elsewhere.example")
    io = http_io()
    output = await run_dsl(CALLS, io=io, extra=extra)
    assert output["first"] == {"real": "https://mocked.service.com/pets"}
    assert len(io.calls) == 2


@pytest.mark.parametrize(
    ("extension", "fragment"),
    [
        ("extend: nothing\n        before: [{a: {set: {}}}]", "extend must be one of"),
        ("extend: extension\n        before: [{a: {set: {}}}]", "not supported yet"),
        ("extend: call", "needs 'before' and/or 'after'"),
        ("extend: call\n        when: ${ .a | }\n        after: [{a: {set: {}}}]", "invalid jq"),
    ],
)
def test_a_wrong_extension_is_reported_where_it_is_written(
    extension: str, fragment: str, tmp_path: Path
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        "document: {dsl: '1.0.0', namespace: t, name: t, version: '1'}\n"
        f"use:\n  extensions:\n    - ext:\n        {extension}\n"
        "do:\n  - a:\n      set: {}\n"
    )
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    assert "/use/extensions/0/ext" in str(info.value) and fragment in str(info.value)


async def test_the_specs_mock_service_example_answers_without_calling_the_service(
    harness: Harness,
) -> None:
    # The example's own ``when`` pipes ``$task.with.endpoint`` into ``startswith``, which
    # jq refuses for an object endpoint: the mocked call is written in the string form.
    text = EXAMPLE.read_text().replace(
        "endpoint:\n          uri: https://fake.com/sample",
        "endpoint: https://mocked.service.com/x",
    )
    assert "mocked.service.com/x" in text
    output = await harness.run(text)
    assert output == {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "content": {"foo": {"bar": "baz"}},
    }
