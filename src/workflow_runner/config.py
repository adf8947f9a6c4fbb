"""Every environment variable the runner reads: declared once, in ``VARIABLES``, parsed once.

Deployments already use the names in the design's table, so they are kept as
they are. A bad value is a start-up error naming the variable and what it
accepts: a silent default would surface only at the first large payload,
inside a workflow, far from the typo that caused it.

``VARIABLES`` is the single source: :func:`load_settings` fills
:class:`Settings` from it, and the README's configuration table is generated
from it (``python -m workflow_runner.config``; a test keeps the two equal).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import SecretStr

DEFAULT_DATA_DIR = Path("~/.stigmer/data").expanduser()
SECRET_PREFIX = "WORKFLOW_SECRET_"
ENV_PREFIX = "WORKFLOW_ENV_"
ZIGFLOW_ENV_PREFIX = "ZIGGY_"  # Zigflow's own prefix for $env


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


# -- value kinds ----------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    """How a variable's text becomes a value, and what to say when it cannot."""

    accepts: str
    parse: Callable[[str], Any]


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(value)


BOOLEAN = Kind("true or false", _boolean)
TEXT = Kind("text", str)
PATH = Kind("a path", lambda v: Path(v).expanduser())
SECRET = Kind("text (kept secret)", SecretStr)
CSV = Kind("comma-separated values", lambda v: tuple(x.strip() for x in v.split(",") if x.strip()))


def integer(minimum: int, maximum: int | None = None) -> Kind:
    def parse(value: str) -> int:
        number = int(value)
        if number < minimum or (maximum is not None and number > maximum):
            raise ValueError(value)
        return number

    return Kind(f"an integer >= {minimum}" + (f" and <= {maximum}" if maximum else ""), parse)


PORT = integer(1, 65535)


def number(minimum: float, *, exclusive: bool = False, unit: str = "") -> Kind:
    def parse(value: str) -> float:
        result = float(value)
        if result != result or result == float("inf"):
            raise ValueError(value)
        if result < minimum or (exclusive and result == minimum):
            raise ValueError(value)
        return result

    bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
    return Kind(f"a number{unit} {bound}", parse)


def choice(*values: str, upper: bool = False) -> Kind:
    def parse(value: str) -> str:
        normalized = value.upper() if upper else value.lower()
        if normalized not in values:
            raise ValueError(value)
        return normalized

    return Kind("one of " + ", ".join(values), parse)


# -- the table ------------------------------------------------------------------


@dataclass(frozen=True)
class Variable:
    name: str
    kind: Kind
    default: Any  # the value when unset; None: unset
    meaning: str
    field: str | None = None  # the Settings field; None: read with its group (R2_*, S3_*)
    shown_default: str | None = None  # for the docs, when the default is derived


MiB = 1024 * 1024

