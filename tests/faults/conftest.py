"""Fault-injection tests: slow, run by `make test-faults` (and .ci/run), not by `make test`."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from workflow_runner.claimcheck import ObjectStore

REPO = Path(__file__).parents[2]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.path):
            item.add_marker(pytest.mark.faults)


def python_module(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``python -m`` in a child process that can import the tests package."""
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        env={**(env if env is not None else os.environ), "PYTHONPATH": str(REPO)},
        text=True,
        stdout=subprocess.PIPE,
    )


async def verify_every_blob(store: ObjectStore) -> int:
    """Every blob's bytes hash to the digest in its key; returns how many were checked."""
    checked = 0
    async for key in store.list_keys(""):
        data = await store.get(key)
        assert hashlib.sha256(data).hexdigest() == key.rsplit("/", 1)[1], f"corrupted blob {key}"
        checked += 1
    return checked
