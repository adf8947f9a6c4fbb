"""Local stand-ins for the hosts the conformance kit calls (petstore.swagger.io, httpbin.org).

The scenarios' URLs are rewritten to this server (``/petstore/...``, ``/httpbin/...``)
before they run; the definitions are otherwise the kit's own text. The data is
what the scenarios rely on: pets 1 and 2 exist, a pet looked up by name is 404,
``findByStatus`` returns a non-empty list, ``basic-auth/{user}/{password}``
accepts exactly those credentials.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.httpserver import QuietHandler, in_background

PETS = {
    1: {"id": 1, "name": "Rex", "status": "available", "photoUrls": []},
    2: {"id": 2, "name": "Milou", "status": "available", "photoUrls": []},
    3: {"id": 3, "name": "Felix", "status": "sold", "photoUrls": []},
}
HOSTS = {"https://petstore.swagger.io": "/petstore", "https://httpbin.org": "/httpbin"}


def swagger(host: str) -> dict[str, Any]:
    """A Swagger 2.0 petstore document reduced to the operations the kit calls."""
    pet = {"$ref": "#/definitions/Pet"}
    return {
        "swagger": "2.0",
        "info": {"title": "Swagger Petstore (stand-in)", "version": "1.0.7"},
        "host": host,
        "basePath": "/petstore/v2",
        "schemes": ["http"],
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
                    "responses": {"200": {"schema": {"type": "array", "items": pet}}},
                }
            },
            "/pet/{petId}": {
                "get": {
                    "operationId": "getPetById",
                    "produces": ["application/json"],
                    "parameters": [
                        {"name": "petId", "in": "path", "required": True, "type": "integer"}
                    ],
                    "responses": {"200": {"schema": pet}, "404": {"description": "not found"}},
                }
            },
        },
        "definitions": {
            "Pet": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "status": {"type": "string"},
                },
            }
        },
    }


class _Handler(QuietHandler):
    server: StandIns

    def do_GET(self) -> None:
        url = urlparse(self.path)
        parts = [p for p in url.path.split("/") if p]
        query = parse_qs(url.query)
        if parts == ["petstore", "v2", "swagger.json"]:
            return self._json(swagger(f"127.0.0.1:{self.server.server_address[1]}"))
        if parts == ["petstore", "v2", "pet", "findByStatus"]:
            wanted = set(query.get("status", []))
            return self._json([p for p in PETS.values() if p["status"] in wanted])
        if len(parts) == 4 and parts[:3] == ["petstore", "v2", "pet"]:
            pet = PETS.get(int(parts[3])) if parts[3].isdigit() else None
            if pet is None:
                return self._json({"code": 404, "message": "Pet not found"}, 404)
            return self._json(pet)
        if len(parts) == 4 and parts[:2] == ["httpbin", "basic-auth"]:
            expected = base64.b64encode(f"{parts[2]}:{parts[3]}".encode()).decode()
            if self.headers.get("Authorization") != f"Basic {expected}":
                return self._json({"authenticated": False}, 401)
            return self._json({"authenticated": True, "user": parts[2]})
        return self._json({"code": 404, "message": "not found"}, 404)


class StandIns(ThreadingHTTPServer):
    daemon_threads = True

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def rewrite(self, text: str) -> str:
        for host, prefix in HOSTS.items():
            text = text.replace(host, self.base + prefix)
        return text


@contextmanager
def stand_ins() -> Iterator[StandIns]:
    with in_background(StandIns(("127.0.0.1", 0), _Handler)) as server:
        yield server
