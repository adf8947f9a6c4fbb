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


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) of that one process, last line of its stdout."""
    began = time.perf_counter()
    with open(os.devnull, "w") as sink:
        proc = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE if command[-1] != "ls" else sink, text=True
        )
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - began
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command} failed")
    last = out.strip().splitlines()[-1] if out.strip() else ""
    return elapsed, usage.ru_maxrss / 1024, last


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
                seconds, peak, _ = await asyncio.to_thread(measure, command, env)
                rows.append(
                    [label, f"{seconds:.1f} s", f"{peak:.0f} MB", f"{count / seconds:,.0f}/s"]
                )
    print(f"{count:,} blobs ({count // BLOBS_PER_RUN:,} workflow runs) created in {created:.0f} s")
    print(table(["command", "wall time", "peak RSS", "blobs/s"], rows))
    await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main())
