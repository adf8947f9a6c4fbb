"""FilesystemStore holding 1,000,000 blobs: `blobs ls`, `du` and `gc --dry-run`, wall time and
peak memory, beside `find | wc -l` and `du -s` on the same tree as the baseline.

    .venv/bin/python bench/scale.py [--count N]
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from _harness import dev_server, scratch_dir, table

from workflow_runner.claimcheck.stores import FilesystemStore

BLOBS_PER_RUN = 1000


def populate(root: Path, count: int) -> float:
    """Files written straight into the store's layout (no fsync: this measures reading)."""
    store = FilesystemStore(root)
    old = time.time() - 40 * 86400
    began = time.perf_counter()
    for i in range(count):
        run = i // BLOBS_PER_RUN
        digest = hashlib.sha256(str(i).encode()).hexdigest()
        key = f"v0/ns/default/wt/Bench/wi/wf-{run}/ri/run-{run}/d/sha256/{digest}"
        path = store.path_for(key)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        except FileNotFoundError:
            path.parent.mkdir(parents=True, mode=0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"x" * 100)
        os.close(fd)
        os.utime(path, (old, old))
    return time.perf_counter() - began


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of the command, via GNU time (so the fork from
    this Python process does not count as the command's memory)."""
    began = time.perf_counter()
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - began
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed: {result.stderr[-500:]}")
    return elapsed, int(result.stderr.strip().splitlines()[-1]) / 1024


async def main() -> None:
    count = int(sys.argv[sys.argv.index("--count") + 1]) if "--count" in sys.argv else 1_000_000
    cli = [sys.executable, "-m", "workflow_runner.cli.main", "blobs"]
    async with dev_server() as server:
        with scratch_dir() as scratch:
            root = scratch / "blobs"
            created = populate(root, count)
            env = {
                **os.environ,
                "BLOB_STORAGE_PATH": str(root),
                "STIGMER_DATA_DIR": str(scratch / "data"),
                "TEMPORAL_DEV_SERVER_PORT": str(server.port),
                "CLAIMCHECK_GC_INTERVAL_HOURS": "0",
            }
            rows = []
            for label, command in [
                (
                    "find ROOT -type f | wc -l (baseline)",
                    ["sh", "-c", f"find {root} -type f | wc -l"],
                ),
                ("du -sb ROOT (baseline)", ["du", "-sb", str(root)]),
                ("blobs ls", [*cli, "ls"]),
                ("blobs du --json", [*cli, "du", "--json"]),
                ("blobs gc --dry-run --json", [*cli, "gc", "--dry-run", "--json"]),
            ]:
                seconds, peak = await asyncio.to_thread(measure, command, env)
                rows.append(
                    [label, f"{seconds:.1f} s", f"{peak:.0f} MB", f"{count / seconds:,.0f}/s"]
                )
    print(f"{count:,} blobs ({count // BLOBS_PER_RUN:,} workflow runs) created in {created:.0f} s")
    print(table(["command", "wall time", "peak RSS", "blobs/s"], rows))
    await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main())
