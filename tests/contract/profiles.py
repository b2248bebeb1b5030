"""How many examples each property tries, by profile.

``CONTRACT_PROFILE=full`` runs the full property suite (at least 200 examples a provider);
the default profile runs fewer, to keep ``make test`` quick. Against the real APIs every
property runs only a handful of cheap examples, without shrinking: each request may cost money.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, Phase, settings

from tests.contract.targets import Target

PROFILE_ENV = "CONTRACT_PROFILE"

# Examples per property and provider. "full" gives every provider at least 200 in all.
EXAMPLES: dict[str, dict[str, int]] = {
    "default": {
        "accepted": 12,
        "refused": 15,
        "dimensions": 6,
        "same-bytes": 3,
        "monotonic": 8,
        "credits": 6,
    },
    "full": {
        "accepted": 80,
        "refused": 120,
        "dimensions": 40,
        "same-bytes": 20,
        "monotonic": 40,
        "credits": 30,
    },
    # Real APIs: a few cheap examples, no shrinking (each request may cost money). The
    # same-bytes and credits properties need the emulator and never run there.
    "live": {"accepted": 1, "refused": 3, "dimensions": 1, "monotonic": 1},
}
# A request takes real work (a 4K image is rendered in ~0.2 s): no deadline, no "too slow".
_BASE = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def profile_name() -> str:
    name = os.environ.get(PROFILE_ENV, "default")
    if name not in ("default", "full"):
        raise pytest.UsageError(f"{PROFILE_ENV} must be default or full, not {name!r}")
    return name


def examples(prop: str, target: Target) -> settings:
    """The hypothesis settings of property ``prop`` on ``target``."""
    if target.live:
        return settings(
            _BASE,
            max_examples=EXAMPLES["live"][prop],
            phases=[Phase.explicit, Phase.generate],
            database=None,
        )
    return settings(_BASE, max_examples=EXAMPLES[profile_name()][prop])
