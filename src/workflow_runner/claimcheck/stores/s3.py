"""Cloudflare R2, AWS S3 and MinIO through aioboto3: the cloud-mode store.

One client is opened lazily and reused for the store's life (a client per
call costs a TLS handshake per blob). Checksum headers are only sent when an
operation requires them: botocore's default CRC32 trailer form has been
reported to be rejected by R2 (see docs/decisions.md).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aioboto3
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from workflow_runner.claimcheck.errors import (
    BlobNotFoundError,
    InvalidKeyError,
    StoreUnavailableError,
)
from workflow_runner.claimcheck.keys import validate_key, validate_prefix
from workflow_runner.claimcheck.store import BlobInfo, ObjectStore
from workflow_runner.config import S3Settings

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


class S3Store(ObjectStore):
    """Blobs as objects in one bucket, optionally under a key prefix."""

    backend = "s3"

    def __init__(self, settings: S3Settings, *, max_pool_connections: int = 64) -> None:
        self.settings = settings
        prefix = settings.prefix.strip("/")
        if prefix:
            validate_key(prefix)
        self._prefix = f"{prefix}/" if prefix else ""
        self._session = aioboto3.Session()
        self._config = AioConfig(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            max_pool_connections=max_pool_connections,
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
            s3={"addressing_style": "path"} if settings.endpoint_url else {},
        )
        self._client: Any = None
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()

    @property
    def description(self) -> str:
        where = self.settings.endpoint_url or f"s3 ({self.settings.region})"
        return f"bucket {self.settings.bucket} at {where}"

    async def _s3(self) -> Any:
        if self._client is None:
            async with self._lock:
                if self._client is None:
                    s = self.settings
                    self._client = await self._stack.enter_async_context(
                        self._session.client(
                            "s3",
                            endpoint_url=s.endpoint_url,
                            region_name=s.region,
                            aws_access_key_id=(
                                s.access_key_id.get_secret_value() if s.access_key_id else None
                            ),
                            aws_secret_access_key=(
                                s.secret_access_key.get_secret_value()
                                if s.secret_access_key
                                else None
                            ),
                            config=self._config,
                        )
                    )
        return self._client

    def _object_key(self, key: str) -> str:
        return self._prefix + validate_key(key)

    def _error(self, key: str, action: str, e: Exception) -> Exception:
        if isinstance(e, ClientError):
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in _NOT_FOUND:
                return BlobNotFoundError(key, self.description)
            if code == "KeyTooLongError":
                return InvalidKeyError(key, "too long for the bucket")
            return StoreUnavailableError(
                f"cannot {action} blob {key} in {self.description}: {code or e}"
            )
        return StoreUnavailableError(f"cannot {action} blob {key} in {self.description}: {e}")

    async def put(self, key: str, data: bytes) -> None:
        object_key = self._object_key(key)
        try:
            s3 = await self._s3()
            await s3.put_object(Bucket=self.settings.bucket, Key=object_key, Body=bytes(data))
        except (ClientError, BotoCoreError) as e:
            raise self._error(key, "write", e) from e

    async def get(self, key: str) -> bytes:
        object_key = self._object_key(key)
        try:
            s3 = await self._s3()
            response = await s3.get_object(Bucket=self.settings.bucket, Key=object_key)
            async with response["Body"] as body:
                data: bytes = await body.read()
        except (ClientError, BotoCoreError) as e:
            raise self._error(key, "read", e) from e
        expected = response.get("ContentLength")
        if expected is not None and expected != len(data):
            raise StoreUnavailableError(
                f"short read of blob {key} from {self.description}: {len(data)} of {expected} bytes"
            )
        return data

    async def delete(self, key: str) -> bool:
        existed = await self.exists(key)
        try:
            s3 = await self._s3()
            await s3.delete_object(Bucket=self.settings.bucket, Key=self._object_key(key))
        except (ClientError, BotoCoreError) as e:
            raise self._error(key, "delete", e) from e
        return existed

    async def stat(self, key: str) -> BlobInfo:
        object_key = self._object_key(key)
        try:
            s3 = await self._s3()
            head = await s3.head_object(Bucket=self.settings.bucket, Key=object_key)
        except (ClientError, BotoCoreError) as e:
            raise self._error(key, "stat", e) from e
        return BlobInfo(key, int(head["ContentLength"]), head["LastModified"])

    async def exists(self, key: str) -> bool:
        try:
            await self.stat(key)
        except BlobNotFoundError:
            return False
        return True

    async def list_blobs(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        """Pages through every object (1,000 per request), one page in memory at a time."""
        validate_prefix(prefix)
        try:
            s3 = await self._s3()
            paginator = s3.get_paginator("list_objects_v2")
            pages = paginator.paginate(Bucket=self.settings.bucket, Prefix=self._prefix + prefix)
            async for page in pages:
                for obj in page.get("Contents", []):
                    yield BlobInfo(
                        obj["Key"][len(self._prefix) :], int(obj["Size"]), obj["LastModified"]
                    )
        except (ClientError, BotoCoreError) as e:
            raise self._error(prefix or "*", "list", e) from e

    async def health(self) -> str:
        try:
            s3 = await self._s3()
            await s3.head_bucket(Bucket=self.settings.bucket)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            raise StoreUnavailableError(
                f"bucket {self.settings.bucket} is not reachable at "
                f"{self.settings.endpoint_url or 'AWS S3'}: {code or e}"
            ) from e
        except BotoCoreError as e:
            raise StoreUnavailableError(
                f"cannot reach {self.settings.endpoint_url or 'AWS S3'}: {e}"
            ) from e
        return await super().health()

    async def put_lifecycle(self, rule: dict[str, Any]) -> None:
        try:
            s3 = await self._s3()
            await s3.put_bucket_lifecycle_configuration(
                Bucket=self.settings.bucket, LifecycleConfiguration={"Rules": [rule]}
            )
        except (ClientError, BotoCoreError) as e:
            raise self._error("(lifecycle)", "set lifecycle of", e) from e

    async def get_lifecycle(self) -> list[dict[str, Any]]:
        try:
            s3 = await self._s3()
            answer = await s3.get_bucket_lifecycle_configuration(Bucket=self.settings.bucket)
        except (ClientError, BotoCoreError) as e:
            raise self._error("(lifecycle)", "read lifecycle of", e) from e
        rules: list[dict[str, Any]] = answer.get("Rules", [])
        return rules

    async def close(self) -> None:
        await self._stack.aclose()
        self._client = None


def lifecycle_rule(settings: S3Settings, *, expire_days: int) -> dict[str, Any]:
    """Expire claim-check objects (under ``v0/``) ``expire_days`` after they were written."""
    prefix = settings.prefix.strip("/")
    return {
        "ID": "workflow-runner-claimcheck-expiry",
        "Filter": {"Prefix": f"{prefix}/v0/" if prefix else "v0/"},
        "Status": "Enabled",
        "Expiration": {"Days": expire_days},
    }
