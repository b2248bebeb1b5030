"""Core wallets (refunds as a function of the clock) and token-bucket rate limits, each test on
the in-memory class and on its Redis twin ([memory], [redis]): the same assertions."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from emulator.config import Config, ConfigError
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.rate_limits import RateLimit, RateLimiter
from emulator.core.redis.link import RedisLink
from emulator.core.redis.rate_limits import RedisRateLimiter
from emulator.core.redis.wallets import RedisWallets
from emulator.core.wallets import Wallets
from tests.conftest import STORES

START = Decimal("100.00")
AnyWallets = Wallets | RedisWallets
AnyLimiter = RateLimiter | RedisRateLimiter


@pytest.fixture
def link(request: pytest.FixtureRequest) -> Iterator[RedisLink]:
    """A link on the test's own prefix (used by the Redis params only)."""
    redis_link = RedisLink(request.getfixturevalue("redis_url"))
    yield redis_link
    redis_link.close()


@pytest.fixture(params=STORES)
def wallets(request: pytest.FixtureRequest) -> AnyWallets:
    if request.param == "memory":
        return Wallets()
    return RedisWallets(request.getfixturevalue("link"))


@pytest.fixture(params=STORES)
def limiter(request: pytest.FixtureRequest) -> AnyLimiter:
    if request.param == "memory":
        return RateLimiter()
    # "virtual": the tests' clock is theirs (now=0, 3600...), not the wall's.
    return RedisRateLimiter(request.getfixturevalue("link"), "virtual")


def test_a_charge_is_taken_and_a_short_balance_refused_without_taking_anything(
    wallets: AnyWallets,
) -> None:
    assert wallets.charge("p", "k", Decimal(30), default=START, now=0) == Decimal("70.00")
    with pytest.raises(ApiError) as refused:
        wallets.charge("p", "k", Decimal(80), default=START, now=0)
    assert refused.value.kind is ErrorKind.INSUFFICIENT_CREDITS
    assert "80.00" in refused.value.message and "70.00" in refused.value.message
    assert wallets.balance("p", "k", START, now=0) == Decimal("70.00")


def test_a_refund_arrives_when_its_time_comes(wallets: AnyWallets) -> None:
    wallets.charge("p", "k", Decimal(50), default=START, now=0, refund_at=60)
    assert wallets.balance("p", "k", START, now=59.9) == Decimal("50.00")
    assert wallets.balance("p", "k", START, now=60) == Decimal("100.00")


def test_setting_a_balance_keeps_refunds_still_to_come(wallets: AnyWallets) -> None:
    wallets.charge("p", "k", Decimal(50), default=START, now=0, refund_at=60)
    wallets.set_balance("p", "k", Decimal("10.5"), now=1)
    assert wallets.balance("p", "k", START, now=1) == Decimal("10.50")
    assert wallets.balance("p", "k", START, now=61) == Decimal("60.50")


def test_wallets_are_per_provider_and_key(wallets: AnyWallets) -> None:
    wallets.charge("p", "a", Decimal(1), default=START, now=0)
    assert wallets.balance("p", "b", START, now=0) == START
    assert wallets.balance("q", "a", START, now=0) == START
    assert wallets.snapshot(0) == {"p": {"a": "99.00", "b": "100.00"}, "q": {"a": "100.00"}}


def test_a_bucket_allows_its_burst_then_refuses_with_retry_after(limiter: AnyLimiter) -> None:
    limit = RateLimit(requests=3, per_seconds=60)
    for _ in range(3):
        limiter.take(("p", "k"), limit, now=0)
    with pytest.raises(ApiError) as refused:
        limiter.take(("p", "k"), limit, now=0)
    assert refused.value.kind is ErrorKind.RATE_LIMITED
    assert refused.value.headers == {"Retry-After": "20"}  # one token every 20 s
    limiter.take(("p", "other-key"), limit, now=0)  # per key


def test_a_bucket_refills_with_the_clock_up_to_its_size(limiter: AnyLimiter) -> None:
    limit = RateLimit(requests=3, per_seconds=60)
    for _ in range(3):
        limiter.take(("p", "k"), limit, now=0)
    limiter.take(("p", "k"), limit, now=20)  # one token back after 20 s
    with pytest.raises(ApiError):
        limiter.take(("p", "k"), limit, now=25)
    for _ in range(3):  # an hour later: full again, but no more than full
        limiter.take(("p", "k"), limit, now=3600)
    with pytest.raises(ApiError):
        limiter.take(("p", "k"), limit, now=3600)


def test_no_limit_means_no_limit(limiter: AnyLimiter) -> None:
    for _ in range(1000):
        limiter.take(("p", "k"), None, now=0)
    assert RateLimit.from_setting(False) is None
    assert RateLimit.from_setting({"requests": 3, "per_seconds": 60}) == RateLimit(3, 60.0)


def test_wallet_balance_and_rate_limit_settings_are_checked_on_load() -> None:
    config = Config.from_mapping(
        {
            "providers": {
                "3daistudio": {
                    "wallet_balance": 150,
                    "rate_limit": {"requests": 3, "per_seconds": 60},
                }
            }
        }
    )
    assert config.wallet_balance("3daistudio") == Decimal("150.00")
    assert config.wallet_balance("vibedream") == Decimal("1000000.00")  # instant profile
    for bad in (
        {"wallet_balance": -1},
        {"rate_limit": {"requests": 0, "per_seconds": 60}},
        {"rate_limit": True},
        {"queue_duration": [5, 1]},
    ):
        with pytest.raises(ConfigError):
            Config.from_mapping({"providers": {"3daistudio": bad}})
