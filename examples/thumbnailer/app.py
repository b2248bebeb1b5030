"""Thumbnailer: makes a product photo with vibedream, saves it with a thumbnail, and says how
it went. An example of an app built on the reference clients (clients/); test_app.py tests it
with the emulator's pytest fixtures.

Its own policy, on top of the client's:

- a 429 is retried by the client (RETRY: 3 times, waiting what Retry-After says); refused
  still, the app reports ``busy`` instead of failing;
- a moderation refusal is reported as ``rejected`` with the provider's reason, never retried
  (the same prompt would be refused again);
- an empty wallet is ``no_credits``; anything else that goes wrong is ``failed``.

Run it against the real API (VIBEDREAM_API_KEY) or an emulator::

    python examples/thumbnailer/app.py "a red running shoe" --out shots/
    python examples/thumbnailer/app.py "a red running shoe" --base-url http://127.0.0.1:8000 \\
        --api-key any
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image as PILImage

from clients import (
    ImageGenError,
    InsufficientCreditsError,
    ModerationError,
    PollPolicy,
    RateLimitedError,
    RetryPolicy,
    VibedreamClient,
)

RETRY = RetryPolicy(max_retries=3, backoff_initial=1.0, max_retry_after=30.0)
POLLING = PollPolicy(interval=1.0, backoff=1.5, max_interval=3.0, timeout=120.0)
IMAGE_SIZE = "1024*1024"
THUMBNAIL_SIZE = 256  # pixels on the long side


@dataclass(frozen=True)
class Outcome:
    status: str  # saved, rejected, busy, no_credits, failed
    message: str = ""
    image: Path | None = None
    thumbnail: Path | None = None


def open_client(**options: Any) -> VibedreamClient:
    """The app's vibedream client: its retry and polling policy, plus ``options`` (the key
    and base URL, else VIBEDREAM_API_KEY and the real API)."""
    return VibedreamClient(retry=RETRY, polling=POLLING, **options)


def make_product_image(client: VibedreamClient, product: str, out_dir: Path) -> Outcome:
    prompt = f"Studio photo of {product} on a white background, soft light"
    try:
        result = client.generate(prompt, size=IMAGE_SIZE, output_format="png")
    except ModerationError as exc:
        return Outcome("rejected", exc.message)
    except RateLimitedError as exc:
        wait = f"{exc.retry_after:g} s" if exc.retry_after is not None else "a minute"
        return Outcome("busy", f"vibedream is rate limiting us; try again in {wait}")
    except InsufficientCreditsError as exc:
        return Outcome("no_credits", exc.message)
    except ImageGenError as exc:
        return Outcome("failed", exc.message)
    out_dir.mkdir(parents=True, exist_ok=True)
    name = slug(product)
    image_path = out_dir / f"{name}.png"
    image_path.write_bytes(result.image.data)
    thumbnail_path = out_dir / f"{name}.thumb.jpg"
    with PILImage.open(io.BytesIO(result.image.data)) as picture:
        picture.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        picture.convert("RGB").save(thumbnail_path, "JPEG", quality=85)
    return Outcome("saved", image=image_path, thumbnail=thumbnail_path)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "product"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make a product photo and its thumbnail.")
    parser.add_argument("product", help='what to photograph, e.g. "a red running shoe"')
    parser.add_argument("--out", type=Path, default=Path("shots"), help="folder (default shots)")
    parser.add_argument("--base-url", help="the API (default: the real vibedream API)")
    parser.add_argument("--api-key", help="default: VIBEDREAM_API_KEY")
    args = parser.parse_args(argv)
    try:
        client = open_client(api_key=args.api_key, base_url=args.base_url)
    except ImageGenError as exc:  # no key, a bad base URL
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    with client:
        outcome = make_product_image(client, args.product, args.out)
    if outcome.status == "saved":
        print(f"saved {outcome.image} and {outcome.thumbnail}")
        return 0
    print(f"{outcome.status}: {outcome.message}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
