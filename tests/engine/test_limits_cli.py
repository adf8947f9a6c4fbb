"""`workflow-runner run` with a runaway expression or an oversized output: exit 1, never hang.

Through real processes, as a person runs it. Before: `run` froze (jq held
the GIL, Ctrl-C ignored) or waited for ever on a workflow task Temporal
kept retrying; here each case has a deadline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from workflow_runner.dsl.jq_pool import CHILD_SCRIPT

HEADER = "document:\n  dsl: '1.0.0'\n  namespace: cli\n  name: t\n  version: '1'\n"


def write(tmp_path: Path, body: str) -> str:
    path = tmp_path / "wf.yaml"
    path.write_text(HEADER + "do:\n" + body)
    return str(path)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workflow_runner.cli.main", "run", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,  # the old code never returned
        check=False,
    )


def evaluators_of(parent: int) -> list[int]:
    """Live jq evaluator processes started by ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0") if entry.name.isdigit() else []
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0] if argv else "Z"
        except OSError:
            continue
        if state != "Z" and str(CHILD_SCRIPT).encode() in argv and str(parent).encode() in argv:
            found.append(int(entry.name))
    return found


def test_run_with_an_endless_expression_exits_1_naming_the_expression_and_budget(
    tmp_path: Path, env: dict[str, str]
) -> None:
    wf = write(tmp_path, "  - spin:\n      set:\n        x: ${ until(false; .) }\n")
    began = time.monotonic()
    result = run_cli(env, wf)
    assert result.returncode == 1, result.stderr
    assert time.monotonic() - began < 60
    error = json.loads(result.stderr[result.stderr.index("{") :])
    assert error["type"].endswith("/expression")
    assert "until(false; .)" in error["detail"] and "time budget" in error["detail"]


def test_run_with_an_output_over_the_payload_limit_exits_1_within_seconds(
    tmp_path: Path, env: dict[str, str]
) -> None:
    wf = write(tmp_path, "  - grow:\n      set:\n        blob: '${ \"x\" * 300000 }'\n")
    began = time.monotonic()
    result = run_cli({**env, "CLAIMCHECK_MAX_PAYLOAD_BYTES": "200000"}, wf, "--quiet")
    took = time.monotonic() - began
    assert result.returncode == 1, result.stderr
    assert took < 30, took
    assert "CLAIMCHECK_MAX_PAYLOAD_BYTES (200000 bytes)" in result.stderr


def test_ctrl_c_stops_run_during_a_long_expression_and_leaves_no_evaluator_behind(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A big input sends jq to a local activity with the full budget (here 10 minutes)."""
    (tmp_path / "in.json").write_text(json.dumps({"rows": ["x" * 100] * 4000}))
    wf = write(tmp_path, "  - spin:\n      set:\n        x: ${ .rows | until(false; .) }\n")
    command = ["run", wf, "--input", f"@{tmp_path / 'in.json'}"]
    process = subprocess.Popen(
        [sys.executable, "-m", "workflow_runner.cli.main", *command],
        env={**env, "EXPRESSION_TIMEOUT_SECONDS": "600"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts background jobs with SIGINT ignored,
        # and the child would inherit that: give it a terminal's default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 60
        while not evaluators_of(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        children = evaluators_of(process.pid)
        assert children, "no jq evaluator was started"
        time.sleep(2)  # well inside jq now
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    deadline = time.monotonic() + 5
    while evaluators_of(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not evaluators_of(process.pid)
