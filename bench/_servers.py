"""Run an app under uvicorn in a subprocess on 127.0.0.1, and shared helpers of the benches.

Child side: ``python -m bench._servers {bare,emulator} [--no-nodelay] [--loop L]`` binds an
ephemeral port on 127.0.0.1 before starting (``emulator.commands.serve.listen``, which sets
TCP_NODELAY), prints ``PORT <n>`` on stdout and serves with the same uvicorn settings whatever
the app: one worker, uvloop (unless --loop asyncio, for the Nagle check) and httptools, access
log off.

Parent side: :class:`ServerProcess` starts such a child, waits until it answers HTTP, and always
stops it (terminate, then kill) when the ``with`` block ends, error or not. On Linux the child
also gets SIGTERM if the bench process dies without cleaning up (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.applications import Starlette

HOST = "127.0.0.1"
APPS = ("bare", "emulator")
LOOPS = ("uvloop", "asyncio")
START_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0
API_KEY = "k"
AUTH = {"Authorization": f"Bearer {API_KEY}"}

Z_IMAGE = "/api/v1/models/z-image-turbo/generate"
NANO = "/api/v1/models/nano-banana-pro-edit/generate"
ADVANCE = "/_emulator/clock/advance"
PREDICTION = "/api/v1/predictions/{id}"


def z_image_body(prompt: str = "a cat") -> dict[str, str]:
    """A 1024x1024 JPEG from z-image-turbo."""
    return {"prompt": prompt, "size": "1024*1024", "output_format": "jpeg"}


def nano_4k_body(prompt: str = "x") -> dict[str, str]:
    """A 4096x4096 PNG from nano-banana-pro-edit."""
    return {
        "images": "https://example.com/a.jpg",
        "prompt": prompt,
        "aspect_ratio": "1:1",
        "resolution": "4k",
        "output_format": "png",
    }


# ------------------------------------------------------------------------------------ child


def _plain_listen(host: str, port: int) -> socket.socket:
    """Like emulator.commands.serve.listen but without TCP_NODELAY: the control case of the
    Nagle check."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _build_app(name: str) -> Starlette:
    if name == "bare":
        from bench.bare_app import create_bare_app

        return create_bare_app()
    from emulator import Config, create_app

    return create_app(Config(clock="virtual", seed=1))


def serve_main(argv: Sequence[str] | None = None) -> int:
    from emulator.commands.serve import listen

    parser = argparse.ArgumentParser(prog="python -m bench._servers")
    parser.add_argument("app", choices=APPS)
    parser.add_argument(
        "--no-nodelay", action="store_true", help="pre-bind without TCP_NODELAY (control case)"
    )
    parser.add_argument("--loop", choices=LOOPS, default="uvloop", help="event loop (uvloop)")
    args = parser.parse_args(argv)
    app = _build_app(args.app)
    sock = _plain_listen(HOST, 0) if args.no_nodelay else listen(HOST, 0)
    return run_uvicorn(app, sock, args.loop)


def run_uvicorn(app: Starlette, sock: socket.socket, loop: str = "uvloop") -> int:
    """Print ``PORT <n>`` and serve with the benches' uvicorn settings until stopped: one
    worker, `loop`, httptools, access log off."""
    import uvicorn

    print(f"PORT {sock.getsockname()[1]}", flush=True)
    os.dup2(2, 1)  # nothing else goes to the pipe the parent stops reading
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        loop=loop,
        http="httptools",
        workers=1,
        timeout_graceful_shutdown=2,
    )
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0


# ----------------------------------------------------------------------------------- parent


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies (Linux only, best effort)."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)


def stop_process(proc: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """terminate, wait, then kill: the one way every bench stops what it started."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def child_popen(args: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Popen whose child is terminated if this process dies first."""
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.Popen(list(args), preexec_fn=preexec, **kwargs)


class ServerProcess:
    """``with ServerProcess("emulator") as server: server.base_url`` -> http://127.0.0.1:port."""

    def __init__(self, app: str, *, nodelay: bool = True, loop: str = "uvloop") -> None:
        if app not in APPS:
            raise ValueError(f"app must be one of {APPS}, got {app!r}")
        if loop not in LOOPS:
            raise ValueError(f"loop must be one of {LOOPS}, got {loop!r}")
        self.app = app
        self.nodelay = nodelay
        self.loop = loop
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else 0

    def __enter__(self) -> ServerProcess:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        args = [sys.executable, "-m", "bench._servers", self.app, "--loop", self.loop]
        if not self.nodelay:
            args.append("--no-nodelay")
        self._proc = child_popen(args, stdout=subprocess.PIPE)
        self.port = self._read_port(time.monotonic() + START_TIMEOUT)
        self._wait_ready(time.monotonic() + START_TIMEOUT)

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            if self._proc.stdout is not None:
                self._proc.stdout.close()

    def _read_port(self, deadline: float) -> int:
        assert self._proc is not None and self._proc.stdout is not None
        out = self._proc.stdout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._proc.poll() is not None:
                raise RuntimeError(f"{self.app} server did not report its port")
            ready, _, _ = select.select([out], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(out.fileno(), 1)
                if not chunk:
                    raise RuntimeError(f"{self.app} server exited before reporting its port")
                line += chunk
        text = line.decode().strip()
        if not text.startswith("PORT "):
            raise RuntimeError(f"{self.app} server printed {text!r} instead of its port")
        return int(text.split()[1])

    def _wait_ready(self, deadline: float) -> None:
        """Until the server answers any HTTP response on /."""
        request = f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(f"{self.app} server exited with {self._proc.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection((HOST, self.port), timeout=2) as conn,
            ):
                conn.sendall(request)
                if conn.recv(16).startswith(b"HTTP/1.1 "):
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.app} server did not answer within {START_TIMEOUT}s")
            time.sleep(0.05)


# ---------------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def install_sigterm_handler() -> None:
    """Turn SIGTERM into SystemExit so `finally` blocks stop the servers."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    sys.exit(serve_main())
