"""Local mode's runtime: reuse of a running dev server, and periodic GC with its off switch."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port
from tests.processes import read_line
from workflow_runner.claimcheck.stores import FilesystemStore
from workflow_runner.config import load_settings
from workflow_runner.runtime.devserver import DevServer, port_is_open
from workflow_runner.runtime.housekeeping import gc_due
from workflow_runner.runtime.services import local_services, open_runtime

# GC deletes only blobs whose workflow is established closed: this id never ran.
OLD_KEY = "v0/ns/default/wt/T/wi/never-started/ri/r1/d/sha256/" + "c" * 64


def age(store: FilesystemStore, key: str, days: float) -> None:
    old = time.time() - days * 86400
    os.utime(store.path_for(key), (old, old))


async def test_periodic_gc_runs_once_per_interval_and_can_be_off(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    env = {
        "STIGMER_DATA_DIR": str(tmp_path / "data"),
        "BLOB_STORAGE_PATH": str(tmp_path / "blobs"),
        "TEMPORAL_DEV_SERVER_PORT": str(temporal_server.port),
    }
    store = FilesystemStore(tmp_path / "blobs")
    await store.put(OLD_KEY, b"stale")
    age(store, OLD_KEY, 40)

    off = load_settings({**env, "CLAIMCHECK_GC_INTERVAL_HOURS": "0"})
    async with open_runtime(off, with_worker=False) as runtime:
        assert runtime.server is not None and not runtime.server.owned  # reused
    assert await store.exists(OLD_KEY)

    on = load_settings(env)
    async with open_runtime(on, with_worker=False):
        for _ in range(50):
            if not await store.exists(OLD_KEY):
                break
            await asyncio.sleep(0.1)
    assert not await store.exists(OLD_KEY)
    assert (tmp_path / "data" / "gc.stamp").exists()

    await store.put(OLD_KEY, b"stale again")
    age(store, OLD_KEY, 40)
    assert not gc_due(on)  # the decision itself: not due again within the interval
    async with open_runtime(on, with_worker=False):
        pass
    assert await store.exists(OLD_KEY)


async def test_a_taken_codec_port_moves_the_codec_server_instead_of_failing_the_run(
    tmp_path: Path,
) -> None:
    """CI once lost a run because the derived codec port was held by an outgoing
    connection: bound, not listening, so only the bind itself can tell."""
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        held = holder.getsockname()[1]
        settings = load_settings(
            {
                "STIGMER_DATA_DIR": str(tmp_path / "data"),
                "BLOB_STORAGE_PATH": str(tmp_path / "blobs"),
                "TEMPORAL_DEV_SERVER_PORT": str(port),
                "TEMPORAL_UI_PORT": str(free_port()),
                "CODEC_SERVER_PORT": str(held),
            }
        )
        store = FilesystemStore(tmp_path / "blobs")
        async with local_services(settings, store) as server:
            assert server.owned and server.codec_endpoint is not None
            moved = int(server.codec_endpoint.rsplit(":", 1)[1])
            assert moved != held
            async with httpx.AsyncClient() as http:
                reply = await http.get(f"{server.codec_endpoint}/health")
            assert reply.json() == {"status": "ok"}
        assert not port_is_open("127.0.0.1", moved)
        assert not port_is_open("127.0.0.1", port)


def test_a_dev_server_we_started_does_not_outlive_us_when_we_are_killed() -> None:
    """SIGKILL leaves no time to stop the server; it must not linger holding its port."""
    starter = (
        "import asyncio, sys\n"
        "from workflow_runner.runtime.devserver import DevServer\n"
        "async def main():\n"
        "    server = await DevServer(port=int(sys.argv[1]), headless=True).start()\n"
        "    assert server.process is not None\n"
        "    print(server.process.pid, flush=True)\n"
        "    await asyncio.sleep(120)\n"
        "asyncio.run(main())\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", starter, str(free_port())], stdout=subprocess.PIPE, text=True
    )
    try:
        server_pid = int(read_line(parent.stdout))
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 15
    while _alive(server_pid):
        assert time.monotonic() < deadline, f"dev server {server_pid} outlived its parent"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False
