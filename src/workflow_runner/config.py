"""Every environment variable the runner reads, parsed and validated once.

Deployments already use the names in DESIGN.md's table, so they are kept as
they are. A bad value is a start-up error naming the variable and what it
accepts: a silent default would surface only at the first large payload,
inside a workflow, far from the typo that caused it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from pydantic import SecretStr

T = TypeVar("T")

DEFAULT_DATA_DIR = Path("~/.stigmer/data").expanduser()


class StorageType(StrEnum):
    FILESYSTEM = "filesystem"
    R2 = "r2"
    S3 = "s3"
    MEMORY = "memory"


class ConfigError(ValueError):
    """A start-up configuration error; the message names every offending variable."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class S3Settings:
    """Connection settings for an S3-compatible store (R2, AWS S3, MinIO)."""

    bucket: str
    endpoint_url: str | None
    region: str
    access_key_id: SecretStr | None
    secret_access_key: SecretStr | None
    prefix: str = ""


@dataclass(frozen=True)
class Settings:
    """The runner's configuration; build it with :func:`load_settings`."""

    storage_type: StorageType = StorageType.FILESYSTEM
    storage_path: Path = DEFAULT_DATA_DIR / "blobs"
    claimcheck_enabled: bool = True
    threshold_bytes: int = 51_200
    compression_enabled: bool = True
    max_payload_bytes: int = 512 * 1024 * 1024
    http_max_response_bytes: int = 64 * 1024 * 1024
    ttl_days: int = 30
    s3: S3Settings | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    task_queue: str = "workflow-runner"
    data_dir: Path = DEFAULT_DATA_DIR
    dev_server_port: int = 7233
    dev_server_ui_port: int | None = None
    log_level: str = "WARNING"
    log_format: str = "text"
    codec_port: int | None = None
    codec_token: SecretStr | None = None
    codec_cors_origins: tuple[str, ...] = ()
    codec_max_body_bytes: int = 8 * 1024 * 1024
    codec_max_decoded_bytes: int = 64 * 1024 * 1024
    gc_interval_hours: float = 24.0
    metrics_port: int = 9464
    expression_timeout_seconds: float = 60.0
    expression_max_memory_mb: int = 1024
    max_then_jumps: int = 10_000
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def ui_port(self) -> int:
        return self.dev_server_ui_port or self.dev_server_port + 1000

    @property
    def codec_server_port(self) -> int:
        return self.codec_port or self.dev_server_port + 1001

    @property
    def cors_origins(self) -> tuple[str, ...]:
        """Who may call the codec server from a browser: the Web UI, unless configured."""
        if self.codec_cors_origins:
            return self.codec_cors_origins
        return (f"http://127.0.0.1:{self.ui_port}", f"http://localhost:{self.ui_port}")

    @property
    def local_mode(self) -> bool:
        """Local mode means: no cluster address, so we run the embedded dev server."""
        return self.temporal_address is None


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class _Reader:
    """Collects every problem instead of stopping at the first one."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def get(self, name: str, default: T, parse: Callable[[str], T], allowed: str) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError:
            self.problems.append(f"{name}={value!r} is not valid; expected {allowed}")
            return default

    def boolean(self, name: str, default: bool) -> bool:
        def parse(value: str) -> bool:
            lowered = value.lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(value)

        return self.get(name, default, parse, "true or false")

    def integer(self, name: str, default: int, minimum: int, maximum: int | None = None) -> int:
        def parse(value: str) -> int:
            number = int(value)
            if number < minimum or (maximum is not None and number > maximum):
                raise ValueError(value)
            return number

        bound = f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum else "")
        return self.get(name, default, parse, bound)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment (``os.environ`` by default) into :class:`Settings`.

    Raises :class:`ConfigError` listing every bad or missing variable at once,
    so a deployment is fixed in one round trip rather than one per variable.
    """
    r = _Reader(os.environ if env is None else env)
    storage_type = r.get(
        "BLOB_STORAGE_TYPE",
        StorageType.FILESYSTEM,
        lambda v: StorageType(v.lower()),
        "one of " + ", ".join(t.value for t in StorageType),
    )
    data_dir = Path(r.raw("STIGMER_DATA_DIR") or DEFAULT_DATA_DIR).expanduser()
    storage_path = Path(r.raw("BLOB_STORAGE_PATH") or data_dir / "blobs").expanduser()
    s3 = _s3_settings(r, storage_type)
    ui_port_raw = r.raw("TEMPORAL_UI_PORT")
    settings = Settings(
        storage_type=storage_type,
        storage_path=storage_path,
        claimcheck_enabled=r.boolean("CLAIMCHECK_ENABLED", True),
        threshold_bytes=r.integer("CLAIMCHECK_THRESHOLD_BYTES", 51_200, minimum=1),
        compression_enabled=r.boolean("CLAIMCHECK_COMPRESSION_ENABLED", True),
        max_payload_bytes=r.integer("CLAIMCHECK_MAX_PAYLOAD_BYTES", 512 * 1024 * 1024, minimum=1),
        http_max_response_bytes=r.integer("HTTP_MAX_RESPONSE_BYTES", 64 * 1024 * 1024, minimum=1),
        ttl_days=r.integer("CLAIMCHECK_TTL_DAYS", 30, minimum=0),
        s3=s3,
        temporal_address=r.raw("TEMPORAL_SERVICE_ADDRESS"),
        temporal_namespace=r.raw("TEMPORAL_NAMESPACE") or "default",
        task_queue=r.raw("TEMPORAL_TASK_QUEUE") or "workflow-runner",
        data_dir=data_dir,
        dev_server_port=r.integer("TEMPORAL_DEV_SERVER_PORT", 7233, minimum=1, maximum=65535),
        dev_server_ui_port=(
            r.integer("TEMPORAL_UI_PORT", 0, minimum=1, maximum=65535) if ui_port_raw else None
        ),
        log_level=r.get(
            "LOG_LEVEL",
            "WARNING",
            _parse_log_level,
            "one of DEBUG, INFO, WARNING, ERROR",
        ),
        log_format=r.get("LOG_FORMAT", "text", _parse_log_format, "text or json"),
        codec_port=(
            r.integer("CODEC_SERVER_PORT", 0, minimum=1, maximum=65535)
            if r.raw("CODEC_SERVER_PORT")
            else None
        ),
        codec_token=SecretStr(token) if (token := r.raw("CODEC_SERVER_TOKEN")) else None,
        codec_cors_origins=tuple(
            o.strip() for o in (r.raw("CODEC_CORS_ORIGINS") or "").split(",") if o.strip()
        ),
        codec_max_body_bytes=r.integer("CODEC_SERVER_MAX_BODY_BYTES", 8 * 1024 * 1024, minimum=1),
        codec_max_decoded_bytes=r.integer(
            "CODEC_SERVER_MAX_DECODED_BYTES", 64 * 1024 * 1024, minimum=1
        ),
        gc_interval_hours=r.get(
            "CLAIMCHECK_GC_INTERVAL_HOURS",
            24.0,
            _parse_non_negative,
            "a number of hours >= 0 (0 = off)",
        ),
        metrics_port=r.integer("METRICS_PORT", 9464, minimum=0, maximum=65535),
        expression_timeout_seconds=r.get(
            "EXPRESSION_TIMEOUT_SECONDS", 60.0, _parse_positive, "a number of seconds > 0"
        ),
        expression_max_memory_mb=r.integer("EXPRESSION_MAX_MEMORY_MB", 1024, minimum=16),
        max_then_jumps=r.integer("MAX_THEN_JUMPS", 10_000, minimum=1),
        secrets=_secrets(r.env),
    )
    if r.problems:
        raise ConfigError(r.problems)
    return settings


