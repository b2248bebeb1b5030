"""`imagegen-emulator serve` as a real subprocess on an ephemeral port, for the live tests
that talk to it over sockets (tests/test_serve_workers.py, tests/test_redis_workers_socket.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

SERVE = [sys.executable, "-m", "emulator", "serve", "--host", "127.0.0.1", "--port", "0"]
STOP_TIMEOUT = 10.0  # seconds
BANNER_LINES = 4  # "listening on ..." and the three lines after it


@dataclass
class Served:
    process: subprocess.Popen[str]
    base_url: str
    banner: str


def start_serve(*args: str) -> Served:
    """Starts `serve --port 0 ARGS` and returns once it printed where it listens (the parent
    binds the socket before it prints, so a connection made then is accepted)."""
    process = subprocess.Popen(
        [*SERVE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group: kill() reaches its workers too
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    match = re.search(r"listening on (http://\S+)", first)
    if not match:
        served = Served(process, "", first)
        kill(served)
        out, err = process.communicate(timeout=10)
        raise AssertionError(f"serve did not start: {first}{out}{err}")
    banner = first + "".join(process.stdout.readline() for _ in range(BANNER_LINES - 1))
    return Served(process, match.group(1), banner)


def kill(served: Served) -> None:
    """SIGKILL to the parent and its workers at once, as a crash (a worker whose parent was
    killed alone would keep the pipes open)."""
    with suppress(ProcessLookupError):  # all of them exited already
        os.killpg(served.process.pid, signal.SIGKILL)


def end_serve(served: Served) -> None:
    """SIGTERM (the parent stops its workers), SIGKILL to the group if that takes over
    STOP_TIMEOUT; then reaped, its pipes drained, so nothing is left running."""
    if served.process.poll() is None:
        served.process.terminate()
        try:
            served.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            kill(served)
    served.process.communicate(timeout=STOP_TIMEOUT)


@contextmanager
def serving(*args: str) -> Iterator[Served]:
    served = start_serve(*args)
    try:
        yield served
    finally:
        end_serve(served)
