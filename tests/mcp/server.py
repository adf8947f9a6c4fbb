"""A small MCP server (the SDK's ``MCPServer``, once called FastMCP) for ``call: mcp`` tests.

Run as a script it serves over stdio (``python tests/mcp/server.py``);
``http_app()`` is the same server as a Streamable HTTP app for uvicorn.
"""

from __future__ import annotations

import os
from typing import Any

from mcp.server.mcpserver import MCPServer

server = MCPServer("test-tools", version="1.0.0", log_level="WARNING")


@server.tool()
def add(a: int, b: int) -> dict[str, int]:
    """Add two numbers."""
    return {"sum": a + b}


@server.tool()
def environment(names: list[str]) -> dict[str, str]:
    """The server's environment variables of ``names`` ("<unset>" when it has none)."""
    return {name: os.environ.get(name, "<unset>") for name in names}


@server.tool()
def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"exploded: {reason}")


@server.tool()
async def sleep(seconds: float) -> str:
    """Sleeps, for timeout tests."""
    import anyio

    await anyio.sleep(seconds)
    return "slept"


@server.prompt()
def greeting(name: str) -> str:
    """A greeting prompt."""
    return f"Say hello to {name}"


@server.resource("memo://motd")
def motd() -> str:
    """The message of the day."""
    return "hello from the resource"


def http_app() -> Any:
    return server.streamable_http_app()


if __name__ == "__main__":
    server.run()
