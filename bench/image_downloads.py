"""Output download latency and event-loop responsiveness, on a real uvicorn emulator server.

    python -m bench.image_downloads

The emulator runs in a subprocess on 127.0.0.1 (same settings as the throughput bench); the
client is httpx over real sockets, on one warm keep-alive connection. Measured:

- first download (rendered on request) of a 4096x4096 PNG, median of 5 distinct jobs: < 250 ms
- first download of a 1024x1024 JPEG, median of 5 distinct jobs: < 20 ms
- repeated download of an already rendered JPEG (served from the cache), median of 5: < 5 ms
- GET prediction poll latency while 4 concurrent 4K PNG first downloads are in flight: median
  within 2x of the idle median. The 4 downloads come from a separate process, so the polling
  client does not share its interpreter (and GIL) with them.

Distinct prompts make distinct images, so nothing measured as a first download was cached. One
JPEG and one 4K PNG are rendered first to warm the server up (shown for information). Exit
status 1 when any line fails.
"""

from __future__ import annotations

import io
import multiprocessing
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Event

import httpx
from PIL import Image

from bench._servers import (
    ADVANCE,
    AUTH,
    NANO,
    PREDICTION,
    Z_IMAGE,
    ServerProcess,
    install_sigterm_handler,
    median,
    percentile,
    z_image_body,
)
from bench._servers import nano_4k_body as nano_body

JOBS = 5
CACHED_REPEATS = 5
IDLE_POLLS = 200
LOAD_DOWNLOADS = 4
LOAD_ROUNDS = 3
LOAD_TIMEOUT = 30.0
HTTP_TIMEOUT = 30.0

PNG_TARGET = 0.250
JPEG_TARGET = 0.020
CACHED_TARGET = 0.005
POLL_FACTOR = 2.0


@dataclass
class Line:
    measure: str
    value: float | None  # seconds; None for a line that has no single figure
    target: str
    passed: bool | None  # None: information only
    detail: str = ""


def submit(client: httpx.Client, path: str, body: dict[str, str]) -> str:
    response = client.post(path, json=body)
    response.raise_for_status()
    prediction_id: str = response.json()["id"]
    return prediction_id


def output_url(client: httpx.Client, prediction_id: str) -> str:
    response = client.get(PREDICTION.format(id=prediction_id))
    response.raise_for_status()
    prediction = response.json()
    if prediction["status"] != "completed" or not prediction["outputs"]:
        raise RuntimeError(f"prediction {prediction_id} is not completed: {prediction}")
    url: str = prediction["outputs"][0]
    return url


def make_outputs(client: httpx.Client, path: str, bodies: Sequence[dict[str, str]]) -> list[str]:
    """Submit one job per body, complete them all with the virtual clock, return output URLs."""
    ids = [submit(client, path, body) for body in bodies]
    client.post(ADVANCE, json={"seconds": 60}).raise_for_status()
    return [output_url(client, prediction_id) for prediction_id in ids]


def timed_download(client: httpx.Client, url: str, fmt: str, size: tuple[int, int]) -> float:
    """Seconds to GET the whole file; checks it is the image that was asked for."""
    start = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    image = Image.open(io.BytesIO(response.content))  # reads the header only
    if image.format != fmt.upper() or image.size != size:
        raise RuntimeError(f"{url}: got {image.format} {image.size}, wanted {fmt} {size}")
    return elapsed


def timed_poll(client: httpx.Client, path: str) -> float:
    start = time.perf_counter()
    response = client.get(path)
    elapsed = time.perf_counter() - start
    response.raise_for_status()
    return elapsed


# ------------------------------------------------------------------ the concurrent downloads


