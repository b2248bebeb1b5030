"""One seeded generator for every random choice, so a run with the same seed replays exactly."""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from dataclasses import dataclass

# RFC 4122 version 4: the version nibble is 4 and the variant bits are 10.
_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


class SeededRandom:
    def __init__(self, seed: int | None = None) -> None:
        # Without a seed we still pick one and keep it, so any run can be replayed with --seed.
        self.seed = secrets.randbelow(2**31) if seed is None else seed
        self._random = random.Random(self.seed)

    def reset(self) -> None:
        self._random = random.Random(self.seed)

    def uuid4(self) -> str:
        """The same string as str(uuid.UUID(int=<128 random bits>, version=4)), in a third of
        the time (one is drawn per submit)."""
        bits = self._random.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET
        h = f"{bits:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def randbytes(self, count: int) -> bytes:
        return self._random.randbytes(count)

    def uniform(self, low: float, high: float) -> float:
        return self._random.uniform(low, high)

    def randint(self, low: int, high: int) -> int:
        return self._random.randint(low, high)


def seed_from(value: object) -> int:
    """A 32-bit seed from JSON-able request data: the same request gives the same picture,
    whatever the run's seed."""
    canonical = json.dumps(value, sort_keys=True)
    return int(hashlib.sha256(canonical.encode()).hexdigest()[:8], 16)


@dataclass(frozen=True)
class Duration:
    """A length of time in seconds: fixed (low == high) or drawn uniformly from [low, high]."""

    low: float
    high: float

    @classmethod
    def parse(cls, value: float | int | list[float] | tuple[float, float]) -> Duration:
        """`2.5` is fixed; `[10, 30]` is uniform. Raises ValueError with a readable reason."""
        if isinstance(value, bool):
            raise ValueError("a duration is a number of seconds or [min, max]")
        if isinstance(value, int | float):
            return cls(float(value), float(value)).checked()
        if (
            isinstance(value, list | tuple)
            and len(value) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
        ):
            return cls(float(value[0]), float(value[1])).checked()
        raise ValueError("a duration is a number of seconds or [min, max]")

    def checked(self) -> Duration:
        if self.low < 0 or self.high < self.low:
            raise ValueError(f"a duration needs 0 <= min <= max, got [{self.low}, {self.high}]")
        return self

    def draw(self, rng: SeededRandom) -> float:
        return self.low if self.low == self.high else rng.uniform(self.low, self.high)