VARIABLES: tuple[Variable, ...] = (
    # blob storage
    Variable(
        "BLOB_STORAGE_TYPE",
        choice(*(t.value for t in StorageType)),
        StorageType.FILESYSTEM,
        "where offloaded payloads live: `filesystem`, `r2`, `s3` or `memory`",
        "storage_type",
    ),
    Variable(
        "STIGMER_DATA_DIR",
        PATH,
        DEFAULT_DATA_DIR,
        "local-mode state: dev server database, logs, default blob root",
        "data_dir",
        "`~/.stigmer/data`",
    ),
    Variable(
        "BLOB_STORAGE_PATH",
        PATH,
        None,
        "filesystem store root",
        "storage_path",
        "`$STIGMER_DATA_DIR/blobs`",
    ),
    Variable("R2_BUCKET", TEXT, None, "R2 bucket (required when `r2`)", shown_default="—"),
    Variable("R2_ENDPOINT", TEXT, None, "R2 endpoint URL (required when `r2`)"),
    Variable("R2_ACCESS_KEY_ID", SECRET, None, "R2 access key id (required when `r2`)"),
    Variable("R2_SECRET_ACCESS_KEY", SECRET, None, "R2 secret key (required when `r2`)"),
    Variable("R2_REGION", TEXT, "auto", "R2 region"),
    Variable("R2_PREFIX", TEXT, "", "key prefix inside the R2 bucket"),
    Variable("S3_BUCKET", TEXT, None, "S3 bucket (required when `s3`)"),
    Variable("S3_ENDPOINT", TEXT, None, "S3-compatible endpoint URL (MinIO...); unset: AWS"),
    Variable("S3_ACCESS_KEY_ID", SECRET, None, "S3 access key id; unset: the AWS credential chain"),
    Variable("S3_SECRET_ACCESS_KEY", SECRET, None, "S3 secret key"),
    Variable("S3_REGION", TEXT, "us-east-1", "S3 region"),
    Variable("S3_PREFIX", TEXT, "", "key prefix inside the S3 bucket"),
    # the claim check
    Variable(
        "CLAIMCHECK_ENABLED", BOOLEAN, True, "offload large payloads at all", "claimcheck_enabled"
    ),
    Variable(
        "CLAIMCHECK_THRESHOLD_BYTES",
        integer(1),
        51_200,
        "payloads at or above this raw size are offloaded",
        "threshold_bytes",
    ),
    Variable(
        "CLAIMCHECK_COMPRESSION_ENABLED",
        BOOLEAN,
        True,
        "zstd-compress payloads",
        "compression_enabled",
    ),
    Variable(
        "CLAIMCHECK_MAX_PAYLOAD_BYTES",
        integer(1),
        512 * MiB,
        "largest payload stored or decoded; a bigger one fails the run, naming this variable",
        "max_payload_bytes",
    ),
    Variable("CLAIMCHECK_TTL_DAYS", integer(0), 30, "GC age for blobs of closed runs", "ttl_days"),
    Variable(
        "CLAIMCHECK_GC_INTERVAL_HOURS",
        number(0, unit=" of hours"),
        24.0,
        "local mode collects garbage at most this often (0 = off)",
        "gc_interval_hours",
    ),
    Variable(
        "ENCRYPTION_KEYS",
        SECRET,
        None,
        "AES-256-GCM payload keys `id:base64key,...`: the first encrypts, all decrypt "
        "(docs/encryption.md)",
        "encryption_keys",
        "unset (no encryption)",
    ),
    Variable(
        "ENCRYPTION_KEYS_FILE",
        PATH,
        None,
        "a file holding the keys instead (refused unless mode 0600 or stricter)",
        "encryption_keys_file",
        "unset",
    ),
    # Temporal
    Variable(
        "TEMPORAL_SERVICE_ADDRESS",
        TEXT,
        None,
        "cluster address; unset: the embedded dev server (local mode)",
        "temporal_address",
        "unset",
    ),
    Variable("TEMPORAL_NAMESPACE", TEXT, "default", "Temporal namespace", "temporal_namespace"),
    Variable("TEMPORAL_TASK_QUEUE", TEXT, "workflow-runner", "task queue of workers", "task_queue"),
    Variable(
        "TEMPORAL_DEV_SERVER_PORT", PORT, 7233, "local mode's dev server port", "dev_server_port"
    ),
    Variable(
        "TEMPORAL_UI_PORT",
        PORT,
        None,
        "local mode's Web UI port",
        "dev_server_ui_port",
        "dev server port + 1000",
    ),
    # what tasks may do
    Variable(
        "HTTP_MAX_RESPONSE_BYTES",
        integer(1),
        64 * MiB,
        "largest `call: http` response body (never above CLAIMCHECK_MAX_PAYLOAD_BYTES)",
        "http_max_response_bytes",
    ),
    Variable(
        "HTTP_TIMEOUT_SECONDS",
        number(0, exclusive=True, unit=" of seconds"),
        300.0,
        "`call: http` connect/read/write timeout",
        "http_timeout_seconds",
    ),
    Variable(
        "CONTAINER_ENGINE",
        TEXT,
        None,
        "`run: container`'s engine: `docker`, `podman` or a path",
        "container_engine",
        "podman or docker, the first on the PATH",
    ),
    Variable(
        "EXPRESSION_TIMEOUT_SECONDS",
        number(0, exclusive=True, unit=" of seconds"),
        60.0,
        "time budget of one jq evaluation (inline ones are capped below Temporal's 2 s)",
        "expression_timeout_seconds",
    ),
    Variable(
        "EXPRESSION_MAX_MEMORY_MB",
        integer(16),
        1024,
        "memory budget of a jq evaluator process",
        "expression_max_memory_mb",
    ),
    Variable(
        "MAX_THEN_JUMPS",
        integer(1),
        10_000,
        "backward `then` jumps a run and its continue-as-new chain may make before failing",
        "max_then_jumps",
    ),
    Variable(
        "CONTINUE_AS_NEW_AFTER_EVENTS",
        integer(100),
        10_000,
        "history events after which a run continues as new at its next resumable task "
        "(also when Temporal suggests it; document.metadata.canMaxHistoryLength overrides)",
        "continue_as_new_events",
    ),
    # codec server, metrics, logs
    Variable(
        "CODEC_SERVER_PORT",
        PORT,
        None,
        "codec server port (Web UI decoding)",
        "codec_port",
        "dev server port + 1001",
    ),
    Variable(
        "CODEC_SERVER_TOKEN",
        SECRET,
        None,
        "bearer token the codec server requires",
        "codec_token",
        "unset (no token)",
    ),
    Variable(
        "CODEC_CORS_ORIGINS",
        CSV,
        (),
        "browser origins allowed to call the codec server",
        "codec_cors_origins",
        "the local Web UI",
    ),
    Variable(
        "CODEC_SERVER_MAX_BODY_BYTES",
        integer(1),
        8 * MiB,
        "largest codec-server request body (413 above)",
        "codec_max_body_bytes",
    ),
    Variable(
        "CODEC_SERVER_MAX_DECODED_BYTES",
        integer(1),
        64 * MiB,
        "bytes one codec-server request may read and inflate",
        "codec_max_decoded_bytes",
    ),
    Variable(
        "METRICS_PORT", integer(0, 65535), 9464, "worker's /metrics port (0 = off)", "metrics_port"
    ),
    Variable(
        "LOG_LEVEL",
        choice("DEBUG", "INFO", "WARNING", "ERROR", upper=True),
        "WARNING",
        "log level",
        "log_level",
    ),
    Variable("LOG_FORMAT", choice("text", "json"), "text", "log format", "log_format"),
    Variable(
        "WORKFLOW_DIALECT",
        choice("spec", "zigflow"),
        None,
        "read every definition in this dialect (`--dialect` per command)",
        "workflow_dialect",
        "by document: `zigflow` when it has `taskQueue`/`workflowType`",
    ),
)
PREFIXES: tuple[tuple[str, str], ...] = (
    (
        SECRET_PREFIX + "<NAME>",
        "`$secrets.<name>` in workflows (only where the definition declares it)",
    ),
    (ENV_PREFIX + "<NAME>", "Zigflow's `$env.<NAME>`, captured when a run starts"),
    (ZIGFLOW_ENV_PREFIX + "<NAME>", "`$env.<NAME>` as Zigflow names it (`WORKFLOW_ENV_` wins)"),
)


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
    """The runner's configuration; build it with :func:`load_settings`.

    Field defaults equal the table's (a test checks it), so ``Settings()`` is
    the configuration of an empty environment.
    """

    storage_type: StorageType = StorageType.FILESYSTEM
    data_dir: Path = DEFAULT_DATA_DIR
    storage_path: Path = DEFAULT_DATA_DIR / "blobs"
    claimcheck_enabled: bool = True
    threshold_bytes: int = 51_200
    compression_enabled: bool = True
    max_payload_bytes: int = 512 * MiB
    ttl_days: int = 30
    gc_interval_hours: float = 24.0
    encryption_keys: SecretStr | None = field(default=None, repr=False)
    encryption_keys_file: Path | None = None
    s3: S3Settings | None = None
    temporal_address: str | None = None
    temporal_namespace: str = "default"
    task_queue: str = "workflow-runner"
    dev_server_port: int = 7233
    dev_server_ui_port: int | None = None
    http_max_response_bytes: int = 64 * MiB
    http_timeout_seconds: float = 300.0
    container_engine: str | None = None
    expression_timeout_seconds: float = 60.0
    expression_max_memory_mb: int = 1024
    max_then_jumps: int = 10_000
    continue_as_new_events: int = 10_000
    codec_port: int | None = None
    codec_token: SecretStr | None = None
    codec_cors_origins: tuple[str, ...] = ()
    codec_max_body_bytes: int = 8 * MiB
    codec_max_decoded_bytes: int = 64 * MiB
    metrics_port: int = 9464
    log_level: str = "WARNING"
    log_format: str = "text"
    workflow_dialect: str | None = None
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


