"""AES-256-GCM payload encryption: blobs and history hold ciphertext, the codec server decrypts.

Unit tests drive the codec and the key parsing directly; the end-to-end tests
run a 5 MB workflow on the session's real dev server and read the blob files
and the raw history (a client without our converter) for a known marker.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.client import Client, WorkflowFailureError
from temporalio.converter import DefaultPayloadConverter
from temporalio.exceptions import ApplicationError

from tests.harness import make_harness, workflow
from tests.httpserver import LocalHTTPServer
from workflow_runner.claimcheck import open_store
from workflow_runner.claimcheck.codec import RAW_SIZE_KEY, CorruptPayloadError
from workflow_runner.claimcheck.codec_server import (
    codec_service_for,
    is_reference,
    listening_port,
    start_codec_server,
)
from workflow_runner.claimcheck.converter import build_data_converter, codec_for, raw_size
from workflow_runner.claimcheck.encryption import (
    ENCRYPTED_ENCODING,
    KEY_ID_KEY,
    NONCE_BYTES,
    DecryptionError,
    EncryptionCodec,
    UnknownKeyError,
    keyring_for,
    parse_keys,
)
from workflow_runner.config import ConfigError, load_settings
from workflow_runner.runtime.devserver import DevServer

OLD_KEY = base64.b64encode(b"o" * 32).decode()
NEW_KEY = base64.b64encode(b"n" * 32).decode()
FIVE_MB = 5_000_000
CONVERTER = DefaultPayloadConverter()


def codec(keys: str | None, **env: str) -> EncryptionCodec:
    return codec_for(load_settings({**({"ENCRYPTION_KEYS": keys} if keys else {}), **env}))


def payload_of(value: Any) -> Payload:
    return CONVERTER.to_payloads([value])[0]


def value_of(payload: Payload) -> Any:
    return CONVERTER.from_payloads([payload])[0]


# -- the codec ------------------------------------------------------------------


async def test_a_payload_round_trips_and_is_stored_as_ciphertext_under_the_first_key() -> None:
    c = codec(f"new:{NEW_KEY},old:{OLD_KEY}")
    value = {"secret": "marker-" + "x" * 10_000}  # compressible: compressed, then encrypted
    (sealed,) = await c.encode([payload_of(value)])
    assert sealed.metadata["encoding"] == ENCRYPTED_ENCODING
    assert sealed.metadata[KEY_ID_KEY] == b"new"
    assert b"marker" not in sealed.SerializeToString()
    assert (await c.decode([sealed])) == [payload_of(value)]
    assert value_of((await c.decode([sealed]))[0]) == value


async def test_every_payload_gets_a_fresh_nonce() -> None:
    c = codec(f"k:{NEW_KEY}")
    first, second = await c.encode([payload_of("same"), payload_of("same")])
    assert first.data[:NONCE_BYTES] != second.data[:NONCE_BYTES]
    assert first.data != second.data


async def test_rotation_the_old_key_still_decrypts_and_the_new_key_encrypts() -> None:
    before = codec(f"old:{OLD_KEY}")
    (written_before,) = await before.encode([payload_of({"n": 1})])
    after = codec(f"new:{NEW_KEY},old:{OLD_KEY}")
    assert value_of((await after.decode([written_before]))[0]) == {"n": 1}
    (written_after,) = await after.encode([payload_of({"n": 2})])
    assert written_after.metadata[KEY_ID_KEY] == b"new"
    with pytest.raises(UnknownKeyError, match="'new'"):
        await before.decode([written_after])


async def test_a_tampered_payload_is_a_non_retryable_error_naming_payload_and_key() -> None:
    c = codec(f"k1:{NEW_KEY}")
    (sealed,) = await c.encode([payload_of("hello")])
    data = bytearray(sealed.data)
    data[-1] ^= 0x01
    sealed.data = bytes(data)
    with pytest.raises(DecryptionError) as info:
        await c.decode([payload_of(1), sealed])
    message = str(info.value)
    assert "payload 2 of 2" in message and "'k1'" in message and "tampered" in message
    assert info.value.non_retryable and info.value.type == "ClaimCheckDecryptionFailed"
    assert isinstance(info.value, CorruptPayloadError)  # the codec server's 400


async def test_a_truncated_payload_is_refused_not_a_crash() -> None:
    c = codec(f"k1:{NEW_KEY}")
    (sealed,) = await c.encode([payload_of("hello")])
    sealed.data = sealed.data[:10]
    with pytest.raises(DecryptionError, match="too short"):
        await c.decode([sealed])


async def test_an_unknown_key_id_is_an_error_naming_it_and_the_keys_held() -> None:
    (sealed,) = await codec(f"other:{OLD_KEY}").encode([payload_of("x")])
    with pytest.raises(UnknownKeyError) as info:
        await codec(f"mine:{NEW_KEY}").decode([sealed])
    assert "'other'" in str(info.value) and "mine" in str(info.value)
    assert info.value.non_retryable


async def test_an_encrypted_payload_without_any_keys_says_which_variable_to_set() -> None:
    (sealed,) = await codec(f"k:{NEW_KEY}").encode([payload_of("x")])
    with pytest.raises(UnknownKeyError, match="ENCRYPTION_KEYS"):
        await codec(None).decode([sealed])


async def test_without_keys_nothing_is_encrypted_and_plain_payloads_still_decode() -> None:
    plain = codec(None)
    assert not plain.encrypting
    (p,) = await plain.encode([payload_of("x")])
    assert p.metadata["encoding"] != ENCRYPTED_ENCODING
    # A worker that gained keys still reads what was written before it had them.
    assert value_of((await codec(f"k:{NEW_KEY}").decode([p]))[0]) == "x"


async def test_the_raw_size_survives_encryption_so_a_big_compressible_document_is_offloaded() -> (
    None
):
    document = {"rows": ["same row"] * 200_000}
    original = payload_of(document)
    (sealed,) = await codec(f"k:{NEW_KEY}").encode([original])
    assert sealed.ByteSize() < original.ByteSize() // 10  # compressed before it was encrypted
    assert int(sealed.metadata[RAW_SIZE_KEY]) == original.ByteSize()
    assert raw_size(sealed) == original.ByteSize()


async def test_the_wire_format_is_the_documented_one() -> None:
    """docs/encryption.md: nonce ‖ AES-256-GCM(serialized payload), no associated data."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    original = payload_of({"a": 1})
    (sealed,) = await codec(f"k:{NEW_KEY}", CLAIMCHECK_COMPRESSION_ENABLED="false").encode(
        [original]
    )
    assert sealed.metadata["encryption-cipher"] == b"AES-256-GCM"
    plain = AESGCM(b"n" * 32).decrypt(sealed.data[:12], sealed.data[12:], None)
    inner = Payload()
    inner.ParseFromString(plain)
    assert inner == original


