"""One seeded generator for every random choice, so a run with the same seed replays exactly."""

from __future__ import annotations

import hashlib
import json
import random
import secrets

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

    def random(self) -> float:
        """A float in [0, 1): one draw per probability decision."""
        return self._random.random()

    def gauss(self, mean: float, stddev: float) -> float:
        return self._random.gauss(mean, stddev)

    def lognormvariate(self, mu: float, sigma: float) -> float:
        return self._random.lognormvariate(mu, sigma)

    def fork(self, stream: str) -> SeededRandom:
        """An independent generator for one purpose, seeded from this one's seed and the
        purpose's name: turning faults on does not change the ids or durations drawn."""
        return SeededRandom(seed_from([self.seed, stream]))


def seed_from(value: object) -> int:
    """A 32-bit seed from JSON-able request data: the same request gives the same picture,
    whatever the run's seed."""
    canonical = json.dumps(value, sort_keys=True)
    return int(hashlib.sha256(canonical.encode()).hexdigest()[:8], 16)
