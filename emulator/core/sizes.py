"""Named output-size tables (aspect ratio x resolution -> pixels), kept as data in
`emulator/data/image_sizes.json` so every provider serving the same model uses the same table."""

from __future__ import annotations

import json
import math
from functools import cache
from importlib import resources


@cache
def _tables() -> dict[str, dict[str, dict[str, tuple[int, int]]]]:
    raw = json.loads(resources.files("emulator.data").joinpath("image_sizes.json").read_text())
    return {
        name: {
            ratio: {res: (size[0], size[1]) for res, size in by_res.items()}
            for ratio, by_res in table["sizes"].items()
        }
        for name, table in raw.items()
    }


def table(name: str) -> dict[str, dict[str, tuple[int, int]]]:
    return _tables()[name]


def dimensions(table_name: str, ratio: str, resolution: str) -> tuple[int, int]:
    """(width, height); KeyError for a ratio or resolution the table lacks."""
    return _tables()[table_name][ratio][resolution]


def ratios(table_name: str) -> list[str]:
    return list(_tables()[table_name])


def resolutions(table_name: str) -> list[str]:
    first = next(iter(_tables()[table_name].values()))
    return list(first)


def nearest_ratio(table_name: str, width: int, height: int) -> str:
    """The listed ratio closest to width:height (compared on a log scale, so 2:1 and 1:2 are
    equally far from 1:1)."""
    target = math.log(width / height)

    def distance(ratio: str) -> float:
        w, h = (int(part) for part in ratio.split(":"))
        return abs(math.log(w / h) - target)

    return min(_tables()[table_name], key=distance)
