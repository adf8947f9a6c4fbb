"""Everything a run needs, started in order and stopped in reverse.

Local mode: the blob store, the embedded dev server (started or reused) and an
in-process worker. Cloud mode: the same minus the dev server, against
``TEMPORAL_SERVICE_ADDRESS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from aiohttp import web
from temporalio.client import Client

from workflow_runner.claimcheck import ObjectStore, open_store
from workflow_runner.claimcheck.codec_server import (
    CodecServerError,
    codec_service_for,
    listening_port,
    start_codec_server,
)
from workflow_runner.config import Settings
from workflow_runner.engine.client import connect
from workflow_runner.engine.definition import Definition
from workflow_runner.engine.worker import running_workers
from workflow_runner.runtime.devserver import DevServer, port_is_open
from workflow_runner.runtime.housekeeping import periodic_gc

log = logging.getLogger(__name__)

# temporalio 1.35 can abort the interpreter at exit while its runtime threads
# wind down (docs/decisions.md: PyGILState_Release, exit 134); a short pause after
# shutdown avoided it in every measured run.
EXIT_GRACE_SECONDS = 0.5


@dataclass
class Runtime:
    settings: Settings
    client: Client
    store: ObjectStore
    server: DevServer | None
    queues: tuple[str, ...] = ()  # the task queues the in-process workers poll


def dev_server_for(settings: Settings, *, headless: bool = False) -> DevServer:
    state = settings.data_dir / "temporal"
    return DevServer(
        port=settings.dev_server_port,
        ui_port=settings.dev_server_ui_port,
        headless=headless,
        db_file=state / "temporal.db",
        log_file=state / "dev-server.log",
        namespace=settings.temporal_namespace,
    )


@contextlib.asynccontextmanager
async def local_services(settings: Settings, store: ObjectStore) -> AsyncIterator[DevServer]:
    """The dev server, and (when we start it) the codec server its Web UI decodes through.

    A dev server already listening is reused as it is.
    """
    server = dev_server_for(settings)
    codec: web.AppRunner | None = None
    if not port_is_open(server.host, server.port):
        codec = await _start_local_codec_server(settings, store)
        server.codec_endpoint = f"http://127.0.0.1:{listening_port(codec)}"
    try:
        await server.start()
        yield server
    finally:
        await server.stop()
        if codec is not None:
            await codec.cleanup()


async def _start_local_codec_server(settings: Settings, store: ObjectStore) -> web.AppRunner:
    """The Web UI's decoder is a convenience, so a taken port must not stop the run.

    The default port is derived from the dev server's, and any process (even
    an outgoing connection) may hold it; then the OS picks one, the UI is
    wired to that, and the log says so.
    """
    service = codec_service_for(settings, store)
    try:
        return await start_codec_server(service, "127.0.0.1", settings.codec_server_port)
    except CodecServerError as e:
        runner = await start_codec_server(service, "127.0.0.1", 0)
        log.warning("%s; the Web UI decodes through port %d instead", e, listening_port(runner))
        return runner


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings,
    *,
    with_worker: bool = True,
    check_store: bool = True,
    definitions: Sequence[Definition] = (),
    queues: Sequence[str] = (),
) -> AsyncIterator[Runtime]:
    """The runtime; ``with_worker``: workers for TEMPORAL_TASK_QUEUE, for each Zigflow
    document's own queue among ``definitions``, and for ``queues``."""
    store = await open_store(settings)
    try:
        async with contextlib.AsyncExitStack() as stack:
            if check_store:
                await (
                    store.health()
                )  # fail at start, naming the store, not at the first big payload
            server: DevServer | None = None
            if settings.local_mode:
                server = await stack.enter_async_context(local_services(settings, store))
                address = server.address
            else:
                assert settings.temporal_address is not None
                address = settings.temporal_address
            client = await connect(settings, store, address)
            runtime = Runtime(settings, client, store, server)
            if settings.local_mode:
                await stack.enter_async_context(periodic_gc(settings, store, client))
            if with_worker:
                workers = await stack.enter_async_context(
                    running_workers(client, settings, definitions=definitions, queues=queues)
                )
                runtime.queues = tuple(workers)
            yield runtime
    finally:
        await store.close()
        await asyncio.sleep(EXIT_GRACE_SECONDS)
