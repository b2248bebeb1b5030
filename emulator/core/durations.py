"""Lengths of time in seconds, fixed or drawn from a distribution with the seeded generator.

Used for job durations, queue times and response latency. A config gives one as a number
(fixed), `[min, max]` (uniform), or a table naming the distribution:
`{distribution = "normal", mean = 2, stddev = 0.5, min = 0, max = 5}` or
`{distribution = "lognormal", median = 2, sigma = 0.6, min = 0.1, max = 30}`. Draws outside
[min, max] are clamped, so each draw takes exactly one number from the generator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from emulator.core.randomness import SeededRandom

SHAPES = ("uniform", "normal", "lognormal")
SYNTAX = (
    "a duration is seconds (a number >= 0), [min, max], or a table"
    " {distribution = uniform|normal|lognormal, ...}"
)


@dataclass(frozen=True)
class Duration:
    low: float  # the smallest value drawn (uniform: min; others: the clamp)
    high: float  # the largest value drawn
    shape: str = "uniform"
    centre: float = 0.0  # normal: mean; lognormal: median
    spread: float = 0.0  # normal: standard deviation; lognormal: sigma of the logarithm

    @classmethod
    def fixed(cls, seconds: float) -> Duration:
        return cls(seconds, seconds)

    @classmethod
    def parse(cls, value: Any) -> Duration:
        """Raises ValueError with a readable reason."""
        if isinstance(value, bool):
            raise ValueError(SYNTAX)
        if isinstance(value, int | float):
            return cls.fixed(float(value)).checked()
        if isinstance(value, list | tuple):
            if len(value) == 2 and all(_is_number(v) for v in value):
                return cls(float(value[0]), float(value[1])).checked()
            raise ValueError(SYNTAX)
        if isinstance(value, dict):
            return cls._parse_table(value)
        raise ValueError(SYNTAX)

    @classmethod
    def _parse_table(cls, table: dict[str, Any]) -> Duration:
        shape = table.get("distribution", "uniform")
        if shape not in SHAPES:
            raise ValueError(f"distribution must be one of {', '.join(SHAPES)}, got {shape!r}")
        needed = {
            "uniform": ("min", "max"),
            "normal": ("mean", "stddev"),
            "lognormal": ("median", "sigma"),
        }[shape]
        allowed = {"distribution", "min", "max", *needed}
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise ValueError(
                f"a {shape} duration takes {', '.join(sorted(allowed))};"
                f" unknown: {', '.join(unknown)}"
            )
        for name in needed:
            if not _is_number(table.get(name)):
                raise ValueError(f"a {shape} duration needs {name} (a number)")
        for name in ("min", "max"):
            if name in table and not _is_number(table[name]):
                raise ValueError(f"{name} must be a number")
        low = float(table.get("min", 0.0))
        high = float(table.get("max", math.inf))
        if shape == "uniform":
            return cls(low, high).checked()
        centre, spread = float(table[needed[0]]), float(table[needed[1]])
        if spread < 0 or (shape == "lognormal" and centre <= 0):
            raise ValueError(
                f"a {shape} duration needs {needed[1]} >= 0"
                + (" and median > 0" if shape == "lognormal" else "")
            )
        return cls(low, high, shape, centre, spread).checked()

    def checked(self) -> Duration:
        if not (0 <= self.low <= self.high) or math.isnan(self.high):
            raise ValueError(f"a duration needs 0 <= min <= max, got [{self.low}, {self.high}]")
        if self.shape == "uniform" and math.isinf(self.high):
            raise ValueError("a uniform duration needs a finite max")
        return self

    def draw(self, rng: SeededRandom) -> float:
        if self.shape == "normal":
            value = rng.gauss(self.centre, self.spread)
        elif self.shape == "lognormal":
            value = rng.lognormvariate(math.log(self.centre), self.spread)
        elif self.low == self.high:
            return self.low
        else:
            return rng.uniform(self.low, self.high)
        return min(max(value, self.low), self.high)


ZERO = Duration.fixed(0.0)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
