"""Each way a command can fail ends as one line on stderr and an exit code, never a traceback.

Run through the installed ``workflow-runner`` script (the entry point users
have), against the session's real dev server, or an address nothing listens on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.processes import read_line
from workflow_runner.runtime.devserver import DevServer

SCRIPT = Path(sys.executable).parent / "workflow-runner"
HEADER = "document:\n  dsl: '1.0.0'\n  namespace: cli\n  name: t\n  version: '1'\n"


@pytest.fixture
def workflow(tmp_path: Path) -> str:
    path = tmp_path / "wf.yaml"
    path.write_text(HEADER + "do:\n  - a:\n      set:\n        got: ${ . }\n")
    return str(path)


def cli(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The single ``error: …`` line of a failed command, after checking the contract."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0][len("error: ") :]


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


def test_validate_refuses_an_alias_bomb_within_seconds_with_a_located_error(
    tmp_path: Path,
) -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(HEADER + "\n".join(lines) + "\ndo:\n  - t:\n      set:\n        v: *i\n")
    assert bomb.stat().st_size < 700
    started = time.monotonic()
    result = cli(
        {**os.environ, "STIGMER_DATA_DIR": str(tmp_path)}, "validate", str(bomb), timeout=30
    )
    assert time.monotonic() - started < 5
    assert result.returncode == 2 and "Traceback" not in result.stderr
    # e (9**5 nodes) is fine; the first *e of f crosses the 100 000-node budget.
    assert result.stderr.startswith(f"{bomb}:11:8 (/f/0): alias *e: "), result.stderr
    assert "alias bomb" in result.stderr


def test_result_of_an_unknown_workflow_names_it_and_the_namespace(env: dict[str, str]) -> None:
    message = one_error_line(cli(env, "result", "does-not-exist"), 1)
    assert message == "workflow does-not-exist not found in namespace default"


def test_emit_to_an_unknown_workflow_names_it_and_the_namespace(env: dict[str, str]) -> None:
    result = cli(env, "emit", "does-not-exist", "--type", "com.example.go", "--data", "{}")
    assert one_error_line(result, 1) == "workflow does-not-exist not found in namespace default"


def test_an_unknown_namespace_is_named_as_the_setting_to_fix(
    env: dict[str, str], temporal_server: DevServer
) -> None:
    cloud = {
        **env,
        "TEMPORAL_SERVICE_ADDRESS": temporal_server.address,
        "TEMPORAL_NAMESPACE": "no-such-namespace",
    }
    message = one_error_line(cli(cloud, "result", "some-id"), 1)
    assert message == "namespace no-such-namespace not found (TEMPORAL_NAMESPACE)"


@pytest.mark.parametrize(
    ("levels", "how"),
    [(900, "inline"), (900, "file"), (100_000, "file")],  # 100 000 is over one argument's limit
)
def test_deeply_nested_input_is_invalid_input(
    tmp_path: Path, env: dict[str, str], workflow: str, levels: int, how: str
) -> None:
    text = nested(levels)
    if how == "file":
        (tmp_path / "deep.json").write_text(text)
        text = f"@{tmp_path / 'deep.json'}"
    for command in (["run", workflow, "--input", text], ["start", workflow, "--input", text]):
        message = one_error_line(cli(env, *command), 2)
        assert message == "--input is nested too deeply (more than 200 levels)"


def test_deeply_nested_event_data_is_invalid_input(env: dict[str, str]) -> None:
    result = cli(env, "emit", "any-id", "--type", "t", "--data", nested(900))
    assert one_error_line(result, 2) == "--data is nested too deeply (more than 200 levels)"


def test_input_nested_up_to_the_limit_runs(env: dict[str, str], workflow: str) -> None:
    result = cli(env, "run", workflow, "--input", nested(200), "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("[") == 200  # {"got": <the 200 lists>}


def test_an_input_file_over_the_payload_limit_is_refused_before_it_is_read(
    tmp_path: Path, env: dict[str, str], workflow: str
) -> None:
    big = tmp_path / "big.json"
    big.write_text('"' + "x" * 5000 + '"')
    limited = {**env, "CLAIMCHECK_MAX_PAYLOAD_BYTES": "4096"}
    for command in (["run", workflow, "--input"], ["emit", "any-id", "--type", "t", "--data"]):
        message = one_error_line(cli(limited, *command, f"@{big}"), 2)
        flag = command[-1]
        assert message == (
            f"{flag} file {big} is 5002 bytes, more than the 4096 that "
            "CLAIMCHECK_MAX_PAYLOAD_BYTES allows"
        )


def test_an_integer_too_long_to_convert_is_invalid_input(
    env: dict[str, str], workflow: str
) -> None:
    message = one_error_line(cli(env, "run", workflow, "--input", "9" * 5000), 2)
    assert message.startswith("--input is not usable JSON: ")


@pytest.mark.parametrize(
    "command",
    [
        ["start", "{workflow}"],
        ["result", "some-id"],
        ["emit", "some-id", "--type", "t"],
        ["run", "{workflow}"],
        ["blobs", "gc", "--dry-run"],
    ],
)
def test_an_unreachable_temporal_is_one_line_naming_the_address(
    env: dict[str, str], workflow: str, command: list[str]
) -> None:
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    cloud = {**env, "TEMPORAL_SERVICE_ADDRESS": address}
    args = [workflow if arg == "{workflow}" else arg for arg in command]
    message = one_error_line(cli(cloud, *args), 1)
    assert message.startswith(f"cannot reach Temporal at {address}: "), message


def test_a_workflow_id_temporal_rejects_is_invalid_input(
    env: dict[str, str], workflow: str
) -> None:
    message = one_error_line(cli(env, "run", workflow, "--id", "x" * 1001), 2)
    assert message.startswith("Temporal refused the request (INVALID_ARGUMENT): ")
    assert "WorkflowId" in message


def test_a_taken_metrics_port_names_the_port(
    env: dict[str, str], temporal_server: DevServer
) -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        cloud = {
            **env,
            "TEMPORAL_SERVICE_ADDRESS": temporal_server.address,
            "METRICS_PORT": str(port),
        }
        message = one_error_line(cli(cloud, "worker"), 1)
    assert message.startswith(f"cannot serve metrics on 127.0.0.1:{port}: ")


def test_blobs_is_listed_in_help_and_loaded_when_invoked(env: dict[str, str]) -> None:
    from workflow_runner.cli.blobs import blobs_app
    from workflow_runner.cli.main import LAZY_GROUPS

    assert LAZY_GROUPS["blobs"][2] == blobs_app.info.help  # the listing says what blobs says
    top = cli(env, "--help")
    assert top.returncode == 0 and "blobs" in top.stdout and str(blobs_app.info.help) in top.stdout
    sub = cli(env, "blobs", "--help")
    assert sub.returncode == 0 and "gc" in sub.stdout and "--install-completion" not in sub.stdout
    listing = cli(env, "blobs", "ls")
    assert listing.returncode == 0 and listing.stdout == "", listing.stderr


def start_waiting_run(
    env: dict[str, str], tmp_path: Path, workflow_id: str
) -> subprocess.Popen[str]:
    """``run`` of a workflow that waits for an event, with Ctrl-C deliverable to it."""
    path = tmp_path / "wait.yaml"
    path.write_text(
        HEADER + "do:\n  - wait:\n      listen:\n        to:\n          one:\n"
        "            with:\n              type: com.example.go\n"
    )
    run = subprocess.Popen(
        [str(SCRIPT), "run", str(path), "--id", workflow_id],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert run.stderr is not None
    assert read_line(run.stderr).startswith(f"started {workflow_id}")
    return run


def test_starting_a_running_workflow_id_again_names_it_and_ctrl_c_stops_run_in_one_line(
    tmp_path: Path, env: dict[str, str], workflow: str
) -> None:
    workflow_id = f"twice-{uuid.uuid4()}"
    run = start_waiting_run(env, tmp_path, workflow_id)
    try:
        again = cli(env, "start", workflow, "--id", workflow_id)
        assert one_error_line(again, 1) == (
            f"workflow {workflow_id} is already running; choose another --id"
        )
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=60)
    finally:
        run.kill()
        run.wait()
    assert run.returncode == 130 and out == "" and "Traceback" not in err
    assert err.strip().splitlines() == [
        "error: interrupted; the workflow keeps its state in Temporal"
    ]