class _Reader:
    """Reads variables by the table, collecting every problem instead of stopping."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []
        self.table = {v.name: v for v in VARIABLES}

    def raw(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def value(self, name: str) -> Any:
        variable = self.table[name]
        text = self.raw(name)
        if text is None:
            return variable.default
        try:
            return variable.kind.parse(text)
        except ValueError:
            self.problems.append(f"{name}={text!r} is not valid; expected {variable.kind.accepts}")
            return variable.default


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Parse the environment (``os.environ`` by default) into :class:`Settings`.

    Raises :class:`ConfigError` listing every bad or missing variable at once,
    so a deployment is fixed in one round trip rather than one per variable.
    """
    r = _Reader(os.environ if env is None else env)
    fields = {v.field: r.value(v.name) for v in VARIABLES if v.field is not None}
    fields["storage_type"] = StorageType(fields["storage_type"])
    if fields["storage_path"] is None:
        fields["storage_path"] = fields["data_dir"] / "blobs"
    settings = Settings(
        **fields,
        s3=_s3_settings(r, fields["storage_type"]),
        secrets=prefixed(r.env, SECRET_PREFIX, lower=True),
    )
    if r.problems:
        raise ConfigError(r.problems)
    return settings


def _s3_settings(r: _Reader, storage_type: StorageType) -> S3Settings | None:
    """R2 needs all four variables; plain S3 may fall back to the AWS credential chain."""
    if storage_type is StorageType.R2:
        return _bucket(r, "R2", ("BUCKET", "ENDPOINT", "ACCESS_KEY_ID", "SECRET_ACCESS_KEY"))
    if storage_type is StorageType.S3:
        return _bucket(r, "S3", ("BUCKET",))
    return None


