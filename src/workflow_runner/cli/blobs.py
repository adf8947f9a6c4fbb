"""``workflow-runner blobs``: see, inspect and clean the blob store."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer
from temporalio.api.common.v1 import Payload

from workflow_runner.claimcheck import BlobNotFoundError, ObjectStore, StoreError, open_store
from workflow_runner.claimcheck.codec import CompressionCodec
from workflow_runner.cli.common import settings_or_exit
from workflow_runner.cli.output import err, fail, print_json

blobs_app = typer.Typer(help="Inspect and manage offloaded payloads.", no_args_is_help=True)
JsonFlag = Annotated[bool, typer.Option("--json", help="Machine-readable output")]


def _with_store(action: Any) -> Any:
    settings = settings_or_exit()

    async def go() -> Any:
        store = await open_store(settings)
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(go())
    except BlobNotFoundError as e:
        fail(str(e))
    except StoreError as e:
        fail(str(e))


@blobs_app.command("ls")
def ls(
    prefix: Annotated[str, typer.Option("--prefix", help="Only keys starting with this")] = "",
    long: Annotated[bool, typer.Option("--long", "-l", help="Size and date too")] = False,
    as_json: JsonFlag = False,
) -> None:
    """List blobs (streamed: memory stays flat for millions of keys)."""

    async def action(store: ObjectStore) -> None:
        async for info in store.list_blobs(prefix):
            if as_json:
                record = {"key": info.key, "size": info.size, "modified": info.modified.isoformat()}
                sys.stdout.write(json.dumps(record) + "\n")
            elif long:
                sys.stdout.write(
                    f"{info.size:>12}  {info.modified:%Y-%m-%d %H:%M:%S}  {info.key}\n"
                )
            else:
                sys.stdout.write(info.key + "\n")

    _with_store(action)


@blobs_app.command()
def stat(key: str, as_json: JsonFlag = False) -> None:
    """Size and modification time of one blob."""

    async def action(store: ObjectStore) -> None:
        info = await store.stat(key)
        out = {"key": info.key, "size": info.size, "modified": info.modified.isoformat()}
        if as_json:
            print_json(out)
        else:
            typer.echo(f"{info.key}\n  size:     {info.size} bytes")
            typer.echo(f"  modified: {info.modified.isoformat()}")

    _with_store(action)


@blobs_app.command()
def get(
    key: str,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Write to a file")] = None,
    raw: Annotated[
        bool, typer.Option("--raw", help="Stored bytes, not the decoded payload")
    ] = False,
) -> None:
    """The payload stored under KEY, decompressed and decoded (JSON payloads as JSON)."""

    async def action(store: ObjectStore) -> bytes:
        data = await store.get(key)
        if raw:
            return data
        payload = Payload()
        payload.ParseFromString(data)
        (decoded,) = await CompressionCodec(enabled=False).decode([payload])
        return bytes(decoded.data)

    data: bytes = _with_store(action)
    if output is not None:
        output.write_bytes(data)
        err.print(f"wrote {len(data)} bytes to {output}")
    else:
        sys.stdout.buffer.write(data + (b"" if raw or data.endswith(b"\n") else b"\n"))


@blobs_app.command()
def rm(key: str) -> None:
    """Delete one blob (a workflow that still needs it will fail naming it)."""

    async def action(store: ObjectStore) -> bool:
        return await store.delete(key)

    if not _with_store(action):
        fail(f"no blob {key}")
    err.print(f"deleted {key}")


@blobs_app.command()
def du(as_json: JsonFlag = False) -> None:
    """Blob count and bytes, in total and per workflow type."""

    async def action(store: ObjectStore) -> dict[str, Any]:
        per_type: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        count = size = 0
        async for info in store.list_blobs(""):
            parts = info.key.split("/")
            wf_type = parts[parts.index("wt") + 1] if "wt" in parts[:-1] else "(no workflow)"
            per_type[wf_type][0] += 1
            per_type[wf_type][1] += info.size
            count += 1
            size += info.size
        return {
            "count": count,
            "bytes": size,
            "by_workflow_type": {
                k: {"count": v[0], "bytes": v[1]} for k, v in sorted(per_type.items())
            },
        }

    report = _with_store(action)
    if as_json:
        print_json(report)
        return
    typer.echo(f"{report['count']} blobs, {report['bytes']} bytes")
    for name, entry in report["by_workflow_type"].items():
        typer.echo(f"  {name}: {entry['count']} blobs, {entry['bytes']} bytes")


@blobs_app.command()
def health() -> None:
    """Prove the store is reachable and writable (exit 1 if not)."""

    async def action(store: ObjectStore) -> str:
        return await store.health()

    typer.echo(_with_store(action))
