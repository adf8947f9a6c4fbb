"""A storage-aware codec server, so the Web UI and the CLI show offloaded payloads as JSON.

Speaks Temporal's remote-codec protocol: ``POST /decode`` and ``POST /encode``
(also under ``/{namespace}/``), bodies ``{"payloads": [...]}`` in protobuf
JSON. Decoding resolves claim-check references through the same driver the
workers use (SHA-256 verified) and then decompresses. Encoding only
compresses: offloading needs a workflow context the UI does not have.

Guards: CORS answers only the configured Web UI origins; an optional bearer
token; a reference is resolved only if its key belongs to the namespace of
the request, so one namespace's UI users cannot read another's blobs.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.sdk.v1.external_storage_pb2 import ExternalStorageReference
from temporalio.converter import StorageDriverClaim, StorageDriverRetrieveContext
from temporalio.exceptions import ApplicationError

from workflow_runner.claimcheck.codec import CompressionCodec
from workflow_runner.claimcheck.converter import codec_for, driver_for
from workflow_runner.claimcheck.driver import ClaimCheckDriver
from workflow_runner.claimcheck.gc import owner_of
from workflow_runner.claimcheck.store import ObjectStore
from workflow_runner.config import Settings

REFERENCE_TYPE = ExternalStorageReference.DESCRIPTOR.full_name.encode()
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"


@dataclass
class CodecServerConfig:
    namespaces: Sequence[str] = ("default",)
    cors_origins: Sequence[str] = ()
    token: str | None = field(default=None, repr=False)


def is_reference(payload: Payload) -> bool:
    return (
        payload.metadata.get("encoding") == b"json/protobuf"
        and payload.metadata.get("messageType") == REFERENCE_TYPE
    )


class CodecService:
    def __init__(
        self, driver: ClaimCheckDriver, codec: CompressionCodec, config: CodecServerConfig
    ) -> None:
        self.driver = driver
        self.codec = codec
        self.config = config

    async def decode(self, payloads: Sequence[Payload], namespace: str) -> list[Payload]:
        resolved = [await self._resolve(p, namespace) for p in payloads]
        return await self.codec.decode(resolved)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.codec.encode(payloads)

    async def _resolve(self, payload: Payload, namespace: str) -> Payload:
        if not is_reference(payload):
            return payload
        reference = json_format.Parse(payload.data, ExternalStorageReference())
        claim = StorageDriverClaim(claim_data=dict(reference.claim_data))
        key = claim.claim_data.get("key", "")
        if owner_of(key).namespace not in (namespace, None):
            raise web.HTTPForbidden(text=f"reference {key} is not in namespace {namespace}")
        (stored,) = await self.driver.retrieve(StorageDriverRetrieveContext(), [claim])
        return stored

    # -- HTTP -----------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._cors, self._auth], client_max_size=1 << 30)
        for prefix in ("", "/{namespace}"):
            app.router.add_post(f"{prefix}/decode", self._handle_decode)
            app.router.add_post(f"{prefix}/encode", self._handle_encode)
        app.router.add_get("/health", self._handle_health)
        return app

    @web.middleware
    async def _cors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin is not None and origin in self.config.cors_origins
        if request.method == "OPTIONS":
            if not allowed:
                raise web.HTTPForbidden(text="origin not allowed")
            response: web.StreamResponse = web.Response(status=204)
        else:
            if origin is not None and not allowed:
                raise web.HTTPForbidden(text="origin not allowed")
            response = await handler(request)
        if allowed and origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Methods"] = "POST, GET, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Vary"] = "Origin"
        return response

    @web.middleware
    async def _auth(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self.config.token and request.method != "OPTIONS" and request.path != "/health":
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {self.config.token}".encode()):
                raise web.HTTPUnauthorized(text="missing or wrong bearer token")
        return await handler(request)

    def _namespace(self, request: web.Request) -> str:
        namespace = (
            request.match_info.get("namespace") or request.headers.get("X-Namespace") or "default"
        )
        if namespace not in self.config.namespaces:
            raise web.HTTPForbidden(text=f"namespace {namespace} is not served here")
        return namespace

    async def _payloads(self, request: web.Request) -> Payloads:
        try:
            return json_format.Parse(await request.text(), Payloads())
        except json_format.ParseError as e:
            raise web.HTTPBadRequest(text=f'body is not {{"payloads": [...]}}: {e}') from None

    async def _handle_decode(self, request: web.Request) -> web.Response:
        namespace = self._namespace(request)
        payloads = await self._payloads(request)
        try:
            decoded = await self.decode(payloads.payloads, namespace)
        except ApplicationError as e:  # missing / corrupted blob: say which
            raise web.HTTPNotFound(text=str(e)) from None
        return _json(decoded)

    async def _handle_encode(self, request: web.Request) -> web.Response:
        self._namespace(request)
        payloads = await self._payloads(request)
        return _json(await self.encode(payloads.payloads))

    async def _handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


def _json(payloads: Sequence[Payload]) -> web.Response:
    body = json_format.MessageToJson(Payloads(payloads=list(payloads)), indent=None)
    return web.Response(text=body, content_type="application/json")


class CodecServerError(Exception):
    """The codec server could not start; the message names the address and the setting."""


async def start_codec_server(service: CodecService, host: str, port: int) -> web.AppRunner:
    """Serve until ``await runner.cleanup()``; port 0 lets the OS choose (see `listening_port`)."""
    runner = web.AppRunner(service.app(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as e:
        await runner.cleanup()
        raise CodecServerError(
            f"codec server cannot listen on {host}:{port} ({e.strerror or e}); "
            "set CODEC_SERVER_PORT (or --port) to a free port"
        ) from e
    return runner


def listening_port(runner: web.AppRunner) -> int:
    """The port actually bound, which differs from the requested one when that was 0."""
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    raise CodecServerError("codec server is not listening")


def codec_service_for(settings: Settings, store: ObjectStore) -> CodecService:
    """The same driver and codec settings the workers use (see converter.py)."""
    return CodecService(
        driver_for(settings, store),
        codec_for(settings),
        CodecServerConfig(
            namespaces=(settings.temporal_namespace,),
            cors_origins=settings.cors_origins,
            token=settings.codec_token.get_secret_value() if settings.codec_token else None,
        ),
    )
