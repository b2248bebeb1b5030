"""What a test pays for intercept() against the imagegen_emulator fixture: `python -m
bench.intercept_cost`.

    python -m bench.intercept_cost [--tests 40] [--warmup 3]

One "typical small test", timed whole, both ways, in this process (no server, no socket):
set-up, a vibedream submit (z-image-turbo, 512*512), a clock advance, a poll, the output's
download, teardown.

- fixture: what the imagegen_emulator fixture does (an ImagegenEmulator on a fresh in-process
  app, pytest_plugin.py), the test sending with the helper's ``client``
  (http://testserver, its ASGI transport);
- intercept: ``with intercept() as emu:``, the test sending with a plain ``httpx.Client()``
  to https://api.vibedream.ai and downloading from https://assets.vibedream.ai, as app code
  does; ``--client requests`` sends with a ``requests.Session`` instead. The app's client is
  made once and kept (a module-level client, as apps keep one): a new ``httpx.Client()`` loads
  certifi's CA bundle into an SSL context, which costs the app as much in production and is
  not intercept's; that cost is printed apart, for a test whose app makes its client anew.

The two run alternately (`--tests` each, after `--warmup` of each); the figure is the ratio of
the medians of the per-test times. Target: intercept <= 2x fixture. Exit status 0 when met,
1 when missed.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence

import httpx
import requests

from emulator.app import create_app
from emulator.testing import ImagegenEmulator, InProcess, intercept
from emulator.testing.settings import resolve

TARGET = 2.0
AUTH = {"Authorization": "Bearer bench-key"}
SUBMIT = "/api/v1/models/z-image-turbo/generate"
BODY = {"prompt": "a lighthouse", "size": "512*512"}
REAL_API = "https://api.vibedream.ai"


def fixture_test() -> None:
    settings = resolve(None, None, [])  # the fixture's defaults: instant, seed 0, virtual clock
    with ImagegenEmulator(InProcess(create_app(settings.build())), settings) as emu:
        submitted = emu.client.post(SUBMIT, json=BODY, headers=AUTH).json()
        emu.advance(10)
        prediction = emu.client.get(submitted["statusUrl"], headers=AUTH).json()
        image = emu.client.get(prediction["outputs"][0])
        assert image.status_code == 200 and image.content, image


class AppClients:
    """The app under test's own clients, made once (their first use is in the warm-up)."""

    httpx: httpx.Client | None = None
    requests: requests.Session | None = None


def submit_poll_download(client: httpx.Client | requests.Session) -> None:
    """The app's whole path under intercept: the same calls on either client library."""
    with intercept() as emu:
        submitted = client.post(REAL_API + SUBMIT, json=BODY).json()
        emu.advance(10)
        prediction = client.get(submitted["statusUrl"]).json()
        image = client.get(prediction["outputs"][0])
        assert image.status_code == 200 and image.content, image


def intercept_test_httpx() -> None:
    if AppClients.httpx is None:
        AppClients.httpx = httpx.Client(headers=AUTH)
    submit_poll_download(AppClients.httpx)


def intercept_test_requests() -> None:
    if AppClients.requests is None:
        AppClients.requests = requests.Session()
        AppClients.requests.headers.update(AUTH)
    submit_poll_download(AppClients.requests)


INTERCEPT_TESTS = {"httpx": intercept_test_httpx, "requests": intercept_test_requests}


def client_construction_ms(times: int = 5) -> float:
    """Median ms of ``httpx.Client()``: its SSL context, what a test pays whose app makes a
    client per test, with or without intercept."""
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        httpx.Client().close()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def timed(test: Callable[[], None]) -> float:
    start = time.perf_counter()
    test()
    return time.perf_counter() - start


def measure(tests: int, warmup: int, client: str) -> tuple[list[float], list[float]]:
    """Per-test seconds of the fixture way and the intercept way, run alternately."""
    intercepted = INTERCEPT_TESTS[client]
    for _ in range(warmup):
        fixture_test()
        intercepted()
    fixture_times, intercept_times = [], []
    for index in range(tests):
        # Alternate which goes first, so neither always runs on a warmer cache.
        pair = (fixture_test, intercepted) if index % 2 == 0 else (intercepted, fixture_test)
        for test in pair:
            (fixture_times if test is fixture_test else intercept_times).append(timed(test))
    return fixture_times, intercept_times


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.intercept_cost")
    parser.add_argument("--tests", type=int, default=40, help="tests of each kind (default 40)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--client", choices=sorted(INTERCEPT_TESTS), default="httpx")
    args = parser.parse_args(argv)
    fixture_times, intercept_times = measure(args.tests, args.warmup, args.client)
    fixture_ms = statistics.median(fixture_times) * 1000
    intercept_ms = statistics.median(intercept_times) * 1000
    ratio = intercept_ms / fixture_ms
    verdict = "ok" if ratio <= TARGET else "FAIL"
    print(f"per-test cost, median of {args.tests} (set-up, submit, poll, download, teardown):")
    print(f"  imagegen_emulator fixture   {fixture_ms:8.2f} ms")
    print(f"  intercept() ({args.client:8s})    {intercept_ms:8.2f} ms")
    print(f"  ratio {ratio:.2f} (target <= {TARGET:.1f})  {verdict}")
    if args.client == "httpx":
        print(
            f"  (apart: httpx.Client() itself, its SSL context, {client_construction_ms():.1f} ms;"
            " an app making its client per test pays it on top, in production too)"
        )
    return 0 if verdict == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
