"""3D AI Studio's model table (`models.json`): path, size table, credits and timing per model.
Another model of the same protocol (Gemini 3.1 Flash, Seedream, ...) is a data change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache

from emulator.core import sizes
from emulator.core.durations import Duration
from emulator.core.tables import read_table


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    path: str  # /v1/images/{path}/generate/ and /edit/
    size_table: str
    credits: Mapping[str, Decimal]  # per image, by resolution
    seconds_per_image: Duration

    def dimensions(self, ratio: str, resolution: str) -> tuple[int, int]:
        return sizes.dimensions(self.size_table, ratio, resolution)

    def nearest_ratio(self, width: int, height: int) -> str:
        return sizes.nearest_ratio(self.size_table, width, height)


@cache
def models() -> dict[str, Model]:
    entries = read_table("emulator.providers.aistudio3d")
    return {
        model_id: Model(
            id=model_id,
            name=entry["name"],
            path=entry["path"],
            size_table=entry["size_table"],
            credits={res: Decimal(str(c)) for res, c in entry["credits"].items()},
            seconds_per_image=Duration.parse(entry["seconds_per_image"]),
        )
        for model_id, entry in entries.items()
    }