def _parse_log_level(value: str) -> str:
    level = value.upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ValueError(value)
    return level


def _parse_log_format(value: str) -> str:
    if value.lower() not in ("text", "json"):
        raise ValueError(value)
    return value.lower()


def _parse_non_negative(value: str) -> float:
    number = float(value)
    if number < 0:
        raise ValueError(value)
    return number


def _parse_positive(value: str) -> float:
    number = float(value)
    if not number > 0 or number == float("inf"):
        raise ValueError(value)
    return number


def _s3_settings(r: _Reader, storage_type: StorageType) -> S3Settings | None:
    """R2 needs all four variables; plain S3 may fall back to the AWS credential chain."""
    if storage_type is StorageType.R2:
        names = ("R2_BUCKET", "R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY")
        missing = [n for n in names if r.raw(n) is None]
        if missing:
            r.problems.append("BLOB_STORAGE_TYPE=r2 needs " + ", ".join(missing) + " (not set)")
            return None
        return S3Settings(
            bucket=r.raw("R2_BUCKET") or "",
            endpoint_url=r.raw("R2_ENDPOINT"),
            region=r.raw("R2_REGION") or "auto",
            access_key_id=SecretStr(r.raw("R2_ACCESS_KEY_ID") or ""),
            secret_access_key=SecretStr(r.raw("R2_SECRET_ACCESS_KEY") or ""),
            prefix=r.raw("R2_PREFIX") or "",
        )
    if storage_type is StorageType.S3:
        bucket = r.raw("S3_BUCKET")
        if bucket is None:
            r.problems.append("BLOB_STORAGE_TYPE=s3 needs S3_BUCKET (not set)")
            return None
        key_id, secret = r.raw("S3_ACCESS_KEY_ID"), r.raw("S3_SECRET_ACCESS_KEY")
        return S3Settings(
            bucket=bucket,
            endpoint_url=r.raw("S3_ENDPOINT"),
            region=r.raw("S3_REGION") or "us-east-1",
            access_key_id=SecretStr(key_id) if key_id else None,
            secret_access_key=SecretStr(secret) if secret else None,
            prefix=r.raw("S3_PREFIX") or "",
        )
    return None


def _secrets(env: Mapping[str, str]) -> dict[str, str]:
    """``WORKFLOW_SECRET_<NAME>`` variables become ``$secrets.<name>`` in workflows."""
    prefix = "WORKFLOW_SECRET_"
    return {k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix)}
