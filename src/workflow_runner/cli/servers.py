"""``dev-server`` and ``codec-server``: the local Temporal server with its Web UI, and the
codec endpoint that shows offloaded payloads as JSON in the UI and CLI."""

from __future__ import annotations

from typing import Annotated

import typer

from workflow_runner.cli.options import run_async, until_signalled
from workflow_runner.cli.output import err, fail


def dev_server() -> None:
    """Run the embedded Temporal dev server and its Web UI (payloads decoded) until Ctrl-C.

    `run` reuses it, so workflows stay visible in the UI after they finish.
    """
    from workflow_runner.cli.common import settings_or_exit
    from workflow_runner.cli.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings, to_file=True)

    async def serve() -> None:
        from workflow_runner.claimcheck import open_store
        from workflow_runner.runtime.services import local_services

        stop = until_signalled()
        async with await open_store(settings) as store, local_services(settings, store) as server:
            if not server.owned:
                fail(f"a Temporal server is already listening on {server.address}")
            err.print(f"Temporal dev server on {server.address}")
            err.print(
                f"Web UI on http://127.0.0.1:{settings.ui_port} (codec: {server.codec_endpoint})"
            )
            await stop.wait()

    run_async(serve())


def codec_server(
    port: Annotated[
        int | None,
        typer.Option(min=0, max=65535, help="Port (default CODEC_SERVER_PORT or 8234)"),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
) -> None:
    """Serve Temporal's codec protocol so the Web UI and CLI show offloaded payloads as JSON."""
    from workflow_runner.cli.common import settings_or_exit
    from workflow_runner.cli.logs import configure_logging

    settings = settings_or_exit()
    configure_logging(settings, to_file=False)

    async def serve() -> None:
        from workflow_runner.claimcheck import open_store
        from workflow_runner.claimcheck.codec_server import (
            codec_service_for,
            listening_port,
            start_codec_server,
        )

        stop = until_signalled()
        async with await open_store(settings) as store:
            runner = await start_codec_server(
                codec_service_for(settings, store), host, port or settings.codec_server_port
            )
            err.print(f"codec server on http://{host}:{listening_port(runner)}")
            err.print("allowed browser origins: " + ", ".join(settings.cors_origins))
            try:
                await stop.wait()
            finally:
                await runner.cleanup()

    run_async(serve())
