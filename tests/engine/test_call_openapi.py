"""``call: openapi`` against a real local Petstore (tests/openapi_server.py).

The end-to-end tests run on the session's dev server: the ``openapi_request``
activity reads the document over HTTP (or from a file), binds the
parameters, and ``call_http`` sends the request to the same server. The
binding tests at the top call the pure ``bind`` directly (no server).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import Harness, workflow
from tests.openapi_server import OpenApiServer, openapi3, serving, swagger2
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.tasks.call_openapi_activity import (
    OpenApiActivities,
    OpenApiProblem,
    bind,
)


@pytest.fixture(scope="module")
def api() -> Iterator[OpenApiServer]:
    with serving() as server:
        yield server


def call(document: str, operation: str, parameters: dict[str, Any], extra: str = "") -> str:
    return workflow(
        f"""
  - op:
      call: openapi
      with:
        document:
          endpoint: {document}
        operationId: {operation}
        parameters: {json.dumps(parameters)}
{extra}"""
    )


# -- binding (no server) -------------------------------------------------------


def test_swagger_multi_query_parameter_is_repeated_and_the_server_is_the_documents() -> None:
    request = bind(
        swagger2("api.test:8080"),
        "http://api.test:8080/swagger.json",
        "findPetsByStatus",
        {"status": ["available", "sold"]},
    )
    assert request.method == "GET"
    assert request.uri == "http://api.test:8080/v2/pet/findByStatus?status=available&status=sold"


def test_openapi3_server_variables_and_path_item_parameters_by_ref_are_bound() -> None:
    request = bind(openapi3(), "https://pets.test/docs/openapi.json", "getPetById", {"petId": 7})
    assert request.uri == "https://pets.test/api/v3/pet/7"


def test_openapi3_cookie_and_header_parameters_become_headers() -> None:
    request = bind(
        openapi3(),
        "https://pets.test/openapi.json",
        "deletePet",
        {"petId": 1, "api_key": "k", "session": "s1"},
    )
    assert request.method == "DELETE"
    assert request.headers == {"api_key": "k", "Cookie": "session=s1"}


def test_a_missing_required_parameter_is_named() -> None:
    with pytest.raises(OpenApiProblem, match="missing required header parameter 'api_key'"):
        bind(openapi3(), "https://pets.test/openapi.json", "deletePet", {"petId": 1})


def test_a_parameter_the_operation_does_not_have_is_named_with_the_ones_it_has() -> None:
    with pytest.raises(
        OpenApiProblem, match=r"unknown parameter 'colour' \(the operation's parameters: petId\)"
    ):
        bind(
            openapi3(),
            "https://pets.test/openapi.json",
            "getPetById",
            {"petId": 1, "colour": "red"},
        )


def test_a_relative_server_of_a_document_read_from_a_file_is_refused() -> None:
    with pytest.raises(OpenApiProblem, match="relative and the document is a file"):
        bind(openapi3(), "/srv/openapi.json", "getPetById", {"petId": 1})


def test_a_reference_into_another_document_is_refused_by_name() -> None:
    document = openapi3()
    document["paths"]["/pet/{petId}"]["parameters"] = [{"$ref": "other.yaml#/PetId"}]
    with pytest.raises(OpenApiProblem, match=r"other.yaml#/PetId.*another document"):
        bind(document, "https://pets.test/openapi.json", "getPetById", {"petId": 1})


def test_the_reader_requires_document_and_operation_id() -> None:
    text = workflow(
        "  - op:\n      call: openapi\n      with:\n        document: {endpoint: x.json}\n"
    )
    with pytest.raises(DefinitionError, match=r"/do/0/op/with.*needs 'operationId'"):
        parse_definition(text, "<test>")


def test_a_relative_document_path_is_made_absolute_against_the_definition(tmp_path: Path) -> None:
    definition = parse_definition(
        call("petstore.yaml", "getPetById", {"petId": 1}), str(tmp_path / "w.yaml")
    )
    (task,) = definition.model.do.tasks
    assert getattr(task, "document") == str(tmp_path.resolve() / "petstore.yaml")  # noqa: B009


async def test_documents_are_cached_per_worker_and_a_file_is_read_again_once_changed(
    api: OpenApiServer, tmp_path: Path
) -> None:
    activities = OpenApiActivities(10)
    try:
        before = len([r for r in api.requests if r["path"] == "/openapi.json"])
        first = await activities.document(f"{api.url}/openapi.json")
        again = await activities.document(f"{api.url}/openapi.json")
        assert first is again
        assert len([r for r in api.requests if r["path"] == "/openapi.json"]) == before + 1
        path = tmp_path / "doc.json"
        path.write_text(json.dumps(swagger2("a.test")))
        assert (await activities.document(str(path)))["host"] == "a.test"
        path.write_text(json.dumps(swagger2("b.test:81")))
        assert (await activities.document(str(path)))["host"] == "b.test:81"
    finally:
        await activities.close()


# -- end to end ----------------------------------------------------------------


async def test_openapi3_yaml_document_get_by_path_parameter_outputs_the_content(
    harness: Harness, api: OpenApiServer
) -> None:
    text = workflow(
        f"""
  - getPet:
      call: openapi
      with:
        document:
          endpoint: {api.url}/openapi.yaml
        operationId: getPetById
        parameters:
          petId: ${{ .id }}
