"""Time render() and size its output per resolution and format: `python -m bench.images_render`.

Every square size the providers answer with (1K, 2K, 4K) in every output format (PNG, JPEG,
WebP): the median, fastest and slowest of several runs in milliseconds, and the file's size.
Targets on the 2-core reference machine: 4096x4096 PNG under 250 ms, 1024x1024 JPEG under 20 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import dataclass

from emulator.core.images import ImageSpec, render

PROMPT = "a red fox sitting in the snow at sunset, cinematic lighting, highly detailed, 35mm"

SIDES = (1024, 2048, 4096)
FORMATS = ("png", "jpeg", "webp")
TARGETS_MS = {(4096, "png"): 250.0, (1024, "jpeg"): 20.0}


@dataclass(frozen=True)
class RenderFigure:
    side: int
    format: str
    timings_ms: list[float]
    size_bytes: int  # of the last run's file; every seed gives much the same size

    @property
    def label(self) -> str:
        return f"{self.side}x{self.side} {self.format}"

    @property
    def median_ms(self) -> float:
        return statistics.median(self.timings_ms)

    @property
    def target_ms(self) -> float | None:
        return TARGETS_MS.get((self.side, self.format))

    @property
    def verdict(self) -> str:
        target = self.target_ms
        if target is None:
            return ""
        return f"< {target:.0f} {'ok' if self.median_ms < target else 'SLOW'}"


def spec_for(width: int, height: int, fmt: str, seed: int) -> ImageSpec:
    return ImageSpec(
        width=width,
        height=height,
        format=fmt,
        seed=seed,
        caption=(PROMPT, "bench-model", f"{width}x{height} {fmt}", f"seed {seed}"),
        metadata=(("prompt", PROMPT), ("model", "bench-model"), ("seed", str(seed))),
    )


def time_case(width: int, height: int, fmt: str, runs: int) -> tuple[list[float], int]:
    """Timings in ms of `runs` renders, and the size in bytes of the last file."""
    render(spec_for(width, height, fmt, 0))  # warm-up: font loading, codec initialisation
    timings = []
    size = 0
    for seed in range(1, runs + 1):
        # A fresh seed each run, so nothing can be served from any cache.
        spec = spec_for(width, height, fmt, seed)
        started = time.perf_counter()
        data = render(spec)
        timings.append((time.perf_counter() - started) * 1000)
        size = len(data)
    return timings, size


def measure(runs: int) -> list[RenderFigure]:
    figures = []
    for side in SIDES:
        for fmt in FORMATS:
            timings, size = time_case(side, side, fmt, runs)
            figures.append(RenderFigure(side, fmt, timings, size))
    return figures


def table(figures: list[RenderFigure]) -> list[str]:
    lines = [f"{'case':<16} {'median ms':>10} {'min ms':>8} {'max ms':>8} {'size KiB':>9}  target"]
    for figure in figures:
        line = (
            f"{figure.label:<16} {figure.median_ms:>10.1f} {min(figure.timings_ms):>8.1f}"
            f" {max(figure.timings_ms):>8.1f} {figure.size_bytes / 1024:>9.0f}  {figure.verdict}"
        )
        lines.append(line.rstrip())
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (default 5)")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    print("\n".join(table(measure(args.runs))))


if __name__ == "__main__":
    main()
