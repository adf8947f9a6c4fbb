"""The DSL interpreter against the same logic written by hand with the Temporal SDK.

10 `set` tasks, 2 `call: http` to a local server, a `for` over 100 items
(bench/overhead.yaml), against `_harness.HandWritten`; same worker, same
activity, same dev server, same run.

    .venv/bin/python bench/interpreter_overhead.py [--quick]
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from _harness import HandWritten, dev_server, percentile, scratch_dir, table
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workflow_runner.claimcheck import open_store
from workflow_runner.config import load_settings
from workflow_runner.engine.activities.expressions import evaluate_expression
from workflow_runner.engine.client import connect, start_run
from workflow_runner.engine.definition import load_definition
from workflow_runner.engine.tasks.call_http_activity import HttpActivities
from workflow_runner.engine.worker import PASSTHROUGH_MODULES
from workflow_runner.engine.workflow import DslWorkflow

CONCURRENCY = 8


class Answer(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


async def measure(count: int, start_one: Any) -> tuple[float, list[float]]:
    latencies: list[float] = []
    semaphore = asyncio.Semaphore(CONCURRENCY)

    async def one() -> Any:
        async with semaphore:
            began = time.perf_counter()
            result = await (await start_one()).result()
            latencies.append(time.perf_counter() - began)
            return result

    began = time.perf_counter()
    results = await asyncio.gather(*(one() for _ in range(count)))
    assert all(r["total"] == 9900 and r["answer"] == {"ok": True} for r in results), results[0]
    return count / (time.perf_counter() - began), latencies


async def main() -> None:
    count = 20 if "--quick" in sys.argv else 100
    http = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{http.server_address[1]}/answer"
    definition = load_definition(Path(__file__).parent / "overhead.yaml")
    async with dev_server() as server:
        with scratch_dir() as scratch:
            settings = load_settings({"BLOB_STORAGE_PATH": str(scratch / "blobs")})
            store = await open_store(settings)
            client: Client = await connect(settings, store, server.address)
            queue = f"overhead-{uuid.uuid4()}"
            io = HttpActivities({})
            async with Worker(
                client,
                task_queue=queue,
                workflows=[DslWorkflow, HandWritten],
                activities=[io.call_http, evaluate_expression],
                workflow_runner=SandboxedWorkflowRunner(
                    restrictions=SandboxRestrictions.default.with_passthrough_modules(
                        *PASSTHROUGH_MODULES
                    )
                ),
                max_concurrent_workflow_tasks=CONCURRENCY,
            ):
                # warm-up: sandbox imports, jq compilation
                await (await start_run(client, definition, {"url": url}, task_queue=queue)).result()

                async def dsl() -> Any:
                    return await start_run(client, definition, {"url": url}, task_queue=queue)

                async def sdk() -> Any:
                    return await client.start_workflow(
                        HandWritten.run, url, id=f"sdk-{uuid.uuid4()}", task_queue=queue
                    )

                sdk_rate, sdk_lat = await measure(count, sdk)
                dsl_rate, dsl_lat = await measure(count, dsl)
            await io.close()
            await store.close()
    http.shutdown()
    rows = [
        [
            "hand-written SDK workflow",
            f"{sdk_rate:.1f}",
            f"{percentile(sdk_lat, 50) * 1e3:.0f} ms",
            f"{percentile(sdk_lat, 99) * 1e3:.0f} ms",
        ],
        [
            "DSL interpreter",
            f"{dsl_rate:.1f}",
            f"{percentile(dsl_lat, 50) * 1e3:.0f} ms",
            f"{percentile(dsl_lat, 99) * 1e3:.0f} ms",
        ],
    ]
    print(f"{count} workflows each, {CONCURRENCY} in flight")
    print(table(["implementation", "workflows/s", "p50", "p99"], rows))
    print(f"\nDSL / hand-written throughput: {dsl_rate / sdk_rate:.2f}")
    await asyncio.sleep(0.5)


if __name__ == "__main__":
    asyncio.run(main())