def _bucket(r: _Reader, prefix: str, required: tuple[str, ...]) -> S3Settings | None:
    missing = [f"{prefix}_{n}" for n in required if r.raw(f"{prefix}_{n}") is None]
    if missing:
        kind = prefix.lower()
        r.problems.append(f"BLOB_STORAGE_TYPE={kind} needs " + ", ".join(missing) + " (not set)")
        return None
    return S3Settings(
        bucket=r.value(f"{prefix}_BUCKET"),
        endpoint_url=r.value(f"{prefix}_ENDPOINT"),
        region=r.value(f"{prefix}_REGION"),
        access_key_id=r.value(f"{prefix}_ACCESS_KEY_ID"),
        secret_access_key=r.value(f"{prefix}_SECRET_ACCESS_KEY"),
        prefix=r.value(f"{prefix}_PREFIX"),
    )


def prefixed(env: Mapping[str, str], prefix: str, *, lower: bool = False) -> dict[str, str]:
    """The variables named ``PREFIX<NAME>``, keyed by ``NAME`` (lower-cased for secrets)."""
    out = {}
    for key, value in env.items():
        if key.startswith(prefix) and len(key) > len(prefix):
            name = key[len(prefix) :]
            out[name.lower() if lower else name] = value
    return out


def workflow_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Zigflow's ``$env``: only ``WORKFLOW_ENV_*`` variables, read when a run starts.

    The whole environment would put credentials into the event history.
    """
    source = os.environ if env is None else env
    return {**prefixed(source, ZIGFLOW_ENV_PREFIX), **prefixed(source, ENV_PREFIX)}


def markdown_table() -> str:
    """The README's configuration table, generated from ``VARIABLES``."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for v in VARIABLES:
        rows.append(f"| `{v.name}` | {_shown(v)} | {v.meaning} |")
    for name, meaning in PREFIXES:
        rows.append(f"| `{name}` | — | {meaning} |")
    return "\n".join(rows) + "\n"


def _shown(variable: Variable) -> str:
    if variable.shown_default is not None:
        return variable.shown_default
    default = variable.default
    if default is None or default == "" or default == ():
        return "—"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def _write_readme_table(readme: Path) -> bool:
    """Replace the table between the README's config-table markers; False if it has none."""
    start, end = "<!-- config-table:start -->\n", "<!-- config-table:end -->"
    text = readme.read_text() if readme.is_file() else ""
    if start not in text or end not in text:
        return False
    head, rest = text.split(start, 1)
    readme.write_text(head + start + markdown_table() + end + rest.split(end, 1)[1])
    return True


if __name__ == "__main__":  # python -m workflow_runner.config: rewrite ./README.md's table
    if not _write_readme_table(Path("README.md")):
        print(markdown_table(), end="")
