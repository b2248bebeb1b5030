"""`imagegen-emulator serve`: every emulated provider and the admin API on one port."""

from __future__ import annotations

import argparse
import dataclasses
import errno
import gc
import json
import os
import socket
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors.multiprocess import Multiprocess, Process

from emulator.app import create_app
from emulator.commands.common import ADMIN_TOKEN_ENV, EXAMPLES, PROG, fail, is_loopback
from emulator.config import Config, ConfigError
from emulator.core.backends import MEMORY
from emulator.core.errors import ApiError
from emulator.core.randomness import SeededRandom
from emulator.core.runtime import Runtime
from emulator.core.scenarios import ScenarioError
from emulator.core.urls import is_store_url, safe_url
from emulator.core.workers import WORKER_ENV
from emulator.providers import PROVIDERS
from emulator.recording.fieldpaths import InvalidPath
from emulator.recording.har import RecordingError
from emulator.request_log import LOG_FORMATS, LogFormat, logging_config

SERVE_PROFILE = "dev"  # unless --profile or the config file's `profile` says otherwise
MIN_TOKEN_LENGTH = 8
# (young, middle, old) collection thresholds: see tune_gc.
GC_THRESHOLDS = (10_000, 10, 10)
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
STORE_ENV = "IMAGEGEN_EMULATOR_STORE"
REDIS_URL_ENV = "REDIS_URL"
# The config `serve --workers N` resolved, for its workers to rebuild (config_for_workers).
WORKER_CONFIG_ENV = "IMAGEGEN_EMULATOR_WORKER_CONFIG"
# A worker started after the first N (a crash, SIGHUP, SIGTTIN) is numbered N + its pid:
# never a number a live worker has, so its ids (forked from the seed per number) are its own.
REPLACEMENT = "+pid"
NO_REDIS = "the Redis store needs the redis package: pip install 'imagegen-emulator[redis]'"


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
        '  imagegen-emulator serve --host 0.0.0.0 --admin-token "$(openssl rand -hex 16)"\n'
        "  imagegen-emulator serve --store redis://127.0.0.1:6379/0 --workers 4",
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
    serve.add_argument(
        "--store",
        metavar="URL",
        help="where the state lives: memory (default) or"
        " redis://[:password@]host:port/db[?prefix=name], rediss:// for TLS; the env var"
        f" {STORE_ENV} or {REDIS_URL_ENV} is used when neither --store nor the config says"
        " (a password is better there: a command line is visible to every user)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="N processes answering on one port (default 1); more than 1 needs a Redis --store",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also serve requests whose Host header names NAME (again for more; *.example.com"
        " for its subdomains, * for any): on a loopback --host only loopback names are served"
        " otherwise, a defence against DNS rebinding; adds to the config's allowed_hosts",
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


def banner(base_url: str, runtime: Runtime, store: str | None = None, workers: int = 1) -> str:
    """What `serve` prints once it listens; `store`: the store's description (default the
    runtime's), never with its password."""
    seed = runtime.rng.seed
    lines = [
        f"imagegen-emulator listening on {base_url}",
        f"  profile: {runtime.config.profile}    clock: {runtime.clock.mode}"
        f"    seed: {seed} (replay with --seed {seed})",
        f"  store: {store or runtime.backend.description}"
        + (f"    workers: {workers}" if workers > 1 else ""),
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


# ---------------------------------------------------------------------- the store


def file_store(path: str | None) -> str | None:
    """The `store` a config file sets itself (None: it says nothing; Config's default would
    hide that). Read after Config.load accepted the file."""
    if path is None:
        return None
    store = tomllib.loads(Path(path).read_text(encoding="utf-8")).get("store")
    return store if isinstance(store, str) else None


def resolve_store(
    option: str | None, from_file: str | None, environ: Mapping[str, str]
) -> tuple[str, str]:
    """(the store, who named it): --store, else the config file, else IMAGEGEN_EMULATOR_STORE,
    else REDIS_URL, else memory. An empty value counts as none."""
    for source, value in (
        ("--store", option),
        ("config: store", from_file),
        (STORE_ENV, environ.get(STORE_ENV)),
        (REDIS_URL_ENV, environ.get(REDIS_URL_ENV)),
    ):
        if value:
            return value, source
    return MEMORY, "default"


def store_refusal(store: str, source: str, workers: int) -> str | None:
    """Why `serve` cannot run on this store with this many workers (one line), or None. Known
    without reaching the store, so said before binding the port."""
    if workers < 1:
        return f"--workers must be at least 1, got {workers}"
    if store != MEMORY and not is_store_url(store):
        return (
            f"{source}: the store is memory or a Redis URL (redis://, rediss:// or unix://),"
            f" got {safe_url(store)!r}"
        )
    if store == MEMORY:
        if workers > 1:
            return (
                f"--workers {workers} needs a shared store: with the memory store each worker"
                " would have its own jobs, wallets and clock (give --store redis://HOST:PORT/0)"
            )
        return None
    try:
        import redis  # noqa: F401  (only to know it is there)
    except ImportError:
        return NO_REDIS
    return None


def reach_store(store: str) -> tuple[str | None, str]:
    """(why the store cannot be used, or None; its description for the banner)."""
    if store == MEMORY:
        return None, MEMORY
    from emulator.core.redis.backend import RedisBackend

    try:
        backend = RedisBackend(store)
    except ValueError as exc:
        return f"store: {exc}", safe_url(store)
    try:
        problem = backend.problem()
        return None if problem is None else f"store: {problem}", backend.description
    finally:
        backend.link.close()


# ---------------------------------------------------------------------- serve


def resolve_allowed_hosts(config: Config, host: str, given: list[str]) -> str | None:
    """Put in force the Host names served (trusted_hosts.py): the config's allowed_hosts plus
    --allowed-host; on a loopback address loopback names only when neither names any, on
    another address any name. Why `given` cannot be used (one line), or None."""
    given = list(dict.fromkeys(given))
    if given:
        try:
            Config.from_mapping({"allowed_hosts": given})  # checked as the file's would be
        except ConfigError as exc:
            return f"--allowed-host: {str(exc).removeprefix('allowed_hosts.')}"
    if config.allowed_hosts is not None or given or is_loopback(host):
        config.allowed_hosts = list(dict.fromkeys([*(config.allowed_hosts or ()), *given]))
    return None


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
    store, source = resolve_store(args.store, file_store(args.config), os.environ)
    refusal = store_refusal(store, source, args.workers)
    if refusal is not None:
        return fail(refusal)
    config.store = store
    token = args.admin_token or os.environ.get(ADMIN_TOKEN_ENV) or config.admin_token
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        return fail(f"the admin token must be at least {MIN_TOKEN_LENGTH} characters")
    if token is None and not is_loopback(args.host):
        return fail(
            f"listening on {args.host} exposes the admin API beyond this machine:"
            f" give --admin-token (or {ADMIN_TOKEN_ENV})"
        )
    config.admin_token = token
    refusal = resolve_allowed_hosts(config, args.host, args.allowed_host)
    if refusal is not None:
        return fail(refusal)
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
    if args.workers > 1 and config.seed is None:
        # One seed for every worker (each forks its own streams from it): the banner's.
        config.seed = SeededRandom().seed
    problem, store_shown = reach_store(store)
    if problem is not None:
        return fail(problem)
    try:
        sock = open_listening(args.host, args.port)
    except ListenError as exc:
        return fail(str(exc))
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    base_url = f"http://{shown_host}:{port}{args.root_path}"
    # With workers, the parent serves nothing: it builds the app on the memory store only to
    # check the config as each worker will load it (scenarios, recordings) and for the banner,
    # without being the first "worker" on the shared store.
    try:
        app = create_app(config if args.workers == 1 else dataclasses.replace(config, store=MEMORY))
    except ScenarioError as exc:
        sock.close()
        return fail(f"config: {exc}")
    except (RecordingError, InvalidPath) as exc:
        sock.close()
        return fail(f"replay: {exc}")
    except ApiError as exc:  # the store went away since reach_store
        sock.close()
        return fail(f"store: {exc.message}")
    print(banner(base_url, app.state.runtime, store_shown, args.workers), flush=True)
    settings = {
        "log_level": args.log_level,
        "log_format": args.log_format,
        "root_path": args.root_path,
        "forwarded_allow_ips": args.forwarded_allow_ips,
    }
    if args.workers > 1:
        del app
        return serve_workers(sock, config, args.workers, **settings)
    tune_gc()
    serve_on(sock, app, **settings)
    return 0


def server_config(
    app: ASGIApp | str,
    log_level: str = "info",
    log_format: LogFormat = "text",
    *,
    root_path: str = "",
    forwarded_allow_ips: str | None = None,
    workers: int = 1,
) -> uvicorn.Config:
    """The uvicorn settings of every command that serves (serve, record); `app` an import
    string of a factory for workers."""
    return uvicorn.Config(
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
        factory=isinstance(app, str),
        workers=workers,
    )


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
        server_config(
            app,
            log_level,
            log_format,
            root_path=root_path,
            forwarded_allow_ips=forwarded_allow_ips,
        )
    )
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()


# ---------------------------------------------------------------------- workers


def config_for_workers(config: Config) -> str:
    """`config` as JSON for the workers of `serve --workers N`: its file shape (to_mapping)
    with what that leaves out put back: the admin token, the store with its password, every
    replay setting. config_from_workers reverses it."""
    mapping = config.to_mapping()
    mapping["store"] = config.store
    if config.admin_token is not None:
        mapping.setdefault("admin", {})["token"] = config.admin_token
    replay: dict[str, object] = {
        "strict": config.replay_strict,
        "match": config.replay_match,
    }
    if config.replay_folder is not None:
        replay["folder"] = config.replay_folder
    if config.replay_ignore is not None:
        replay["ignore"] = config.replay_ignore
    mapping["replay"] = replay
    return json.dumps(mapping)


def config_from_workers(text: str) -> Config:
    return Config.from_mapping(json.loads(text))


class Workers(Multiprocess):
    """uvicorn's supervisor, numbering its workers (IMAGEGEN_EMULATOR_WORKER, read by the
    runtime): the first N are 0..N-1, so worker k draws the same from a seed every run; one
    started later (after a crash, SIGHUP, SIGTTIN) is numbered N + its pid in worker_app."""

    def init_processes(self) -> None:
        for index in range(self.processes_num):
            os.environ[WORKER_ENV] = str(index)  # a spawned process starts with this env
            process = Process(self.config, self.sockets)
            process.start()
            self.processes.append(process)
        os.environ[WORKER_ENV] = f"{self.processes_num}{REPLACEMENT}"


def serve_workers(
    sock: socket.socket,
    config: Config,
    workers: int,
    log_level: str = "info",
    log_format: LogFormat = "text",
    *,
    root_path: str = "",
    forwarded_allow_ips: str | None = None,
) -> int:
    """`workers` spawned processes answering on `sock` (each builds its app with worker_app)
    until Ctrl-C or SIGTERM, which stops them all; 1 when one could not start."""
    settings = server_config(
        f"{__name__}:worker_app",
        log_level,
        log_format,
        root_path=root_path,
        forwarded_allow_ips=forwarded_allow_ips,
        workers=workers,
    )
    os.environ[WORKER_CONFIG_ENV] = config_for_workers(config)
    supervisor = Workers(settings, [sock])
    try:
        supervisor.run()
    finally:
        sock.close()
        os.environ.pop(WORKER_CONFIG_ENV, None)
        os.environ.pop(WORKER_ENV, None)
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        return fail("a worker could not start (its error is above): stopped", 1)
    return 0


def worker_app() -> ASGIApp:
    """The app of one worker of `serve --workers N` (uvicorn calls it in each spawned process)
    on the config the parent resolved. A worker that cannot build it (the store went away
    since the parent checked) exits with uvicorn's startup-failure status: the parent then
    stops instead of starting it again and again."""
    # Popped: nothing this worker might start inherits the admin token or the password.
    config = config_from_workers(os.environ.pop(WORKER_CONFIG_ENV))
    number = os.environ.get(WORKER_ENV, "0")
    if number.endswith(REPLACEMENT):
        number = str(int(number.removesuffix(REPLACEMENT)) + os.getpid())
        os.environ[WORKER_ENV] = number
    try:
        app = create_app(config)
    except (ApiError, ValueError) as exc:
        reason = exc.message if isinstance(exc, ApiError) else str(exc)
        print(f"{PROG}: error: worker {number}: {reason}", file=sys.stderr, flush=True)
        sys.exit(STARTUP_FAILURE)
    tune_gc()
    return app
