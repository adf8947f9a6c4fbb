"""Custom functions: ``use.functions``, catalogs on disk and over HTTP, and what is refused.

Runs go through the session's dev server; cataloged functions are fetched
when the definition is parsed (``engine/functions.py``) and travel in it, so
the workers never read a catalog (checked by counting the catalog server's
requests).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Harness, workflow
from tests.openapi_server import OpenApiServer, serving
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.functions import raw_content_url

GREET = """\
input:
  from: '${ {who: .name} }'
set:
  greeting: ${ "Hello, " + .who + "!" }
"""

SHOUT = """\
set:
  shouted: ${ .text | ascii_upcase }
"""


@pytest.fixture(scope="module")
def api() -> Iterator[OpenApiServer]:
    with serving() as server:
        yield server


def write_function(root: Path, name: str, version: str, text: str) -> Path:
    path = root / "functions" / name / version / "function.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def problems_of(text: str, source: Path) -> str:
    source.write_text(text)
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, str(source))
    return str(info.value)


async def test_the_spec_inline_example_passes_with_as_the_function_input(
    harness: Harness, api: OpenApiServer
) -> None:
    text = workflow(
        """
  - getPet:
      call: getPetById
      with:
        petId: ${ .wanted }
""",
        f"""use:
  functions:
    getPetById:
      input:
        schema:
          document:
            type: object
            properties:
              petId:
                type: integer
            required: [ petId ]
      call: http
      with:
        method: get
        endpoint: {api.url}/v2/pet/{{petId}}
""",
    )
    out = await harness.run(text, {"wanted": 3})
    assert out == {"id": 3, "name": "Fido", "status": "available", "category": "dog"}


async def test_a_function_wrapping_an_openapi_call_and_its_output_filtered_by_the_caller(
    harness: Harness, api: OpenApiServer
) -> None:
    text = workflow(
        """
  - available:
      call: getAvailablePets
      output:
        as: ${ map(.name) }
""",
        f"""use:
  functions:
    getAvailablePets:
      call: openapi
      with:
        document:
          endpoint: {api.url}/swagger.json
        operationId: findPetsByStatus
        parameters:
          status: available
""",
    )
    assert await harness.run(text) == ["Rex", "Fido"]


async def test_without_with_a_function_gets_the_task_input_and_functions_call_functions(
    harness: Harness,
) -> None:
    text = workflow(
        """
  - greet:
      call: politeGreeting
""",
        """use:
  functions:
    greet:
      set:
        greeting: ${ "Hello, " + .name }
    politeGreeting:
      call: greet
      output:
        as: ${ .greeting + ", welcome." }
""",
    )
    assert await harness.run(text, {"name": "Ada"}) == "Hello, Ada, welcome."


async def test_a_catalog_on_disk_and_the_default_catalog_next_to_the_definition(
    harness: Harness,
) -> None:
    write_function(harness.directory / "shared", "greet", "1.0.0", GREET)
    write_function(harness.directory, "shout", "2.0.0", SHOUT)
    text = workflow(
        """
  - greet:
      call: greet:1.0.0@local
      with:
        name: Ada
  - shout:
      call: shout:2.0.0@default
      with:
        text: ${ .greeting }
""",
        """use:
  catalogs:
    local:
      endpoint:
        uri: shared
""",
    )
    assert await harness.run(text) == {"shouted": "HELLO, ADA!"}


async def test_a_catalog_over_http_and_a_function_by_url_are_fetched_once_at_load(
    harness: Harness, api: OpenApiServer
) -> None:
    api.catalog["functions/greet/1.0.0/function.yaml"] = GREET
    api.catalog["functions/shout/2.0.0/function.yaml"] = SHOUT
    text = workflow(
        f"""
  - greet:
      call: greet:1.0.0@remote
      with:
        name: Grace
  - shout:
      call: {api.url}/catalog/functions/shout/2.0.0/function.yaml
      with:
        text: ${{ .greeting }}
""",
        f"""use:
  catalogs:
    remote:
      endpoint: {api.url}/catalog
