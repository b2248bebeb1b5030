"""Run an app under uvicorn in a subprocess on 127.0.0.1, and shared helpers of the benches.

Child side: ``python -m bench._servers {bare,emulator} [--no-nodelay] [--loop L] [--workers N]
[--preload] [--store URL]`` binds an ephemeral port on 127.0.0.1 before starting
(``emulator.commands.serve.listen``, which sets TCP_NODELAY), prints ``PORT <n>`` on stdout and
serves with the same uvicorn settings whatever the app: uvloop (unless --loop asyncio, for the
Nagle check) and httptools, access log off, one worker unless --workers says more (then
uvicorn's own supervisor runs them on the one socket, as ``uvicorn --workers N`` does).
--preload (emulator only): every worker submits one vibedream prediction and one 3D AI Studio
task to itself at startup; the app is seeded, so they get the same ids in every worker, printed
as ``PRELOADED {json}`` after the port: a job that any worker can answer for, which no job
submitted over HTTP is (the store is per process). --store URL (emulator only): every worker on
that store (``redis://...?prefix=NAME``; default memory); with workers, each is numbered as
``imagegen-emulator serve --workers N`` numbers them (emulator.commands.serve.Workers), so the
seeded workers draw different ids and do not overwrite each other's jobs in the shared store.

Parent side: :class:`ServerProcess` starts such a child, waits until it answers HTTP, and always
stops it (terminate, then kill) when the ``with`` block ends, error or not. On Linux the child
also gets SIGTERM if the bench process dies without cleaning up (PR_SET_PDEATHSIG); so does each
worker when its supervisor dies.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from starlette.applications import Starlette

HOST = "127.0.0.1"
# The children run `python -m bench...` from the repository, wherever the parent was started.
ROOT = Path(__file__).resolve().parents[1]
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
AISTUDIO_GENERATE = "/v1/images/gemini/3/pro/generate/"
AISTUDIO_STATUS = "/v1/generation-request/{id}/status/"
VERTEX_GENERATE = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"

# Read by the app factory in each worker of a multi-worker server (spawned: no argv of ours).
APP_ENV = "BENCH_SERVER_APP"
PRELOAD_ENV = "BENCH_SERVER_PRELOAD"
STORE_ENV = "BENCH_SERVER_STORE"
MEMORY = "memory"


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used, from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def z_image_body(prompt: str = "a cat") -> dict[str, str]:
    """A 1024x1024 JPEG from z-image-turbo."""
    return {"prompt": prompt, "size": "1024*1024", "output_format": "jpeg"}


def aistudio_body(prompt: str = "a cat") -> dict[str, str]:
    """One 1K image from 3D AI Studio's Gemini 3 Pro (the defaults)."""
    return {"prompt": prompt}


def vertex_body(prompt: str = "a cat") -> dict[str, Any]:
    """A 1K image from Gemini 3 Pro Image, text only in."""
    return {
        "contents": [{"role": "user", "parts": [{"text": prompt}]}],
        "generationConfig": {
            "responseModalities": ["IMAGE"],
            "imageConfig": {"aspectRatio": "1:1", "imageSize": "1K"},
        },
    }


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


def _build_app(name: str, store: str = MEMORY) -> Starlette:
    if name == "bare":
        from bench.bare_app import create_bare_app

        return create_bare_app()
    from emulator import Config, create_app

    # Seeded: every worker of a multi-worker server hands out the same ids in the same order.
    # The wallets are topped up so that no run of submits ends in 402s, and the store keeps
    # every job of a bench (~100,000 submits): past `max_jobs` the job polled from the start
    # would be dropped, and its polls would answer 404.
    return create_app(
        Config(
            clock="virtual",
            seed=1,
            max_jobs=1_000_000,
            defaults={"wallet_balance": 10**12},
            store=store,
        )
    )


