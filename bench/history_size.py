"""History bytes per workload, with and without the claim check, on the real dev server.

Two workloads, each at sizes on both sides of ``CLAIMCHECK_THRESHOLD_BYTES`` (50 KiB):

- *two activities*: a document (``make_document``, zstd ~2x) produced by one
  activity and passed to another (``_harness.PassDocument``);
- *DSL, 3 tasks*: ``call: http`` fetching a low-entropy catalog (zstd ~15x) from
  a local server, then two ``set`` tasks that pass it along (the first one
  through jq, which runs in a local activity for large inputs).

The three variants run interleaved (``_harness.interleaved``) with the same
worker settings; history is ``sum(event.ByteSize())`` of ``fetch_history()``.

    .venv/bin/python bench/history_size.py [--rounds N]
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from _harness import (
    PassDocument,
    Refused,
    catalog_server,
    dev_server,
    history_bytes,
    interleaved,
    pass_document_worker,
    rounds_note,
    scratch_dir,
    table,
)
from temporalio.client import Client, WorkflowFailureError

from workflow_runner.claimcheck import open_store
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.config import load_settings
from workflow_runner.engine.client import connect, start_run
from workflow_runner.engine.definition import parse_definition
from workflow_runner.engine.worker import running_worker

SIZES = [
    (10_000, "10 KB"),
    (40_000, "40 KB"),
    (100_000, "100 KB"),
    (500_000, "500 KB"),
    (1_000_000, "1 MB"),
    (5_000_000, "5 MB"),
]
VARIANTS = {
    "inline, no compression": {
        "CLAIMCHECK_ENABLED": "false",
        "CLAIMCHECK_COMPRESSION_ENABLED": "false",
    },
    "inline + zstd": {"CLAIMCHECK_ENABLED": "false"},
    "claim check + zstd (default)": {},
}
BASELINE = "inline + zstd"

DSL = """
document: {{dsl: '1.0.0', namespace: bench, name: pass-along, version: '1.0.0'}}
do:
  - fetch:
      call: http
      with:
        method: get
        endpoint: {url}
  - keep:
      set:
        doc: '${{ {{products: .products}} }}'
  - hand_on:
      set:
        products: ${{ .doc.products }}
"""


async def two_activities(address: str, blobs: Path, env: dict[str, str], size: int) -> int:
    settings = load_settings({"BLOB_STORAGE_PATH": str(blobs), **env})
    store = await open_store(settings)
    client = await Client.connect(address, data_converter=build_data_converter(settings, store))
    queue = f"bench-{uuid.uuid4()}"
    try:
        async with pass_document_worker(client, queue):
            handle = await client.start_workflow(
                PassDocument.run, size, id=f"hist-{uuid.uuid4()}", task_queue=queue
            )
            try:
                await asyncio.wait_for(handle.result(), timeout=120)
            except WorkflowFailureError:
                raise Refused("refused (payload > 2 MiB limit)") from None
        return await history_bytes(handle)
    finally:
        await store.close()


async def dsl_three_tasks(address: str, blobs: Path, env: dict[str, str], url: str) -> int:
    settings = load_settings({"BLOB_STORAGE_PATH": str(blobs), **env})
    store = await open_store(settings)
    client = await connect(settings, store, address)
    queue = f"bench-{uuid.uuid4()}"
    text = DSL.format(url=url)
    try:
        async with running_worker(client, settings, task_queue=queue):
            handle = await start_run(
                client, parse_definition(text, "pass-along.yaml"), None, task_queue=queue
            )
            try:
                await asyncio.wait_for(handle.result(), timeout=120)
            except WorkflowFailureError:
                raise Refused("refused (payload > 2 MiB limit)") from None
        return await history_bytes(handle)
    finally:
        await store.close()


async def main() -> None:
    rounds = int(sys.argv[sys.argv.index("--rounds") + 1]) if "--rounds" in sys.argv else 3
    headers = ["workload", "document", *VARIANTS, f"claim check / {BASELINE}"]
    rows = []
    last = None
    async with dev_server() as server:
        with scratch_dir() as scratch, catalog_server() as base_url:
            blobs = scratch / "blobs"
            for workload in ("two activities", "DSL, 3 tasks"):
                for size, label in SIZES:

                    def runner(
                        env: dict[str, str], size: int = size, workload: str = workload
                    ) -> Awaitable[int]:
                        if workload == "two activities":
                            return two_activities(server.address, blobs, env, size)
                        return dsl_three_tasks(server.address, blobs, env, f"{base_url}/{size}")

                    contenders = {name: _measure(runner, env) for name, env in VARIANTS.items()}
                    last = await interleaved(rounds, contenders, warmup=False)
                    cells = []
                    for name in VARIANTS:
                        if name in last.refused:
                            cells.append(last.refused[name])
                        else:
                            cells.append(f"{last.median(name, 'history'):,.0f} B")
                    ratio = last.ratio_text("claim check + zstd (default)", BASELINE, "history")
                    rows.append([workload, label, *cells, ratio])
    print(table(headers, rows))
    if last is not None:
        print(rounds_note(last))
    await asyncio.sleep(0.5)


def _measure(
    run: Callable[[dict[str, str]], Awaitable[int]], env: dict[str, str]
) -> Callable[[], Awaitable[dict[str, float]]]:
    async def measure() -> dict[str, float]:
        return {"history": float(await run(env))}

    return measure


if __name__ == "__main__":
    asyncio.run(main())