""",
    )
    before = len([r for r in api.requests if r["path"].startswith("/catalog/")])
    assert await harness.run(text) == {"shouted": "HELLO, GRACE!"}
    fetched = [r["path"] for r in api.requests if r["path"].startswith("/catalog/")][before:]
    assert fetched == [
        "/catalog/functions/greet/1.0.0/function.yaml",
        "/catalog/functions/shout/2.0.0/function.yaml",
    ]


def test_a_missing_function_is_a_located_error_listing_the_defined_ones(tmp_path: Path) -> None:
    text = workflow(
        "  - a:\n      set: {x: 1}\n  - b:\n      call: getPetByName\n",
        "use:\n  functions:\n    getPetById:\n      set: {y: 2}\n",
    )
    message = problems_of(text, tmp_path / "w.yaml")
    assert f"{tmp_path / 'w.yaml'}:14:13 (/do/1/b/call): unknown function 'getPetByName'" in message
    assert "(defined: getPetById)" in message
    assert "name:version@catalog" in message


def test_an_undeclared_catalog_is_named(tmp_path: Path) -> None:
    text = workflow("  - a:\n      call: log:1.0.0@global\n")
    message = problems_of(text, tmp_path / "w.yaml")
    assert (
        "(/do/0/a/call): catalog 'global' is not defined in use.catalogs (defined: none" in message
    )


def test_a_function_missing_from_its_catalog_is_located_at_the_call(tmp_path: Path) -> None:
    text = workflow(
        "  - a:\n      call: log:1.0.0@mine\n",
        "use:\n  catalogs:\n    mine:\n      endpoint: cat\n",
    )
    message = problems_of(text, tmp_path / "w.yaml")
    expected = tmp_path / "cat" / "functions" / "log" / "1.0.0" / "function.yaml"
    assert f"(/do/0/a/call): function log:1.0.0@mine ({expected}): cannot read" in message


def test_a_function_missing_from_an_http_catalog_names_the_status(
    tmp_path: Path, api: OpenApiServer
) -> None:
    text = workflow(
        "  - a:\n      call: nothing:9.9.9@remote\n",
        f"use:\n  catalogs:\n    remote:\n      endpoint:\n        uri: {api.url}/catalog/\n",
    )
    message = problems_of(text, tmp_path / "w.yaml")
    assert "(/do/0/a/call): function nothing:9.9.9@remote" in message
    assert "cannot fetch it: GET returned 404" in message


def test_an_invalid_cataloged_function_is_located_in_its_own_file(tmp_path: Path) -> None:
    path = write_function(tmp_path, "bad", "1.0.0", "set:\n  x: 1\nwait: nope\n")
    text = workflow("  - a:\n      call: bad:1.0.0@default\n")
    message = problems_of(text, tmp_path / "w.yaml")
    assert f"{path}:3:7 (/wait): unknown property 'wait' for a set task" in message


def test_a_function_that_calls_itself_is_refused(tmp_path: Path) -> None:
    text = workflow(
        "  - a:\n      call: ping\n",
        "use:\n  functions:\n    ping:\n      call: pong\n    pong:\n      call: ping\n",
    )
    message = problems_of(text, tmp_path / "w.yaml")
    assert "function 'ping' calls itself (ping -> pong -> ping)" in message


def test_github_and_gitlab_pages_become_raw_content_addresses() -> None:
    assert raw_content_url(
        "https://github.com/serverlessworkflow/catalog/tree/main/functions/log/1.0.0/function.yaml"
    ) == (
        "https://raw.githubusercontent.com/serverlessworkflow/catalog/main/functions/log/1.0.0/function.yaml"
    )
    assert (
        raw_content_url("https://github.com/serverlessworkflow/catalog")
        == "https://raw.githubusercontent.com/serverlessworkflow/catalog/HEAD"
    )
    assert (
        raw_content_url("https://gitlab.com/group/sub/repo/-/blob/v2/functions/x/1/function.yaml")
        == "https://gitlab.com/group/sub/repo/-/raw/v2/functions/x/1/function.yaml"
    )
