"""A blob writer SIGKILLed 200 times at random moments: nothing half-written is ever visible."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from pathlib import Path

from tests.faults.conftest import python_module, verify_every_blob
from tests.processes import read_line
from workflow_runner.claimcheck.stores import FilesystemStore

KILLS = 200


def kill_writer_once(root: Path, seed: int, rng: random.Random) -> None:
    writer = python_module("tests.faults.blob_writer", str(root), str(seed))
    assert read_line(writer.stdout).strip() == "ready"
    time.sleep(rng.uniform(0.0, 0.08))
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert writer.returncode == -signal.SIGKILL


async def test_sigkill_never_leaves_a_partial_blob(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    rng = random.Random(2026)
    for seed in range(KILLS):
        await asyncio.to_thread(kill_writer_once, root, seed, rng)
    store = FilesystemStore(root)
    checked = await verify_every_blob(store)
    leftovers = list((root / "~tmp").iterdir())
    print(f"{KILLS} kills: {checked} complete blobs verified, {len(leftovers)} temp files left")
    assert checked > KILLS  # writers did get work done between kills
    # The next start sweeps what the dead writers left, and only that.
    swept = await store.sweep_temp_files()
    assert swept == len(leftovers)
    assert list((root / "~tmp").iterdir()) == []
    assert await verify_every_blob(store) == checked
