"""`imagegen-emulator contract-check`: the contract probes against any base URL, as a drift
report (contracts/conformance.py)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from decimal import Decimal

import httpx

from contracts import conformance
from contracts.budget import Budget, Unit
from emulator.commands.common import ADMIN_TOKEN_ENV, fail, is_http_url


def add_parser(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "contract-check",
        help="check that an API (real or emulated) still matches the contracts",
        description="Run the contract probes against the base URL and print every field of\n"
        "the answers that differs from the contract. Exit status: 0 when all conforms,\n"
        "1 on drift, 2 on a usage or connection error. Against an emulator (it answers\n"
        "/_emulator/health) jobs are finished by advancing its clock through the admin\n"
        "API; otherwise they are polled in real time, up to --timeout.",
        epilog="examples:\n"
        "  imagegen-emulator contract-check --provider vibedream --base-url http://127.0.0.1:8000"
        " --api-key any\n"
        "  VIBEDREAM_API_KEY=... imagegen-emulator contract-check --provider vibedream"
        " --base-url https://api.vibedream.ai\n"
        "  imagegen-emulator contract-check --provider vertex   # VERTEX_GATEWAY_BASE_URL\n\n"
        "keys: "
        + ", ".join(f"{provider} {env}" for provider, env in conformance.KEY_ENV.items())
        + f"; admin token of a guarded emulator: {ADMIN_TOKEN_ENV}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument("--provider", required=True, choices=conformance.PROVIDERS)
    check.add_argument(
        "--base-url",
        metavar="URL",
        help="the API to check, e.g. http://127.0.0.1:8000 or https://api.vibedream.ai"
        f" (vertex: default {conformance.BASE_URL_ENV['vertex']})",
    )
    check.add_argument(
        "--api-key",
        metavar="KEY",
        help="API key (default: the provider's environment variable); never printed",
    )
    check.add_argument(
        "--budget-cents",
        type=float,
        metavar="N",
        help="most US cents the check may spend (vibedream, vertex; default 75)",
    )
    check.add_argument(
        "--budget-credits",
        type=float,
        metavar="N",
        help="most credits the check may spend (3daistudio; default 150)",
    )
    check.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="seconds a job (and a request) may take (default 300)",
    )


def run(args: argparse.Namespace) -> int:
    provider = args.provider
    base_env = conformance.BASE_URL_ENV.get(provider)
    base_url = args.base_url or (os.environ.get(base_env, "") if base_env else "")
    if not base_url:
        hint = f" (or set {base_env})" if base_env else ""
        return fail(f"contract-check: give --base-url{hint}")
    if not is_http_url(base_url):
        return fail("contract-check: --base-url must be http(s)://host[:port][/prefix]")
    key_env = conformance.KEY_ENV[provider]
    key = args.api_key or os.environ.get(key_env)
    if not key:
        return fail(f"contract-check: no API key: give --api-key or set {key_env}")
    limits = {Unit.CENTS: args.budget_cents, Unit.CREDITS: args.budget_credits}
    if any(v is not None and not (math.isfinite(v) and v >= 0) for v in limits.values()):
        return fail("contract-check: a budget must be a number >= 0")
    timeout = conformance.DEFAULT_TIMEOUT if args.timeout is None else args.timeout
    if not (math.isfinite(timeout) and timeout > 0):
        return fail("contract-check: --timeout must be a number of seconds > 0")
    budget = Budget(
        {unit: Decimal(str(value)) for unit, value in limits.items() if value is not None}
    )
    print(f"checking {provider} at {base_url.rstrip('/')} ...", file=sys.stderr, flush=True)
    try:
        with httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout) as client:
            report = conformance.check(
                provider,
                client,
                key,
                budget=budget,
                timeout=timeout,
                admin_token=os.environ.get(ADMIN_TOKEN_ENV),
            )
    except httpx.TransportError as exc:
        # The message names the failure, not the request: no header (no key) can leak.
        reason = str(exc) or type(exc).__name__
        return fail(f"contract-check: cannot complete the check against {base_url}: {reason}")
    print(report.render(), flush=True)
    return 0 if report.conforms else 1
