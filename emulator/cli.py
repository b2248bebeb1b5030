"""Command line: `imagegen-emulator serve` (also `python -m emulator serve`), and
`imagegen-emulator contract-check`, which runs the contract probes against any base URL."""

from __future__ import annotations

import argparse
import errno
import ipaddress
import math
import os
import socket
import sys
from collections.abc import Sequence
from decimal import Decimal

import httpx
import uvicorn

from contracts import conformance
from contracts.budget import Budget, Unit
from emulator.app import create_app
from emulator.config import Config, ConfigError
from emulator.core.runtime import Runtime
from emulator.core.scenarios import ScenarioError
from emulator.providers import PROVIDERS

PROG = "imagegen-emulator"
SERVE_PROFILE = "dev"  # unless --profile or the config file's `profile` says otherwise
ADMIN_TOKEN_ENV = "IMAGEGEN_EMULATOR_ADMIN_TOKEN"
MIN_TOKEN_LENGTH = 8


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Offline emulator of commercial image-generation APIs."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the emulator",
        description="Serve every emulated provider and the admin API (/_emulator/) on one port.",
        epilog="examples:\n  imagegen-emulator serve\n"
        "  imagegen-emulator serve --port 9000 --seed 42\n"
        "  imagegen-emulator serve --profile chaos --seed 7\n"
        "  imagegen-emulator serve --config emulator.toml --clock virtual\n"
        '  imagegen-emulator serve --host 0.0.0.0 --admin-token "$(openssl rand -hex 16)"',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    serve.add_argument(
        "--port", type=int, default=8000, help="port; 0 picks a free one (default 8000)"
    )
    serve.add_argument("--config", metavar="FILE", help="TOML configuration file")
    serve.add_argument(
        "--profile",
        help="instant, dev (default), realistic, chaos, or one of the config's [profiles];"
        " overrides the config's `profile`",
    )
    serve.add_argument(
        "--admin-token",
        metavar="TOKEN",
        help="require this token on /_emulator/ (Authorization: Bearer TOKEN); needed when"
        " --host is not a loopback address (default: the env var IMAGEGEN_EMULATOR_ADMIN_TOKEN)",
    )
    serve.add_argument(
        "--seed", type=int, help="seed of every random choice (default: config, else random)"
    )
    serve.add_argument(
        "--clock",
        choices=["real", "virtual"],
        help="real: wall time (default); virtual: stands still",
    )
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument("--root-path", default="", help="path prefix when served behind a proxy")
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies whose X-Forwarded-Proto/For headers are trusted (default 127.0.0.1)",
    )
    add_contract_check(commands)
    return parser


def add_contract_check(commands: argparse._SubParsersAction) -> None:
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
        help="most US cents the check may spend (vibedream, vertex; default 50)",
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


def is_http_url(text: str) -> bool:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, ValueError):
        return False
    return url.scheme in ("http", "https") and bool(url.host)


def contract_check(args: argparse.Namespace) -> int:
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


def fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return 2


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """Bind before starting, to refuse a busy port clearly and to learn the port when it is 0."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this. uvloop sets it per connection anyway, but the plain
    # asyncio loop does not for a pre-bound socket: Nagle's algorithm then adds ~44 ms to
    # every response (bench/http_throughput.py --nagle-check shows both).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def banner(base_url: str, runtime: Runtime) -> str:
    seed = runtime.rng.seed
    lines = [
        f"imagegen-emulator listening on {base_url}",
        f"  profile: {runtime.config.profile}    clock: {runtime.clock.mode}"
        f"    seed: {seed} (replay with --seed {seed})",
        f"  admin: {base_url}/_emulator/health"
        + ("  (admin token required)" if runtime.config.admin_token else ""),
    ]
    for provider in PROVIDERS:
        lines += [
            "",
            f"{provider.title}: accepts {runtime.keys.describe(provider.id)}. Try:",
            provider.example_curl(base_url),
        ]
    return "\n".join(lines)


def serve(args: argparse.Namespace) -> int:
    try:
        config = (
            Config.load(args.config, SERVE_PROFILE)
            if args.config
            else Config(profile=SERVE_PROFILE)
        )
        if args.profile:
            config = config.with_profile(args.profile)
    except ConfigError as exc:
        return fail(str(exc))
    token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or config.admin_token
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        return fail(f"the admin token must be at least {MIN_TOKEN_LENGTH} characters")
    if token is None and not is_loopback(args.host):
        return fail(
            f"listening on {args.host} exposes the admin API beyond this machine:"
            f" give --admin-token (or {ADMIN_TOKEN_ENV})"
        )
    config.admin_token = token
    if args.seed is not None:
        config.seed = args.seed
    if args.clock:
        config.clock = args.clock
    if not 0 <= args.port <= 65535:
        return fail(f"--port must be between 0 and 65535, got {args.port}")
    try:
        sock = listen(args.host, args.port)
    except OSError as exc:
        reason = "the port is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        return fail(f"cannot listen on {args.host}:{args.port}: {reason}")
    try:
        app = create_app(config)
    except ScenarioError as exc:
        sock.close()
        return fail(f"config: {exc}")
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    print(banner(f"http://{shown_host}:{port}{args.root_path}", app.state.runtime), flush=True)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=args.log_level,
            root_path=args.root_path,
            proxy_headers=True,
            forwarded_allow_ips=args.forwarded_allow_ips,
            timeout_graceful_shutdown=5,
        )
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"serve": serve, "contract-check": contract_check}
    return commands[args.command](args)
