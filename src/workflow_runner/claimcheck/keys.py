"""Blob key validation and the content-addressed key layout.

Keys are used as relative file paths by the filesystem store, so validation is
the security boundary: a key that passes can never name a file outside the
store root. The rules are deliberately narrower than S3's (the layout only
needs S3's "safe" characters plus ``%`` for percent-encoding and ``/``).
"""

from __future__ import annotations

import string

from workflow_runner.claimcheck.errors import InvalidKeyError

MAX_KEY_BYTES = 1024
MAX_SEGMENT_BYTES = 255
# S3's safe characters (what Temporal's S3 driver leaves unescaped), "%" for its
# escapes and "/" as separator. "~" is reserved for the filesystem store's own
# names (fan-out directories and temp files), so no key can collide with them.
_KEY_CHARS = frozenset(string.ascii_letters + string.digits + "!-_.*'()%/")


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it is safe to use as a relative path, else raise."""
    if not isinstance(key, str) or key == "":
        raise InvalidKeyError(str(key), "empty")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise InvalidKeyError(key[:64] + "...", f"longer than {MAX_KEY_BYTES} bytes")
    if "\x00" in key:
        raise InvalidKeyError(key, "contains a NUL byte")
    if "\\" in key:
        raise InvalidKeyError(key, "contains a backslash")
    if key.startswith("/"):
        raise InvalidKeyError(key, "absolute paths are not keys")
    bad = sorted(set(key) - _KEY_CHARS)
    if bad:
        raise InvalidKeyError(key, f"contains characters not allowed in keys: {''.join(bad)!r}")
    for segment in key.split("/"):
        if segment == "":
            raise InvalidKeyError(key, "empty path segment (leading, trailing or double '/')")
        if segment in (".", ".."):
            raise InvalidKeyError(key, f"'{segment}' segments are not allowed")
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            raise InvalidKeyError(key, f"a segment is longer than {MAX_SEGMENT_BYTES} bytes")
    return key


def validate_prefix(prefix: str) -> str:
    """A listing prefix: empty, or a key-shaped string that may end in '/'."""
    if prefix == "":
        return prefix
    if prefix.startswith("/"):  # "/" alone would strip to nothing below
        raise InvalidKeyError(prefix, "absolute paths are not keys")
    validate_key(prefix.rstrip("/"))
    return prefix


_ESCAPE_SAFE = frozenset(string.ascii_letters + string.digits + "!-_.*'()")


def percent_encode(value: str | None) -> str:
    """Escape one key segment the way Temporal's S3 driver does; ``null`` when empty.

    Same encoding as ``temporalio.contrib.aws.s3driver`` so that both drivers
    agree on where a workflow's blobs live. Lone "." and ".." are escaped too,
    which Temporal's driver leaves as they are: a workflow id of ".." must not
    become a parent-directory segment.
    """
    if not value:
        return "null"
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return "".join(chr(b) if chr(b) in _ESCAPE_SAFE else f"%{b:02X}" for b in value.encode("utf-8"))


DIGEST_SEGMENT = "/d/sha256/"
_HEX = frozenset("0123456789abcdef")


def is_sha256_hex(value: str) -> bool:
    return len(value) == 64 and set(value) <= _HEX


def blob_key(
    digest: str,
    *,
    namespace: str | None = None,
    scope: tuple[str, str | None, str | None, str | None] | None = None,
) -> str:
    """Content-addressed key in Temporal's S3-driver layout.

    ``scope`` is ``("wt", type, id, run)`` for a workflow or ``("at", type, id,
    run)`` for a standalone activity. The workflow run in the key is what lets
    GC ask Temporal whether a blob's run is still open. Like Temporal's
    driver, a key that would be too long falls back to the namespace-only form
    (and, for a namespace too long for a path segment, to no namespace).
    """
    ns = f"/ns/{percent_encode(namespace)}" if namespace is not None or scope else ""
    context = ""
    if scope is not None:
        kind, type_, id_, run = scope
        id_label = "wi" if kind == "wt" else "ai"
        context = (
            f"/{kind}/{percent_encode(type_)}/{id_label}/{percent_encode(id_)}"
            f"/ri/{percent_encode(run)}"
        )
    for key in (
        f"v0{ns}{context}{DIGEST_SEGMENT}{digest}",
        f"v0{ns}{DIGEST_SEGMENT}{digest}",
        f"v0{DIGEST_SEGMENT}{digest}",  # a namespace too long to be a path segment
    ):
        if len(key) <= MAX_KEY_BYTES and all(len(s) <= MAX_SEGMENT_BYTES for s in key.split("/")):
            return validate_key(key)
    raise InvalidKeyError(digest, "not a sha256 digest")


def describe_key(key: str) -> str:
    """ "workflow TYPE id ID run RUN" read back from a key, for error messages."""
    parts = key.split("/")
    fields = dict(zip(parts[1::2], parts[2::2], strict=False))
    if "wt" in fields:
        return f"workflow {fields.get('wt')} id {fields.get('wi')} run {fields.get('ri')}"
    if "at" in fields:
        return f"activity {fields.get('at')} id {fields.get('ai')}"
    return f"namespace {fields.get('ns', 'unknown')}"