# -- keys -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nocolon", "not id:base64key"),
        (f"bad id:{NEW_KEY}", "invalid key id"),
        ("k:!!!notbase64!!!", "key k is not valid base64"),
        ("k:" + base64.b64encode(b"short").decode(), "key k is 5 bytes; AES-256 needs 32"),
        (f"k:{NEW_KEY},k:{OLD_KEY}", "key id k is given twice"),
        (" , ", "holds no key"),
    ],
)
def test_a_bad_key_list_is_a_config_error_naming_the_variable(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        keyring_for(load_settings({"ENCRYPTION_KEYS": text}))
    assert expected in str(info.value) and "ENCRYPTION_KEYS" in str(info.value)


def test_no_error_repeats_key_material() -> None:
    leaked = base64.b64encode(b"s" * 31).decode()  # a wrong-length key
    with pytest.raises(ConfigError) as info:
        parse_keys(f"k:{leaked}", "ENCRYPTION_KEYS")
    assert leaked not in str(info.value)
    assert leaked not in repr(load_settings({"ENCRYPTION_KEYS": f"k:{leaked}"}))


def test_url_safe_and_unpadded_base64_keys_are_accepted() -> None:
    raw = bytes(range(32))
    text = "a:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert parse_keys(text, "ENCRYPTION_KEYS").keys == {"a": raw}


def test_a_private_key_file_is_read_with_comments_and_new_lines(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(f"# rotated 2026-01\nnew:{NEW_KEY}\nold:{OLD_KEY}  # retired\n")
    path.chmod(0o600)
    keyring = keyring_for(load_settings({"ENCRYPTION_KEYS_FILE": str(path)}))
    assert keyring is not None and keyring.primary == "new" and set(keyring.keys) == {"new", "old"}


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_key_file_readable_by_group_or_others_is_refused_naming_it(
    tmp_path: Path, mode: int
) -> None:
    path = tmp_path / "keys"
    path.write_text(f"k:{NEW_KEY}\n")
    path.chmod(mode)
    with pytest.raises(ConfigError) as info:
        keyring_for(load_settings({"ENCRYPTION_KEYS_FILE": str(path)}))
    message = str(info.value)
    assert str(path) in message and f"{mode:04o}" in message and "chmod 600" in message


def test_a_missing_key_file_and_both_variables_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        keyring_for(load_settings({"ENCRYPTION_KEYS_FILE": str(tmp_path / "absent")}))
    with pytest.raises(ConfigError, match="both set"):
        keyring_for(
            load_settings(
                {"ENCRYPTION_KEYS": f"k:{NEW_KEY}", "ENCRYPTION_KEYS_FILE": str(tmp_path)}
            )
        )


def test_a_bad_key_fails_building_the_converter_at_start_up() -> None:
    with pytest.raises(ConfigError, match="ENCRYPTION_KEYS"):
        build_data_converter(load_settings({"ENCRYPTION_KEYS": "k:short"}), None)


# -- end to end on the dev server -------------------------------------------------


def _flow(url: str) -> str:
    return workflow(
        f"""
  - fetch:
      call: http
      with: {{method: get, endpoint: '{url}'}}
  - summary:
      set:
        marker: ${{ $workflow.input.marker }}
        count: ${{ .products | length }}
        first: ${{ .products[0].description }}
"""
    )


def _payloads_in(message: Message) -> Iterator[Payload]:
    """Every ``Payload`` anywhere inside a history event (inputs, results, failures, memos)."""
    if isinstance(message, Payload):
        yield message
        return
    for descriptor, value in message.ListFields():
        if descriptor.message_type is None:
            continue
        if descriptor.message_type.GetOptions().map_entry:
            values = value.values()
        elif descriptor.is_repeated:
            values = value
        else:
            values = [value]
        for item in values:
            if isinstance(item, Message):
                yield from _payloads_in(item)


async def _raw_history(server: DevServer, workflow_id: str) -> tuple[bytes, list[Payload]]:
    client = await Client.connect(server.address)  # no data converter: what the server keeps
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    raw = b"".join(e.SerializeToString() for e in history.events)
    payloads = [p for e in history.events for p in _payloads_in(e) if not _bookkeeping(e, p)]
    return raw, payloads


def _bookkeeping(event: Message, payload: Payload) -> bool:
    """sdk-core's own record of a local activity (seq, attempt, type, times), written
    unencoded by Temporal's core, next to the encoded ``result``; never user data."""
    marker = getattr(event, "marker_recorded_event_attributes", None)
    details = (
        marker.details
        if marker is not None and event.HasField("marker_recorded_event_attributes")
        else {}
    )
    return "data" in details and payload in details["data"].payloads


def _blob_bytes(root: Path) -> list[bytes]:
    return [p.read_bytes() for p in root.rglob("*") if p.is_file()]


# Compression off in the end-to-end runs: zstd alone already hides most
# literals, so the marker check would prove nothing about encryption.
PLAIN_ENV = {"CLAIMCHECK_COMPRESSION_ENABLED": "false"}


async def test_an_encrypted_5_mb_run_leaves_no_plaintext_in_blobs_or_history_and_the_codec_server_decodes_it(  # noqa: E501
    temporal_server: DevServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    marker = f"MARKER-{uuid.uuid4().hex}"
    keys = {"ENCRYPTION_KEYS": f"k2026:{NEW_KEY},k2025:{OLD_KEY}", **PLAIN_ENV}
    async with make_harness(temporal_server, tmp_path, **keys) as h:
        handle = await h.start(_flow(f"{http_server.url}/big?size={FIVE_MB}"), {"marker": marker})
        result = await handle.result()
        blobs = [k async for k in h.store.list_keys("v0/") if f"/wi/{handle.id}/" in k]
    assert result["marker"] == marker and result["count"] > 1000
    assert "lorem ipsum" in result["first"]
    assert blobs, "the 5 MB response was not offloaded"

    files = _blob_bytes(tmp_path / "blobs")
    assert sum(len(f) for f in files) > FIVE_MB * 0.8  # the document is there (compact JSON)...
    for data in files:  # ...as ciphertext only
        assert b"lorem ipsum" not in data and marker.encode() not in data
    raw, payloads = await _raw_history(temporal_server, handle.id)
    assert marker.encode() not in raw and b"lorem ipsum" not in raw and b"product-" not in raw
    assert any(is_reference(p) for p in payloads)  # the reference stays readable metadata
    data_payloads = [p for p in payloads if not is_reference(p)]
    plain = [p for p in data_payloads if p.metadata.get("encoding") != ENCRYPTED_ENCODING]
    assert data_payloads and not plain, plain

    # The codec server, holding the keys, shows the Web UI the plaintext.
    settings = load_settings({"BLOB_STORAGE_PATH": str(tmp_path / "blobs"), **keys})
    store = await open_store(settings)
    runner = await start_codec_server(codec_service_for(settings, store), "127.0.0.1", 0)
    try:
        body = json_format.MessageToJson(Payloads(payloads=payloads), indent=None)
        async with httpx.AsyncClient() as http:
            answer = await http.post(
                f"http://127.0.0.1:{listening_port(runner)}/default/decode",
                content=body,
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
        assert answer.status_code == 200, answer.text
        decoded = json_format.Parse(answer.text, Payloads()).payloads
        assert all(p.metadata.get("encoding") != ENCRYPTED_ENCODING for p in decoded)
        texts = b"".join(p.data for p in decoded)
        assert marker.encode() in texts and b"lorem ipsum" in texts
    finally:
        await runner.cleanup()
        await store.close()


async def test_without_keys_the_same_check_finds_the_marker(
    temporal_server: DevServer, http_server: LocalHTTPServer, tmp_path: Path
) -> None:
    """The control: the checks above do see plaintext when there is any."""
    marker = f"MARKER-{uuid.uuid4().hex}"
    async with make_harness(temporal_server, tmp_path, **PLAIN_ENV) as h:
        handle = await h.start(_flow(f"{http_server.url}/big?size=100000"), {"marker": marker})
        await handle.result()
    raw, _ = await _raw_history(temporal_server, handle.id)
    assert marker.encode() in raw
    assert any(b"lorem ipsum" in data for data in _blob_bytes(tmp_path / "blobs"))


async def test_a_failed_encrypted_run_keeps_its_error_message_out_of_history(
    temporal_server: DevServer, tmp_path: Path
) -> None:
    marker = f"MARKER-{uuid.uuid4().hex}"
    flow = workflow(
        """
  - boom:
      raise:
        error:
          type: https://serverlessworkflow.io/spec/1.0.0/errors/validation
          status: 400
          title: rejected
          detail: ${ "bad order " + $workflow.input.marker }
"""
    )
    async with make_harness(temporal_server, tmp_path, ENCRYPTION_KEYS=f"k:{NEW_KEY}") as h:
        handle = await h.start(flow, {"marker": marker})
        with pytest.raises(WorkflowFailureError) as info:
            await handle.result()
    cause = info.value.cause
    assert isinstance(cause, ApplicationError) and marker in str(cause)  # the client decrypts it...
    assert cause.details[0]["detail"] == f"bad order {marker}"
    raw, _ = await _raw_history(temporal_server, handle.id)
    assert marker.encode() not in raw  # ...history holds ciphertext only
    assert b"rejected" not in raw  # the failure message too, not only its details


async def test_blobs_get_decrypts_with_the_keys_and_names_the_key_id_without_them(
    tmp_path: Path,
) -> None:
    import json
    import os
    import subprocess
    import sys

    from temporalio.converter import StorageDriverStoreContext, StorageDriverWorkflowInfo

    from workflow_runner.claimcheck.driver import ClaimCheckDriver

    env = {
        **os.environ,
        "STIGMER_DATA_DIR": str(tmp_path / "data"),
        "BLOB_STORAGE_PATH": str(tmp_path / "blobs"),
    }
    document = {"items": ["secret row"] * 1000}
    (sealed,) = await codec(f"k7:{NEW_KEY}").encode([payload_of(document)])
    store = await open_store(load_settings(env))
    context = StorageDriverStoreContext(
        target=StorageDriverWorkflowInfo(namespace="default", id="w1", run_id="r1", type="Flow")
    )
    (claim,) = await ClaimCheckDriver(store, namespace="default").store(context, [sealed])
    await store.close()
    key = claim.claim_data["key"]

    def get(extra: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [sys.executable, "-m", "workflow_runner.cli.main", "blobs", "get", key],
            env={**env, **extra},
            capture_output=True,
            timeout=60,
            check=False,
        )

    with_keys = get({"ENCRYPTION_KEYS": f"k7:{NEW_KEY}"})
    assert with_keys.returncode == 0, with_keys.stderr
    assert json.loads(with_keys.stdout) == document
    without = get({})
    message = without.stderr.decode()
    assert without.returncode == 1 and "'k7'" in message and "Traceback" not in message
