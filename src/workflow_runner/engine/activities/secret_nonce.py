"""The per-run secret nonce (see engine/secrets.py), drawn outside the workflow.

A local activity, so the value is recorded in history and replay reads it
back instead of drawing again; kept apart from secrets.py so that reading a
definition never imports temporalio.
"""

from __future__ import annotations

import os

from temporalio import activity

from workflow_runner.engine.secrets import NONCE_ACTIVITY


@activity.defn(name=NONCE_ACTIVITY)
async def secret_nonce() -> str:
    """128 fresh random bits."""
    return os.urandom(16).hex()
