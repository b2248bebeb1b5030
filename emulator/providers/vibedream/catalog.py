"""vibedream's model table (`models.json`): names, prices, timings and how each model's
parameters map to an output size. Adding a model with the same protocol is a data change."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import contracts
from emulator.core import sizes
from emulator.core.durations import Duration
from emulator.core.tables import read_table


@dataclass(frozen=True)
class Tier:
    """Price and advertised time, which may depend on one parameter (e.g. resolution)."""

    cost_cents: int
    estimated_time: str  # as the API shows it, e.g. "10-30s"

    @cached_property
    def duration(self) -> Duration:
        """The default job duration, read from the advertised time: "10-30s" -> [10, 30]."""
        low, high = re.fullmatch(r"([\d.]+)(?:-([\d.]+))?s", self.estimated_time).groups()
        return Duration(float(low), float(high or low))


def _table_size(rule: Mapping[str, str], params: Mapping[str, Any]) -> tuple[int, int]:
    ratio = params[rule["ratio_param"]]
    return sizes.dimensions(rule["table"], ratio, params[rule["resolution_param"]].upper())


def _param_size(rule: Mapping[str, str], params: Mapping[str, Any]) -> tuple[int, int]:
    width, height = params[rule["param"]].split(rule["separator"])
    return int(width), int(height)


# How a model's parameters choose its output size, by the `output_size.kind` in models.json.
OUTPUT_SIZE_RULES: dict[str, Callable[[Mapping[str, str], Mapping[str, Any]], tuple[int, int]]] = {
    "table": _table_size,
    "param": _param_size,
}


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    request_schema: str  # contract name in contracts/vibedream/
    output_size: Mapping[str, str]
    input_images_param: str | None
    seed_param: str | None
    strength_param: str | None
    source_weight: float
    tier_param: str | None
    tiers: Mapping[str, Tier]
    parameters: tuple[str, ...]  # documented request parameters, from the contract
    defaults: Mapping[str, Any]  # their documented defaults, from the contract

    def tier(self, params: Mapping[str, Any]) -> Tier:
        return self.tiers[params[self.tier_param]] if self.tier_param else self.tiers["default"]

    def dimensions(self, params: Mapping[str, Any]) -> tuple[int, int]:
        return OUTPUT_SIZE_RULES[self.output_size["kind"]](self.output_size, params)

    def input_image_fields(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(field, reference) per input image, whether the parameter holds one string
        (field `image`) or a list (fields `images[0]`, `images[1]`, ...)."""
        name = self.input_images_param
        value = params.get(name) if name else None
        if value is None or name is None:
            return []
        if isinstance(value, str):
            return [(name, value)]
        return [(f"{name}[{index}]", reference) for index, reference in enumerate(value)]

    def input_images(self, params: Mapping[str, Any]) -> list[str]:
        return [reference for _, reference in self.input_image_fields(params)]


@cache
def models() -> dict[str, Model]:
    entries = read_table("emulator.providers.vibedream")
    return {
        model_id: Model(
            id=model_id,
            name=entry["name"],
            request_schema=entry["request_schema"],
            output_size=entry["output_size"],
            input_images_param=entry.get("input_images_param"),
            seed_param=entry.get("seed_param"),
            strength_param=entry.get("strength_param"),
            source_weight=entry.get("source_weight", 0.6),
            tier_param=entry.get("tier_param"),
            tiers={name: Tier(**tier) for name, tier in entry["tiers"].items()},
            parameters=tuple(contracts.schema("vibedream", entry["request_schema"])["properties"]),
            defaults=contracts.defaults("vibedream", entry["request_schema"]),
        )
        for model_id, entry in entries.items()
    }
