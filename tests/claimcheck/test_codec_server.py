"""The codec server decodes real offloaded, compressed payloads for the UI and the CLI."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.sdk.v1.external_storage_pb2 import ExternalStorageReference
from temporalio.client import Client
from temporalio.worker import Worker

from tests.claimcheck.test_codec_and_driver import bomb_payload
from tests.e2e_workflows import ACTIVITIES, WORKFLOWS, DigestInput, document_digest, make_document
from workflow_runner.claimcheck import ObjectStore, open_store
from workflow_runner.claimcheck.codec_server import (
    REFERENCE_TYPE,
    codec_service_for,
    is_reference,
    listening_port,
    start_codec_server,
)
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.config import Settings, load_settings
from workflow_runner.runtime.devserver import DevServer, find_temporal_binary

UI = "http://127.0.0.1:8233"


@pytest.fixture
async def offloaded(
    temporal_server: DevServer, tmp_path: Path
) -> AsyncIterator[tuple[Settings, str, dict[str, object]]]:
    """A completed workflow whose (large, compressed) input was offloaded."""
    settings = load_settings(
        {"BLOB_STORAGE_PATH": str(tmp_path / "blobs"), "CODEC_SERVER_TOKEN": "t0ken"}
    )
    store = await open_store(settings)
    client = await Client.connect(
        temporal_server.address, data_converter=build_data_converter(settings, store)
    )
    doc = make_document(400_000, seed=3)
    queue = f"codec-{uuid.uuid4()}"
    workflow_id = f"codec-{uuid.uuid4()}"
    async with Worker(client, task_queue=queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        assert await client.execute_workflow(
            DigestInput.run, doc, id=workflow_id, task_queue=queue
        ) == document_digest(doc)
    yield settings, workflow_id, doc
    await store.close()


@pytest.fixture
async def codec_url(offloaded: tuple[Settings, str, dict[str, object]]) -> AsyncIterator[str]:
    settings = offloaded[0]
    store = await open_store(settings)
    runner = await start_codec_server(codec_service_for(settings, store), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{listening_port(runner)}"
    await runner.cleanup()
    await store.close()


async def input_payloads(temporal_server: DevServer, workflow_id: str) -> Payloads:
    client = await Client.connect(temporal_server.address)  # no converter: raw history
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    return started.input


async def test_decode_resolves_and_decompresses(
    temporal_server: DevServer, offloaded: tuple[Settings, str, dict[str, object]], codec_url: str
) -> None:
    _, workflow_id, doc = offloaded
    raw = await input_payloads(temporal_server, workflow_id)
    assert is_reference(raw.payloads[0])  # history holds only the reference
    body = json_format.MessageToJson(raw)
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{codec_url}/decode",
            content=body,
            headers={
                "X-Namespace": "default",
                "Authorization": "Bearer t0ken",
                "Content-Type": "application/json",
            },
        )
    assert answer.status_code == 200, answer.text
    decoded = json_format.Parse(answer.text, Payloads())
    assert decoded.payloads[0].metadata["encoding"] == b"json/plain"
    assert json.loads(decoded.payloads[0].data) == doc


async def test_guards_token_namespace_cors(
    temporal_server: DevServer, offloaded: tuple[Settings, str, dict[str, object]], codec_url: str
) -> None:
    body = json_format.MessageToJson(await input_payloads(temporal_server, offloaded[1]))
    async with httpx.AsyncClient() as http:
        no_token = await http.post(f"{codec_url}/decode", content=body)
        assert no_token.status_code == 401
        auth = {"Authorization": "Bearer t0ken"}
        other_ns = await http.post(f"{codec_url}/other/decode", content=body, headers=auth)
        assert other_ns.status_code == 403
        preflight = await http.options(
            f"{codec_url}/decode",
            headers={
                "Origin": UI,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-namespace",
            },
        )
        assert preflight.status_code == 204
        assert preflight.headers["Access-Control-Allow-Origin"] == UI
        assert "X-Namespace" in preflight.headers["Access-Control-Allow-Headers"]
        evil = await http.post(
            f"{codec_url}/decode", content=body, headers={**auth, "Origin": "http://evil.example"}
        )
        assert evil.status_code == 403 and "Access-Control-Allow-Origin" not in evil.headers
        garbage = await http.post(f"{codec_url}/decode", content="{nope", headers=auth)
        assert garbage.status_code == 400


async def test_missing_blob_is_a_404_naming_the_key(
    temporal_server: DevServer, offloaded: tuple[Settings, str, dict[str, object]], codec_url: str
) -> None:
    settings, workflow_id, _ = offloaded
    store = await open_store(settings)
    (key,) = [
        k async for k in store.list_keys(f"v0/ns/default/wt/DigestInput/wi/{workflow_id}/ri/null/")
    ]
    await store.delete(key)
    body = json_format.MessageToJson(await input_payloads(temporal_server, workflow_id))
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{codec_url}/decode", content=body, headers={"Authorization": "Bearer t0ken"}
        )
    assert answer.status_code == 404 and key in answer.text


async def test_temporal_cli_shows_decoded_payload(
    temporal_server: DevServer, offloaded: tuple[Settings, str, dict[str, object]], codec_url: str
) -> None:
    _, workflow_id, doc = offloaded
    args = [
        "workflow",
        "show",
        "--address",
        temporal_server.address,
        "--workflow-id",
        workflow_id,
        "--output",
        "json",
    ]
    plain = await asyncio.create_subprocess_exec(
        str(find_temporal_binary()), *args, stdout=asyncio.subprocess.PIPE
    )
    plain_out, _ = await plain.communicate()
    with_codec = await asyncio.create_subprocess_exec(
        str(find_temporal_binary()),
        *args,
        "--codec-endpoint",
        codec_url,
        "--codec-auth",
        "Bearer t0ken",
        stdout=asyncio.subprocess.PIPE,
    )
    codec_out, _ = await with_codec.communicate()
    plain_input = started_input(plain_out)
    assert base64.b64decode(plain_input["metadata"]["messageType"]).endswith(
        b"ExternalStorageReference"
    )
    decoded_input = started_input(codec_out)
    assert base64.b64decode(decoded_input["metadata"]["encoding"]) == b"json/plain"
    assert json.loads(base64.b64decode(decoded_input["data"])) == doc


def started_input(cli_output: bytes) -> dict[str, Any]:
    history = json.loads(cli_output)
    payload: dict[str, Any] = history["events"][0]["workflowExecutionStartedEventAttributes"][
        "input"
    ]["payloads"][0]
    return payload


@pytest.fixture
async def bare_codec(tmp_path: Path) -> AsyncIterator[tuple[str, ObjectStore]]:
    """A codec server with the default limits and no token, over an empty store."""
    settings = load_settings({"BLOB_STORAGE_PATH": str(tmp_path / "blobs")})
    store = await open_store(settings)
    runner = await start_codec_server(codec_service_for(settings, store), "127.0.0.1", 0)
    yield f"http://127.0.0.1:{listening_port(runner)}", store
    await runner.cleanup()
    await store.close()


def body_of(*payloads: Payload) -> str:
    return json_format.MessageToJson(Payloads(payloads=list(payloads)))


async def test_a_body_over_the_limit_is_a_413_in_json(
    bare_codec: tuple[str, ObjectStore],
) -> None:
    url, _ = bare_codec
    huge = Payload(metadata={"encoding": b"binary/plain"}, data=os.urandom(7 * 1024 * 1024))
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{url}/decode", content=body_of(huge))
    assert answer.status_code == 413
    assert "CODEC_SERVER_MAX_BODY_BYTES" in answer.json()["error"]


@pytest.mark.parametrize("kind", ["gzip", "zstd-declared", "zstd-undeclared"])
async def test_a_decompression_bomb_is_a_400_and_memory_stays_bounded(
    bare_codec: tuple[str, ObjectStore], kind: str
) -> None:
    url, _ = bare_codec
    body = body_of(bomb_payload(kind), bomb_payload(kind))
    tracemalloc.start()
    try:
        async with httpx.AsyncClient(timeout=60) as http:
            answer = await http.post(f"{url}/decode", content=body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status_code == 400, answer.text
    error = answer.json()
    assert error["status"] == 400 and "CODEC_SERVER_MAX_DECODED_BYTES" in error["error"]
    # 64 MiB may be inflated, plus the body and its parsed copy: nowhere near the 2 GiB claimed.
    assert peak < 200 * 1024 * 1024, f"the codec server peaked at {peak} bytes"


@pytest.mark.parametrize(
    ("prefix", "named"),
    [("v0/ns/tenant-b/wt/T/wi/w/ri/r", "'tenant-b'"), ("v0", "no namespace")],
)
async def test_a_reference_outside_the_namespace_is_a_403_without_reading(
    bare_codec: tuple[str, ObjectStore], prefix: str, named: str
) -> None:
    url, store = bare_codec
    secret = Payload(metadata={"encoding": b"json/plain"}, data=b'{"tenant":"b"}')
    data = secret.SerializeToString()
    digest = hashlib.sha256(data).hexdigest()
    key = f"{prefix}/d/sha256/{digest}"
    await store.put(key, data)
    reference = ExternalStorageReference(
        driver_name="workflow-runner.claimcheck",
        claim_data={"key": key, "hash_algorithm": "sha256", "hash_value": digest},
    )
    raw = Payload(
        metadata={"encoding": b"json/protobuf", "messageType": REFERENCE_TYPE},
        data=json_format.MessageToJson(reference).encode(),
    )
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{url}/decode", content=body_of(raw))
    assert answer.status_code == 403, answer.text
    error = answer.json()
    assert named in error["error"] and key in error["error"]
    assert "payloads" not in error  # the blob's content never came back
