"""``workflow-runner blobs``: see, inspect and clean the blob store."""

from __future__ import annotations

import asyncio
import json
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn
from temporalio.api.common.v1 import Payload

from workflow_runner.claimcheck import (
    BlobInfo,
    BlobNotFoundError,
    ObjectStore,
    StoreError,
    open_store,
)
from workflow_runner.claimcheck.codec import CorruptPayloadError
from workflow_runner.claimcheck.converter import codec_for
from workflow_runner.claimcheck.errors import IntegrityError
from workflow_runner.claimcheck.gc import GcReport, collect_garbage
from workflow_runner.claimcheck.keys import verify_blob
from workflow_runner.claimcheck.runs import TemporalRunStatus
from workflow_runner.cli.common import settings_or_exit
from workflow_runner.cli.output import err, fail, print_json
from workflow_runner.runtime.devserver import DevServerError
from workflow_runner.runtime.services import open_runtime

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
    except IntegrityError as e:
        fail(f"{e}; refusing to print it (--no-verify --raw gives the stored bytes)")
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
        write = sys.stdout.write
        if not (long or as_json):
            async for key in store.list_keys(prefix):
                write(key + "\n")
            return
        async for info in store.list_blobs(prefix):
            if as_json:
                record = {"key": info.key, "size": info.size, "modified": info.modified.isoformat()}
                write(json.dumps(record) + "\n")
            else:
                write(f"{info.size:>12}  {info.modified:%Y-%m-%d %H:%M:%S}  {info.key}\n")

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
    no_verify: Annotated[
        bool,
        typer.Option("--no-verify", help="Skip the SHA-256 check (forensics on a corrupted blob)"),
    ] = False,
) -> None:
    """The payload stored under KEY, decompressed and decoded (JSON payloads as JSON).

    The bytes are checked against the SHA-256 in the key first, exactly as the
    workers' driver does: a corrupted blob is an error (exit 1), never output.
    """
    settings = settings_or_exit()

    async def action(store: ObjectStore) -> bytes:
        data = await store.get(key)
        if not no_verify:
            verify_blob(key, data)
        if raw:
            return data
        payload = Payload()
        try:
            payload.ParseFromString(data)
        except Exception:  # protobuf's DecodeError has no stable public base class
            fail(f"blob {key} is not a stored payload; --raw gives its bytes")
        codec = codec_for(settings)  # decrypts too, when ENCRYPTION_KEYS are set
        try:
            (decoded,) = await codec.decode([payload])
        except CorruptPayloadError as e:
            fail(f"blob {key}: {e}")
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


@blobs_app.command()
def gc(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would go; delete nothing")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Delete blobs older than CLAIMCHECK_TTL_DAYS whose workflow is closed.

    Never a blob of a workflow id with an open run (resets, retries and
    continue-as-new share blobs), whatever its age; when Temporal cannot be
    asked, or the key names no workflow, blobs are kept.
    """
    settings = settings_or_exit()

    async def action() -> GcReport:
        async with open_runtime(settings, with_worker=False, check_store=False) as runtime:
            runs = TemporalRunStatus({settings.temporal_namespace: runtime.client})
            with Progress(
                SpinnerColumn(), TextColumn("{task.description}"), console=err, transient=True
            ) as bar:
                task = bar.add_task("scanning blobs", total=None)

                def tick(_: BlobInfo) -> None:
                    bar.update(
                        task,
                        advance=1,
                        description=f"scanning blobs ({bar.tasks[0].completed:.0f})",
                    )

                return await collect_garbage(
                    runtime.store,
                    runs,
                    ttl=timedelta(days=settings.ttl_days),
                    dry_run=dry_run,
                    on_blob=tick,
                )

    try:
        report = asyncio.run(action())
    except (StoreError, DevServerError) as e:
        fail(str(e))
    if as_json:
        print_json({**report.as_dict(), "dry_run": dry_run, "keys": report.deleted_keys})
        return
    verb = "would delete" if dry_run else "deleted"
    if dry_run:
        for key in report.deleted_keys:
            typer.echo(key)
    typer.echo(
        f"{verb} {report.deleted} of {report.scanned} blobs ({report.bytes_freed} bytes); kept "
        f"{report.kept_open_run} of open runs, {report.kept_young} younger than "
        f"{settings.ttl_days} days, {report.kept_unknown} whose run could not be checked, "
        f"{report.kept_unowned} whose owner no key names (or no client serves)"
    )


@blobs_app.command()
def lifecycle(
    apply: Annotated[bool, typer.Option("--apply", help="Set the rule on the bucket")] = False,
) -> None:
    """R2/S3: the bucket lifecycle rule matching the TTL (a backstop behind `blobs gc`).

    A lifecycle rule cannot ask Temporal whether a run is open, so it expires
    objects only well after the TTL (twice it); `blobs gc` does the careful work.
    """
    settings = settings_or_exit()
    if settings.s3 is None:
        fail("lifecycle rules apply to BLOB_STORAGE_TYPE=r2 or s3 only")
    from workflow_runner.claimcheck.stores.s3 import S3Store, lifecycle_rule

    rule = lifecycle_rule(settings.s3, expire_days=max(1, settings.ttl_days * 2))
    print_json(rule)
    if apply:

        async def action(store: ObjectStore) -> None:
            assert isinstance(store, S3Store)
            await store.put_lifecycle(rule)

        _with_store(action)
        err.print(f"applied to bucket {settings.s3.bucket}")
