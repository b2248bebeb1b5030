"""3D AI Studio's model table (`models.json`): path, request contracts, size scheme, output
format, credits and timing per model. Another model of the same protocol is a row there; a new
size scheme is one more entry of SIZE_KINDS, and then a row again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from emulator.core import sizes
from emulator.core.durations import Duration
from emulator.core.tables import read_table

AUTO = "auto"  # the ratio that follows the first input image (1:1, say, without one)
OPERATIONS = ("generate", "edit")


def _ratio_resolution(rule: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[str, str]:
    """A ratio parameter and a resolution parameter (or a fixed resolution): Gemini's."""
    resolution_param = rule.get("resolution_param")
    resolution = (
        rule["resolutions"][params[resolution_param]] if resolution_param else rule["resolution"]
    )
    return params[rule["ratio_param"]], resolution


def _preset(rule: Mapping[str, Any], params: Mapping[str, Any]) -> tuple[str, str]:
    """One parameter naming a preset, each a (ratio, resolution) of the table: Seedream's."""
    preset = rule["presets"][params[rule["param"]]]
    return preset["ratio"], preset["resolution"]


# How a model's parameters choose (ratio, resolution) in its size table, by `size.kind`.
SIZE_KINDS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[str, str]]] = {
    "ratio_resolution": _ratio_resolution,
    "preset": _preset,
}


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    path: str  # /v1/images/{path}/generate/ and /edit/
    schemas: Mapping[str, str]  # operation -> contract name in contracts/3daistudio/
    size_table: str
    size: Mapping[str, Any]  # the size rule: a SIZE_KINDS kind and its fields
    format: Mapping[str, str]  # {"param": name} or {"fixed": format}
    credits_by: str | None  # the parameter the price depends on, None for a flat price
    credits: Mapping[str, Decimal]  # per image, by the value of credits_by ("*": flat)
    seconds_per_image: Duration
    images_params: tuple[str, ...]  # where an edit's input images may be sent
    seed_param: str | None
    safety_checker_param: str | None
    assumed: tuple[str, ...]  # fields the provider does not publish (README: models)

    def choose_size(self, params: Mapping[str, Any]) -> tuple[str, str]:
        """(ratio, resolution) the request asks for; the ratio may be AUTO."""
        return SIZE_KINDS[self.size["kind"]](self.size, params)

    def resolve_ratio(self, ratio: str, first_input: tuple[int, int] | None) -> str:
        """AUTO becomes the first input image's nearest ratio, or the rule's auto_ratio."""
        if ratio != AUTO:
            return ratio
        if first_input and first_input[0] and first_input[1]:
            return self.nearest_ratio(*first_input)
        return self.size.get("auto_ratio", "1:1")

    def dimensions(self, ratio: str, resolution: str) -> tuple[int, int]:
        return sizes.dimensions(self.size_table, ratio, resolution)

    def nearest_ratio(self, width: int, height: int) -> str:
        return sizes.nearest_ratio(self.size_table, width, height)

    def output_format(self, params: Mapping[str, Any]) -> str:
        return params[self.format["param"]] if "param" in self.format else self.format["fixed"]

    def tier(self, params: Mapping[str, Any]) -> str:
        """The price tier of a request: its credits_by value, or "*" for a flat price."""
        return str(params[self.credits_by]) if self.credits_by else "*"

    def credits_per_image(self, params: Mapping[str, Any], override: Any = None) -> Decimal:
        """The table's price, or the config's `credits` (one number, or a number per tier)."""
        tier = self.tier(params)
        if isinstance(override, Mapping):
            if tier in override:
                return Decimal(str(override[tier]))
        elif override is not None:
            return Decimal(str(override))
        return self.credits[tier]

    def input_image_fields(self, params: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(field, data URI) per input image, from the first images parameter present."""
        for name in self.images_params:
            value = params.get(name)
            if isinstance(value, list):
                return [(f"{name}[{index}]", uri) for index, uri in enumerate(value)]
        return []

    def safety_checked(self, params: Mapping[str, Any]) -> bool:
        return params.get(self.safety_checker_param, True) if self.safety_checker_param else True


def model_from_row(model_id: str, entry: Mapping[str, Any]) -> Model:
    credits = entry["credits"]
    per_image = credits["per_image"]
    by = credits.get("by")
    table = per_image if by else {"*": per_image}
    if entry["size"]["kind"] not in SIZE_KINDS:
        raise ValueError(f"{model_id}: unknown size kind {entry['size']['kind']!r}")
    return Model(
        id=model_id,
        name=entry["name"],
        path=entry["path"],
        schemas={operation: entry["schemas"][operation] for operation in OPERATIONS},
        size_table=entry["size_table"],
        size=entry["size"],
        format=entry["format"],
        credits_by=by,
        credits={tier: Decimal(str(c)) for tier, c in table.items()},
        seconds_per_image=Duration.parse(entry["seconds_per_image"]),
        images_params=tuple(entry.get("images_params", ("images",))),
        seed_param=entry.get("seed_param"),
        safety_checker_param=entry.get("safety_checker_param"),
        assumed=tuple(entry.get("assumed", ())),
    )


@cache
def models() -> dict[str, Model]:
    entries = read_table("emulator.providers.aistudio3d")
    return {model_id: model_from_row(model_id, entry) for model_id, entry in entries.items()}
