"""AES-256-GCM payload encryption, so neither the blob store nor Temporal's history sees plaintext.

Where it sits: Temporal's data converter runs payload converter → codec →
external storage. :class:`EncryptionCodec` *is* the converter's codec: it
runs the compression codec first and encrypts what that produced, so the
claim-check driver only ever receives ciphertext (the blob holds it) and a
payload small enough to stay inline is ciphertext in history too. The
reference payload that replaces an offloaded one stays readable (key, digest,
size): it says where the ciphertext is, never what it says.

Wire format (docs/encryption.md; the same as Temporal's sample encryption
codecs in Go, Java, TypeScript and Python, so their workers interoperate):

- the payload's metadata is ``encoding: binary/encrypted``,
  ``encryption-key-id: <id>``, ``encryption-cipher: AES-256-GCM`` and the
  compression codec's raw-size mark (``claimcheck-raw-size``, the size of the
  plaintext payload before compression), which the offload decision needs;
- its data is ``nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)``: AES-256-GCM,
  no associated data, over the protobuf serialization of the payload it
  replaces (metadata included, so the inner ``encoding`` is secret too);
- a fresh random 96-bit nonce per payload. The cost: the same document
  encrypted twice is two different blobs, so content addressing no longer
  de-duplicates (a workflow passing a document on stores it again).

Keys: ``ENCRYPTION_KEYS`` (``id1:base64key,id2:base64key``) or
``ENCRYPTION_KEYS_FILE`` (the same text, commas or new lines, ``#`` comments;
the file must not be accessible to group or others). The first key encrypts,
every key decrypts: rotation is "add the new key second everywhere, then move
it first; drop the old one once nothing it encrypted is still read".

Errors are non-retryable ``ApplicationError``s (subclasses of the compression
codec's ``CorruptPayloadError``, so the codec server answers 400): a key id
this process does not hold, or a payload that fails authentication (tampered,
truncated, or encrypted under another key of the same id), will not heal by
retrying, and raised while decoding a workflow activation they fail the run
cleanly instead of retrying its task forever. Each names the payload and the
key id, never key material.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import os
import re
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from workflow_runner.claimcheck.codec import RAW_SIZE_KEY, CompressionCodec, CorruptPayloadError
from workflow_runner.config import ConfigError, Settings

ENCRYPTED_ENCODING = b"binary/encrypted"
KEY_ID_KEY = "encryption-key-id"
CIPHER_KEY = "encryption-cipher"
CIPHER = b"AES-256-GCM"
NONCE_BYTES = 12
TAG_BYTES = 16
KEY_BYTES = 32
# AESGCM refuses more in one call (OpenSSL's int length).
MAX_PLAINTEXT_BYTES = 2**31 - 1 - NONCE_BYTES - TAG_BYTES
_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
# Encrypting a few MB takes milliseconds: do it off the worker's event loop.
_THREAD_ABOVE_BYTES = 1024 * 1024


class UnknownKeyError(CorruptPayloadError):
    """An encrypted payload names a key id this process does not hold."""

    error_type = "ClaimCheckUnknownEncryptionKey"


class DecryptionError(CorruptPayloadError):
    """An encrypted payload fails authentication: tampered, truncated or the wrong key."""

    error_type = "ClaimCheckDecryptionFailed"


@dataclass(frozen=True)
class Keyring:
    """Keys by id; ``primary`` encrypts, every key decrypts."""

    primary: str
    keys: Mapping[str, bytes] = field(repr=False)

    def __post_init__(self) -> None:
        if self.primary not in self.keys:
            raise ValueError(f"primary key id {self.primary} is not in the keyring")


def parse_keys(text: str, source: str) -> Keyring:
    """``id:base64key`` entries separated by commas or new lines (``#`` starts a comment).

    ``source`` names where the text came from (the variable or the file) in
    every error; no error repeats a key, not even a malformed one.
    """
    entries: list[tuple[str, str]] = []
    for line_number, line in enumerate(text.splitlines(), 1):
        line = line.split("#", 1)[0]
        for item in line.split(","):
            item = item.strip()
            if item:
                entries.append((item, f"{source} line {line_number}" if "\n" in text else source))
    if not entries:
        raise ConfigError([f"{source} holds no key; expected id:base64key[,id:base64key...]"])
    problems: list[str] = []
    keys: dict[str, bytes] = {}
    for position, (item, where) in enumerate(entries, 1):
        key_id, colon, encoded = item.partition(":")
        key_id = key_id.strip()
        if not colon:
            problems.append(f"{where}: entry {position} is not id:base64key (no ':')")
            continue
        if not _KEY_ID.match(key_id):
            problems.append(
                f"{where}: entry {position} has an invalid key id (1-64 of A-Z a-z 0-9 . _ -)"
            )
            continue
        if key_id in keys:
            problems.append(f"{where}: key id {key_id} is given twice")
            continue
        key = _decode_key(encoded.strip())
        if key is None:
            problems.append(f"{where}: key {key_id} is not valid base64")
        elif len(key) != KEY_BYTES:
            problems.append(
                f"{where}: key {key_id} is {len(key)} bytes; AES-256 needs {KEY_BYTES} "
                "(generate one with: head -c 32 /dev/urandom | base64)"
            )
        else:
            keys[key_id] = key
    if problems:
        raise ConfigError(problems)
    return Keyring(primary=entries[0][0].partition(":")[0].strip(), keys=keys)


def _decode_key(encoded: str) -> bytes | None:
    """Standard or URL-safe base64, padded or not."""
    padded = encoded + "=" * (-len(encoded) % 4)
    alphabet = b"-_" if ("-" in encoded or "_" in encoded) else None
    try:
        return base64.b64decode(padded, altchars=alphabet, validate=True)
    except (binascii.Error, ValueError):
        return None


def read_keys_file(path: Path) -> Keyring:
    """Keys from ``ENCRYPTION_KEYS_FILE``, refused unless only its owner can read it.

    A key file that group or others may read has already leaked as far as
    this process can tell: refusing it is the only way to say so in time.
    """
    name = f"ENCRYPTION_KEYS_FILE {path}"
    try:
        with open(path, "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                raise ConfigError([f"{name} is not a regular file"])
            if mode & 0o077:
                raise ConfigError(
                    [
                        f"{name} is accessible to group or others (mode "
                        f"{stat.S_IMODE(mode):04o}); run: chmod 600 {path}"
                    ]
                )
            raw = handle.read(1024 * 1024)
    except OSError as e:
        raise ConfigError([f"{name} cannot be read: {e.strerror or e}"]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError([f"{name} is not UTF-8 text"]) from None
    return parse_keys(text, name)


def keyring_for(settings: Settings) -> Keyring | None:
    """The configured keys, or ``None`` when encryption is off (neither variable set)."""
    if settings.encryption_keys is not None and settings.encryption_keys_file is not None:
        raise ConfigError(
            ["ENCRYPTION_KEYS and ENCRYPTION_KEYS_FILE are both set; set one of them"]
        )
    if settings.encryption_keys is not None:
        return parse_keys(settings.encryption_keys.get_secret_value(), "ENCRYPTION_KEYS")
    if settings.encryption_keys_file is not None:
        return read_keys_file(settings.encryption_keys_file)
    return None


class EncryptionCodec(PayloadCodec):
    """Compression, then AES-256-GCM (when a keyring is given); the reverse on decode.

    Without a keyring nothing is encrypted, and an encrypted payload met on
    decode is an ``UnknownKeyError`` naming its key id and the variables to
    set, not a puzzling "unknown encoding" further down.

    It offers the compression codec's ``decode_within`` and limits, so the
    codec server can bound one request the same way with or without keys.
    """

    def __init__(self, inner: CompressionCodec, keyring: Keyring | None) -> None:
        self.inner = inner
        self.keyring = keyring
        self._ciphers = (
            {key_id: AESGCM(key) for key_id, key in keyring.keys.items()} if keyring else {}
        )

    @property
    def max_decoded_bytes_per_call(self) -> int:
        return self.inner.max_decoded_bytes_per_call

    @property
    def limit_name(self) -> str:
        return self.inner.limit_name

    @property
    def encrypting(self) -> bool:
        return self.keyring is not None

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        compressed = await self.inner.encode(payloads)
        if self.keyring is None:
            return compressed
        encrypted = []
        for payload in compressed:
            if payload.ByteSize() > _THREAD_ABOVE_BYTES:
                encrypted.append(await asyncio.to_thread(self._encrypt, payload))
            else:
                encrypted.append(self._encrypt(payload))
        return encrypted

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.decode_within(payloads, self.inner.max_decoded_bytes_per_call)

    async def decode_within(self, payloads: Sequence[Payload], budget: int) -> list[Payload]:
        """Decrypt, then decompress within ``budget`` (see ``CompressionCodec.decode_within``)."""
        decrypted: list[Payload] = []
        for index, payload in enumerate(payloads):
            if payload.metadata.get("encoding") != ENCRYPTED_ENCODING:
                decrypted.append(payload)
                continue
            where = f"payload {index + 1} of {len(payloads)}"
            if payload.ByteSize() > _THREAD_ABOVE_BYTES:
                decrypted.append(await asyncio.to_thread(self._decrypt, payload, where))
            else:
                decrypted.append(self._decrypt(payload, where))
        return await self.inner.decode_within(decrypted, budget)

    def _encrypt(self, payload: Payload) -> Payload:
        assert self.keyring is not None
        key_id = self.keyring.primary
        plaintext = payload.SerializeToString(deterministic=True)
        if len(plaintext) > MAX_PLAINTEXT_BYTES:
            raise CorruptPayloadError(
                f"payload of {len(plaintext)} bytes is too large to encrypt in one piece "
                f"(AES-GCM limit {MAX_PLAINTEXT_BYTES} bytes); lower CLAIMCHECK_MAX_PAYLOAD_BYTES"
            )
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(nonce, plaintext, None)
        return Payload(
            metadata={
                "encoding": ENCRYPTED_ENCODING,
                KEY_ID_KEY: key_id.encode(),
                CIPHER_KEY: CIPHER,
                RAW_SIZE_KEY: str(_raw_size(payload)).encode(),
            },
            data=nonce + sealed,
        )

    def _decrypt(self, payload: Payload, where: str) -> Payload:
        key_id = payload.metadata.get(KEY_ID_KEY, b"").decode("utf-8", "replace")
        cipher = payload.metadata.get(CIPHER_KEY, CIPHER)
        if cipher != CIPHER:
            raise DecryptionError(
                f"{where} is encrypted with {cipher.decode('utf-8', 'replace')!r}; "
                "only AES-256-GCM is supported"
            )
        if not key_id:
            raise DecryptionError(f"{where} is encrypted but names no key ({KEY_ID_KEY})")
        aead = self._ciphers.get(key_id)
        if aead is None:
            held = ", ".join(sorted(self._ciphers)) or "none: ENCRYPTION_KEYS is not set"
            raise UnknownKeyError(
                f"{where} is encrypted with key id {key_id!r}, which this process does not "
                f"hold (keys held: {held}); add it to ENCRYPTION_KEYS or ENCRYPTION_KEYS_FILE"
            )
        data = payload.data
        if len(data) < NONCE_BYTES + TAG_BYTES:
            raise DecryptionError(f"{where} (key id {key_id!r}) is too short to be encrypted data")
        try:
            plaintext = aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], None)
        except InvalidTag:
            raise DecryptionError(
                f"{where} (key id {key_id!r}) fails authentication: it was tampered with, "
                "truncated, or encrypted under a different key with the same id"
            ) from None
        inner = Payload()
        try:
            inner.ParseFromString(plaintext)
        except Exception as e:  # protobuf's DecodeError has no stable public base class
            raise DecryptionError(
                f"{where} (key id {key_id!r}) decrypts to something that is not a payload ({e})"
            ) from None
        return inner


def _raw_size(payload: Payload) -> int:
    """What the selector must judge ``payload`` by: its raw-size mark if compressed, else itself.

    Same rule as ``converter.raw_size`` (a mark can only make a payload count as
    bigger); repeated here because converter.py imports this module.
    """
    size = payload.ByteSize()
    mark = payload.metadata.get(RAW_SIZE_KEY)
    if mark is not None and 0 < len(mark) <= 20 and mark.isdigit():
        return max(size, int(mark))
    return size