"""
    )
    assert await harness.run(text, {"id": 3}) == PET_3


PET_3 = {"id": 3, "name": "Fido", "status": "available", "category": "dog"}


async def test_openapi3_body_from_the_parameters_with_response_output(
    harness: Harness, api: OpenApiServer
) -> None:
    text = call(
        f"{api.url}/openapi.json",
        "addPet",
        {"name": "Kitty", "status": "pending"},
        "        output: response\n",
    )
    out = await harness.run(text)
    assert out["statusCode"] == 201
    assert out["content"] == {"id": 99, "name": "Kitty", "status": "pending"}
    assert out["request"]["method"] == "POST"
    assert out["request"]["uri"] == f"{api.url}/api/v3/pet"
    seen = api.last("/api/v3/pet")
    assert seen["headers"]["content-type"] == "application/json"
    assert json.loads(seen["body"]) == {"name": "Kitty", "status": "pending"}


async def test_openapi3_body_given_whole_as_parameters_body_beside_a_query_parameter(
    harness: Harness, api: OpenApiServer
) -> None:
    text = call(
        f"{api.url}/openapi.json",
        "placeOrder",
        {"body": {"petId": 1, "quantity": 2}, "dryRun": True},
    )
    assert await harness.run(text) == {"order": {"petId": 1, "quantity": 2}, "dryRun": "true"}


async def test_swagger2_find_by_status_repeats_the_query_and_raw_output_is_base64(
    harness: Harness, api: OpenApiServer
) -> None:
    text = call(
        f"{api.url}/swagger.json",
        "findPetsByStatus",
        {"status": ["available", "pending"]},
        "        output: raw\n",
    )
    import base64

    raw = await harness.run(text)
    assert [p["id"] for p in json.loads(base64.b64decode(raw))] == [1, 3, 4]
    assert api.last("/v2/pet/findByStatus")["query"] == {"status": ["available", "pending"]}


async def test_swagger2_body_parameter_and_form_data(harness: Harness, api: OpenApiServer) -> None:
    text = workflow(
        f"""
  - add:
      call: openapi
      with:
        document: {{endpoint: {api.url}/swagger.json}}
        operationId: addPet
        parameters:
          pet: {{name: Bubbles}}
  - rename:
      call: openapi
      with:
        document: {{endpoint: {api.url}/swagger.json}}
        operationId: updatePetWithForm
        parameters:
          petId: 2
          name: ${{ .name + " II" }}
          status: available
"""
    )
    assert await harness.run(text) == {
        "id": 2,
        "name": "Bubbles II",
        "status": "available",
        "category": "cat",
    }
    form = api.last("/v2/pet/2")
    assert form["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert form["body"] == b"name=Bubbles+II&status=available"


async def test_the_spec_example_call_openapi_redirect_runs_against_a_local_petstore(
    harness: Harness, api: OpenApiServer
) -> None:
    text = workflow(
        f"""
  - findPet:
      call: openapi
      with:
        document:
          endpoint: {api.url}/swagger.json
        operationId: findPetsByStatus
        parameters:
          status: available
        redirect: true
      output:
        as: . | length
"""
    )
    assert await harness.run(text) == 2


async def test_a_document_read_from_a_file_next_to_the_definition(
    harness: Harness, api: OpenApiServer
) -> None:
    document = openapi3()
    document["servers"] = [{"url": f"{api.url}/api/v3"}]
    (harness.directory / "petstore.json").write_text(json.dumps(document))
    text = call("petstore.json", "getPetById", {"petId": 3})
    assert await harness.run(text) == PET_3


async def test_an_unknown_operation_fails_naming_the_operation_the_document_and_the_known_ones(
    harness: Harness, api: OpenApiServer
) -> None:
    text = call(f"{api.url}/openapi.json", "findPetsByColour", {})
    error = await harness.fail(text)
    assert error["type"].endswith("/configuration")
    assert error["instance"] == "/do/0/op"
    detail = error["detail"]
    assert f"operation 'findPetsByColour' of {api.url}/openapi.json" in detail
    assert "addPet, deletePet, findPetsByStatus, getPetById, placeOrder" in detail


async def test_a_missing_required_parameter_fails_naming_it_the_operation_and_the_document(
    harness: Harness, api: OpenApiServer
) -> None:
    error = await harness.fail(call(f"{api.url}/swagger.json", "getPetById", {}))
    assert error["type"].endswith("/configuration")
    assert error["detail"] == (
        f"operation 'getPetById' of {api.url}/swagger.json: missing required path parameter 'petId'"
    )


async def test_an_api_error_is_a_communication_error_a_catch_can_match(
    harness: Harness, api: OpenApiServer
) -> None:
    text = workflow(
        f"""
  - lookup:
      try:
        - get:
            call: openapi
            with:
              document: {{endpoint: {api.url}/openapi.json}}
              operationId: getPetById
              parameters: {{petId: 404}}
      catch:
        errors:
          with: {{status: 404}}
        as: e
        do:
          - note:
              set:
                missing: ${{ $e.status }}
"""
    )
    assert await harness.run(text) == {"missing": 404}


async def test_with_authentication_a_named_bearer_policy_from_a_secret_reaches_the_api(
    harness: Harness, api: OpenApiServer
) -> None:
    text = workflow(
        f"""
  - remove:
      call: openapi
      with:
        document: {{endpoint: {api.url}/openapi.json}}
        operationId: deletePet
        parameters: {{petId: 4, api_key: plain}}
        authentication: petstoreAuth
""",
        """use:
  secrets:
    - api_token
  authentications:
    petstoreAuth:
      bearer:
        token: ${ $secrets.api_token }
""",
    )
    assert await harness.run(text) == {"deleted": 4}
    seen = api.last("/api/v3/pet/4")
    assert seen["headers"]["authorization"] == "Bearer s3cr3t-value"
    assert seen["headers"]["api_key"] == "plain"
