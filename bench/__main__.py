"""Run every bench, each in its own process with a time limit: `python -m bench`.

http_throughput (short runs), its Nagle check, image_downloads, images_render,
vertex_roundtrip, latency_fanout, record_proxy, store_cost and the others of BENCHES. Exit
status 1 when any bench failed or ran out of time.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bench._servers import child_popen, install_sigterm_handler, stop_process

TOTAL_BUDGET = 640.0  # seconds for everything: `python -m bench` stays under ~11 minutes
STOP_GRACE = 10.0  # a bench asked to stop gets this long to stop its servers


@dataclass(frozen=True)
class Bench:
    module: str
    args: tuple[str, ...]
    budget: float  # seconds


BENCHES = (
    Bench("bench.http_throughput", ("--duration", "3"), 45.0),
    Bench("bench.http_throughput", ("--nagle-check",), 25.0),
    Bench("bench.image_downloads", (), 45.0),
    Bench("bench.images_render", (), 55.0),
    Bench("bench.vertex_roundtrip", (), 30.0),
    Bench("bench.stream_cpu", (), 40.0),
    Bench("bench.latency_fanout", (), 30.0),
    Bench("bench.record_proxy", (), 40.0),
    Bench("bench.load", ("--duration", "10"), 40.0),
    Bench("bench.memory_jobs", (), 90.0),
    Bench("bench.intercept_cost", (), 40.0),
    Bench("bench.store_cost", ("--requests", "1000", "--redis-requests", "100000"), 60.0),
    # Against WireMock, Prism and Mockoon (installed with npm on first use: ~40 s more), and
    # on the Redis store; bench.images_render above already times the renders.
    Bench(
        "bench.compare",
        ("--duration", "1", "--rounds", "1", "--warmup", "1", "--peer-warmup", "4", "--no-images"),
        180.0,
    ),
)


def available(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


def run(bench: Bench, budget: float) -> str:
    command = [sys.executable, "-m", bench.module, *bench.args]
    print(f"\n=== {' '.join(['python', '-m', bench.module, *bench.args])}", flush=True)
    proc = child_popen(command)
    try:
        code = proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        print(f"!!! {bench.module} did not finish within {budget:.0f} s: stopping it", flush=True)
        return "TIMEOUT"
    finally:
        stop_process(proc, STOP_GRACE)  # terminate (the bench stops its servers), then kill
    return "ok" if code == 0 else f"FAIL (exit {code})"


def main(argv: Sequence[str] | None = None) -> int:
    if argv:
        print("usage: python -m bench (no options; run a bench module for its own)")
        return 2
    install_sigterm_handler()
    deadline = time.monotonic() + TOTAL_BUDGET
    results: list[tuple[str, str, float]] = []
    for bench in BENCHES:
        name = " ".join([bench.module, *bench.args])
        if not available(bench.module):
            results.append((name, "skipped (module not found)", 0.0))
            continue
        budget = min(bench.budget, deadline - time.monotonic())
        if budget < 5:
            results.append((name, "skipped (out of time)", 0.0))
            continue
        start = time.monotonic()
        results.append((name, run(bench, budget), time.monotonic() - start))
    print("\n=== summary")
    width = max(len(name) for name, _, _ in results)
    for name, status, seconds in results:
        print(f"{name:{width}s}  {seconds:5.1f} s  {status}")
    failed = [status for _, status, _ in results if status != "ok" and "skipped" not in status]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
