"""Zigflow's ``$data.activity``: values only the sending attempt knows (engine/activity_info.py)."""

from __future__ import annotations

import json
import uuid

from tests.harness import Harness
from tests.httpserver import LocalHTTPServer
from workflow_runner.engine.activity_info import fill, placeholders

HEAD = """document:
  dsl: '1.0.0'
  taskQueue: zigflow-activity-info
  workflowType: activity-info
  version: '1.0.0'
"""


def test_a_whole_placeholder_becomes_the_typed_value_and_a_part_becomes_text() -> None:
    tokens = placeholders()
    info = {"attempt": 3, "task_queue": "q", "is_local_activity": False}
    value = {"n": tokens["attempt"], "s": f"try {tokens['attempt']} on {tokens['task_queue']}"}
    assert fill(value, info) == {"n": 3, "s": "try 3 on q"}
    assert fill([tokens["is_local_activity"], "plain"], info) == [False, "plain"]


async def test_each_attempt_of_a_retried_call_sends_its_own_attempt_number(
    harness: Harness, http_server: LocalHTTPServer
) -> None:
    key = uuid.uuid4().hex
    text = (
        HEAD
        + f"""do:
  - withdraw:
      call: http
      with:
        method: post
        endpoint: {http_server.url}/flaky?key={key}&fail=1
        body:
          attempt: ${{ $data.activity.attempt }}
          note: ${{ "attempt " + ($data.activity.attempt | tostring) }}
          queue: ${{ $data.activity.task_queue }}
"""
    )
    out = await harness.run(text)
    assert out == {"attempts": 2}
    bodies = [json.loads(r["body"]) for r in http_server.requests if f"key={key}" in r["query"]]
    assert [b["attempt"] for b in bodies] == [1, 2]
    assert bodies[1]["note"] == "attempt 2"
    assert bodies[0]["queue"] == harness.task_queue
