"""Facts read out of the provider-facts file (tests/fixtures/provider-facts/MODELS.md, a verbatim
copy), so the model tests check the emulator against the source, not against a hand copy."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

MODELS_MD = Path(__file__).parent / "fixtures" / "provider-facts" / "MODELS.md"
Size = tuple[int, int]


@cache
def text() -> str:
    return MODELS_MD.read_text(encoding="utf-8")


def section(heading: str) -> str:
    """From the line starting with `heading` to the next heading of the same level."""
    level = heading.split(" ", 1)[0]
    start = text().index(f"\n{heading}") + 1
    following = re.search(rf"\n{re.escape(level)} ", text()[start + len(heading) :])
    end = start + len(heading) + following.start() if following else len(text())
    return text()[start:end]


def table_after(anchor: str) -> list[list[str]]:
    """The cells of the Markdown table whose header line starts with `anchor`."""
    lines = text()[text().index(anchor) :].splitlines()
    rows = []
    for line in lines[2:]:  # the header and the |---| line
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows


def _size(cell: str) -> Size:
    width, height = cell.split("x")
    return int(width), int(height)


@cache
def gemini_31_flash_sizes() -> dict[str, dict[str, Size]]:
    """Section 3.2: ratio -> {"512", "1K", "2K", "4K"} -> (width, height), as Google prints it."""
    return {
        row[0]: {
            "512": _size(row[1]),
            "1K": _size(row[3]),
            "2K": _size(row[5]),
            "4K": _size(row[7]),
        }
        for row in table_after("| Aspect ratio | 512 resolution |")
    }


@cache
def gemini_25_flash_sizes() -> dict[str, Size]:
    """Section 3.3: ratio -> (width, height); one size per ratio."""
    return {row[0]: _size(row[1]) for row in table_after("| Aspect ratio | Resolution | Tokens |")}


@cache
def aistudio3d_examples() -> list[tuple[str, dict]]:
    """Section 2: (path, body) of every example request body printed for an image endpoint,
    each under the last `POST /v1/images/...` named before it (or on its line)."""
    found = []
    path = None
    for line in section("## 2. 3D AI Studio").splitlines():
        named = re.search(r"`POST (/v1/images/\S+/)`", line)
        if named:
            path = named.group(1)
        example = re.search(r"Example(?: body)?(?: \[S\])?: `(\{.*?\})`", line)
        if example and path:
            found.append((path, json.loads(example.group(1))))
    return found


@cache
def aistudio3d_credits() -> dict[str, str]:
    """Section 2.1's overview table: provider name -> its credits cell, as printed."""
    return {row[0]: row[2] for row in table_after("| Provider | Capabilities | Credits |")}
