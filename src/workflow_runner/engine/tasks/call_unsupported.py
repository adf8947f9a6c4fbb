"""``call: asyncapi``: recognised, and refused with the reason.

It is read (so a definition using it fails at ``validate`` with one line
saying why, at the task's ``call``) and never run. AsyncAPI publishes to or
subscribes on a channel of a message broker (Kafka, AMQP, MQTT, NATS, ...).
The runner has no broker clients and no broker to test them against;
CloudEvents in and out of a run are ``emit`` and ``listen``, and an AsyncAPI
server over plain HTTP can be called with ``call: http``.
"""

from __future__ import annotations

from workflow_runner.dsl.reader import DefinitionReader, TaskNode
from workflow_runner.engine.tasks.base import Task

ASYNCAPI = (
    "'call: asyncapi' is not supported yet: it needs a message broker client (Kafka, AMQP, "
    "MQTT, NATS...) that this runner does not have; use emit/listen for CloudEvents, or "
    "'call: http' for an AsyncAPI server that speaks HTTP"
)


def read_asyncapi(reader: DefinitionReader, node: TaskNode) -> Task | None:
    reader.problem(node.at("call"), ASYNCAPI)
    return None
