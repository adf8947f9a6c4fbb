"""A storage-aware codec server, so the Web UI and the CLI show offloaded payloads as JSON.

Speaks Temporal's remote-codec protocol: ``POST /decode`` and ``POST /encode``
(also under ``/{namespace}/``), bodies ``{"payloads": [...]}`` in protobuf
JSON. Decoding resolves claim-check references through the same driver the
workers use (SHA-256 verified), decrypts (when it holds ``ENCRYPTION_KEYS``)
and then decompresses. Encoding compresses and encrypts: offloading needs a
workflow context the UI does not have.

Guards: CORS answers only the configured Web UI origins; an optional bearer
token; a reference is resolved only if its key belongs to the namespace of
the request (the same ``require_namespace`` guard as the workers' driver),
so one namespace's UI users cannot read another's blobs. Bodies are capped
(``CODEC_SERVER_MAX_BODY_BYTES``, 413) and so is everything one decode
request may bring into memory, blobs read plus bytes inflated
(``CODEC_SERVER_MAX_DECODED_BYTES``, 400): a few KB of zstd can claim
gigabytes. Every error answer is JSON: ``{"error": "...", "status": N}``.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.sdk.v1.external_storage_pb2 import ExternalStorageReference
from temporalio.converter import StorageDriverClaim
from temporalio.exceptions import ApplicationError

from workflow_runner.claimcheck.codec import CorruptPayloadError
from workflow_runner.claimcheck.converter import codec_for, driver_for
from workflow_runner.claimcheck.driver import ClaimCheckDriver
from workflow_runner.claimcheck.encryption import EncryptionCodec
from workflow_runner.claimcheck.store import ObjectStore
from workflow_runner.config import Settings

REFERENCE_TYPE = ExternalStorageReference.DESCRIPTOR.full_name.encode()
ALLOWED_HEADERS = "Content-Type, X-Namespace, Authorization"
# What the driver's refusals mean to an HTTP client.
_STATUS_BY_ERROR_TYPE = {
    "ClaimCheckBlobNotFound": 404,
    "ClaimCheckForeignNamespace": 403,
    "ClaimCheckInvalidReference": 400,
    "ClaimCheckBlobCorrupted": 500,
}
DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024


@dataclass
class CodecServerConfig:
    namespaces: Sequence[str] = ("default",)
    cors_origins: Sequence[str] = ()
    token: str | None = field(default=None, repr=False)
    # A Web UI request carries at most one gRPC message's payloads (4 MiB on
    # the wire), about 5.4 MiB once base64'd into JSON: 8 MiB leaves room.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


def is_reference(payload: Payload) -> bool:
    return (
        payload.metadata.get("encoding") == b"json/protobuf"
        and payload.metadata.get("messageType") == REFERENCE_TYPE
    )


class CodecService:
    def __init__(
        self, driver: ClaimCheckDriver, codec: EncryptionCodec, config: CodecServerConfig
    ) -> None:
        self.driver = driver
        self.codec = codec
        self.config = config

    async def decode(self, payloads: Sequence[Payload], namespace: str) -> list[Payload]:
        """Resolve references (one at a time, counting their bytes), decrypt, decompress.

        The request's budget (the codec's per-call limit) covers both, so a
        body of many references to one large blob is refused as soon as the
        blobs read pass it, not after reading them all.
        """
        budget = self.codec.max_decoded_bytes_per_call
        resolved: list[Payload] = []
        for index, payload in enumerate(payloads):
            if is_reference(payload):
                payload = await self._resolve(payload, namespace)
                budget -= payload.ByteSize()
                if budget < 0:
                    raise _DecodeRefused(
                        400,
                        f"the blobs referenced by payloads 1..{index + 1} pass the "
                        f"{self.codec.max_decoded_bytes_per_call} bytes one request may decode "
                        f"({self.codec.limit_name})",
                    )
            resolved.append(payload)
        return await self.codec.decode_within(resolved, budget)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.codec.encode(payloads)

    async def _resolve(self, payload: Payload, namespace: str) -> Payload:
        try:
            reference = json_format.Parse(payload.data, ExternalStorageReference())
        except json_format.ParseError as e:
            raise _DecodeRefused(400, f"malformed claim-check reference: {e}") from None
        claim = StorageDriverClaim(claim_data=dict(reference.claim_data))
        (stored,) = await self.driver.retrieve_in(namespace, [claim])
        return stored

    # -- HTTP -----------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[self._cors, self._errors, self._auth],
            client_max_size=self.config.max_body_bytes,
        )
        for prefix in ("", "/{namespace}"):
            app.router.add_post(f"{prefix}/decode", self._handle_decode)
            app.router.add_post(f"{prefix}/encode", self._handle_encode)
        app.router.add_get("/health", self._handle_health)
        return app

    @web.middleware
    async def _cors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        allowed = origin is not None and origin in self.config.cors_origins
        response: web.StreamResponse
        if (request.method == "OPTIONS" or origin is not None) and not allowed:
            return _error(403, f"origin {origin} not allowed")
        if request.method == "OPTIONS":
            response = web.Response(status=204)
        else:
            response = await handler(request)
        if allowed and origin is not None:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Credentials"] = "true"
            response.headers["Access-Control-Allow-Methods"] = "POST, GET, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Vary"] = "Origin"
        return response

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Every refusal as one JSON line a person (or the UI) can act on; never a traceback."""
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            return _error(e.status, e.text or e.reason)
        except _DecodeRefused as e:
            return _error(e.status, str(e))
        except CorruptPayloadError as e:  # bombs and undecodable payloads: the client's input
            return _error(400, str(e))
        except ApplicationError as e:  # the driver's refusals name the key
            return _error(_STATUS_BY_ERROR_TYPE.get(e.type or "", 500), str(e))

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
            text = await request.text()  # 413 past CODEC_SERVER_MAX_BODY_BYTES
        except web.HTTPRequestEntityTooLarge:
            raise _DecodeRefused(
                413,
                f"request body is larger than {self.config.max_body_bytes} bytes "
                "(CODEC_SERVER_MAX_BODY_BYTES)",
            ) from None
        try:
            return json_format.Parse(text, Payloads())
        except json_format.ParseError as e:
            raise web.HTTPBadRequest(text=f'body is not {{"payloads": [...]}}: {e}') from None

    async def _handle_decode(self, request: web.Request) -> web.Response:
        namespace = self._namespace(request)
        payloads = await self._payloads(request)
        return _json(await self.decode(payloads.payloads, namespace))

    async def _handle_encode(self, request: web.Request) -> web.Response:
        self._namespace(request)
        payloads = await self._payloads(request)
        return _json(await self.encode(payloads.payloads))

    async def _handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})


class _DecodeRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        super().__init__(message)


def _error(status: int, message: str) -> web.Response:
    return web.Response(
        status=status,
        text=json.dumps({"error": message, "status": status}),
        content_type="application/json",
    )


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
        codec_for(
            settings,
            per_call_bytes=settings.codec_max_decoded_bytes,
            limit_name="CODEC_SERVER_MAX_DECODED_BYTES",
        ),
        CodecServerConfig(
            namespaces=(settings.temporal_namespace,),
            cors_origins=settings.cors_origins,
            token=settings.codec_token.get_secret_value() if settings.codec_token else None,
            max_body_bytes=settings.codec_max_body_bytes,
        ),
    )
