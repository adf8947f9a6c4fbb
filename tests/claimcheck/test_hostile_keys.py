"""Property-based: no key, however hostile, names a file outside the store root.

Plus forged references arriving as data (an HTTP response shaped like a
reference) and as a raw payload (a signal crafted to look like one).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from tests.claimcheck.test_codec_and_driver import bomb_payload
from tests.harness import Harness, make_harness, workflow
from tests.httpserver import LocalHTTPServer
from tests.memory import rss_growth
from workflow_runner.claimcheck import InvalidKeyError
from workflow_runner.claimcheck.codec import RAW_SIZE_KEY
from workflow_runner.claimcheck.codec_server import REFERENCE_TYPE
from workflow_runner.claimcheck.keys import blob_key, percent_encode, validate_key
from workflow_runner.claimcheck.stores import FilesystemStore
from workflow_runner.runtime.devserver import DevServer

ROOT = Path("/srv/blobs-root")
STORE = FilesystemStore.__new__(FilesystemStore)  # path mapping only: no directory needed
STORE.root = ROOT

ALPHABET = string.ascii_letters + string.digits + "!-_.*'()%/\\~\x00 :"
segment_chars = st.sampled_from([*ALPHABET, "..", "/..", "../", "é", "\n"])
hostile = st.one_of(st.text(), st.lists(segment_chars, max_size=40).map("".join))


def inside_root(key: str) -> bool:
    resolved = os.path.normpath(STORE.path_for(key))
    return resolved.startswith(str(ROOT) + os.sep)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.too_slow])
@given(hostile)
def test_a_key_is_rejected_or_stays_inside_the_root(key: str) -> None:
    try:
        validate_key(key)
    except InvalidKeyError:
        with pytest.raises(InvalidKeyError):
            STORE.path_for(key)
        return
    assert inside_root(key)
    assert ".." not in key.split("/") and not key.startswith("/") and "\x00" not in key


@settings(max_examples=2000)
@given(st.text(), st.text(), st.text(), st.text())
def test_any_workflow_identity_gives_a_valid_key_inside_the_root(
    ns: str, type_: str, wid: str, run: str
) -> None:
    key = blob_key("a" * 64, namespace=ns, scope=("wt", type_, wid, run))
    assert validate_key(key) == key and inside_root(key)
    assert key.endswith("/d/sha256/" + "a" * 64)


@given(st.text())
def test_percent_encoding_never_produces_dot_segments(value: str) -> None:
    assert percent_encode(value) not in (".", "..", "")


FORGED = {
    "driverName": "workflow-runner.claimcheck",
    "claimData": {"key": "../../../etc/passwd", "hash_algorithm": "sha256", "hash_value": "0" * 64},
}


async def test_reference_shaped_http_response_is_just_data(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    text = workflow(
        f"  - get:\n      call: http\n      with:\n        method: post\n"
        f"        endpoint: {http_server.url}/echo\n        body: ${{ . }}\n"
        "      output:\n        as: ${ .body }\n"
    )
    assert await harness.run(text, FORGED) == FORGED


async def test_forged_reference_payload_fails_the_run_without_reading(
    harness: Harness, temporal_server: DevServer, tmp_path: Path
) -> None:
    secret = tmp_path / "outside.txt"
    secret.write_text("must never be read")
    forged = json.loads(json.dumps(FORGED))
    forged["claimData"]["key"] = str(secret)
    handle = await harness.start(
        workflow(
            "  - wait:\n      listen:\n        to:\n          one:\n            with:\n"
            "              type: signal\n              id: go\n"
        )
    )
    raw = Payload(
        metadata={
            "encoding": b"json/protobuf",
            "messageType": b"temporal.api.sdk.v1.ExternalStorageReference",
        },
        data=json.dumps(forged).encode(),
    )
    plain = await Client.connect(temporal_server.address)  # an attacker's client: no converter
    await plain.get_workflow_handle(handle.id).signal("go", RawValue(raw))
    with pytest.raises(WorkflowFailureError) as info:
        await handle.result()
    assert "invalid claim-check reference" in str(info.value.cause)


WAIT_FOR_GO = workflow(
    "  - wait:\n      listen:\n        to:\n          one:\n            with:\n"
    "              type: signal\n              id: go\n"
)


async def signal_raw(server: DevServer, workflow_id: str, payload: Payload) -> None:
    """Signal as an attacker's client would: no data converter, bytes of its choosing."""
    plain = await Client.connect(server.address)
    await plain.get_workflow_handle(workflow_id).signal("go", RawValue(payload))


async def failure_type(handle: WorkflowHandle[Any, Any]) -> tuple[str | None, str]:
    with pytest.raises(WorkflowFailureError) as info:
        await asyncio.wait_for(handle.result(), timeout=60)
    cause = info.value.cause
    assert isinstance(cause, ApplicationError), cause
    return cause.type, str(cause)


async def test_a_reference_to_another_namespaces_blob_fails_the_run_without_reading_it(
    harness: Harness, temporal_server: DevServer
) -> None:
    secret = Payload(metadata={"encoding": b"json/plain"}, data=b'{"tenant":"b"}')
    data = secret.SerializeToString()
    digest = hashlib.sha256(data).hexdigest()
    key = f"v0/ns/tenant-b/wt/Flow/wi/theirs/ri/r1/d/sha256/{digest}"
    await harness.store.put(key, data)  # intact: only the namespace guard stands in the way
    handle = await harness.start(WAIT_FOR_GO)
    forged = {
        "driverName": "workflow-runner.claimcheck",
        "claimData": {"key": key, "hash_algorithm": "sha256", "hash_value": digest},
    }
    await signal_raw(
        temporal_server,
        handle.id,
        Payload(
            metadata={"encoding": b"json/protobuf", "messageType": REFERENCE_TYPE},
            data=json.dumps(forged).encode(),
        ),
    )
    error_type, message = await failure_type(handle)
    assert error_type == "ClaimCheckForeignNamespace"
    assert "'tenant-b'" in message and "'default'" in message


@pytest.mark.parametrize(
    ("kind", "size_mark"),
    [
        ("gzip", None),  # 1 GiB of zeros in about 1 MB, inflated by the codec
        # Marked a megabyte or more, it passes the codec compressed and is inflated where
        # the run reads the signal (claimcheck/payload_converter.py): the same limit holds.
        ("zstd-undeclared", b"2000000"),
    ],
)
async def test_a_bomb_signal_fails_the_run_and_the_worker_stays_small(
    temporal_server: DevServer, tmp_path: Path, kind: str, size_mark: bytes | None
) -> None:
    bomb = bomb_payload(kind)
    if size_mark is not None:
        bomb.metadata[RAW_SIZE_KEY] = size_mark
    async with make_harness(
        temporal_server, tmp_path, CLAIMCHECK_MAX_PAYLOAD_BYTES=str(64 * 1024 * 1024)
    ) as h:
        handle = await h.start(WAIT_FOR_GO)
        with rss_growth() as growth:
            await signal_raw(temporal_server, handle.id, bomb)
            error_type, message = await failure_type(handle)
            peak = growth()
    assert error_type == "ClaimCheckDecodedTooLarge" and "CLAIMCHECK_MAX_PAYLOAD_BYTES" in message
    assert "67108864 bytes" in message, message
    assert peak < 300 * 1024 * 1024, f"the worker grew by {peak} bytes"