def _load_worker(urls: list[str], started: Event, finished: Event) -> None:
    """In a separate process: download every URL at once, one thread and connection each.

    Clients and connections are set up before `started`, so the window the parent polls in
    holds only the downloads."""
    errors: list[str] = []
    clients = [httpx.Client(timeout=HTTP_TIMEOUT) for _ in urls]
    for client, url in zip(clients, urls, strict=True):
        client.get(httpx.URL(url).copy_with(path="/_emulator/health")).raise_for_status()
    go = threading.Barrier(len(urls) + 1, timeout=LOAD_TIMEOUT)

    def fetch(client: httpx.Client, url: str) -> None:
        try:
            go.wait()
            client.get(url).raise_for_status()
        except Exception as exc:  # reported through the exit code
            errors.append(f"{url}: {exc}")

    threads = [
        threading.Thread(target=fetch, args=pair) for pair in zip(clients, urls, strict=True)
    ]
    for thread in threads:
        thread.start()
    started.set()
    go.wait()
    for thread in threads:
        thread.join()
    finished.set()
    for client in clients:
        client.close()
    if errors:
        print("\n".join(errors), file=sys.stderr)
        sys.exit(1)


def polls_under_load(
    client: httpx.Client, poll_path: str, urls: list[str]
) -> tuple[list[float], float]:
    """Poll latencies, sequentially, for as long as the downloads of urls are in flight, and
    how long they were in flight (seconds)."""
    context = multiprocessing.get_context("spawn")
    started, finished = context.Event(), context.Event()
    worker = context.Process(target=_load_worker, args=(urls, started, finished), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + LOAD_TIMEOUT
        while not started.wait(0.1):
            if not worker.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the download process did not start ({worker.exitcode})")
        latencies: list[float] = []
        window_start = time.perf_counter()
        deadline = time.monotonic() + LOAD_TIMEOUT
        while not finished.is_set() and worker.is_alive():
            if time.monotonic() > deadline:
                raise RuntimeError("the concurrent downloads did not finish in time")
            latencies.append(timed_poll(client, poll_path))
        window = time.perf_counter() - window_start
        worker.join(LOAD_TIMEOUT)
        if worker.exitcode != 0:
            raise RuntimeError(f"a concurrent download failed (exit code {worker.exitcode})")
        if not latencies:
            raise RuntimeError("the downloads ended before a single poll completed")
        return latencies, window
    finally:
        if worker.is_alive():
            worker.terminate()
            worker.join(5)
            if worker.is_alive():
                worker.kill()
                worker.join(5)


# ------------------------------------------------------------------------------ the bench


def fmt_ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.2f} ms"


def first_downloads(
    client: httpx.Client, urls: list[str], fmt: str, size: tuple[int, int]
) -> list[float]:
    return [timed_download(client, url, fmt, size) for url in urls]


