"""Serve an ASGI app (a platform emulator, the console) on a port, inside the current event loop."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _Server(uvicorn.Server):
    """The caller owns the process's signals (tests, `helpline run`): uvicorn must not take them."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Http(HttpToolsProtocol):
    """uvicorn's HTTP protocol (httptools), formatting a request's access line only when
    `uvicorn.access` would write it. uvicorn formats the line (the client's address, the path
    quoted) whenever the logger has a handler, the root's included, even when its level (WARNING,
    `helpline.logs`) then drops it. Decided per connection, so a level lowered while the server
    runs is seen by the next connection."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.access_log = self.access_log and self.access_logger.isEnabledFor(logging.INFO)


class ListenFailed(OSError):
    """The app could not listen on its address (e.g. the port is taken)."""


async def _serve(server: uvicorn.Server, host: str, port: int) -> None:
    try:
        await server.serve()
    except SystemExit:  # uvicorn exits the process when it cannot bind: the caller must clean up first
        raise ListenFailed(f"cannot listen on {host}:{port} (is the port in use?)") from None


def port_taken(host: str, port: int) -> bool:
    """Whether something listens on (host, port) already: binding as uvicorn does fails."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


WS_MAX_BYTES = 64 * 1024


@asynccontextmanager
async def serve(app: Any, host: str = "127.0.0.1", port: int | None = None) -> AsyncIterator[str]:
    """Serve `app` until the block exits; yields its base URL (http://host:port)."""
    port = port or free_port(host)
    # log_config=None: uvicorn's records go to the process's own handlers (JSON lines included)
    # ws_max_size: the only WebSocket frames are the web chat's, a few KiB (uvicorn's default is 16 MiB)
    # http=_Http: an access line is formatted only when it would be written (see _Http)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        log_config=None,
        ws_max_size=WS_MAX_BYTES,
        http=_Http,
    )
    server = _Server(config)
    task = asyncio.create_task(_serve(server, host, port))
    try:
        while not server.started:
            if task.done():
                task.result()  # surfaces the startup error
            await asyncio.sleep(0.01)
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await task
