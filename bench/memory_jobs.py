"""Memory per 10,000 stored jobs: `python -m bench.memory_jobs [--jobs 10000]`.

The emulator in-process (httpx's ASGITransport: every layer a request goes through, no socket),
on a virtual clock so no job ends and nothing is dropped. Jobs are submitted in a fixed mix of
six kinds, one after another (the vertex provider answers at once and stores no job):

| kind | what it keeps |
| --- | --- |
| vibedream z-image-turbo, text | a job, its documented parameters, one output |
| vibedream z-image-turbo, an inline 8x8 PNG to edit | the same, and the decoded source image |
| vibedream nano-banana-pro-edit, 2 image URLs, 2k | a job, one output |
| 3D AI Studio generate, num_images 4 | a job, 4 images and their 4 thumbnails |
| 3D AI Studio generate, 1 image | a job, an image and its thumbnail |
| 3D AI Studio edit, an inline 8x8 PNG | a job, an image, its thumbnail, the source image |

Every prompt is different and about 70 characters long. 1,000 jobs are made first (the journal
fills up, caches and validators warm), then `--jobs` more are measured two ways, each in a fresh
app: the growth of the process's RSS (VmRSS), and the Python memory tracemalloc sees allocated
and still held (tracemalloc slows the run about threefold, so it has a run of its own). Both are
scaled to 10,000 jobs. Target: under 30 MB per 10,000 jobs (exit 1 when either is over); the
biggest holders follow, by source line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import io
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from emulator import Config, create_app

ROOT = str(Path(__file__).resolve().parents[1]) + "/"
TARGET_BYTES = 30_000_000  # per 10,000 jobs
PER = 10_000
WARM_UP = 1_000
SHOWN_SITES = 12
AUTH = {"Authorization": "Bearer memory-bench"}


def tiny_png() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 60, 40)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


SOURCE = tiny_png()


def prompt(n: int, subject: str) -> str:
    return f"job {n:06d}: {subject}, soft morning light, wide angle, high detail"


# (label, path, body for job n)
KINDS: tuple[tuple[str, str, Callable[[int], dict[str, Any]]], ...] = (
    (
        "vibedream z-image-turbo",
        "/api/v1/models/z-image-turbo/generate",
        lambda n: {"prompt": prompt(n, "a harbour at dawn"), "size": "1024*1024"},
    ),
    (
        "vibedream z-image-turbo edit (inline PNG)",
        "/api/v1/models/z-image-turbo/generate",
        lambda n: {"prompt": prompt(n, "the harbour in winter"), "image": SOURCE},
    ),
    (
        "vibedream nano-banana-pro-edit (2 URLs)",
        "/api/v1/models/nano-banana-pro-edit/generate",
        lambda n: {
            "prompt": prompt(n, "both photos as one"),
            "images": ["https://example.com/a.jpg", "https://example.com/b.jpg"],
            "resolution": "2k",
        },
    ),
    (
        "3daistudio generate, num_images 4",
        "/v1/images/gemini/3/pro/generate/",
        lambda n: {"prompt": prompt(n, "a glass teapot"), "num_images": 4},
    ),
    (
        "3daistudio generate, 1 image",
        "/v1/images/gemini/3/pro/generate/",
        lambda n: {"prompt": prompt(n, "a copper kettle")},
    ),
    (
        "3daistudio edit (inline PNG)",
        "/v1/images/gemini/3/pro/edit/",
        lambda n: {"prompt": prompt(n, "the kettle, polished"), "images": [SOURCE]},
    ),
)


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def submit(client: httpx.AsyncClient, first: int, count: int) -> None:
    for n in range(first, first + count):
        _, path, body = KINDS[n % len(KINDS)]
        response = await client.post(path, json=body(n), headers=AUTH)
        if response.status_code != 200:
            raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")


async def measure(jobs: int, trace: bool) -> tuple[int, list[tracemalloc.StatisticDiff]]:
    """Bytes the store's growth took for `jobs` jobs (RSS, or tracemalloc's count when
    `trace`), and with tracemalloc the allocation sites, biggest first."""
    # No job ends on a virtual clock that nobody moves, so none is dropped; no limit binds.
    app = create_app(
        Config(
            clock="virtual",
            seed=1,
            max_jobs=10 * (jobs + WARM_UP),
            defaults={"wallet_balance": 10**12},  # no 402 however many jobs
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        await submit(client, 0, WARM_UP)
        gc.collect()
        if trace:
            tracemalloc.start()
            before = tracemalloc.take_snapshot()
        start = rss()
        await submit(client, WARM_UP, jobs)
        gc.collect()
        stored = app.state.runtime.store.counts()["jobs"]
        if stored != WARM_UP + jobs:
            raise RuntimeError(f"the store holds {stored} jobs, not {WARM_UP + jobs}")
        if not trace:
            return rss() - start, []
        sites = tracemalloc.take_snapshot().compare_to(before, "lineno")
        tracemalloc.stop()
        return sum(site.size_diff for site in sites), sites


def shown(filename: str) -> str:
    """A source file's name relative to the repository or to site-packages."""
    if "/site-packages/" in filename:
        return filename.split("/site-packages/", 1)[1]
    return filename.removeprefix(ROOT)


def per_10k(total: int, jobs: int) -> float:
    return total * PER / jobs / 1e6


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory_jobs")
    parser.add_argument("--jobs", type=int, default=PER, help="jobs measured (10000)")
    args = parser.parse_args(argv)
    if args.jobs < len(KINDS):
        parser.error(f"--jobs must be at least {len(KINDS)}")
    grown, _ = asyncio.run(measure(args.jobs, trace=False))
    gc.collect()
    traced, sites = asyncio.run(measure(args.jobs, trace=True))
    per_job = traced / args.jobs
    print(f"memory per 10,000 stored jobs ({args.jobs:,} measured, mix of {len(KINDS)} kinds):")
    ok = True
    for label, total in (("RSS growth", grown), ("tracemalloc", traced)):
        over = total * PER / args.jobs > TARGET_BYTES
        ok = ok and not over
        print(
            f"  {label:12s} {per_10k(total, args.jobs):6.1f} MB"
            f"  (target < {TARGET_BYTES / 1e6:.0f} MB){'  OVER' if over else ''}"
        )
    print(f"  = {per_job:,.0f} bytes a job (tracemalloc); biggest holders per 10,000 jobs:")
    for site in sites[:SHOWN_SITES]:
        frame = site.traceback[0]
        where = f"{shown(frame.filename)}:{frame.lineno}"
        print(f"    {per_10k(site.size_diff, args.jobs):5.2f} MB  {where}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
