"""Where logs go: a file for interactive commands, stderr for services.

``run`` promises that stdout carries only the output and stderr only progress
and the error, so the SDK's own logs (including Temporal Core's, forwarded
into Python logging) go to ``~/.stigmer/data/logs/workflow-runner.log``.
A ``worker`` is a service: its logs go to stderr, as a supervisor expects.

Every line is scrubbed of the worker's secret values (``WORKFLOW_SECRET_*``)
as it is formatted: a library's own log line — httpx's request line carries
the query string, an exception message may quote a header — would otherwise
write a secret to disk. Redacting the finished line, rather than a record's
message, also covers arguments, tracebacks and stack info.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)

from workflow_runner.config import Settings
from workflow_runner.engine.secrets import redact

# Loggers that describe every request at INFO, URLs and all: only warnings pass.
QUIET_LOGGERS = ("httpx", "httpcore")


class JsonFormatter(logging.Formatter):
    """One JSON object per line, for log shippers (``LOG_FORMAT=json``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class RedactingFormatter(logging.Formatter):
    """Formats with ``inner``, then replaces every secret value in the finished line."""

    def __init__(self, inner: logging.Formatter, secrets: Mapping[str, str]) -> None:
        super().__init__()
        self.inner = inner
        self.secrets = dict(secrets)

    def format(self, record: logging.LogRecord) -> str:
        return redact(self.inner.format(record), self.secrets)


def log_file(settings: Settings) -> Path:
    return settings.data_dir / "logs" / "workflow-runner.log"


def configure_logging(settings: Settings, *, to_file: bool) -> None:
    install_handler(settings, to_file=to_file)
    core = TelemetryConfig(
        logging=LoggingConfig(
            filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
            forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")),
        )
    )
    Runtime.set_default(Runtime(telemetry=core), error_if_already_set=False)


def install_handler(settings: Settings, *, to_file: bool) -> logging.Handler:
    """The root logger's only handler (file or stderr), redacting secrets; returns it."""
    handler: logging.Handler
    if to_file:
        path = log_file(settings)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        handler = logging.StreamHandler(os.fdopen(fd, "a", encoding="utf-8"))
    else:
        handler = logging.StreamHandler(sys.stderr)
    inner = (
        JsonFormatter()
        if settings.log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.setFormatter(RedactingFormatter(inner, settings.secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return handler
