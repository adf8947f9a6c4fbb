"""A command imports what it needs when it needs it: ``validate`` and ``--help`` stay light.

Temporal's SDK, aiohttp, the AWS SDK and prometheus_client took about a
second to import before ``validate`` could start (issue 12 item 5). This
checks the structure that keeps them out, not a time: the set of heavy
modules in ``sys.modules`` after each light command has run, in a fresh
interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = (
    "temporalio",
    "aioboto3",
    "aiobotocore",
    "botocore",
    "boto3",
    "aiohttp",
    "prometheus_client",
)
EXAMPLE = Path(__file__).parents[2] / "examples" / "hello.yaml"

PROBE = """
import json, sys
{body}
heavy = {heavy!r}
print(json.dumps(sorted({{m.split(".")[0] for m in sys.modules if m.split(".")[0] in heavy}})))
"""


def heavy_modules_after(body: str, tmp_path: Path) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "STIGMER_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    loaded: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return loaded


def run_cli(*args: str) -> str:
    return (
        "from workflow_runner.cli.main import app\n"
        "try:\n"
        f"    app({list(args)!r}, prog_name='workflow-runner')\n"
        "except SystemExit as e:\n"
        "    assert e.code in (0, None), e.code\n"
    )


def test_importing_the_cli_imports_no_heavy_module(tmp_path: Path) -> None:
    assert heavy_modules_after("import workflow_runner.cli.main", tmp_path) == []


@pytest.mark.parametrize(
    "args", [["validate", str(EXAMPLE)], ["--help"], ["validate", "--help"]], ids=" ".join
)
def test_light_commands_import_no_heavy_module(tmp_path: Path, args: list[str]) -> None:
    assert heavy_modules_after(run_cli(*args), tmp_path) == []


def test_the_dsl_package_does_not_import_temporal(tmp_path: Path) -> None:
    body = "import workflow_runner.dsl, workflow_runner.dsl.loader, workflow_runner.dsl.errors"
    assert heavy_modules_after(body, tmp_path) == []


def test_the_probe_sees_heavy_modules_when_they_are_imported(tmp_path: Path) -> None:
    # Guards the test itself: a probe that saw nothing would pass the tests above.
    assert heavy_modules_after("import temporalio.client", tmp_path) == ["temporalio"]
