"""Time render() for the sizes and formats that matter: `python -m bench.images_render`.

Prints the median of several runs per case in milliseconds. Targets on the 2-core reference
machine: 4096x4096 PNG well under 250 ms, 1024x1024 JPEG under 20 ms.
"""

from __future__ import annotations

import argparse
import statistics
import time

from emulator.core.images import ImageSpec, render

PROMPT = "a red fox sitting in the snow at sunset, cinematic lighting, highly detailed, 35mm"

# (label, width, height, format, target in ms or None)
CASES: list[tuple[str, int, int, str, float | None]] = [
    ("4096x4096 png", 4096, 4096, "png", 250.0),
    ("1024x1024 jpeg", 1024, 1024, "jpeg", 20.0),
    ("1024x1024 png", 1024, 1024, "png", None),
    ("4096x4096 jpeg", 4096, 4096, "jpeg", None),
    ("1024x1024 webp", 1024, 1024, "webp", None),
]


def spec_for(width: int, height: int, fmt: str, seed: int) -> ImageSpec:
    return ImageSpec(
        width=width,
        height=height,
        format=fmt,
        seed=seed,
        caption=(PROMPT, "bench-model", f"{width}x{height} {fmt}", f"seed {seed}"),
        metadata=(("prompt", PROMPT), ("model", "bench-model"), ("seed", str(seed))),
    )


def time_case(width: int, height: int, fmt: str, runs: int) -> list[float]:
    render(spec_for(width, height, fmt, 0))  # warm-up: font loading, codec initialisation
    timings = []
    for seed in range(1, runs + 1):
        # A fresh seed each run, so nothing can be served from any cache.
        spec = spec_for(width, height, fmt, seed)
        started = time.perf_counter()
        render(spec)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5, help="timed runs per case (default 5)")
    args = parser.parse_args()

    print(f"{'case':<16} {'median ms':>10} {'min ms':>8} {'max ms':>8}  target")
    for label, width, height, fmt, target in CASES:
        timings = time_case(width, height, fmt, args.runs)
        median = statistics.median(timings)
        verdict = "" if target is None else f"< {target:.0f} {'ok' if median < target else 'SLOW'}"
        print(f"{label:<16} {median:>10.1f} {min(timings):>8.1f} {max(timings):>8.1f}  {verdict}")


if __name__ == "__main__":
    main()
