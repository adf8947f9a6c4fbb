"""The offload decision is taken on a payload's raw (uncompressed) size.

A 1 MB document that compresses to 60 KB is still a 1 MB document: only its
reference belongs in history, wherever it appears. Small payloads stay inline.
Units through the real ``DataConverter``; end to end on the real dev server
with a ``call: http`` to the local HTTP server.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.sdk.v1.external_storage_pb2 import ExternalStorageReference
from temporalio.client import WorkflowHandle
from temporalio.converter import DataConverter, ExternalStorage

from tests.harness import Harness, workflow
from workflow_runner.claimcheck.codec import RAW_SIZE_KEY, ZSTD_ENCODING, CompressionCodec
from workflow_runner.claimcheck.converter import build_data_converter, raw_size
from workflow_runner.claimcheck.driver import ClaimCheckDriver
from workflow_runner.claimcheck.stores import MemoryStore
from workflow_runner.config import load_settings

REFERENCE_TYPE = ExternalStorageReference.DESCRIPTOR.full_name.encode()
THRESHOLD = 51_200
ONE_MB = 1024 * 1024


def low_entropy(size: int) -> dict[str, Any]:
    """About ``size`` bytes of JSON that zstd shrinks ~100x (1 MB → ~9 KB), like log rows."""
    rows: list[dict[str, Any]] = []
    total = 0
    while total < size:
        note = "lorem ipsum dolor sit amet, consectetur adipiscing elit"
        row = {"id": len(rows), "status": "active", "region": "eu", "note": note}
        rows.append(row)
        total += len(json.dumps(row, separators=(",", ":"))) + 1
    return {"rows": rows}


def is_reference(payload: Payload) -> bool:
    return payload.metadata.get("messageType") == REFERENCE_TYPE


def converter(store: MemoryStore, **env: str) -> DataConverter:
    return build_data_converter(load_settings({"BLOB_STORAGE_TYPE": "memory", **env}), store)


async def encoded(conv: DataConverter, value: Any) -> Payload:
    (payload,) = await conv.encode([value])
    return payload


async def test_a_document_that_compresses_below_the_threshold_is_still_offloaded() -> None:
    document = low_entropy(ONE_MB)
    plain = DataConverter.default.payload_converter.to_payloads([document])
    # The old decision, on the compressed size, would have kept it inline.
    assert (await CompressionCodec().encode(plain))[0].ByteSize() < THRESHOLD
    store = MemoryStore()
    conv = converter(store)
    payload = await encoded(conv, document)
    assert is_reference(payload), payload.metadata
    assert payload.ByteSize() < 1024
    (key,) = [k async for k in store.list_keys("v0/")]
    stored = Payload()
    stored.ParseFromString(await store.get(key))
    # What is stored is compressed, and says how big it was.
    assert stored.metadata["encoding"] == ZSTD_ENCODING
    assert int(stored.metadata[RAW_SIZE_KEY]) == plain[0].ByteSize()
    assert len(await store.get(key)) < THRESHOLD
    assert (await conv.decode([payload], [dict]))[0] == document


async def test_a_small_compressible_payload_stays_inline_and_compressed() -> None:
    store = MemoryStore()
    document = low_entropy(10_000)
    payload = await encoded(converter(store), document)
    assert not is_reference(payload)
    assert payload.metadata["encoding"] == ZSTD_ENCODING
    assert [k async for k in store.list_keys("v0/")] == []
    assert (await converter(store).decode([payload], [dict]))[0] == document


async def test_the_threshold_is_inclusive_on_the_raw_size() -> None:
    store = MemoryStore()
    conv = converter(store, CLAIMCHECK_THRESHOLD_BYTES="20000")
    plain = DataConverter.default.payload_converter
    # Grow a compressible document until its serialized payload is exactly at the threshold.
    text = "a" * 19_000
    while (size := plain.to_payloads([text])[0].ByteSize()) < 20_000:
        text += "a" * (20_000 - size)
    assert plain.to_payloads([text])[0].ByteSize() == 20_000
    assert is_reference(await encoded(conv, text))
    assert not is_reference(await encoded(conv, text[:-1]))


async def test_without_compression_the_raw_size_is_the_payload_size() -> None:
    store = MemoryStore()
    conv = converter(store, CLAIMCHECK_COMPRESSION_ENABLED="false")
    big = await encoded(conv, low_entropy(100_000))
    assert is_reference(big)
    stored = Payload()
    (key,) = [k async for k in store.list_keys("v0/")]
    stored.ParseFromString(await store.get(key))
    assert stored.metadata["encoding"] == b"json/plain"
    assert not is_reference(await encoded(conv, low_entropy(10_000)))


async def test_with_the_claim_check_off_nothing_is_offloaded_but_old_references_resolve() -> None:
    store = MemoryStore()
    reference = await encoded(converter(store), low_entropy(ONE_MB))
    assert is_reference(reference)
    off = converter(store, CLAIMCHECK_ENABLED="false")
    inline = await encoded(off, low_entropy(ONE_MB))
    assert not is_reference(inline) and inline.metadata["encoding"] == ZSTD_ENCODING
    assert len([k async for k in store.list_keys("v0/")]) == 1
    assert (await off.decode([reference], [dict]))[0] == low_entropy(ONE_MB)


async def test_payloads_written_before_the_raw_size_mark_stay_readable() -> None:
    """Inline compressed payloads and blobs written by the previous codec carry no mark."""
    store = MemoryStore()
    conv = converter(store)
    document = low_entropy(30_000)
    raw = DataConverter.default.payload_converter.to_payloads([document])[0]
    old_inline = (await CompressionCodec().encode([raw]))[0]
    del old_inline.metadata[RAW_SIZE_KEY]
    assert (await conv.decode([old_inline], [dict]))[0] == document
    # An old blob: an unmarked compressed payload, offloaded by the old converter.
    old_writer = dataclasses.replace(
        DataConverter.default,
        payload_codec=_UnmarkedCodec(),
        external_storage=ExternalStorage(
            drivers=[ClaimCheckDriver(store, namespace="default")], payload_size_threshold=0
        ),
    )
    reference = await encoded(old_writer, document)
    assert is_reference(reference)
    assert (await conv.decode([reference], [dict]))[0] == document


class _UnmarkedCodec(CompressionCodec):
    """The codec as it was before the raw-size mark."""

    def _encode_one(self, payload: Payload) -> Payload:
        out = super()._encode_one(payload)
        if RAW_SIZE_KEY in out.metadata:
            del out.metadata[RAW_SIZE_KEY]
        return out


def test_a_forged_small_mark_cannot_keep_a_large_payload_inline() -> None:
    payload = Payload(metadata={"encoding": b"json/plain", RAW_SIZE_KEY: b"10"}, data=b"x" * 90_000)
    assert raw_size(payload) >= 90_000
    garbage = Payload(metadata={"encoding": ZSTD_ENCODING, RAW_SIZE_KEY: b"lots"}, data=b"x")
    assert raw_size(garbage) == garbage.ByteSize()


# -- end to end -----------------------------------------------------------------------------


def _payloads_of(event: HistoryEvent) -> list[Payload]:
    """Every payload an event carries (walks the event's message tree)."""
    found: list[Payload] = []

    def walk(message: Any) -> None:
        if isinstance(message, Payload):
            found.append(message)
            return
        for field, value in message.ListFields():
            if field.message_type is None:
                continue
            if hasattr(value, "ListFields"):
                walk(value)
                continue
            # A repeated field or a map (whose values may be messages).
            for item in value.values() if hasattr(value, "values") else value:
                if hasattr(item, "ListFields"):
                    walk(item)

    walk(event)
    return found


async def history_of(handle: WorkflowHandle[Any, Any]) -> tuple[int, list[Payload]]:
    history = await handle.fetch_history()
    payloads = [p for e in history.events for p in _payloads_of(e)]
    return sum(e.ByteSize() for e in history.events), payloads


class _Documents(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = json.dumps(low_entropy(int(self.path.strip("/")))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def documents_url() -> Iterator[str]:
    """``GET {url}/{size}``: a low-entropy JSON document of about ``size`` bytes."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Documents)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


PASS_ALONG = """
  - fetch:
      call: http
      with:
        method: get
        endpoint: {url}
  - keep:
      set:
        doc: '${{ {{rows: .rows}} }}'
  - hand_on:
      set:
        rows: ${{ .doc.rows }}
"""


async def test_a_1mb_compressible_document_through_three_tasks_leaves_under_16kb_of_history(
    harness: Harness, documents_url: str
) -> None:
    text = workflow(PASS_ALONG.format(url=f"{documents_url}/{ONE_MB}"))
    handle = await harness.start(text)
    result = await handle.result()
    assert result["rows"] == low_entropy(ONE_MB)["rows"]
    size, payloads = await history_of(handle)
    assert size < 16 * 1024, f"history is {size:,} bytes"
    # Every payload of the document's size is a reference, wherever it appears.
    assert not [p for p in payloads if p.ByteSize() > 4096 and not is_reference(p)]
    assert sum(is_reference(p) for p in payloads) >= 2


async def test_a_10kb_response_stays_inline(harness: Harness, documents_url: str) -> None:
    text = workflow(PASS_ALONG.format(url=f"{documents_url}/10000"))
    handle = await harness.start(text)
    assert (await handle.result())["rows"] == low_entropy(10_000)["rows"]
    _size, payloads = await history_of(handle)
    assert not any(is_reference(p) for p in payloads)
    assert [k async for k in harness.store.list_keys("v0/")] == []


async def test_a_compressible_workflow_input_and_signal_are_references_in_history(
    harness: Harness,
) -> None:
    text = workflow(
        """
  - hear:
      listen:
        to:
          one:
            with:
              type: signal
              id: go
"""
    )
    document = low_entropy(ONE_MB)
    handle = await harness.start(text, document)
    await handle.signal("go", {"signalled": document})
    assert (await handle.result())["signalled"]["rows"] == document["rows"]
    history = await handle.fetch_history()
    started = [
        p
        for e in history.events
        if e.HasField("workflow_execution_started_event_attributes")
        for p in _payloads_of(e)
    ]
    signalled = [
        p
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
        for p in _payloads_of(e)
    ]
    assert started and all(is_reference(p) for p in started if p.ByteSize() > 1024)
    assert any(is_reference(p) for p in started)
    assert signalled and all(is_reference(p) for p in signalled)
    size = sum(e.ByteSize() for e in history.events)
    assert size < 16 * 1024, f"history is {size:,} bytes"
