"""A real Petstore-like API on 127.0.0.1 for ``call: openapi`` tests, with its documents.

It serves the API twice — ``/api/v3`` described by an OpenAPI 3 document
(``/openapi.json`` and ``/openapi.yaml``, servers relative to the document),
``/v2`` by a Swagger 2.0 one (``/swagger.json``, ``host`` naming this
server) — and a function catalog under ``/catalog`` for custom-function
tests. Every request is recorded, so a test can check how parameters were
bound (path, repeated query, headers, cookies, JSON and form bodies).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml

from tests.httpserver import QuietHandler, in_background

PETS = [
    {"id": 1, "name": "Rex", "status": "available", "category": "dog"},
    {"id": 2, "name": "Tom", "status": "sold", "category": "cat"},
    {"id": 3, "name": "Fido", "status": "available", "category": "dog"},
    {"id": 4, "name": "Nemo", "status": "pending", "category": "fish"},
]

PET_ID = {"name": "petId", "in": "path", "required": True, "schema": {"type": "integer"}}


def openapi3() -> dict[str, Any]:
    """An OpenAPI 3.0 Petstore: a relative server, $refs, header and cookie parameters."""
    return {
        "openapi": "3.0.3",
        "info": {"title": "Petstore", "version": "1.0.0"},
        "servers": [{"url": "/api/{version}", "variables": {"version": {"default": "v3"}}}],
        "paths": {
            "/pet/findByStatus": {
                "get": {
                    "operationId": "findPetsByStatus",
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "array", "items": {"type": "string"}},
                        },
                        {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                    ],
                }
            },
            "/pet/{petId}": {
                "parameters": [{"$ref": "#/components/parameters/PetId"}],
                "get": {"operationId": "getPetById"},
                "delete": {
                    "operationId": "deletePet",
                    "parameters": [
                        {"name": "api_key", "in": "header", "required": True},
                        {"name": "session", "in": "cookie"},
                    ],
                },
            },
            "/pet": {
                "post": {
                    "operationId": "addPet",
                    "requestBody": {"$ref": "#/components/requestBodies/Pet"},
                }
            },
            "/store/order": {
                "post": {
                    "operationId": "placeOrder",
                    "parameters": [{"name": "dryRun", "in": "query"}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                }
            },
        },
        "components": {
            "parameters": {"PetId": PET_ID},
            "requestBodies": {
                "Pet": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Pet"}},
                        "application/xml": {"schema": {"$ref": "#/components/schemas/Pet"}},
                    },
                }
            },
            "schemas": {
                "Pet": {
                    "type": "object",
                    "properties": {"name": {"type": "string"}, "status": {"type": "string"}},
                }
            },
        },
    }


def swagger2(host: str) -> dict[str, Any]:
    """A Swagger 2.0 Petstore: multi query, a body parameter, form data."""
    return {
        "swagger": "2.0",
        "info": {"title": "Petstore", "version": "1.0.0"},
        "host": host,
        "basePath": "/v2",
        "schemes": ["https", "http"],
        "paths": {
            "/pet/findByStatus": {
                "get": {
                    "operationId": "findPetsByStatus",
                    "produces": ["application/json"],
                    "parameters": [
                        {
                            "name": "status",
                            "in": "query",
                            "required": True,
                            "type": "array",
                            "items": {"type": "string"},
                            "collectionFormat": "multi",
                        }
                    ],
                }
            },
            "/pet/{petId}": {
                "get": {
                    "operationId": "getPetById",
                    "parameters": [
                        {"name": "petId", "in": "path", "required": True, "type": "integer"}
                    ],
                },
                "post": {
                    "operationId": "updatePetWithForm",
                    "consumes": ["application/x-www-form-urlencoded"],
                    "parameters": [
                        {"name": "petId", "in": "path", "required": True, "type": "integer"},
                        {"name": "name", "in": "formData", "type": "string"},
                        {"name": "status", "in": "formData", "type": "string"},
                    ],
                },
            },
            "/pet": {
                "post": {
                    "operationId": "addPet",
                    "consumes": ["application/json"],
                    "parameters": [
                        {"$ref": "#/parameters/PetBody"},
                    ],
                }
            },
        },
        "parameters": {
            "PetBody": {"name": "pet", "in": "body", "required": True, "schema": {"type": "object"}}
        },
    }


class _Handler(QuietHandler):
    server: OpenApiServer

    def do_GET(self) -> None:
        self._route("GET", b"")

    def do_DELETE(self) -> None:
        self._route("DELETE", b"")

    def do_POST(self) -> None:
        self._route("POST", self.rfile.read(int(self.headers.get("Content-Length", "0"))))

    def _route(self, method: str, body: bytes) -> None:
        url = urlparse(self.path)
        query = parse_qs(url.query)
        path = url.path
        self.server.requests.append(
            {
                "method": method,
                "path": path,
                "query": query,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
            }
        )
        if path == "/openapi.json":
            self._json(openapi3())
        elif path == "/openapi.yaml":
            self._send(200, yaml.safe_dump(openapi3()).encode(), "application/yaml")
        elif path == "/swagger.json":
            self._json(swagger2(self.server.host))
        elif path.startswith("/catalog/"):
            self._catalog(path.removeprefix("/catalog/"))
        elif path.startswith(("/api/v3/", "/v2/")):
            self._api(
                method, path.split("/", 3)[-1] if path.startswith("/api") else path[4:], query, body
            )
        else:
            self._json({"error": "not found"}, 404)

    def _catalog(self, relative: str) -> None:
        function = self.server.catalog.get(relative)
        if function is None:
            self._json({"error": "not found"}, 404)
        else:
            self._send(200, function.encode(), "application/yaml")

    def _api(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> None:
        if path == "pet/findByStatus" and method == "GET":
            wanted = query.get("status", [])
            self._json([p for p in PETS if p["status"] in wanted])
        elif path.startswith("pet/") and path[4:].isdigit():
            pet = next((p for p in PETS if p["id"] == int(path[4:])), None)
            if pet is None:
                self._json({"error": "pet not found"}, 404)
            elif method == "POST":
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                self._json({**pet, **form})
            elif method == "DELETE":
                self._json({"deleted": pet["id"]})
            else:
                self._json(pet)
        elif path == "pet" and method == "POST":
            self._json({"id": 99, **json.loads(body)}, 201)
        elif path == "store/order" and method == "POST":
            self._json({"order": json.loads(body), "dryRun": query.get("dryRun", [None])[0]})
        else:
            self._json({"error": f"no route {method} {path}"}, 404)


class OpenApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        # path under /catalog/ -> function.yaml text
        self.catalog: dict[str, str] = {}

    @property
    def host(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def last(self, path: str) -> dict[str, Any]:
        """The last request made to ``path``."""
        return next(r for r in reversed(self.requests) if r["path"] == path)


@contextmanager
def serving() -> Iterator[OpenApiServer]:
    with in_background(OpenApiServer()) as server:
        yield server
