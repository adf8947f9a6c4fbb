"""A real browser on the Temporal Web UI: offloaded payloads are readable through the codec server.

Headless Chromium (Debian's package, installed by `make test`) renders the
workflow's history page twice: with the codec server down the page shows
only the claim-check reference; with it up, the document itself.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from tests.conftest import free_port
from tests.e2e_workflows import ACTIVITIES, WORKFLOWS, DigestInput, make_document
from workflow_runner.claimcheck import open_store
from workflow_runner.claimcheck.codec_server import codec_service_for, start_codec_server
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.config import load_settings
from workflow_runner.runtime.devserver import DevServer

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=20000",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "chromium is not installed: `make test` installs Debian's chromium package"
    return path


async def render(url: str, profile: Path) -> str:
    proc = await asyncio.create_subprocess_exec(
        chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    return out.decode(errors="replace")


@pytest.fixture
async def ui_server(tmp_path: Path) -> AsyncIterator[tuple[DevServer, int]]:
    """A dev server with its Web UI, told to decode through a codec port not yet served."""
    codec_port = free_port()
    server = DevServer(
        port=free_port(), ui_port=free_port(), codec_endpoint=f"http://127.0.0.1:{codec_port}"
    )
    await server.start()
    yield server, codec_port
    await server.stop()


async def test_web_ui_shows_decoded_payload_only_with_codec_server(
    ui_server: tuple[DevServer, int], tmp_path: Path
) -> None:
    server, codec_port = ui_server
    assert server.ui_port is not None
    settings = load_settings(
        {"BLOB_STORAGE_PATH": str(tmp_path / "blobs"), "TEMPORAL_UI_PORT": str(server.ui_port)}
    )
    store = await open_store(settings)
    client = await Client.connect(
        server.address, data_converter=build_data_converter(settings, store)
    )
    doc = make_document(200_000, seed=21)
    workflow_id = f"ui-{uuid.uuid4()}"
    async with Worker(client, task_queue="ui", workflows=WORKFLOWS, activities=ACTIVITIES):
        handle = await client.start_workflow(DigestInput.run, doc, id=workflow_id, task_queue="ui")
        await handle.result()
    url = (
        f"http://127.0.0.1:{server.ui_port}/namespaces/default/workflows/"
        f"{workflow_id}/{handle.result_run_id}/history"
    )
    marker = doc["items"][0]["text"]

    without = await render(url, tmp_path / "profile-1")
    assert "Workflow Execution Started" in without  # the page really rendered
    assert "hash_value" in without and marker not in without

    runner = await start_codec_server(codec_service_for(settings, store), "127.0.0.1", codec_port)
    try:
        decoded = await render(url, tmp_path / "profile-2")
    finally:
        await runner.cleanup()
        await store.close()
    assert marker in decoded and "hash_value" not in decoded
