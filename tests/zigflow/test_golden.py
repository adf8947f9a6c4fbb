"""Stigmer's golden workflows that read results by task name (``.parallelProcessing.branchA``).

Their authors wrote Zigflow's data model into spec-looking documents. Read in
the Zigflow dialect (``convert --to zigflow``), they must do what the authors
meant: the aggregate step posts both branch results. Read as the spec, they
must fail with a clear expression error naming what is undefined — or, where
the spec gives the fork a result of its own shape (a list), return that — but
never carry on with nulls.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from tests.zigflow.mockserver import Echo, https_mock
from tests.zigflow.runner import poll_query, result, start, temporal_client, worker, worker_env
from workflow_runner.runtime.devserver import DevServer

GOLDEN = Path(__file__).parent / "golden"
HOST = "jsonplaceholder.typicode.com"
COMPLEX_INPUT = {"valid": True, "items": [1, 2, 3], "threshold": 5}


def converted(name: str, directory: Path) -> Path:
    """The golden file rewritten into the Zigflow dialect by ``workflow-runner convert``."""
    out = directory / name
    done = subprocess.run(
        [sys.executable, "-m", "workflow_runner.cli.main", "convert", str(GOLDEN / name),
         "--to", "zigflow", "--force", "-o", str(out)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "/fork" in done.stderr  # it says the fork's result changes shape
    return out


def run_cli(file: Path, env: dict[str, str], run_input: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workflow_runner.cli.main", "run", "-q", str(file),
         "--input", json.dumps(run_input)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


async def test_golden_complex_workflow_in_the_spec_dialect_fails_on_the_task_name_read(
    env: dict[str, str], temporal_server: DevServer, tmp_path: Path
) -> None:
    with https_mock([HOST], {"/posts": Echo({"id": 101})}, tmp_path) as mock:
        done = await asyncio.to_thread(
            run_cli,
            GOLDEN / "10-complex-workflow.yaml",
            {**env, **mock.worker_env()},
            COMPLEX_INPUT,
        )
    posts = [r.json() for r in mock.requests_for("/posts")]
    assert not [p for p in posts if "branchA" in p and "title" not in p], "aggregate posted nulls"
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr
    error = json.loads(done.stderr)
    # The fork's result is a list in the spec: reading .parallelProcessing off it is the error.
    assert error["instance"].startswith("/do/2/aggregate"), error
    assert "parallelProcessing" in json.dumps(error), error


async def test_golden_complex_workflow_in_the_zigflow_dialect_posts_both_branch_results(
    env: dict[str, str], temporal_server: DevServer, tmp_path: Path
) -> None:
    file = converted("10-complex-workflow.yaml", tmp_path)
    with https_mock([HOST], {"/posts": Echo({"id": 101})}, tmp_path) as mock:
        zenv = worker_env(env, temporal_server, **mock.worker_env())
        with worker([file], zenv) as served:
            served.serves("golden-tests")
            async with temporal_client(zenv, temporal_server) as client:
                handle = await start(client, "complex-workflow-test", "golden-tests", COMPLEX_INPUT)
                deadline = time.monotonic() + 60
                while len(mock.requests_for("/posts")) < 3:  # processA, processB, aggregate
                    assert time.monotonic() < deadline, [r.json() for r in mock.requests]
                    await asyncio.sleep(0.2)
                await poll_query(handle, "status")  # answered: the run is waiting for approval
                await handle.signal("approval", {"approved": True})
                await result(handle)
    posts = [r.json() for r in mock.requests_for("/posts")]
    aggregate = next(p for p in posts if "branchA" in p and "title" not in p)
    assert aggregate["branchA"] == {"title": "Process A", "branch": "branchA", "id": 101}
    assert aggregate["branchB"] == {"title": "Process B", "branch": "branchB", "id": 101}
    assert [p for p in posts if "result" in p], posts  # finalize ran after the approval


async def test_golden_parallel_execution_returns_a_list_as_spec_and_a_branch_map_as_zigflow(
    env: dict[str, str], temporal_server: DevServer, tmp_path: Path
) -> None:
    def echo(n: int) -> dict[str, object]:
        return {"title": f"Task {n}", "branch": f"branch{n}", "id": 101}

    with https_mock([HOST], {"/posts": Echo({"id": 101})}, tmp_path) as mock:
        spec = await asyncio.to_thread(
            run_cli, GOLDEN / "04-parallel-concurrent.yaml", {**env, **mock.worker_env()}, {}
        )
        assert spec.returncode == 0, spec.stderr
        assert sorted(json.loads(spec.stdout), key=lambda b: str(b)) == [echo(1), echo(2), echo(3)]
        file = converted("04-parallel-concurrent.yaml", tmp_path)
        zenv = worker_env(env, temporal_server, **mock.worker_env())
        with worker([file], zenv) as served:
            served.serves("golden-tests")
            async with temporal_client(zenv, temporal_server) as client:
                handle = await start(client, "parallel-execution-test", "golden-tests", {})
                got = await result(handle)
    assert got == {"branch1": echo(1), "branch2": echo(2), "branch3": echo(3)}
