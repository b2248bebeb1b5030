"""Wallets on Redis: the same rules as emulator/core/wallets.py, each read-modify-write one Lua
script (lua/wallet.lua), so concurrent charges on several workers never overdraw. Amounts
travel as whole cents."""

from __future__ import annotations

import os
from base64 import urlsafe_b64encode
from decimal import Decimal

from emulator.core.redis.link import RedisLink
from emulator.core.wallets import CENTS, money, short_of

WALLET = ("wallet",)


def cents(amount: Decimal) -> str:
    return str(int(money(amount) / CENTS))


def from_cents(value: bytes | str | int) -> Decimal:
    return (Decimal(int(value)) * CENTS).quantize(CENTS)


def charge_args(
    provider: str,
    owner: str,
    amount: Decimal,
    default: Decimal,
    now: float,
    refund_at: float | None,
) -> list[str]:
    """The charge's arguments as the scripts take them (after the namespace)."""
    return [
        provider,
        owner,
        cents(amount),
        cents(default),
        repr(now),
        "" if refund_at is None else repr(refund_at),
    ]


class RedisWallets:
    def __init__(self, link: RedisLink) -> None:
        self.link = link

    def balance(self, provider: str, owner: str, default: Decimal, now: float) -> Decimal:
        args = [provider, owner, cents(default), repr(now), ""]
        return from_cents(self.link.run("balance", args, WALLET))

    def set_balance(self, provider: str, owner: str, amount: Decimal, now: float) -> None:
        args = [provider, owner, cents(amount), repr(now), cents(amount)]
        self.link.run("balance", args, WALLET)

    def charge(
        self,
        provider: str,
        owner: str,
        amount: Decimal,
        *,
        default: Decimal,
        now: float,
        refund_at: float | None = None,
    ) -> Decimal:
        token = urlsafe_b64encode(os.urandom(9)).decode()  # tells one refund from another
        args = [*charge_args(provider, owner, amount, default, now, refund_at), token]
        ok, left = self.link.run("charge", args, WALLET)
        if ok != 1:
            raise short_of(money(amount), from_cents(left))
        return from_cents(left)

    def snapshot(self, now: float) -> dict[str, dict[str, str]]:
        flat = self.link.run("wallets", [repr(now)], WALLET)
        rows = sorted(
            (flat[i].decode(), flat[i + 1].decode(), from_cents(flat[i + 2]))
            for i in range(0, len(flat), 3)
        )
        out: dict[str, dict[str, str]] = {}
        for provider, owner, balance in rows:
            out.setdefault(provider, {})[owner] = str(balance)
        return out

    def clear(self) -> None:
        """Done by the reset script, with everything else."""
