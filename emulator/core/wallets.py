"""Credit balances per provider and API key, a pure function of the clock.

A charge is final, or is refunded at a known time (a job that will fail gives its credits back
when it fails): the balance at time t counts a refund once t has reached it, so nothing runs in
the background and advancing the clock refunds at once. Amounts are Decimals (two places on
the wire); which requests cost what is the provider's price table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from emulator.core.errors import ApiError, ErrorKind

CENTS = Decimal("0.01")


def money(amount: Decimal | int | float | str) -> Decimal:
    return Decimal(str(amount)).quantize(CENTS)


def short_of(amount: Decimal, balance: Decimal) -> ApiError:
    """The 402 of a charge the balance cannot pay (nothing is taken)."""
    return ApiError(
        ErrorKind.INSUFFICIENT_CREDITS,
        f"Not enough credits: this request costs {amount},"
        f" the balance is {balance}. Top up your wallet.",
    )


@dataclass(frozen=True, slots=True)
class Charge:
    """What a job costs, taken when it is stored (in one step with it, on a shared store)."""

    provider: str
    owner: str
    amount: Decimal
    default: Decimal  # the balance a wallet opens with
    refund_at: float | None = None  # when the amount comes back (a job that will fail)


@dataclass
class Wallet:
    base: Decimal  # the balance before refunds still to come
    refunds: list[tuple[float, Decimal]] = field(default_factory=list)  # (when, amount)

    def balance(self, now: float) -> Decimal:
        self._settle(now)
        return self.base

    def _settle(self, now: float) -> None:
        due = [amount for when, amount in self.refunds if when <= now]
        if due:
            self.base += sum(due, Decimal(0))
            self.refunds = [(when, amount) for when, amount in self.refunds if when > now]


class Wallets:
    """Wallets per (provider, key fingerprint), opened on first use with the default balance."""

    def __init__(self) -> None:
        self._wallets: dict[tuple[str, str], Wallet] = {}

    def _wallet(self, provider: str, owner: str, default: Decimal) -> Wallet:
        wallet = self._wallets.get((provider, owner))
        if wallet is None:
            wallet = self._wallets[provider, owner] = Wallet(money(default))
        return wallet

    def balance(self, provider: str, owner: str, default: Decimal, now: float) -> Decimal:
        return self._wallet(provider, owner, default).balance(now)

    def set_balance(self, provider: str, owner: str, amount: Decimal, now: float) -> None:
        """The balance is `amount` now; refunds still to come are still added when due."""
        wallet = self._wallet(provider, owner, amount)
        wallet.balance(now)
        wallet.base = money(amount)

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
        """Take `amount`, or raise a 402 ApiError (nothing taken) when the balance is short.
        With refund_at, the amount comes back at that time. Returns the new balance."""
        amount = money(amount)
        wallet = self._wallet(provider, owner, default)
        balance = wallet.balance(now)
        if balance < amount:
            raise short_of(amount, balance)
        wallet.base -= amount
        if refund_at is not None:
            wallet.refunds.append((refund_at, amount))
        return wallet.base

    def snapshot(self, now: float) -> dict[str, dict[str, str]]:
        """Balances by provider and key fingerprint, for the admin API."""
        out: dict[str, dict[str, str]] = {}
        for (provider, owner), wallet in sorted(self._wallets.items()):
            out.setdefault(provider, {})[owner] = str(wallet.balance(now))
        return out

    def clear(self) -> None:
        self._wallets.clear()
