"""Every malformed definition of the corpus, through the real CLI: exit 2, located, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.dsl.test_corpus import corpus_cases


@pytest.mark.parametrize("command", ["validate", "run"])
def test_corpus_through_the_cli(tmp_path: Path, command: str) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "STIGMER_DATA_DIR": str(tmp_path / "data"),
        "BLOB_STORAGE_PATH": str(tmp_path / "b"),
    }
    cases = corpus_cases(tmp_path)
    for path, fragment in cases:
        result = subprocess.run(
            [sys.executable, "-m", "workflow_runner.cli.main", command, str(path)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert result.returncode == 2, (path, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        assert fragment in result.stderr and f"{path}:" in result.stderr, result.stderr
        assert result.stdout == ""
    print(f"{command}: {len(cases)} malformed definitions, each exit 2 with a located error")
