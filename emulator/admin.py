"""The admin API under /_emulator/: health, clock, reset, faults, wallets. Provider-neutral."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from importlib.metadata import PackageNotFoundError, version

from starlette.requests import Request
from starlette.routing import Route

from emulator.core.auth import fingerprint
from emulator.core.clock import iso8601
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.faults import INJECTABLE, Fault
from emulator.core.http import JSONResponse, read_json
from emulator.core.runtime import Runtime, runtime
from emulator.core.wallets import money
from emulator.providers import PROVIDERS

PREFIX = "/_emulator"
MAX_ADMIN_BODY = 64 * 1024

try:
    VERSION = version("imagegen-emulator")
except PackageNotFoundError:  # running from a source tree that was never installed
    VERSION = "0+unknown"


def render_error(error: ApiError) -> JSONResponse:
    body = {"error": {"code": error.kind.value, "message": error.message}}
    return JSONResponse(body, status_code=error.status, headers=error.headers)


def clock_view(rt: Runtime) -> dict[str, object]:
    now = rt.clock.now()
    return {
        "mode": rt.clock.mode,
        "now": iso8601(now),
        "epoch": now,
        "offset": rt.clock.offset,
    }


async def health(request: Request) -> JSONResponse:
    rt = runtime(request)
    return JSONResponse(
        {
            "status": "ok",
            "version": VERSION,
            "providers": [provider.id for provider in PROVIDERS],
            "seed": rt.rng.seed,
            "clock": clock_view(rt),
            "store": rt.store.counts(),
        }
    )


async def get_clock(request: Request) -> JSONResponse:
    return JSONResponse(clock_view(runtime(request)))


async def advance_clock(request: Request) -> JSONResponse:
    rt = runtime(request)
    body = await read_json(request, MAX_ADMIN_BODY)
    seconds = body.get("seconds") if isinstance(body, dict) else None
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not math.isfinite(seconds)
    ):
        raise ApiError(ErrorKind.INVALID_REQUEST, 'Send {"seconds": N} with N a number >= 0.')
    if seconds < 0:
        raise ApiError(
            ErrorKind.INVALID_REQUEST, "The clock only moves forward: seconds must be >= 0."
        )
    rt.clock.advance(float(seconds))
    return JSONResponse(clock_view(rt))


async def reset(request: Request) -> JSONResponse:
    rt = runtime(request)
    rt.reset()
    return JSONResponse({"status": "reset", "clock": clock_view(rt)})


async def get_faults(request: Request) -> JSONResponse:
    return JSONResponse({"pending": runtime(request).faults.pending()})


async def queue_fault(request: Request) -> JSONResponse:
    """{"provider": "vertex", "error": "rate_limited", "count": 1, "retry_after": 1}: the
    provider's next `count` requests fail with that error, in the provider's own shape."""
    rt = runtime(request)
    body = await read_json(request, MAX_ADMIN_BODY)
    if not isinstance(body, dict):
        raise ApiError(ErrorKind.INVALID_REQUEST, "Send a JSON object.")
    provider = body.get("provider")
    check_provider(provider)
    count = body.get("count", 1)
    retry_after = body.get("retry_after", 1)
    for name, value in (("count", count), ("retry_after", retry_after)):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10_000:
            raise ApiError(ErrorKind.INVALID_REQUEST, f"{name} must be a whole number 0..10000.")
    try:
        fault = Fault.parse(f"{body.get('error')}; retry-after={retry_after}")
    except ValueError:
        names = ", ".join(INJECTABLE)
        raise ApiError(ErrorKind.INVALID_REQUEST, f"error must be one of {names}.") from None
    rt.faults.push(provider, fault, count)
    return JSONResponse({"pending": rt.faults.pending()})


async def clear_faults(request: Request) -> JSONResponse:
    rt = runtime(request)
    rt.faults.clear()
    return JSONResponse({"pending": rt.faults.pending()})


async def get_wallets(request: Request) -> JSONResponse:
    """Every wallet opened so far: balances by provider and key fingerprint."""
    rt = runtime(request)
    return JSONResponse({"wallets": rt.wallets.snapshot(rt.clock.now())})


async def wallet(request: Request) -> JSONResponse:
    """{"provider", "key", "balance"?}: set the key's balance (a number or a decimal string),
    or read it when no balance is given. The key itself is never echoed or stored."""
    rt = runtime(request)
    body = await read_json(request, MAX_ADMIN_BODY)
    if not isinstance(body, dict):
        raise ApiError(ErrorKind.INVALID_REQUEST, "Send a JSON object.")
    provider, key = body.get("provider"), body.get("key")
    check_provider(provider)
    if not isinstance(key, str) or not key:
        raise ApiError(ErrorKind.INVALID_REQUEST, "key must be the API key, a non-empty string.")
    owner, now = fingerprint(key), rt.clock.now()
    if "balance" in body:
        rt.wallets.set_balance(provider, owner, parse_amount(body["balance"]), now)
    balance = rt.wallets.balance(provider, owner, rt.config.wallet_balance(provider), now)
    return JSONResponse({"provider": provider, "key_fingerprint": owner, "balance": str(balance)})


def check_provider(provider: object) -> None:
    known = [p.id for p in PROVIDERS]
    if provider not in known:
        raise ApiError(ErrorKind.INVALID_REQUEST, f"provider must be one of {', '.join(known)}.")


def parse_amount(value: object) -> Decimal:
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InvalidOperation
        amount = Decimal(str(value))
        if not amount.is_finite() or amount < 0:
            raise InvalidOperation
    except InvalidOperation:
        raise ApiError(
            ErrorKind.INVALID_REQUEST, 'balance must be a number >= 0, e.g. 1000 or "950.50".'
        ) from None
    return money(amount)


routes = [
    Route(f"{PREFIX}/health", health, methods=["GET"]),
    Route(f"{PREFIX}/clock", get_clock, methods=["GET"]),
    Route(f"{PREFIX}/clock/advance", advance_clock, methods=["POST"]),
    Route(f"{PREFIX}/reset", reset, methods=["POST"]),
    Route(f"{PREFIX}/faults", get_faults, methods=["GET"]),
    Route(f"{PREFIX}/faults", queue_fault, methods=["POST"]),
    Route(f"{PREFIX}/faults", clear_faults, methods=["DELETE"]),
    Route(f"{PREFIX}/wallets", get_wallets, methods=["GET"]),
    Route(f"{PREFIX}/wallets", wallet, methods=["POST"]),
]
