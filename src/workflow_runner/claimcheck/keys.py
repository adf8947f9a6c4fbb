"""Blob key validation and the content-addressed key layout.

Keys are used as relative file paths by the filesystem store, so validation is
the security boundary: a key that passes can never name a file outside the
store root. The rules are deliberately narrower than S3's (the layout only
needs S3's "safe" characters plus ``%`` for percent-encoding and ``/``).
"""

from __future__ import annotations

import hashlib
import string
from urllib.parse import unquote

from workflow_runner.claimcheck.errors import IntegrityError, InvalidKeyError

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

# Owner segments too long to spell out become ``%%sha256-<hex of the UTF-8 value>``.
# ``percent_encode`` only ever writes "%" followed by two upper-case hex digits,
# so no real (encoded) value can start with "%%": a digested segment never
# collides with a spelled-out one, and every key still names its owner.
DIGESTED_SEGMENT_PREFIX = "%%sha256-"
# The namespace may use a whole path segment; type, id and run get 225 bytes
# each so that the longest possible key (2+4+255 + 3*(4+225) + 10+64 = 1022
# bytes) stays under S3's 1024-byte limit whatever the other segments hold.
# Each segment is therefore decided on its own value alone, which is what lets
# GC and the namespace guard recompute it.
MAX_NAMESPACE_SEGMENT_BYTES = MAX_SEGMENT_BYTES
MAX_OWNER_SEGMENT_BYTES = 225


def is_sha256_hex(value: str) -> bool:
    return len(value) == 64 and set(value) <= _HEX


def key_segment(value: str | None, limit: int = MAX_OWNER_SEGMENT_BYTES) -> str:
    """``value`` percent-encoded, or its digest form when that is longer than ``limit`` bytes."""
    encoded = percent_encode(value)
    if len(encoded) <= limit:
        return encoded
    return DIGESTED_SEGMENT_PREFIX + hashlib.sha256((value or "").encode("utf-8")).hexdigest()


def namespace_segment(namespace: str) -> str:
    return key_segment(namespace, MAX_NAMESPACE_SEGMENT_BYTES)


def is_digested(segment: str | None) -> bool:
    return segment is not None and segment.startswith(DIGESTED_SEGMENT_PREFIX)


def blob_key(
    digest: str,
    *,
    namespace: str,
    scope: tuple[str, str | None, str | None, str | None] | None = None,
) -> str:
    """Content-addressed key in Temporal's S3-driver layout; every key names its owner.

    ``scope`` is ``("wt", type, id, run)`` for a workflow or ``("at", type, id,
    run)`` for a standalone activity; without it the key names only the
    namespace. Short values are spelled out exactly as Temporal's S3 driver
    does; a value too long for its segment is digested (see
    ``DIGESTED_SEGMENT_PREFIX``) instead of being dropped, so a long workflow
    id no longer falls back to a key GC cannot attribute.
    """
    if not is_sha256_hex(digest):
        raise InvalidKeyError(digest, "not a sha256 digest")
    context = ""
    if scope is not None:
        kind, type_, id_, run = scope
        id_label = "wi" if kind == "wt" else "ai"
        context = (
            f"/{kind}/{key_segment(type_)}/{id_label}/{key_segment(id_)}/ri/{key_segment(run)}"
        )
    return validate_key(f"v0/ns/{namespace_segment(namespace)}{context}{DIGEST_SEGMENT}{digest}")


def digest_of_key(key: str) -> str | None:
    """The SHA-256 a content-addressed key promises, or None for other keys."""
    head, sep, tail = key.rpartition(DIGEST_SEGMENT)
    if not sep or not head.startswith("v0") or not is_sha256_hex(tail):
        return None
    return tail


def verify_blob(key: str, data: bytes, expected: str | None = None) -> None:
    """Raise ``IntegrityError`` naming ``key`` unless ``data`` hashes to the key's digest.

    Shared by the driver (every read) and ``blobs get``, so both refuse the
    same corrupted bytes. ``expected`` is the claim's digest when there is one
    (it must also be the key's).
    """
    promised = digest_of_key(key)
    if promised is None:
        raise IntegrityError(key, "the key holds no sha256 digest to verify against")
    if expected is not None and expected != promised:
        raise IntegrityError(key, f"claim says sha256 {expected}, key says {promised}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != promised:
        raise IntegrityError(key, f"expected sha256 {promised}, read {actual}")


class ForeignNamespaceError(InvalidKeyError):
    """A reference whose key is not in the namespace this process serves."""

    def __init__(self, key: str, served: str) -> None:
        parts = key.split("/")
        named = parts[2] if len(parts) > 3 and parts[1] == "ns" else None
        self.served = served
        self.named = None if named is None else unquote(named)
        where = (
            f"names namespace {self.named!r}" if self.named is not None else "names no namespace"
        )
        super().__init__(key, f"{where}, but this process serves namespace {served!r}")


def require_namespace(key: str, namespace: str) -> str:
    """Return ``key`` if it lies under ``v0/ns/{namespace}/``, else raise ``ForeignNamespaceError``.

    One guard for the workers' driver and the codec server: a worker or a
    codec-server request serves exactly one namespace, and a reference from
    anywhere else (a forged signal, another tenant's history) is refused
    before the store is touched. Old namespace-less keys (``v0/d/...``) are
    refused too: nothing says whose they are.
    """
    if not key.startswith(f"v0/ns/{namespace_segment(namespace)}/"):
        raise ForeignNamespaceError(key, namespace)
    return key


def describe_key(key: str) -> str:
    """ "workflow TYPE id ID run RUN" read back from a key, for error messages."""
    parts = key.split("/")
    fields = dict(zip(parts[1::2], parts[2::2], strict=False))
    if "wt" in fields:
        return f"workflow {fields.get('wt')} id {fields.get('wi')} run {fields.get('ri')}"
    if "at" in fields:
        return f"activity {fields.get('at')} id {fields.get('ai')}"
    return f"namespace {fields.get('ns', 'unknown')}"
