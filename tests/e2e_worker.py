"""A worker in its own process (configured by the environment), for kill tests.

Usage: python -m tests.e2e_worker ADDRESS TASK_QUEUE
"""

from __future__ import annotations

import asyncio
import sys

from temporalio.client import Client
from temporalio.worker import Worker

from tests.e2e_workflows import ACTIVITIES, WORKFLOWS
from workflow_runner.claimcheck import open_store
from workflow_runner.claimcheck.converter import build_data_converter
from workflow_runner.config import load_settings


async def main(address: str, task_queue: str) -> None:
    settings = load_settings()
    store = await open_store(settings)
    client = await Client.connect(address, data_converter=build_data_converter(settings, store))
    async with Worker(client, task_queue=task_queue, workflows=WORKFLOWS, activities=ACTIVITIES):
        print("worker ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
