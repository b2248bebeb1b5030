"""A 1K generateContent round trip in-process: `python -m bench.vertex_roundtrip [--runs 15]`.

Each request carries one 1024x1024 PNG (a photo-like gradient with noise, so it does not
compress to nothing) and asks for a 1K image back on the gateway path; the prompt changes every
run, so nothing is served from the image cache. The app is called through httpx's ASGI
transport: request parsing, base64 and PNG decoding of the input, rendering and encoding the
output, and the JSON answer are all timed; the network is not. Target: median under 60 ms.

Exit status 0 when the target is met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import statistics
import sys
import time
from collections.abc import Sequence

import httpx
from PIL import Image

from emulator import Config, create_app

TARGET_MS = 60.0
PATH = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"
HEADERS = {"Authorization": "Bearer bench", "Content-Type": "application/json"}


def input_png() -> str:
    gradient = Image.linear_gradient("L").resize((1024, 1024))
    noise = Image.effect_noise((1024, 1024), 40)
    picture = Image.merge("RGB", (gradient, noise, gradient.transpose(Image.Transpose.ROTATE_90)))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def body(prompt: str, image: str) -> dict[str, object]:
    return {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": prompt},
                    {"inlineData": {"mimeType": "image/png", "data": image}},
                ],
            }
        ],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "1:1", "imageSize": "1K"},
        },
    }


async def round_trips(runs: int) -> list[float]:
    app = create_app(Config(clock="virtual", seed=1))
    image = input_png()
    transport = httpx.ASGITransport(app=app)
    timings = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        for run in range(runs + 1):
            # Encoded beforehand: the client's own JSON encoding is not the emulator's time.
            content = json.dumps(body(f"run {run}: make it blue", image)).encode()
            started = time.perf_counter()
            response = await client.post(PATH, headers=HEADERS, content=content)
            elapsed = (time.perf_counter() - started) * 1000
            response.raise_for_status()
            parts = response.json()["candidates"][0]["content"]["parts"]
            if not any("inlineData" in part for part in parts):
                raise RuntimeError("the answer holds no image")
            if run:  # the first is a warm-up: fonts, codecs
                timings.append(elapsed)
    return timings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.vertex_roundtrip", description=__doc__)
    parser.add_argument("--runs", type=int, default=15, help="timed round trips (15)")
    args = parser.parse_args(argv)
    timings = asyncio.run(round_trips(max(1, args.runs)))
    median = statistics.median(timings)
    verdict = "PASS" if median < TARGET_MS else "FAIL"
    print(
        f"vertex 1K round trip (1024x1024 PNG in, 1K PNG out), {len(timings)} runs:"
        f" median {median:.1f} ms, min {min(timings):.1f}, max {max(timings):.1f}"
        f" (target median < {TARGET_MS:.0f} ms) {verdict}"
    )
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
