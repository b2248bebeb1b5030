"""A real redis-server for tests (ours, bench/ and users' own): 127.0.0.1, an ephemeral port,
its files in a directory the caller owns, stopped on exit. No mock: the emulator's Redis
store is tested against the server it will run on.

    with redis_server(tmp_path) as server:
        config.store = f"{server.url}?prefix=mytest"

`stop()` and `start()` restart it on the same port and directory (with `appendonly=True` its
data survives, as a real restart's would); `kill()` is a crash (SIGKILL). The server is
spoken to in RESP over a plain socket, so this module needs no Redis client library.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

__all__ = [
    "RedisServer",
    "RedisServerError",
    "RedisServerMissing",
    "find_redis_server",
    "redis_server",
]

HOST = "127.0.0.1"
FALLBACK_BINARY = Path("/usr/bin/redis-server")
START_TIMEOUT = 10.0  # seconds until PING must answer
STOP_TIMEOUT = 5.0  # seconds a stopping server gets before SIGKILL
PORT_ATTEMPTS = 5  # fresh ports tried when another process took the one picked
LOG_TAIL = 15  # lines of the server's log quoted in an error


class RedisServerMissing(RuntimeError):
    """No redis-server on this machine."""

    def __init__(self) -> None:
        super().__init__(
            f"redis-server was not found on PATH nor at {FALLBACK_BINARY}: install it "
            "(Debian/Ubuntu: sudo apt-get install redis-server) to run the Redis store's tests"
        )


class RedisServerError(RuntimeError):
    """redis-server did not start, or did not answer in time."""


def find_redis_server() -> Path:
    """redis-server on PATH, else Debian's; RedisServerMissing when neither exists."""
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    if FALLBACK_BINARY.is_file() and os.access(FALLBACK_BINARY, os.X_OK):
        return FALLBACK_BINARY
    raise RedisServerMissing()


def free_port() -> int:
    """A port nobody listens on now (bound to 0 and closed: redis-server then binds it; the
    race with another process taking it meanwhile is why starting retries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def command(port: int, *args: str, timeout: float = 1.0) -> bytes:
    """One RESP command to the server on 127.0.0.1:`port`; its raw reply (b"" when the
    server closed the connection without one, as SHUTDOWN does). OSError when unreachable."""
    parts = [f"*{len(args)}\r\n".encode()]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(b"".join(parts))
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply


class RedisServer:
    """One redis-server process (see the module's docstring). Not thread-safe."""

    def __init__(
        self, tmp_dir: Path, *, appendonly: bool = False, port: int | None = None
    ) -> None:
        self.binary = find_redis_server()
        self.dir = Path(tmp_dir)
        self.appendonly = appendonly
        self.log = self.dir / "redis.log"
        self._port: int | None = port  # None: picked at the first start, kept afterwards
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0  # where this start's lines begin in the (appended) log

    @property
    def port(self) -> int:
        if self._port is None:
            raise RedisServerError("the server has not been started yet")
        return self._port

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ping(self) -> bool:
        try:
            return command(self.port, "PING").startswith(b"+PONG")
        except OSError:
            return False

    # ------------------------------------------------------------------ life cycle

    def start(self) -> None:
        """Start (again) on the same port and directory; returns once PING answers."""
        if self.running:
            raise RedisServerError(f"redis-server is already running on port {self.port}")
        self.dir.mkdir(parents=True, exist_ok=True)
        if self._port is not None:  # given, or kept from the first start: no other port
            self._launch(self._port)
            return
        for attempt in range(1, PORT_ATTEMPTS + 1):
            port = free_port()
            try:
                self._launch(port)
                return
            except RedisServerError:
                lost_race = self._lost_port_race()
                self._port = None  # the next start picks a port again
                if attempt == PORT_ATTEMPTS or not lost_race:
                    raise

    def stop(self) -> None:
        """SHUTDOWN NOSAVE (the AOF, when on, is already on disk), else SIGTERM; SIGKILL after
        STOP_TIMEOUT. The process is reaped: nothing is left running."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            try:
                reply = command(self.port, "SHUTDOWN", "NOSAVE", timeout=STOP_TIMEOUT)
            except OSError:
                reply = b"-unreachable"
            if reply.startswith(b"-"):  # refused or unreachable: ask the OS instead
                with suppress(ProcessLookupError):
                    process.terminate()
            self._reap(process)
        self.process = None

    def kill(self) -> None:
        """SIGKILL, as a crash: no shutdown, nothing flushed that was not already."""
        process = self.process
        if process is None:
            return
        with suppress(ProcessLookupError):
            process.kill()
        process.wait()
        self.process = None

    # ------------------------------------------------------------------ inside

    def _arguments(self, port: int) -> list[str]:
        # --save "": no RDB snapshots; with appendonly, fsync on every write, so a kill()
        # loses no write Redis acknowledged.
        fsync = ["--appendfsync", "always"] if self.appendonly else []
        return [
            str(self.binary),
            *("--bind", HOST, "--port", str(port), "--dir", str(self.dir), "--save", ""),
            *("--appendonly", "yes" if self.appendonly else "no", *fsync),
            *("--daemonize", "no", "--protected-mode", "yes", "--logfile", str(self.log)),
        ]

    def _launch(self, port: int) -> None:
        self._log_start = self.log.stat().st_size if self.log.exists() else 0
        # Errors in the arguments go to stderr before the log file is opened: append both
        # to the log, so the error message can quote whichever it was.
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                self._arguments(port),
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                cwd=self.dir,
            )
        self._port = port
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._failed(f"redis-server exited with status {self.process.returncode}")
            if self.ping():
                return
            time.sleep(0.02)
        self._failed(f"redis-server did not answer PING within {START_TIMEOUT:g} s")

    def _failed(self, reason: str) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        self.process = None
        raise RedisServerError(
            f"{reason} (port {self._port}, dir {self.dir}); the end of {self.log}:\n"
            + self._log_tail()
        )

    def _this_start_log(self) -> str:
        try:
            with self.log.open("rb") as log:
                log.seek(self._log_start)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _lost_port_race(self) -> bool:
        return "Address already in use" in self._this_start_log()

    def _log_tail(self) -> str:
        lines = self._this_start_log().splitlines()[-LOG_TAIL:]
        return "\n".join(lines) if lines else "(empty)"

    def _reap(self, process: subprocess.Popen[bytes]) -> None:
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def redis_server(
    tmp_dir: Path, *, appendonly: bool = False, port: int | None = None
) -> Iterator[RedisServer]:
    """A started RedisServer (see the module's docstring), stopped on exit."""
    server = RedisServer(tmp_dir, appendonly=appendonly, port=port)
    server.start()
    try:
        yield server
    finally:
        server.stop()