def preload(app: Starlette) -> dict[str, str]:
    """Submit a vibedream prediction and a 3D AI Studio task to `app` in-process; their ids by
    provider. Deterministic for a seeded app. Runs its own event loop in a thread, so it works
    from inside uvicorn's running loop too (where a worker calls the app factory)."""
    import httpx

    async def submit() -> dict[str, str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=AUTH
        ) as client:
            prediction = await client.post(Z_IMAGE, json=z_image_body())
            task = await client.post(AISTUDIO_GENERATE, json=aistudio_body())
        prediction.raise_for_status()
        task.raise_for_status()
        return {"vibedream": prediction.json()["id"], "3daistudio": task.json()["task_id"]}

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, submit()).result()


def worker_app() -> Starlette:
    """The app factory each worker of a multi-worker server calls (uvicorn --factory)."""
    _die_with_parent()  # the supervisor's death ends its workers too
    app = _build_app(os.environ[APP_ENV], os.environ.get(STORE_ENV, MEMORY))
    if os.environ.get(PRELOAD_ENV) == "1":
        preload(app)
    return app


def serve_main(argv: Sequence[str] | None = None) -> int:
    from emulator.commands.serve import listen

    parser = argparse.ArgumentParser(prog="python -m bench._servers")
    parser.add_argument("app", choices=APPS)
    parser.add_argument(
        "--no-nodelay", action="store_true", help="pre-bind without TCP_NODELAY (control case)"
    )
    parser.add_argument("--loop", choices=LOOPS, default="uvloop", help="event loop (uvloop)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (1)")
    parser.add_argument(
        "--preload", action="store_true", help="emulator: one job per provider in every worker"
    )
    parser.add_argument(
        "--store", default=MEMORY, help="emulator: memory (default) or a redis:// URL"
    )
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    if args.preload and args.app != "emulator":
        parser.error("--preload is for the emulator")
    if args.store != MEMORY and args.app != "emulator":
        parser.error("--store is for the emulator")
    if args.store != MEMORY and args.preload:
        parser.error("--preload is for the memory store (a shared store holds every job)")
    sock = _plain_listen(HOST, 0) if args.no_nodelay else listen(HOST, 0)
    announce = []
    if args.preload:
        # What every worker will hold: the same ids, as the app is seeded.
        announce.append(f"PRELOADED {json.dumps(preload(_build_app(args.app)))}")
    if args.workers == 1:
        app = _build_app(args.app, args.store)
        if args.preload:
            preload(app)
        return run_uvicorn(app, sock, args.loop, announce=announce)
    os.environ[APP_ENV] = args.app
    os.environ[PRELOAD_ENV] = "1" if args.preload else "0"
    os.environ[STORE_ENV] = args.store
    return run_uvicorn(
        f"{__name__}:worker_app",
        sock,
        args.loop,
        workers=args.workers,
        announce=announce,
        numbered=args.store != MEMORY,
    )


def run_uvicorn(
    app: Starlette | str,
    sock: socket.socket,
    loop: str = "uvloop",
    *,
    workers: int = 1,
    announce: Sequence[str] = (),
    numbered: bool = False,
) -> int:
    """Print ``PORT <n>`` (then the `announce` lines) and serve with the benches' uvicorn
    settings until stopped: `loop`, httptools, access log off; `workers` > 1 needs `app` as the
    import string of an app factory. `numbered`: the workers get their numbers as under
    `imagegen-emulator serve --workers N` (a shared store needs them: see the docstring)."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from emulator.commands.serve import Workers, tune_gc

    print(f"PORT {sock.getsockname()[1]}", flush=True)
    for line in announce:
        print(line, flush=True)
    os.dup2(2, 1)  # nothing else goes to the pipe the parent stops reading
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        loop=loop,
        http="httptools",
        workers=workers,
        factory=workers > 1,
        timeout_graceful_shutdown=2,
    )
    tune_gc()  # as `imagegen-emulator serve` does, whichever app this is
    try:
        if workers == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            supervisor = Workers if numbered else Multiprocess
            supervisor(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass  # Ctrl-C reaches the whole process group: the bench stops us, no traceback
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


def free_port() -> int:
    """A port free on 127.0.0.1 right now, for a server that must be told its port (the peers).
    Another process could take it before that server binds it: the server then fails to start,
    which its caller reports."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_http(proc: subprocess.Popen[bytes], port: int, name: str, timeout: float) -> None:
    """Until the server on `port` answers any HTTP response on /; RuntimeError if `proc` exits
    first or nothing answers within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    request = f"GET / HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with status {proc.returncode}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection((HOST, port), timeout=2) as conn,
        ):
            conn.sendall(request)
            if conn.recv(16).startswith(b"HTTP/1."):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not answer HTTP on port {port} within {timeout:.0f} s")
        time.sleep(0.05)


class Managed:
    """``with thing:`` runs start(), and stop() at the end or when start() fails half-way:
    what every process the benches start needs."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
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


