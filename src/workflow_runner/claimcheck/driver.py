"""The Temporal ``StorageDriver`` that puts payloads into any ``ObjectStore``.

Offloading happens here, at the payload layer, outside the workflow sandbox:
the interpreter never sees a reference, and a blob never enters history.

Why errors look the way they do: a missing or corrupted blob will not heal by
retrying, so it is a *non-retryable* ``ApplicationError`` — raised while
decoding a workflow activation, it fails the workflow (instead of retrying
the workflow task forever); raised while decoding activity input, it fails
the activity. An unreachable store may heal, so its error stays retryable.

Threat model of a read: anyone who can signal, start or update a workflow
(or write a history another worker replays) can hand this driver a
reference. The driver resolves only references that (1) have this driver's
content-addressed shape (``ClaimCheckInvalidReference`` otherwise, before
any I/O), (2) lie in the namespace this worker serves
(``ClaimCheckForeignNamespace``, before any I/O), and (3) hash to the digest
they name (``ClaimCheckBlobCorrupted``). A reference to *another workflow's*
blob in the same namespace is resolved: the namespace is the trust boundary
Temporal itself draws.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    StorageDriver,
    StorageDriverActivityInfo,
    StorageDriverClaim,
    StorageDriverRetrieveContext,
    StorageDriverStoreContext,
    StorageDriverWorkflowInfo,
)
from temporalio.exceptions import ApplicationError

from workflow_runner.claimcheck import metrics
from workflow_runner.claimcheck.errors import (
    BlobNotFoundError,
    IntegrityError,
    InvalidKeyError,
)
from workflow_runner.claimcheck.keys import (
    DIGEST_SEGMENT,
    ForeignNamespaceError,
    blob_key,
    describe_key,
    is_sha256_hex,
    require_namespace,
    validate_key,
    verify_blob,
)
from workflow_runner.claimcheck.store import ObjectStore

DRIVER_NAME = "workflow-runner.claimcheck"
DEFAULT_MAX_PAYLOAD_BYTES = 512 * 1024 * 1024


class PayloadTooLargeError(ValueError):
    """Bigger than the configured ceiling; raised before anything is uploaded."""


class ClaimCheckDriver(StorageDriver):
    """Content-addressed payload storage over an :class:`ObjectStore`.

    Keys are ``v0/ns/{ns}/wt/{type}/wi/{id}/ri/{run}/d/sha256/{hex}``, the
    layout of Temporal's own S3 driver, so identical payloads are stored once
    and every read is verified against the hash in its key.

    ``namespace`` is the one namespace the worker or client serves:
    ``StorageDriverRetrieveContext`` carries none, so the driver must be told,
    and it refuses references to keys outside it.
    """

    def __init__(
        self,
        store: ObjectStore,
        *,
        namespace: str,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        name: str = DRIVER_NAME,
    ) -> None:
        if max_payload_bytes <= 0:
            raise ValueError("max_payload_bytes must be greater than zero")
        self.namespace = namespace
        self.blobs = store
        self.max_payload_bytes = max_payload_bytes
        self._name = name

    def name(self) -> str:
        return self._name

    def type(self) -> str:
        return DRIVER_NAME

    async def store(
        self, context: StorageDriverStoreContext, payloads: Sequence[Payload]
    ) -> list[StorageDriverClaim]:
        return list(await asyncio.gather(*(self._store_one(context, p) for p in payloads)))

    async def _store_one(
        self, context: StorageDriverStoreContext, payload: Payload
    ) -> StorageDriverClaim:
        # deterministic: protobuf may write map entries (metadata) in any order, and the
        # key is the digest of these bytes; equal payloads must get one blob
        data = payload.SerializeToString(deterministic=True)
        if len(data) > self.max_payload_bytes:
            raise PayloadTooLargeError(
                f"payload of {len(data)} bytes exceeds CLAIMCHECK_MAX_PAYLOAD_BYTES "
                f"({self.max_payload_bytes} bytes); not stored in {self.blobs.description}"
            )
        digest = hashlib.sha256(data).hexdigest()
        key = key_for(context, digest, self.namespace)
        backend = self.blobs.backend
        with metrics.timed(backend, "store"):
            # Content addressing: if the key exists its bytes are these bytes.
            if await self.blobs.exists(key):
                metrics.DEDUPLICATED.labels(backend).inc()
            else:
                await self.blobs.put(key, data)
                metrics.OFFLOADS.labels(backend).inc()
                metrics.OFFLOADED_BYTES.labels(backend).inc(len(data))
        return StorageDriverClaim(
            claim_data={
                "key": key,
                "hash_algorithm": "sha256",
                "hash_value": digest,
                "size": str(len(data)),
            }
        )

    async def retrieve(
        self, context: StorageDriverRetrieveContext, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        return await self.retrieve_in(self.namespace, claims)

    async def retrieve_in(
        self, namespace: str, claims: Sequence[StorageDriverClaim]
    ) -> list[Payload]:
        """Resolve ``claims`` for a caller serving ``namespace`` (a codec-server request)."""
        checked = [self._checked_claim(c, namespace) for c in claims]  # all refused before any I/O
        return list(await asyncio.gather(*(self._retrieve_one(k, d) for k, d in checked)))

    async def _retrieve_one(self, key: str, digest: str) -> Payload:
        backend = self.blobs.backend
        try:
            with metrics.timed(backend, "retrieve"):
                data = await self.blobs.get(key)
        except BlobNotFoundError as e:
            raise ApplicationError(
                f"claim-check blob missing: {key} ({describe_key(key)}) "
                f"was not found in {self.blobs.description}; it may have been deleted "
                "or expired by GC",
                type="ClaimCheckBlobNotFound",
                non_retryable=True,
            ) from e
        metrics.RETRIEVALS.labels(backend).inc()
        metrics.RETRIEVED_BYTES.labels(backend).inc(len(data))
        try:
            verify_blob(key, data, digest)
        except IntegrityError as cause:
            metrics.ERRORS.labels(backend, "retrieve", "IntegrityError").inc()
            raise ApplicationError(
                f"claim-check blob corrupted: {key} ({describe_key(key)}) in "
                f"{self.blobs.description} does not match its SHA-256; refusing to use it",
                type="ClaimCheckBlobCorrupted",
                non_retryable=True,
            ) from cause
        payload = Payload()
        payload.ParseFromString(data)
        return payload

    def _checked_claim(self, claim: StorageDriverClaim, namespace: str) -> tuple[str, str]:
        """Refuse claims that did not come from this driver's layout or namespace (forged ones)."""
        data = claim.claim_data
        key, algorithm, digest = (
            data.get("key", ""),
            data.get("hash_algorithm"),
            data.get("hash_value", ""),
        )
        try:
            validate_key(key)
            if algorithm != "sha256" or not is_sha256_hex(digest):
                raise InvalidKeyError(key, "claim has no valid sha256 hash")
            if not key.startswith("v0/") or not key.endswith(DIGEST_SEGMENT + digest):
                raise InvalidKeyError(key, "key is not a content-addressed claim-check key")
        except InvalidKeyError as e:
            raise ApplicationError(
                f"invalid claim-check reference: {e}",
                type="ClaimCheckInvalidReference",
                non_retryable=True,
            ) from e
        try:
            require_namespace(key, namespace)
        except ForeignNamespaceError as e:
            raise ApplicationError(
                f"claim-check reference refused: {e}",
                type="ClaimCheckForeignNamespace",
                non_retryable=True,
            ) from e
        return key, digest


def key_for(context: StorageDriverStoreContext, digest: str, namespace: str) -> str:
    """The key for a payload stored for ``context``'s target.

    Without a target (no workflow or activity context) the key still names
    the driver's namespace, never the namespace-less ``v0/d/...`` form, so
    the namespace guard can read it back.
    """
    target = context.target
    if isinstance(target, StorageDriverWorkflowInfo):
        return blob_key(
            digest, namespace=target.namespace, scope=("wt", target.type, target.id, target.run_id)
        )
    if isinstance(target, StorageDriverActivityInfo):
        return blob_key(
            digest, namespace=target.namespace, scope=("at", target.type, target.id, target.run_id)
        )
    return blob_key(digest, namespace=namespace)
