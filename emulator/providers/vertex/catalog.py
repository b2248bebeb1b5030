"""The image models served on every generateContent path (`models.json`): output size table,
token costs and the modelVersion each answers with. Adding a model is a data change."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources

from emulator.core import sizes


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    model_version: str  # what the response's modelVersion says
    size_table: str  # a table of emulator/data/image_sizes.json
    input_image_tokens: int  # per inline input image
    output_image_tokens: Mapping[str, int]  # per output image, by imageSize
    thoughts_tokens: tuple[int, int]  # drawn from this range, from the request's seed

    @property
    def ratios(self) -> list[str]:
        return sizes.ratios(self.size_table)

    @property
    def resolutions(self) -> list[str]:
        return sizes.resolutions(self.size_table)

    def dimensions(self, ratio: str, resolution: str) -> tuple[int, int]:
        return sizes.dimensions(self.size_table, ratio, resolution)


@cache
def models() -> dict[str, Model]:
    path = resources.files("emulator.providers.vertex").joinpath("models.json")
    entries = {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("$")}
    return {
        model_id: Model(
            id=model_id,
            name=entry["name"],
            model_version=entry["model_version"],
            size_table=entry["size_table"],
            input_image_tokens=entry["input_image_tokens"],
            output_image_tokens=entry["output_image_tokens"],
            thoughts_tokens=(entry["thoughts_tokens"][0], entry["thoughts_tokens"][1]),
        )
        for model_id, entry in entries.items()
    }