class ServerProcess(Managed):
    """``with ServerProcess("emulator") as server: server.base_url`` -> http://127.0.0.1:port.

    `workers` > 1 runs them under uvicorn's supervisor on one socket; `preload` (emulator only)
    has every worker create the same jobs at startup, their ids in :attr:`preloaded`; `store`
    (emulator only): memory or a redis:// URL, shared by every worker."""

    def __init__(
        self,
        app: str,
        *,
        nodelay: bool = True,
        loop: str = "uvloop",
        workers: int = 1,
        preload: bool = False,
        store: str = MEMORY,
    ) -> None:
        if app not in APPS:
            raise ValueError(f"app must be one of {APPS}, got {app!r}")
        if loop not in LOOPS:
            raise ValueError(f"loop must be one of {LOOPS}, got {loop!r}")
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.app = app
        self.nodelay = nodelay
        self.loop = loop
        self.workers = workers
        self.preload = preload
        self.store = store
        self.port = 0
        self.preloaded: dict[str, str] = {}
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        return self._proc.pid if self._proc else 0

    def command(self) -> list[str]:
        """The child's command line (a subclass may run another server the same way)."""
        args = [sys.executable, "-m", "bench._servers", self.app, "--loop", self.loop]
        args += ["--workers", str(self.workers)]
        if not self.nodelay:
            args.append("--no-nodelay")
        if self.preload:
            args.append("--preload")
        if self.store != MEMORY:
            args += ["--store", self.store]
        return args

    def start(self) -> None:
        self._proc = child_popen(self.command(), stdout=subprocess.PIPE, cwd=ROOT)
        deadline = time.monotonic() + START_TIMEOUT
        self.port = self._read_port(deadline)
        if self.preload:
            self.preloaded = json.loads(self._read_line("PRELOADED", deadline))
        self._wait_ready(time.monotonic() + START_TIMEOUT)

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
            if self._proc.stdout is not None:
                self._proc.stdout.close()

    def _read_port(self, deadline: float) -> int:
        return int(self._read_line("PORT", deadline))

    def _wait_ready(self, deadline: float) -> None:
        """Until the server answers any HTTP response on /."""
        assert self._proc is not None
        remaining = max(deadline - time.monotonic(), 0.0)
        wait_http(self._proc, self.port, f"{self.app} server", remaining)

    def _read_line(self, keyword: str, deadline: float) -> str:
        """The rest of the child's next stdout line, which must start with `keyword`."""
        assert self._proc is not None and self._proc.stdout is not None
        out = self._proc.stdout
        line = b""
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._proc.poll() is not None:
                raise RuntimeError(f"{self.app} server did not report its {keyword}")
            ready, _, _ = select.select([out], [], [], min(remaining, 0.5))
            if ready:
                chunk = os.read(out.fileno(), 1)
                if not chunk:
                    raise RuntimeError(f"{self.app} server exited before reporting its {keyword}")
                line += chunk
        text = line.decode().strip()
        if not text.startswith(f"{keyword} "):
            raise RuntimeError(f"{self.app} server printed {text!r} instead of its {keyword}")
        return text.removeprefix(f"{keyword} ")


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
