"""The admin API under /_emulator/: health, config, clock, reset, scenarios (and faults, their
short form), wallets, the request journal, and the dashboard's page, job list and thumbnails
(dashboard.py). Provider-neutral; JSON in and out.

When the config has an admin token, every admin request must carry it, as
`Authorization: Bearer <token>` or `X-Emulator-Admin-Token: <token>`; only the dashboard's
page is open (it holds no data: its scripts ask the admin API, with the token).
"""

from __future__ import annotations

import hmac
import math
import os
from decimal import Decimal, InvalidOperation
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from emulator import config_keys, dashboard
from emulator.config import Config, ConfigError
from emulator.core.auth import fingerprint
from emulator.core.clock import iso8601
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.faults import NAMES, Fault, canonical_name
from emulator.core.http import (
    JSONResponse,
    bearer_token,
    query_params,
    read_json,
    route_path,
    whole_number,
)
from emulator.core.journal import FILTERS
from emulator.core.runtime import Runtime, runtime
from emulator.core.scenarios import ScenarioError, Scenarios
from emulator.core.wallets import money
from emulator.core.workers import worker_index
from emulator.providers import PROVIDERS

PREFIX = "/_emulator"
DASHBOARD_PAGE = PREFIX + dashboard.PAGE_PATH
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


async def read_admin_json(request: Request) -> Any:
    """A JSON body, whatever its Content-Type: `curl -d '{...}'` sends it as a form."""
    return await read_json(request, MAX_ADMIN_BODY, check_media_type=False)


async def health(request: Request) -> JSONResponse:
    """200 when the emulator can answer; 503, saying why, while a shared store cannot be
    reached (a load balancer's readiness check). It recovers by itself: each check asks again."""
    rt: Runtime = request.app.state.runtime  # not runtime(request): its read would fail first
    problem = rt.backend.problem()
    body: dict[str, object] = {
        "status": "ok" if problem is None else "unavailable",
        "version": VERSION,
        "providers": [provider.id for provider in PROVIDERS],
        "profile": rt.config.profile,
        "seed": rt.rng.seed,
        # Which process answered (serve --workers N: each has its number and pid).
        "worker": {"index": worker_index(), "pid": os.getpid()},
        "backend": {"store": rt.backend.description, "ready": problem is None},
    }
    if problem is not None:
        body["backend"] = {**body["backend"], "problem": problem}  # type: ignore[dict-item]
        return JSONResponse(body, status_code=503)
    rt = runtime(request)
    body.update(clock=clock_view(rt), store=rt.store.counts(), uploads=rt.uploads.counts())
    return JSONResponse(body)


async def get_clock(request: Request) -> JSONResponse:
    return JSONResponse(clock_view(runtime(request)))


async def advance_clock(request: Request) -> JSONResponse:
    rt = runtime(request)
    body = await read_admin_json(request)
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


async def get_config(request: Request) -> JSONResponse:
    return JSONResponse(config_view(runtime(request).config))


async def replace_config(request: Request) -> JSONResponse:
    """The body is a whole config, in the file's shape (JSON instead of TOML)."""
    rt = runtime(request)
    body = await read_admin_json(request)
    if not isinstance(body, dict):
        raise ApiError(ErrorKind.INVALID_REQUEST, "Send the config as a JSON object.")
    try:
        # A key shown by its fingerprint (config_view) sent back: the key in force.
        body = config_keys.restored(body, rt.config.to_mapping())
        config = Config.from_mapping(body)
        Scenarios().load(config.scenarios, rt.provider_ids, "scenarios")  # a dry run
    except (ConfigError, ScenarioError, config_keys.UnknownFingerprint) as exc:
        message = config_keys.redacted(str(exc), config_keys.keys_in(body))
        raise ApiError(ErrorKind.INVALID_REQUEST, f"config: {message}") from None
    # Who may reach the admin API (its token, the origins of pages allowed to call it) is
    # decided at start-up, not through the API itself (Runtime.apply_config keeps them).
    rt.apply_config(config)
    return JSONResponse(config_view(rt.config))


def config_view(config: Config) -> dict[str, object]:
    """The config in its file shape, its keys by fingerprint (config_keys.py)."""
    return {"config": config_keys.masked(config.to_mapping())}


async def get_scenarios(request: Request) -> JSONResponse:
    return JSONResponse({"scenarios": runtime(request).scenarios.list()})


async def add_scenarios(request: Request) -> JSONResponse:
    """One scenario object, or a list of them (core/scenarios.py has the format)."""
    rt = runtime(request)
    body = await read_admin_json(request)
    entries = body if isinstance(body, list) else [body]
    where = "scenarios" if isinstance(body, list) else ""
    try:  # all or nothing: a list with one bad scenario adds none
        added = rt.scenarios.load(entries, rt.provider_ids, where)
    except ScenarioError as exc:
        raise ApiError(ErrorKind.INVALID_REQUEST, f"scenario: {exc}") from None
    views = [scenario.view() for scenario in added]
    return JSONResponse({"added": views, "scenarios": rt.scenarios.list()})


