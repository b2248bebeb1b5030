"""Emulators on real uvicorn servers, for tests: 127.0.0.1, an ephemeral port, a thread each.

A ``ServerPool`` keeps one server per distinct set of settings that only a restart can change
(seed, clock, admin token...), for the whole test session: every other setting is applied to a
running server through its admin API. Each pytest-xdist worker is a process with its own pool,
so workers share neither ports nor state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from emulator.app import create_app
from emulator.commands.serve import listen
from emulator.testing.settings import EmulatorSettings

HOST = "127.0.0.1"
START_TIMEOUT = 10.0  # seconds


@dataclass
class RunningServer:
    base_url: str
    server: uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=START_TIMEOUT)


def start_server(app: ASGIApp) -> RunningServer:
    sock = listen(HOST, 0)  # bound before uvicorn starts, so the port is known and ours
    port = sock.getsockname()[1]
    # log_config=None: leave the test process's logging configuration alone (uvicorn's
    # default would replace it); its loggers still propagate to pytest's log capture.
    config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"imagegen-emulator:{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the emulator's uvicorn server on port {port} did not start")
        time.sleep(0.005)
    return RunningServer(f"http://{HOST}:{port}", server, thread)


@contextmanager
def served(app: ASGIApp) -> Iterator[RunningServer]:
    """A server for one block: started on entry, stopped on exit, error or not."""
    running = start_server(app)
    try:
        yield running
    finally:
        running.stop()


class ServerPool:
    def __init__(self) -> None:
        self._servers: dict[str, RunningServer] = {}

    def get(self, settings: EmulatorSettings) -> RunningServer:
        """A running server that can take these settings (started on first use). The caller
        applies the rest of the settings and resets it (ImagegenEmulator.reset)."""
        key = settings.server_key()
        if key not in self._servers:
            self._servers[key] = start_server(create_app(settings.build()))
        return self._servers[key]

    def close(self) -> None:
        servers, self._servers = list(self._servers.values()), {}
        for server in servers:
            server.stop()
