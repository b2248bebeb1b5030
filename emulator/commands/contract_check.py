"""`imagegen-emulator contract-check`: the contract probes against any base URL, as a drift
report (contracts/conformance.py)."""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from decimal import Decimal

import httpx

from contracts import conformance, recorded
from contracts.budget import Budget, Unit
from contracts.findings import Report
from emulator.commands.common import ADMIN_TOKEN_ENV, fail, is_http_url
from emulator.recording.har import RecordingError, read_har, read_recordings


def add_parser(commands: argparse._SubParsersAction) -> None:
    check = commands.add_parser(
        "contract-check",
        help="check that an API (real or emulated) still matches the contracts",
        description="Run the contract probes against the base URL and print every field of\n"
        "the answers that differs from the contract. Exit status: 0 when all conforms,\n"
        "1 on drift, 2 on a usage or connection error. Against an emulator (it answers\n"
        "/_emulator/health) jobs are finished by advancing its clock through the admin\n"
        "API; otherwise they are polled in real time, up to --timeout. With --recordings\n"
        "DIR it checks recorded traffic (HAR files) instead, offline; exit status 2 when\n"
        "DIR is missing, holds no *.har, or a file is corrupt or not HAR.",
        epilog="examples:\n"
        "  imagegen-emulator contract-check --provider vibedream --base-url http://127.0.0.1:8000"
        " --api-key any\n"
        "  VIBEDREAM_API_KEY=... imagegen-emulator contract-check --provider vibedream"
        " --base-url https://api.vibedream.ai\n"
        "  imagegen-emulator contract-check --provider vertex   # VERTEX_GATEWAY_BASE_URL\n"
        "  imagegen-emulator contract-check --recordings recordings/ --format json\n\n"
        "keys: "
        + ", ".join(f"{provider} {env}" for provider, env in conformance.KEY_ENV.items())
        + f"; admin token of a guarded emulator: {ADMIN_TOKEN_ENV}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check.add_argument(
        "--provider", choices=conformance.PROVIDERS, help="the API to probe (with --base-url)"
    )
    target = check.add_mutually_exclusive_group()
    target.add_argument(
        "--recordings",
        metavar="DIR",
        help="check recorded traffic instead: every exchange of the HAR files (*.har) in DIR"
        " against the contracts, offline (no network, no key)",
    )
    target.add_argument(
        "--base-url",
        metavar="URL",
        help="the API to check, e.g. http://127.0.0.1:8000 or https://api.vibedream.ai"
        f" (vertex: default {conformance.BASE_URL_ENV['vertex']})",
    )
    check.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="the report as readable text (default) or as JSON, for CI",
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
    if args.recordings is not None:
        return run_recordings(args)
    provider = args.provider
    if provider is None:
        return fail("contract-check: give --provider with --base-url, or --recordings DIR")
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
    return show(report, args.format)


def run_recordings(args: argparse.Namespace) -> int:
    """The drift of recorded traffic: offline, so no provider, key, budget or timeout."""
    unused = [
        option
        for option, value in (
            ("--provider", args.provider),
            ("--api-key", args.api_key),
            ("--budget-cents", args.budget_cents),
            ("--budget-credits", args.budget_credits),
            ("--timeout", args.timeout),
        )
        if value is not None
    ]
    if unused:
        return fail(f"contract-check: {', '.join(unused)} cannot be used with --recordings")
    try:
        sessions = recorded.sessions(args.recordings, read_har, read_recordings)
    except RecordingError as exc:
        return fail(f"contract-check: {exc}")
    return show(recorded.check_recordings(sessions, args.recordings), args.format)


def show(report: Report, form: str) -> int:
    """Print the report; the exit status: 0 when it conforms, 1 on drift."""
    if form == "json":
        print(json.dumps(report.as_dict(), indent=2), flush=True)
    else:
        print(report.render(), flush=True)
    return 0 if report.conforms else 1
