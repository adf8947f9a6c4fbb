"""``call: asyncapi`` and ``call: a2a``: recognised, and refused with the reason.

Both are read (so a definition using them fails at ``validate`` with one line
saying why, at the task's ``call``) and never run.

* AsyncAPI publishes to or subscribes on a channel of a message broker (Kafka,
  AMQP, MQTT, NATS, ...). The runner has no broker clients and no broker to
  test them against; CloudEvents in and out of a run are ``emit`` and
  ``listen``, and an AsyncAPI server over plain HTTP can be called with
  ``call: http``.
* A2A is JSON-RPC over HTTP to an agent described by an AgentCard. Until it
  has its own task, ``call: http`` with ``method: post`` and a JSON-RPC body
  (``{jsonrpc: '2.0', id, method: message/send, params}``) reaches an A2A
  server.
"""

from __future__ import annotations

from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Task

ASYNCAPI = (
    "'call: asyncapi' is not supported yet: it needs a message broker client (Kafka, AMQP, "
    "MQTT, NATS...) that this runner does not have; use emit/listen for CloudEvents, or "
    "'call: http' for an AsyncAPI server that speaks HTTP"
)
A2A = (
    "'call: a2a' is not supported yet: send the A2A JSON-RPC request with 'call: http' "
    "(method: post, endpoint: the agent's URL, body: {jsonrpc: '2.0', id: 1, "
    "method: message/send, params: ...})"
)


def read_asyncapi(reader: DefinitionReader, node: TaskNode) -> Task | None:
    reader.problem(node.at("call"), ASYNCAPI)
    return None


def read_a2a(reader: DefinitionReader, node: TaskNode) -> Task | None:
    reader.problem(node.at("call"), A2A)
    return None
