"""``call: openapi`` reading its document with ``document.endpoint.authentication``.

A small stdlib server holds the Petstore document behind a bearer token (401
without it); the operation itself goes to tests/openapi_server.py's Petstore,
which the document names as its server. What each server received is the
ground truth: the document's credentials go to the document, not the API.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.harness import Harness, workflow
from tests.openapi_server import OpenApiServer, openapi3, serving
from workflow_runner.dsl.errors import DefinitionError
from workflow_runner.engine.definition import parse_definition

ERR = "https://serverlessworkflow.io/spec/1.0.0/errors/"
TOKEN = "s3cr3t-value"  # the harness's WORKFLOW_SECRET_API_TOKEN


@dataclass
class DocumentServer:
    url: str
    api: str  # the Petstore the document points at
    authorizations: list[str | None] = field(default_factory=list)


@pytest.fixture(scope="module")
def api() -> Iterator[OpenApiServer]:
    with serving() as server:
        yield server


@pytest.fixture
def documents(api: OpenApiServer) -> Iterator[DocumentServer]:
    state = DocumentServer("", api.url)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            authorization = self.headers.get("Authorization")
            state.authorizations.append(authorization)
            if authorization != f"Bearer {TOKEN}":
                status, body = 401, b'{"error": "unauthorized"}'
            else:
                document = openapi3()
                document["servers"] = [{"url": f"{state.api}/api/v3"}]
                status, body = 200, json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def call(document: str, authentication: str) -> str:
    """getPetById 3; ``authentication`` is YAML indented for document.endpoint.authentication."""
    auth = f"            authentication:\n{authentication}" if authentication else ""
    return workflow(
        f"""
  - getPet:
      call: openapi
      with:
        document:
          endpoint:
            uri: {document}
{auth}        operationId: getPetById
        parameters:
          petId: 3
""",
        "use:\n  secrets: [api_token]\n  authentications:\n    docs:\n      bearer:\n"
        "        token: ${ $secrets.api_token }\n",
    )


async def test_the_document_is_read_with_its_policy_and_the_operation_goes_without_it(
    harness: Harness, api: OpenApiServer, documents: DocumentServer
) -> None:
    out = await harness.run(call(f"{documents.url}/openapi.json", "              use: docs\n"))
    assert out["id"] == 3 and out["name"] == "Fido"
    assert documents.authorizations == [f"Bearer {TOKEN}"]
    assert "authorization" not in api.last("/api/v3/pet/3")["headers"]


async def test_a_document_read_with_credentials_is_not_served_from_the_cache_to_a_call_without(
    harness: Harness, documents: DocumentServer
) -> None:
    uri = f"{documents.url}/openapi.json"
    await harness.run(call(uri, "              bearer:\n                token: s3cr3t-value\n"))
    error = await harness.fail(call(uri, ""))
    assert error["type"] == ERR + "configuration"
    assert "getPetById" in error["detail"] and "returned 401" in error["detail"]
    assert documents.authorizations == [f"Bearer {TOKEN}", None]  # asked again, without


@pytest.mark.parametrize(
    ("document", "authentication", "message"),
    [
        ("pets.json", "{use: docs}", "applies to a document read over http(s), not to a file"),
        ("http://a/pets.json", "{use: nope}", "'nope' is not defined in use.authentications"),
    ],
)
def test_a_wrong_document_authentication_is_reported_where_it_is_written(
    document: str, authentication: str, message: str
) -> None:
    text = call(document, f"              {authentication}\n").replace(
        "            authentication:\n              ", "            authentication: "
    )
    with pytest.raises(DefinitionError) as info:
        parse_definition(text, "wf.yaml")
    problems = [str(p) for p in info.value.problems]
    where = "/do/0/getPet/with/document/endpoint/authentication"
    assert any(message in p and where in p for p in problems), problems
