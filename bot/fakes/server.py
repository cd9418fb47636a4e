"""Run an ASGI app on a real loopback port in a background thread.

The stand-ins for Slack and the providers are real HTTP servers, so the bot's own
clients (aiohttp inside slack_sdk, httpx for providers) talk to them exactly as they
would talk to the real services. Each server gets its own thread and event loop, so
it keeps answering while the test's loop is blocked or busy.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Literal

import uvicorn


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class ThreadedServer:
    """`with ThreadedServer(app) as server: server.url` serves `app` until the block ends."""

    def __init__(self, app, *, host: str = "127.0.0.1", port: int | None = None,
                 lifespan: Literal["auto", "on", "off"] = "off") -> None:
        self.app = app
        self.lifespan = lifespan
        self.host = host
        self.port = port or free_port(host)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ThreadedServer:
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            access_log=False,
            lifespan=self.lifespan,
            loop="asyncio",
        )
        server = self._server = uvicorn.Server(config)
        # uvicorn installs signal handlers only in the main thread; a worker thread is fine.
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve()), name=f"fake:{self.port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self, *, wait: bool = True) -> None:
        """Stop serving. uvicorn notices within about 0.2 s; `wait=False` lets that happen in the
        background (a test run stops hundreds of stand-ins, each on its own port)."""
        if self._server is not None:
            self._server.should_exit = True
        if wait and self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
