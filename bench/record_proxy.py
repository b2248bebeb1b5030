"""What the recording proxy adds: `python -m bench.record_proxy [--requests 400] [--streams 20]`.

Two subprocesses on 127.0.0.1: the bare app (bench/bare_app.py) as the upstream, and
`imagegen-emulator record` in front of it (the real command, recording to a temporary folder:
every exchange is sanitised and the HAR file rewritten in its writer thread, as in use).

- Small JSON: a vibedream submit (`POST /api/v1/models/z-image-turbo/generate`, a 60-byte
  body, a 16-byte answer) sent alternately direct and through the proxy, each over its own warm
  keep-alive connection (httpx). Target: median(proxied) - median(direct) <= 2 ms.
- Streaming: `POST /v1beta/models/x:streamGenerateContent?alt=sse` through the proxy; the
  upstream stamps `time.monotonic()` (system-wide on Linux) into each of its 5 chunks, 20 ms
  apart; the client reads each chunk as it arrives and takes arrival - stamp. Target: the first
  chunk's median delay <= 5 ms. The same stream direct is shown for reference.

Exit status 0 when both targets are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from bench._servers import (
    HOST,
    ROOT,
    START_TIMEOUT,
    Z_IMAGE,
    ServerProcess,
    child_popen,
    install_sigterm_handler,
    median,
    percentile,
)

ADDED_TARGET_MS = 2.0
FIRST_CHUNK_TARGET_MS = 5.0
STREAM = "/v1beta/models/x:streamGenerateContent?alt=sse"
BODY = json.dumps({"prompt": "a cat", "size": "1024*1024", "output_format": "jpeg"}).encode()
HEADERS = {"Authorization": "Bearer bench-key", "Content-Type": "application/json"}
WARMUP = 50


class RecordProxyProcess(ServerProcess):
    """`imagegen-emulator record` on an ephemeral port in front of `upstream_url`."""

    def __init__(self, upstream_url: str, out: Path) -> None:
        super().__init__("bare")
        self.upstream_url = upstream_url
        self.out = out

    def command(self) -> list[str]:
        args = [sys.executable, "-m", "emulator", "record", "--port", "0", "--out", str(self.out)]
        args += ["--upstream", f"vibedream={self.upstream_url}"]
        args += ["--upstream", f"gemini={self.upstream_url}", "--log-level", "warning"]
        return args

    def start(self) -> None:
        import subprocess

        self._proc = child_popen(self.command(), stdout=subprocess.PIPE, cwd=ROOT)
        deadline = time.monotonic() + START_TIMEOUT
        # "imagegen-emulator record listening on http://127.0.0.1:PORT"
        line = self._read_line("imagegen-emulator", deadline)
        self.port = int(line.rsplit(":", 1)[1])
        self._wait_ready(time.monotonic() + START_TIMEOUT)


def small_json(direct: str, proxied: str, requests: int) -> tuple[list[float], list[float]]:
    timings: dict[str, list[float]] = {direct: [], proxied: []}
    with httpx.Client(base_url=direct) as straight, httpx.Client(base_url=proxied) as through:
        clients = ((straight, timings[direct]), (through, timings[proxied]))
        for run in range(WARMUP + requests):
            for client, kept in clients if run % 2 else reversed(clients):
                started = time.perf_counter()
                response = client.post(Z_IMAGE, content=BODY, headers=HEADERS)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    raise RuntimeError(f"{client.base_url}: status {response.status_code}")
                if run >= WARMUP:
                    kept.append(elapsed)
    return timings[direct], timings[proxied]


def stream_delays(base_url: str, streams: int) -> tuple[list[float], list[float]]:
    """(first chunk delays, every chunk's delays) in seconds, over `streams` streams."""
    first: list[float] = []
    every: list[float] = []
    with httpx.Client(base_url=base_url) as client:
        for run in range(streams + 2):
            with client.stream("POST", STREAM, content=b"{}", headers=HEADERS) as response:
                delays = []
                for line in response.iter_lines():
                    arrived = time.monotonic()
                    if line.startswith("data: "):
                        delays.append(arrived - json.loads(line[6:])["sent"])
            if run >= 2:  # warm-up
                first.append(delays[0])
                every += delays
    return first, every


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.record_proxy", description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="timed requests each (400)")
    parser.add_argument("--streams", type=int, default=20, help="timed streams (20)")
    args = parser.parse_args(argv)
    install_sigterm_handler()
    with (
        tempfile.TemporaryDirectory(prefix="bench-record-") as out,
        ServerProcess("bare") as upstream,
        RecordProxyProcess(upstream.base_url, Path(out)) as proxy,
    ):
        direct, proxied = small_json(upstream.base_url, proxy.base_url, max(1, args.requests))
        first, every = stream_delays(proxy.base_url, max(1, args.streams))
        first_direct, _ = stream_delays(upstream.base_url, max(1, args.streams))
        recorded = sum(
            len(json.loads(path.read_text())["log"]["entries"]) for path in Path(out).glob("*.har")
        )
    added = (median(proxied) - median(direct)) * 1000
    first_ms = median(first) * 1000
    added_ok = added <= ADDED_TARGET_MS
    first_ok = first_ms <= FIRST_CHUNK_TARGET_MS
    print(f"recording proxy on {HOST}, upstream the bare app; {recorded} entries recorded")
    print(
        f"small JSON, {len(direct)} requests each: direct median {median(direct) * 1000:.2f} ms"
        f" (p90 {percentile(direct, 90) * 1000:.2f}), proxied median"
        f" {median(proxied) * 1000:.2f} ms (p90 {percentile(proxied, 90) * 1000:.2f});"
        f" added {added:.2f} ms (target <= {ADDED_TARGET_MS:.0f} ms)"
        f" {'PASS' if added_ok else 'FAIL'}"
    )
    print(
        f"stream, {len(first)} streams of 5 chunks 20 ms apart: first chunk through the proxy"
        f" median {first_ms:.2f} ms after it was sent (max {max(first) * 1000:.2f}; every chunk"
        f" median {median(every) * 1000:.2f}, p90 {percentile(every, 90) * 1000:.2f}); direct"
        f" first chunk median {median(first_direct) * 1000:.2f} ms"
        f" (target <= {FIRST_CHUNK_TARGET_MS:.0f} ms) {'PASS' if first_ok else 'FAIL'}"
    )
    return 0 if added_ok and first_ok else 1


if __name__ == "__main__":
    sys.exit(main())
