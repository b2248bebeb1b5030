"""vibedream's model table (`models.json`): names, prices, timings and how each model's
parameters map to an output size. Adding a model with the same protocol is a data change.

Two kinds of row. The seed models (`ranges: "documented"`) have the provider's parameter
tables, so their contracts carry every type, enum, range and default. The others are
documented by example only (`ranges: "unknown"`): their contracts hold the types of the page's
example body and nothing more, so the row says what the emulator assumes where the provider is
silent (`assumed_defaults`, the size scheme's fallbacks, prices marked in `facts`). A value the
emulator cannot turn into a picture (a size it cannot read, a format it cannot encode) is a
400 that says the range is the emulator's, not the provider's.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, cached_property
from typing import Any

import contracts
from emulator.core import sizes
from emulator.core.durations import Duration
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.images import ImageInfo
from emulator.core.tables import read_table

# What the renderer can encode, for an output format a model's example names but whose range
# vibedream does not publish.
RENDERABLE_FORMATS = ("jpeg", "png", "webp")
# The largest picture the emulator renders for a size it is given rather than one it looks up
# (the biggest table cell, 12288x1536, is 18.9 MP; 8192x8192 is an 8K upscale).
MAX_SIDE = 16384
MAX_PIXELS = 8192 * 8192
# The most outputs one request may ask for where the model's count has no published range.
MAX_COUNT = 16

UNKNOWN_RANGE = "vibedream publishes no range for this model's parameter"

Size = tuple[int, int]


def _refuse(field: str, reason: str) -> ApiError:
    return ApiError(ErrorKind.INVALID_REQUEST, f"{field}: {reason}", field=field)


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


# ----------------------------------------------------------------- output size schemes
#
# A scheme (a model's `output_size`) reads the request's parameters and, for schemes that
# follow the input, the first inline input image; it answers (width, height), or None when its
# parameters are absent (then its `fallback` scheme, or its `default` size, applies).


def _table_size(
    rule: Mapping[str, Any], params: Mapping[str, Any], _: ImageInfo | None
) -> Size | None:
    name = rule["table"]
    ratio = params.get(rule["ratio_param"])
    resolution = (
        params[rule["resolution_param"]] if "resolution_param" in rule else rule["resolution"]
    )
    if ratio is None:
        return None
    # Seed 000 writes `1k`; the shared tables Google's `1K`.
    key = resolution.upper() if isinstance(resolution, str) else resolution
    if ratio not in sizes.ratios(name):
        known = ", ".join(sizes.ratios(name))
        raise _refuse(
            rule["ratio_param"],
            f"the emulator knows the sizes of {known} only ({UNKNOWN_RANGE}); got {ratio!r}.",
        )
    if key not in sizes.resolutions(name):
        field = rule.get("resolution_param", "resolution")
        known = ", ".join(r.lower() for r in sizes.resolutions(name))
        raise _refuse(
            field,
            f"the emulator knows the sizes of {known} only ({UNKNOWN_RANGE}); got {resolution!r}.",
        )
    return sizes.dimensions(name, ratio, key)


def _param_size(
    rule: Mapping[str, Any], params: Mapping[str, Any], _: ImageInfo | None
) -> Size | None:
    """`W*H` (or `WxH`, the row's separator) in one parameter."""
    value = params.get(rule["param"])
    if not isinstance(value, str):
        return None  # absent, or (flux-2-klein-9b-edit's printed `0`) not a size at all
    match = re.fullmatch(rf"(\d+){re.escape(rule['separator'])}(\d+)", value.strip())
    if match is None:
        example = f"1024{rule['separator']}768"
        raise _refuse(
            rule["param"],
            f"must be a size written width{rule['separator']}height,"
            f" e.g. {example}; got {value!r}.",
        )
    return _bounded(rule["param"], int(match[1]), int(match[2]))


def _ratio_size(
    rule: Mapping[str, Any], params: Mapping[str, Any], _: ImageInfo | None
) -> Size | None:
    """`W:H` in one parameter, at about `pixels` pixels, sides a multiple of `multiple`."""
    value = params.get(rule["ratio_param"])
    if value is None:
        return None
    match = re.fullmatch(r"(\d+):(\d+)", value.strip()) if isinstance(value, str) else None
    if match is None or int(match[1]) == 0 or int(match[2]) == 0:
        raise _refuse(
            rule["ratio_param"],
            f"must be an aspect ratio written width:height, e.g. 16:9; got {value!r}.",
        )
    ratio = int(match[1]) / int(match[2])
    if not 1 / 16 <= ratio <= 16:
        raise _refuse(
            rule["ratio_param"],
            f"the emulator sizes ratios from 1:16 to 16:1 only ({UNKNOWN_RANGE}); got {value!r}.",
        )
    step = rule.get("multiple", 16)
    width = max(step, round(math.sqrt(rule["pixels"] * ratio) / step) * step)
    height = max(step, round(math.sqrt(rule["pixels"] / ratio) / step) * step)
    return width, height


def _width_height_size(
    rule: Mapping[str, Any], params: Mapping[str, Any], _: ImageInfo | None
) -> Size | None:
    width, height = params.get(rule["width_param"]), params.get(rule["height_param"])
    if width is None and height is None:
        return None
    for name, value in ((rule["width_param"], width), (rule["height_param"], height)):
        if not isinstance(value, int | float) or isinstance(value, bool) or value != int(value):
            raise _refuse(
                name,
                f"must be a whole number of pixels when {rule['width_param']} or"
                f" {rule['height_param']} is given; got {value!r}.",
            )
    # Name the side to blame: the height when the width is within bounds.
    blamed = rule["width_param"] if not 1 <= int(width) <= MAX_SIDE else rule["height_param"]
    return _bounded(blamed, int(width), int(height))


def _preset_size(
    rule: Mapping[str, Any], params: Mapping[str, Any], _: ImageInfo | None
) -> Size | None:
    value = params.get(rule["param"])
    if value is None:
        return None
    presets = rule["presets"]
    if value not in presets:
        known = ", ".join(presets)
        raise _refuse(
            rule["param"],
            f"the emulator knows the preset(s) {known} only ({UNKNOWN_RANGE}); got {value!r}.",
        )
    width, height = presets[value]
    return width, height


def _input_size(
    rule: Mapping[str, Any], params: Mapping[str, Any], source: ImageInfo | None
) -> Size | None:
    """The first inline input's size (its ratio, at `long_sides[param]` on the long side when
    the row names a parameter); None when there is no inline input (a URL is never fetched)."""
    long_side = None
    if "long_side_param" in rule:
        value = params.get(rule["long_side_param"])
        key = value.lower() if isinstance(value, str) else value
        if value is not None and key not in rule["long_sides"]:
            known = ", ".join(rule["long_sides"])
            raise _refuse(
                rule["long_side_param"],
                f"the emulator knows {known} only ({UNKNOWN_RANGE}); got {value!r}.",
            )
        long_side = rule["long_sides"].get(key) if value is not None else None
    if source is None or not source.width or not source.height:
        return (long_side, long_side) if long_side else None
    if long_side is None:
        return _bounded("image", source.width, source.height)
    scale = long_side / max(source.width, source.height)
    return max(1, round(source.width * scale)), max(1, round(source.height * scale))


def _bounded(field: str, width: int, height: int) -> Size:
    if width < 1 or height < 1 or width > MAX_SIDE or height > MAX_SIDE:
        raise _refuse(
            field,
            f"the emulator renders sides of 1 to {MAX_SIDE} pixels"
            f" ({UNKNOWN_RANGE}); got {width}x{height}.",
        )
    if width * height > MAX_PIXELS:
        raise _refuse(
            field,
            f"the emulator renders at most {MAX_PIXELS} pixels"
            f" ({UNKNOWN_RANGE}); got {width}x{height}.",
        )
    return width, height


SizeRule = Callable[[Mapping[str, Any], Mapping[str, Any], ImageInfo | None], Size | None]

# How a model's parameters choose its output size, by the `output_size.kind` in models.json.
OUTPUT_SIZE_RULES: dict[str, SizeRule] = {
    "table": _table_size,
    "param": _param_size,
    "ratio": _ratio_size,
    "width_height": _width_height_size,
    "preset": _preset_size,
    "input": _input_size,
}


def output_size(
    rule: Mapping[str, Any], params: Mapping[str, Any], source: ImageInfo | None = None
) -> Size:
    """A scheme's size, else its fallback scheme's, else its default."""
    found = OUTPUT_SIZE_RULES[rule["kind"]](rule, params, source)
    if found is not None:
        return found
    if "fallback" in rule:
        return output_size(rule["fallback"], params, source)
    if "default" not in rule:  # a row whose assumed_defaults do not name its size parameter
        field = rule.get("param") or rule.get("ratio_param") or "size"
        raise _refuse(field, "is needed to size the output.")
    width, height = rule["default"]
    return width, height


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    request_schema: str  # contract name in contracts/vibedream/
    output_size: Mapping[str, Any]
    input_images_param: str | None
    seed_param: str | None
    strength_param: str | None
    source_weight: float
    tier_param: str | None
    tiers: Mapping[str, Tier]
    parameters: tuple[str, ...]  # documented request parameters, from the contract
    defaults: Mapping[str, Any]  # documented defaults (contract), then assumed ones (row)
    # "documented": the seeds' parameter tables; "unknown": the page's example only.
    ranges: str = "documented"
    format_param: str | None = "output_format"  # None: the model names no output format
    format_default: str | None = None  # the format when format_param is absent or None
    count_param: str | None = None  # asks for several outputs (flux-dev's num_images)
    facts: Mapping[str, Any] | None = None  # what is stated, inferred or assumed, and where

    @property
    def documented_by_example(self) -> bool:
        return self.ranges == "unknown"

    def tier(self, params: Mapping[str, Any]) -> Tier:
        if not self.tier_param:
            return self.tiers["default"]
        value = params[self.tier_param]
        key = value.lower() if isinstance(value, str) else value
        if key not in self.tiers:  # a type-only model: sizes were checked first, so rare
            raise _refuse(
                self.tier_param,
                f"the emulator prices {', '.join(self.tiers)} only"
                f" ({UNKNOWN_RANGE}); got {value!r}.",
            )
        return self.tiers[key]

    def dimensions(self, params: Mapping[str, Any], source: ImageInfo | None = None) -> Size:
        return output_size(self.output_size, params, source)

    def output_format(self, params: Mapping[str, Any]) -> str:
        value = params.get(self.format_param) if self.format_param else None
        fmt = self.format_default if value is None else value
        if fmt not in RENDERABLE_FORMATS:
            raise _refuse(
                self.format_param or "output_format",
                f"the emulator renders {', '.join(RENDERABLE_FORMATS)} only"
                f" ({UNKNOWN_RANGE}); got {fmt!r}.",
            )
        return fmt

    def count(self, params: Mapping[str, Any]) -> int:
        """How many outputs the request asks for (1 for a model without a count)."""
        if self.count_param is None or params.get(self.count_param) is None:
            return 1
        value = params[self.count_param]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
            raise _refuse(self.count_param, f"must be a whole number; got {value!r}.")
        if not 1 <= value <= MAX_COUNT:
            raise _refuse(
                self.count_param,
                f"the emulator makes 1 to {MAX_COUNT} images a"
                f" request ({UNKNOWN_RANGE}); got {value!r}.",
            )
        return int(value)

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


def model_from_row(model_id: str, entry: Mapping[str, Any]) -> Model:
    schema = contracts.schema("vibedream", entry["request_schema"])
    return Model(
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
        parameters=tuple(schema["properties"]),
        defaults={
            **contracts.defaults("vibedream", entry["request_schema"]),
            **entry.get("assumed_defaults", {}),
        },
        ranges=entry.get("ranges", "documented"),
        format_param=entry.get("format_param", "output_format"),
        format_default=entry.get("format_default"),
        count_param=entry.get("count_param"),
        facts=entry.get("facts"),
    )


def load(table: Mapping[str, Any]) -> dict[str, Model]:
    return {model_id: model_from_row(model_id, entry) for model_id, entry in table.items()}


@cache
def models() -> dict[str, Model]:
    return load(read_table("emulator.providers.vibedream"))
