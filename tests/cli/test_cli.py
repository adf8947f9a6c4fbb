"""The CLI contract, through real processes: stdout is only the output JSON, exit codes 0/1/2."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.harness import Harness, reached
from tests.httpserver import LocalHTTPServer
from tests.processes import read_line
from workflow_runner.config import S3Settings
from workflow_runner.runtime.devserver import DevServer, find_temporal_binary, port_is_open

EXAMPLES = Path(__file__).parents[2] / "examples"
HEADER = "document:\n  dsl: '1.0.0'\n  namespace: cli\n  name: t\n  version: '1'\n"


def cli(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workflow_runner.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def write(tmp_path: Path, body: str, name: str = "wf.yaml") -> str:
    path = tmp_path / name
    path.write_text(HEADER + "do:\n" + body)
    return str(path)


def test_run_prints_only_output_json(tmp_path: Path, env: dict[str, str]) -> None:
    wf = write(tmp_path, '  - hi:\n      set:\n        greeting: ${ "hello " + .name }\n')
    result = cli(env, "run", wf, "--input", '{"name": "ada"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"greeting": "hello ada"}
    assert "/do/0/hi" in result.stderr  # progress goes to stderr


def test_input_from_file_and_quiet(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "in.json").write_text('{"name": "file"}')
    wf = write(tmp_path, "  - hi:\n      set:\n        n: ${ .name }\n")
    result = cli(env, "run", wf, "--input", f"@{tmp_path / 'in.json'}", "--quiet")
    assert result.returncode == 0 and json.loads(result.stdout) == {"n": "file"}
    assert result.stderr == ""


def test_failed_workflow_exits_1_with_spec_error(tmp_path: Path, env: dict[str, str]) -> None:
    wf = write(
        tmp_path,
        "  - boom:\n      raise:\n        error:\n          type: https://example.com/e\n"
        "          status: 409\n          title: Conflict\n",
    )
    result = cli(env, "run", wf)
    assert result.returncode == 1
    assert result.stdout == ""
    error = json.loads(result.stderr[result.stderr.index("{") :])
    assert error == {
        "type": "https://example.com/e",
        "status": 409,
        "title": "Conflict",
        "instance": "/do/0/boom",
    }


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("do:\n  - a:\n      frob: 1\n", "unknown task type"),
        ("do: [oops\n", "invalid YAML"),
        ("do:\n  - a:\n      set:\n        x: ${ .a | }\n", "invalid jq expression"),
    ],
)
def test_invalid_definition_exits_2_without_traceback(
    tmp_path: Path, env: dict[str, str], content: str, fragment: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(HEADER + content)
    for command in (["run", str(path)], ["validate", str(path)]):
        result = cli(env, *command)
        assert result.returncode == 2, result.stderr
        assert fragment in result.stderr and f"{path}:" in result.stderr
        assert "Traceback" not in result.stderr and result.stdout == ""


def test_bad_input_json_and_config_exit_2(tmp_path: Path, env: dict[str, str]) -> None:
    wf = write(tmp_path, "  - a:\n      set: {}\n")
    result = cli(env, "run", wf, "--input", "{not json")
    assert result.returncode == 2 and "--input is not valid JSON" in result.stderr
    result = cli({**env, "BLOB_STORAGE_TYPE": "r2"}, "run", wf)
    assert result.returncode == 2
    for name in ("R2_BUCKET", "R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"):
        assert name in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_accepts_the_examples(env: dict[str, str]) -> None:
    files = sorted(str(p) for p in EXAMPLES.glob("*.yaml"))
    assert files
    result = cli(env, "validate", *files)
    assert result.returncode == 0, result.stderr


def test_local_mode_starts_and_stops_its_own_dev_server(
    tmp_path: Path, env: dict[str, str]
) -> None:
    port = free_port()
    local = {**env, "TEMPORAL_DEV_SERVER_PORT": str(port), "TEMPORAL_UI_PORT": str(free_port())}
    wf = write(tmp_path, "  - a:\n      set:\n        ok: true\n")
    result = cli(local, "run", wf)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"ok": True}
    assert (tmp_path / "data" / "temporal" / "temporal.db").exists()  # state persisted
    assert not port_is_open("127.0.0.1", port)  # and the server it started is gone


async def test_other_processes_can_signal_a_running_workflow(
    tmp_path: Path, env: dict[str, str], temporal_server: DevServer
) -> None:
    wf = write(
        tmp_path,
        "  - wait:\n      listen:\n        to:\n          one:\n            with:\n"
        "              type: signal\n              id: approve\n",
    )
    workflow_id = f"signal-{uuid.uuid4()}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workflow_runner.cli.main",
        "run",
        wf,
        "--id",
        workflow_id,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    temporal = str(find_temporal_binary())
    for _ in range(100):
        sent = await asyncio.create_subprocess_exec(
            temporal,
            "workflow",
            "signal",
            "--address",
            temporal_server.address,
            "--workflow-id",
            workflow_id,
            "--name",
            "approve",
            "--input",
            '{"by": "ops"}',
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        if await sent.wait() == 0:
            break
        await asyncio.sleep(0.2)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert json.loads(out) == {"by": "ops"}


def test_worker_start_emit_result(
    tmp_path: Path, env: dict[str, str], temporal_server: DevServer
) -> None:
    metrics_port = free_port()
    cloud = {
        **env,
        "TEMPORAL_SERVICE_ADDRESS": temporal_server.address,
        "METRICS_PORT": str(metrics_port),
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "workflow_runner.cli.main", "worker"],
        env=cloud,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stderr is not None
        assert "metrics on" in read_line(worker.stderr)
        assert "worker serving" in read_line(worker.stderr)
        wf = write(
            tmp_path,
            "  - wait:\n      listen:\n        to:\n          one:\n            with:\n"
            "              type: com.example.go\n  - done:\n      set:\n        got: ${ .[0] }\n",
        )
        started = cli(cloud, "start", wf)
        assert started.returncode == 0, started.stderr
        workflow_id = started.stdout.strip()
        sent = cli(cloud, "emit", workflow_id, "--type", "com.example.go", "--data", '{"x": 1}')
        assert sent.returncode == 0, sent.stderr
        result = cli(cloud, "result", workflow_id)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"got": {"x": 1}}
        exposition = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert "# TYPE claimcheck_offloads_total counter" in exposition
        assert "claimcheck_operation_seconds" in exposition
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0


@pytest.mark.parametrize("backend", ["filesystem", "s3"])
def test_large_payload_example_and_blobs_commands(
    tmp_path: Path,
    env: dict[str, str],
    http_server: LocalHTTPServer,
    backend: str,
    s3_settings: S3Settings,
) -> None:
    if backend == "s3":
        assert s3_settings.access_key_id and s3_settings.secret_access_key
        env = {
            **env,
            "BLOB_STORAGE_TYPE": "s3",
            "S3_BUCKET": s3_settings.bucket,
            "S3_ENDPOINT": str(s3_settings.endpoint_url),
            "S3_REGION": "auto",
            "S3_ACCESS_KEY_ID": s3_settings.access_key_id.get_secret_value(),
            "S3_SECRET_ACCESS_KEY": s3_settings.secret_access_key.get_secret_value(),
        }
    url = f"{http_server.url}/big?size=3000000"
    result = cli(
        env,
        "run",
        str(EXAMPLES / "large-payload-pipeline.yaml"),
        "--input",
        json.dumps({"catalogUrl": url, "analyzeUrl": f"{http_server.url}/analyze"}),
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["inStock"] > 0 and summary["categories"]
    listing = cli(env, "blobs", "ls", "--json")
    blobs = [json.loads(line) for line in listing.stdout.splitlines()]
    assert blobs and all(b["key"].startswith("v0/ns/default/wt/DslWorkflow/") for b in blobs)
    biggest = max(blobs, key=lambda b: b["size"])
    usage = json.loads(cli(env, "blobs", "du", "--json").stdout)
    assert usage["count"] == len(blobs) and usage["by_workflow_type"]["DslWorkflow"][
        "count"
    ] == len(blobs)
    stat = json.loads(cli(env, "blobs", "stat", biggest["key"], "--json").stdout)
    assert stat["size"] == biggest["size"]
    decoded = cli(env, "blobs", "get", biggest["key"])
    assert decoded.returncode == 0 and len(decoded.stdout) > biggest["size"]  # decompressed JSON
    json.loads(decoded.stdout)
    assert cli(env, "blobs", "health").stdout.startswith("ok")
    gc = json.loads(cli(env, "blobs", "gc", "--dry-run", "--json").stdout)
    assert gc["scanned"] == len(blobs) and gc["deleted"] == 0 and gc["kept_young"] == len(blobs)
    lifecycle = cli(env, "blobs", "lifecycle", "--apply")
    if backend == "s3":
        assert lifecycle.returncode == 0 and json.loads(lifecycle.stdout)["Expiration"] == {
            "Days": 60
        }
    else:
        assert lifecycle.returncode == 1 and "r2 or s3 only" in lifecycle.stderr
    assert cli(env, "blobs", "rm", biggest["key"]).returncode == 0
    missing = cli(env, "blobs", "stat", biggest["key"])
    assert missing.returncode == 1 and "blob not found" in missing.stderr


def test_unreachable_s3_at_start_names_the_endpoint(tmp_path: Path, env: dict[str, str]) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    broken = {
        **env,
        "BLOB_STORAGE_TYPE": "s3",
        "S3_BUCKET": "bucket",
        "S3_ENDPOINT": endpoint,
        "S3_ACCESS_KEY_ID": "k",
        "S3_SECRET_ACCESS_KEY": "s",
    }
    wf = write(tmp_path, "  - a:\n      set: {}\n")
    result = cli(broken, "run", wf, timeout=60)
    assert result.returncode == 1
    assert endpoint in result.stderr and "Traceback" not in result.stderr


def test_codec_server_on_a_taken_port_says_which_setting_to_change(
    env: dict[str, str],
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        result = cli(env, "codec-server", "--port", str(holder.getsockname()[1]), timeout=30)
    assert result.returncode == 1
    assert "CODEC_SERVER_PORT" in result.stderr and "cannot listen" in result.stderr
    assert "Traceback" not in result.stderr


def test_worker_serves_a_folder_of_definitions_that_the_temporal_cli_starts_by_name(
    env: dict[str, str], temporal_server: DevServer
) -> None:
    cloud = {**env, "TEMPORAL_SERVICE_ADDRESS": temporal_server.address, "METRICS_PORT": "0"}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workflow_runner.cli.main",
            "worker",
            "--definitions",
            str(EXAMPLES),
        ],
        env=cloud,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "worker serving" in read_line(worker.stderr)
        types = read_line(worker.stderr)
        assert "hello" in types and "order-approval" in types, types
        done = subprocess.run(
            [str(find_temporal_binary()), "workflow", "execute", "--type", "hello",
             "--task-queue", cloud["TEMPORAL_TASK_QUEUE"], "--address", temporal_server.address,
             "--input", '{"name": "Ada"}', "-o", "json"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["result"] == {"loud": "HELLO, ADA!"}
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0


def test_worker_refuses_two_definitions_with_one_name(
    tmp_path: Path, env: dict[str, str], temporal_server: DevServer
) -> None:
    for name, greeting in (("a.yaml", "hi"), ("b.yaml", "hello")):
        (tmp_path / name).write_text(HEADER + f"do:\n  - x:\n      set:\n        g: {greeting}\n")
    cloud = {**env, "TEMPORAL_SERVICE_ADDRESS": temporal_server.address, "METRICS_PORT": "0"}
    result = cli(cloud, "worker", "--definitions", str(tmp_path), timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "a.yaml" in result.stderr and "b.yaml" in result.stderr, result.stderr


async def test_status_prints_the_running_task_of_a_run_and_names_an_unknown_id(
    env: dict[str, str], harness: Harness
) -> None:
    handle = await harness.start(
        HEADER + "do:\n  - hold:\n      listen:\n        to:\n          one:\n"
        "            with:\n              type: signal\n              id: go\n"
    )
    await reached(handle, "/do/0/hold")
    shown = await asyncio.to_thread(cli, env, "status", handle.id)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["running"] == ["/do/0/hold"]
    unknown = await asyncio.to_thread(cli, env, "status", "no-such-run")
    assert unknown.returncode == 1 and "no-such-run" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    await handle.signal("go", {})