async def clear_scenarios(request: Request) -> JSONResponse:
    """All of them, or only `?id=s3`."""
    rt = runtime(request)
    scenario_id = request.query_params.get("id")
    if scenario_id is None:
        rt.scenarios.clear()
    elif not rt.scenarios.remove(scenario_id):
        raise ApiError(ErrorKind.NOT_FOUND, f"No scenario with id {scenario_id!r}.")
    return JSONResponse({"scenarios": rt.scenarios.list()})


async def get_faults(request: Request) -> JSONResponse:
    return JSONResponse({"pending": runtime(request).scenarios.pending_per_provider()})


async def queue_fault(request: Request) -> JSONResponse:
    """{"provider": "vertex", "error": "429", "count": 1, "retry_after": 1}: the provider's
    next `count` requests fail with that fault (a scenario matching the whole provider)."""
    rt = runtime(request)
    body = await read_admin_json(request)
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
        fault = Fault(canonical_name(str(body.get("error"))), retry_after)
    except ValueError:
        names = ", ".join(NAMES)
        raise ApiError(ErrorKind.INVALID_REQUEST, f"error must be one of {names}.") from None
    if count:
        rt.scenarios.queue(provider, fault, count)
    return JSONResponse({"pending": rt.scenarios.pending_per_provider()})


async def clear_faults(request: Request) -> JSONResponse:
    """Clears what GET /_emulator/faults shows; scenarios with a narrower match stay."""
    rt = runtime(request)
    rt.scenarios.clear_provider_wide()
    return JSONResponse({"pending": rt.scenarios.pending_per_provider()})


# A limit beyond the journal's size simply gives all of it.
MAX_LIMIT = 1_000_000_000


async def get_requests(request: Request) -> JSONResponse:
    """The journal, newest first; filter by any of FILTERS (?provider=vertex&status=429) and
    `limit`."""
    rt = runtime(request)
    params = query_params(request, (*FILTERS, "limit"))
    limit = whole_number(params.get("limit"), "limit", rt.journal.size, 1, MAX_LIMIT)
    filters = {name: params[name] for name in FILTERS if name in params}
    entries = rt.journal.query(filters, limit)
    return JSONResponse({"requests": entries, "capacity": rt.journal.size})


async def clear_requests(request: Request) -> JSONResponse:
    runtime(request).journal.clear()
    return JSONResponse({"requests": []})


async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
    error = ApiError(
        ErrorKind.UNAUTHENTICATED,
        "The admin API needs the admin token: send Authorization: Bearer <token>"
        " or X-Emulator-Admin-Token: <token>.",
    )
    await render_error(error)(scope, receive, send)


def refuse_cross_site(reason: str) -> JSONResponse:
    """403 to a request a browser sent from another page (cross_site.py)."""
    return render_error(ApiError(ErrorKind.PERMISSION_DENIED, reason))


def admin_allowed(request: Request, token: str | None) -> bool:
    """Whether an admin request carries the token (always, when none is configured). The
    dashboard's page is open: it is the same static file for everyone, and asks for the token
    to make its own requests."""
    if token is None:
        return True
    if route_path(request.scope) == DASHBOARD_PAGE and request.method in ("GET", "HEAD"):
        return True
    given = request.headers.get("x-emulator-admin-token") or bearer_token(request) or ""
    return hmac.compare_digest(given.encode(), token.encode())


async def get_wallets(request: Request) -> JSONResponse:
    """Every wallet opened so far: balances by provider and key fingerprint."""
    rt = runtime(request)
    return JSONResponse({"wallets": rt.wallets.snapshot(rt.clock.now())})


async def wallet(request: Request) -> JSONResponse:
    """{"provider", "key", "balance"?}: set the key's balance (a number or a decimal string),
    or read it when no balance is given. The key itself is never echoed or stored."""
    rt = runtime(request)
    body = await read_admin_json(request)
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
    Route(f"{PREFIX}/config", get_config, methods=["GET"]),
    Route(f"{PREFIX}/config", replace_config, methods=["PUT", "POST"]),
    Route(f"{PREFIX}/scenarios", get_scenarios, methods=["GET"]),
    Route(f"{PREFIX}/scenarios", add_scenarios, methods=["POST"]),
    Route(f"{PREFIX}/scenarios", clear_scenarios, methods=["DELETE"]),
    Route(f"{PREFIX}/requests", get_requests, methods=["GET"]),
    Route(f"{PREFIX}/requests", clear_requests, methods=["DELETE"]),
    Route(f"{PREFIX}/faults", get_faults, methods=["GET"]),
    Route(f"{PREFIX}/faults", queue_fault, methods=["POST"]),
    Route(f"{PREFIX}/faults", clear_faults, methods=["DELETE"]),
    Route(f"{PREFIX}/wallets", get_wallets, methods=["GET"]),
    Route(f"{PREFIX}/wallets", wallet, methods=["POST"]),
    *dashboard.routes(PREFIX),
]
