"""What only the filesystem store promises: privacy, atomicity, sweeping, layout."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from workflow_runner.claimcheck import StoreFullError, create_store
from workflow_runner.claimcheck.stores import FilesystemStore
from workflow_runner.config import load_settings

SRC = str(Path(__file__).parents[2] / "src")


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """A separate interpreter, so a test can kill it or limit it without touching pytest."""
    return subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {SRC!r})\n" + code],
        capture_output=True,
        text=True,
        check=False,
    )


async def test_files_are_private(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "blobs"
    store = FilesystemStore(root)
    await store.put("a/b/c", b"secret")
    path = store.path_for("a/b/c")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    for directory in [root, root / "a", root / "a" / "b", path.parent]:
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory


async def test_blobs_fan_out_over_subdirectories(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    await asyncio.gather(*(store.put(f"run/{i:04d}", b"x") for i in range(600)))
    fans = [p for p in (tmp_path / "run").iterdir() if p.is_dir()]
    assert len(fans) > 200  # 600 blobs over 256 buckets
    assert max(len(list(f.iterdir())) for f in fans) < 20


async def test_no_temp_files_left_after_writes(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    await asyncio.gather(*(store.put(f"k/{i}", os.urandom(10_000)) for i in range(20)))
    assert list((tmp_path / "~tmp").iterdir()) == []


async def test_stale_temp_files_of_dead_writers_are_swept(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    # A writer killed mid-put leaves its temp file behind.
    proc = run_python(
        "import os, signal\n"
        "from workflow_runner.claimcheck.stores import FilesystemStore\n"
        f"s = FilesystemStore({str(tmp_path)!r})\n"
        "import workflow_runner.claimcheck.stores.filesystem as fs\n"
        "def die(*a, **k): os.kill(os.getpid(), signal.SIGKILL)\n"
        "fs.os.replace = die\n"
        "s._put_sync('victim', s.path_for('victim'), b'x' * 100000)\n"
    )
    assert proc.returncode == -9
    leftovers = list((tmp_path / "~tmp").iterdir())
    assert len(leftovers) == 1
    assert not await store.exists("victim")  # never visible under the real key
    # A live writer's temp file (ours) is not touched; the dead one's is.
    mine = tmp_path / "~tmp" / f"{store._host}.{os.getpid()}.live.tmp"
    mine.write_bytes(b"in progress")
    assert await store.sweep_temp_files() == 1
    assert list((tmp_path / "~tmp").iterdir()) == [mine]
    old = time.time() - 7200
    os.utime(mine, (old, old))
    assert await store.sweep_temp_files() == 1


async def test_disk_full_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    """RLIMIT_FSIZE stands in for a full disk: writes past it fail with EFBIG."""
    out = run_python(
        "import asyncio, resource, signal\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))\n"
        "from workflow_runner.claimcheck.stores import FilesystemStore\n"
        f"s = FilesystemStore({str(tmp_path)!r})\n"
        "try:\n"
        "    asyncio.run(s.put('big', b'x' * 1_000_000))\n"
        "except Exception as e:\n"
        "    print(type(e).__name__, e)\n"
    )
    assert out.stdout.startswith(StoreFullError.__name__)
    assert "no space left" in out.stdout and str(tmp_path) in out.stdout
    assert list((tmp_path / "~tmp").iterdir()) == []
    assert not FilesystemStore(tmp_path).path_for("big").exists()


async def test_root_is_created_and_health_reports_free_space(tmp_path: Path) -> None:
    root = tmp_path / "new" / "root"
    store = create_store(load_settings({"BLOB_STORAGE_PATH": str(root)}))
    assert isinstance(store, FilesystemStore) and root.is_dir()
    report = await store.health()
    assert "GB free" in report


async def test_unwritable_root_fails_health(tmp_path: Path) -> None:
    store = FilesystemStore(tmp_path)
    # Permissions do not stop root (CI runs as root), a file in the way does.
    (tmp_path / "~tmp").rmdir()
    (tmp_path / "~tmp").write_bytes(b"")
    with pytest.raises(Exception, match="cannot write"):
        await store.health()
