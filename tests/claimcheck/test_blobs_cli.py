"""`workflow-runner blobs get` checks a blob's SHA-256 like the workers do (a real process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from temporalio.api.common.v1 import Payload
from temporalio.converter import StorageDriverStoreContext, StorageDriverWorkflowInfo

from workflow_runner.claimcheck import open_store
from workflow_runner.claimcheck.codec import CompressionCodec
from workflow_runner.claimcheck.driver import ClaimCheckDriver
from workflow_runner.config import load_settings

CONTEXT = StorageDriverStoreContext(
    target=StorageDriverWorkflowInfo(namespace="default", id="w1", run_id="r1", type="Flow")
)


def blobs(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "workflow_runner.cli.main", "blobs", *args],
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )


async def test_blobs_get_refuses_a_corrupted_blob_and_names_its_key(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "STIGMER_DATA_DIR": str(tmp_path / "data"),
        "BLOB_STORAGE_PATH": str(tmp_path / "blobs"),
    }
    store = await open_store(load_settings(env))
    document = {"items": ["x" * 100] * 1000}
    payload = Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(document).encode())
    (packed,) = await CompressionCodec().encode([payload])
    (claim,) = await ClaimCheckDriver(store, namespace="default").store(CONTEXT, [packed])
    key = claim.claim_data["key"]

    intact = blobs(env, "get", key)
    assert intact.returncode == 0 and json.loads(intact.stdout) == document

    stored = await store.get(key)
    await store.put(key, stored[:-1] + bytes([stored[-1] ^ 1]))  # one flipped bit
    await store.close()
    corrupted = blobs(env, "get", key)
    assert corrupted.returncode == 1 and corrupted.stdout == b""
    message = corrupted.stderr.decode()
    assert key in message.replace("\n", "") and "sha256" in message
    assert "Traceback" not in message

    forensic = blobs(env, "get", "--no-verify", "--raw", key)
    assert forensic.returncode == 0 and forensic.stdout == stored[:-1] + bytes([stored[-1] ^ 1])
