"""The durable stores the claim-check integration tests run against: filesystem and S3 (moto)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from workflow_runner.claimcheck import ObjectStore, open_store
from workflow_runner.claimcheck.stores.s3 import S3Store
from workflow_runner.config import S3Settings, load_settings


@pytest.fixture(params=["filesystem", "s3"])
async def store(
    request: pytest.FixtureRequest, blob_root: Path, s3_settings: S3Settings
) -> AsyncIterator[ObjectStore]:
    s: ObjectStore
    if request.param == "s3":
        s = S3Store(s3_settings)
    else:
        s = await open_store(load_settings({"BLOB_STORAGE_PATH": str(blob_root)}))
    try:
        yield s
    finally:
        await s.close()