def run(base_url: str, log: Callable[[str], None]) -> list[Line]:
    lines: list[Line] = []
    png, jpeg = ("png", (4096, 4096)), ("jpeg", (1024, 1024))
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=HTTP_TIMEOUT) as client:
        (warm_jpeg,) = make_outputs(client, Z_IMAGE, [z_image_body("warm-up")])
        (warm_png,) = make_outputs(client, NANO, [nano_body("warm-up")])
        cold_jpeg = timed_download(client, warm_jpeg, *jpeg)
        cold_png = timed_download(client, warm_png, *png)
        lines.append(Line("warm-up: first 1024 JPEG of the server", cold_jpeg, "-", None))
        lines.append(Line("warm-up: first 4K PNG of the server", cold_png, "-", None))

        png_urls = make_outputs(client, NANO, [nano_body(f"png job {i}") for i in range(JOBS)])
        jpeg_urls = make_outputs(
            client, Z_IMAGE, [z_image_body(f"jpeg job {i}") for i in range(JOBS)]
        )

        first_download_cases = [
            ("4096x4096 PNG", "4K PNG", png_urls, png, PNG_TARGET),
            ("1024x1024 JPEG", "1024 JPEG", jpeg_urls, jpeg, JPEG_TARGET),
        ]
        for label, short, urls, expected, target in first_download_cases:
            times = first_downloads(client, urls, *expected)
            log(f"{short} first downloads: " + ", ".join(fmt_ms(t) for t in times))
            value = median(times)
            lines.append(
                Line(
                    f"first download {label} ({JOBS} jobs)",
                    value,
                    f"< {fmt_ms(target)}",
                    value < target,
                )
            )
        times = [timed_download(client, jpeg_urls[0], *jpeg) for _ in range(CACHED_REPEATS)]
        value = median(times)
        lines.append(
            Line(
                f"repeat download, cached 1024 JPEG (x{CACHED_REPEATS})",
                value,
                f"< {fmt_ms(CACHED_TARGET)}",
                value < CACHED_TARGET,
            )
        )
        times = [timed_download(client, png_urls[0], *png) for _ in range(CACHED_REPEATS)]
        lines.append(
            Line(f"repeat download, cached 4K PNG (x{CACHED_REPEATS})", median(times), "-", None)
        )

        poll_path = PREDICTION.format(id=submit(client, Z_IMAGE, z_image_body("polled")))
        timed_poll(client, poll_path)
        idle = [timed_poll(client, poll_path) for _ in range(IDLE_POLLS)]
        idle_median = median(idle)
        lines.append(
            Line(
                f"poll latency, idle ({IDLE_POLLS} polls)",
                idle_median,
                "-",
                None,
                f"p99 {fmt_ms(percentile(idle, 99))}",
            )
        )
        load_urls = make_outputs(
            client,
            NANO,
            [nano_body(f"load job {i}") for i in range(LOAD_DOWNLOADS * LOAD_ROUNDS)],
        )
        loaded: list[float] = []
        windows: list[float] = []
        for round_no in range(LOAD_ROUNDS):
            batch = load_urls[round_no * LOAD_DOWNLOADS : (round_no + 1) * LOAD_DOWNLOADS]
            latencies, window = polls_under_load(client, poll_path, batch)
            log(
                f"load round {round_no + 1}: {len(latencies)} polls while the downloads ran"
                f" ({fmt_ms(window)}), median {fmt_ms(median(latencies))},"
                f" max {fmt_ms(max(latencies))}"
            )
            loaded.extend(latencies)
            windows.append(window)
        loaded_median = median(loaded)
        limit = POLL_FACTOR * idle_median
        lines.append(
            Line(
                f"poll latency, {LOAD_DOWNLOADS} 4K first downloads in flight",
                loaded_median,
                f"<= {POLL_FACTOR:g}x idle ({fmt_ms(limit)})",
                loaded_median <= limit,
                f"{len(loaded)} polls in {sum(windows):.2f} s,"
                f" {loaded_median / idle_median:.2f}x idle,"
                f" p99 {fmt_ms(percentile(loaded, 99))}",
            )
        )
    return lines


def print_table(lines: Sequence[Line]) -> None:
    width = max(len(line.measure) for line in lines)
    target_width = max(len(line.target) for line in lines)
    print(f"{'measure':{width}s}  {'median':>10s}  {'target':{target_width}s}  result")
    for line in lines:
        result = "info" if line.passed is None else ("PASS" if line.passed else "FAIL")
        detail = f"  ({line.detail})" if line.detail else ""
        print(
            f"{line.measure:{width}s}  {fmt_ms(line.value):>10s}  "
            f"{line.target:{target_width}s}  {result}{detail}"
        )


def main(argv: Sequence[str] | None = None) -> int:
    if argv:
        print("usage: python -m bench.image_downloads (no options)", file=sys.stderr)
        return 2
    install_sigterm_handler()
    print("image_downloads: real uvicorn emulator server on 127.0.0.1, httpx client")
    with ServerProcess("emulator") as server:
        lines = run(server.base_url, lambda text: print(f"  {text}", flush=True))
    print_table(lines)
    return 1 if any(line.passed is False for line in lines) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
