"""`imagegen-emulator serve`: every emulated provider and the admin API on one port."""

from __future__ import annotations

import argparse
import errno
import gc
import os
import socket

import uvicorn
from starlette.types import ASGIApp

from emulator.app import create_app
from emulator.commands.common import ADMIN_TOKEN_ENV, EXAMPLES, fail, is_loopback
from emulator.config import Config, ConfigError
from emulator.core.runtime import Runtime
from emulator.core.scenarios import ScenarioError
from emulator.providers import PROVIDERS
from emulator.recording.fieldpaths import InvalidPath
from emulator.recording.har import RecordingError
from emulator.request_log import LOG_FORMATS, LogFormat, logging_config

SERVE_PROFILE = "dev"  # unless --profile or the config file's `profile` says otherwise
MIN_TOKEN_LENGTH = 8
# (young, middle, old) collection thresholds: see tune_gc.
GC_THRESHOLDS = (10_000, 10, 10)
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def add_parser(commands: argparse._SubParsersAction) -> None:
    serve = commands.add_parser(
        "serve",
        help="run the emulator",
        description="Serve every emulated provider and the admin API (/_emulator/) on one port.\n"
        "Logs one line per provider request on stderr (see --log-format, --log-level).",
        epilog=EXAMPLES + "  imagegen-emulator serve\n"
        "  imagegen-emulator serve --port 9000 --seed 42\n"
        "  imagegen-emulator serve --profile chaos --seed 7\n"
        "  imagegen-emulator serve --config emulator.toml --clock virtual\n"
        "  imagegen-emulator serve --log-format json 2>> requests.jsonl\n"
        "  imagegen-emulator serve --log-level debug      # admin requests too\n"
        "  imagegen-emulator serve --replay recordings/ --replay-strict\n"
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
        "--log-level",
        default="info",
        choices=LOG_LEVELS,
        help="info (default): a line per provider and asset request; debug: admin requests"
        " too; warning: no request lines",
    )
    serve.add_argument(
        "--log-format",
        default="text",
        choices=LOG_FORMATS,
        help="text (default), or json: one JSON object per line (stderr)",
    )
    serve.add_argument(
        "--replay",
        metavar="DIR",
        help="answer requests that match a recorded one from these recordings (a folder of"
        " .har files, or one); overrides the config's [replay] folder",
    )
    serve.add_argument(
        "--replay-strict",
        action="store_true",
        default=None,
        help="with --replay: refuse requests no recording matches (404 in the provider's"
        " error shape) instead of emulating them",
    )
    serve.add_argument("--root-path", default="", help="path prefix when served behind a proxy")
    serve.add_argument(
        "--forwarded-allow-ips",
        default="127.0.0.1",
        help="proxies whose X-Forwarded-Proto/For headers are trusted (default 127.0.0.1)",
    )


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


class ListenError(ValueError):
    """A port a command cannot listen on; str() is the one line it reports."""


def open_listening(host: str, port: int) -> socket.socket:
    """:func:`listen`, for a command: a port out of range or busy is a ListenError."""
    if not 0 <= port <= 65535:
        raise ListenError(f"--port must be between 0 and 65535, got {port}")
    try:
        return listen(host, port)
    except OSError as exc:
        reason = "the port is already in use" if exc.errno == errno.EADDRINUSE else exc.strerror
        raise ListenError(f"cannot listen on {host}:{port}: {reason}") from None


def tune_gc() -> None:
    """Collector settings for a long-running server; called once the app is built.

    A stored job is a few objects the collector tracks, so with the default first threshold
    (700 allocations) a server holding tens of thousands of jobs runs a full collection over
    all of them every few thousand submits: about a fifth of a submit's time on a 2-core
    machine, in pauses of tens of milliseconds. Frozen, the start-up objects (modules, the
    app) are left out of every collection; the young generation is collected every
    GC_THRESHOLDS[0] allocations, so full collections come about ten times less often.
    Cyclic garbage is still collected, just in larger batches."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def banner(base_url: str, runtime: Runtime) -> str:
    seed = runtime.rng.seed
    lines = [
        f"imagegen-emulator listening on {base_url}",
        f"  profile: {runtime.config.profile}    clock: {runtime.clock.mode}"
        f"    seed: {seed} (replay with --seed {seed})",
        f"  admin: {base_url}/_emulator/health"
        + ("  (admin token required)" if runtime.config.admin_token else ""),
    ]
    if runtime.config.replay_folder is not None:
        strict = (
            "strict: unmatched requests refused"
            if runtime.config.replay_strict
            else ("unmatched requests emulated")
        )
        lines.append(f"  replaying {runtime.config.replay_folder} ({strict})")
    for provider in PROVIDERS:
        lines += [
            "",
            f"{provider.title}: accepts {runtime.keys.describe(provider.id)}. Try:",
            provider.example_curl(base_url),
        ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
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
    if args.replay is not None:
        config.replay_folder = args.replay
    if args.replay_strict:
        if config.replay_folder is None:
            return fail("--replay-strict needs recordings: give --replay DIR")
        config.replay_strict = True
    try:
        sock = open_listening(args.host, args.port)
    except ListenError as exc:
        return fail(str(exc))
    try:
        app = create_app(config)
    except ScenarioError as exc:
        sock.close()
        return fail(f"config: {exc}")
    except (RecordingError, InvalidPath) as exc:
        sock.close()
        return fail(f"replay: {exc}")
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    print(banner(f"http://{shown_host}:{port}{args.root_path}", app.state.runtime), flush=True)
    tune_gc()
    serve_on(
        sock,
        app,
        args.log_level,
        args.log_format,
        root_path=args.root_path,
        forwarded_allow_ips=args.forwarded_allow_ips,
    )
    return 0


def serve_on(
    sock: socket.socket,
    app: ASGIApp,
    log_level: str = "info",
    log_format: LogFormat = "text",
    *,
    root_path: str = "",
    forwarded_allow_ips: str | None = None,
) -> None:
    """Run uvicorn on a socket from :func:`listen` until stopped (Ctrl-C), then close it: the
    server settings of every command that serves (serve, record)."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            # The commands log each request themselves (request_log.py): uvicorn's access log
            # would repeat it without the provider, route or fault, and print ?key= queries.
            log_config=logging_config(log_level, log_format),
            log_level=log_level,
            access_log=False,
            root_path=root_path,
            proxy_headers=forwarded_allow_ips is not None,
            forwarded_allow_ips=forwarded_allow_ips,
            timeout_graceful_shutdown=5,
        )
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
