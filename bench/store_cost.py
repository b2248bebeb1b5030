"""What the Redis store costs per request against the memory store: `python -m bench.store_cost`.

    python -m bench.store_cost [--requests 2000] [--concurrency 4] [--trips 50]
                               [--wrk-duration 3] [--redis-requests 200000]

Four figures, all from one run, a redis-server of the bench's own (a temporary directory,
stopped at the end):

1. Server CPU seconds per request, for each store (memory, Redis) on one worker: the emulator
   in its own process (bench/_servers.py), `--requests` vibedream submits, then as many polls of
   one job, over `--concurrency` keep-alive connections; the server's CPU (/proc/PID/stat,
   user + system) read around each batch, divided by the batch's size. Redis' own CPU
   (INFO cpu: used_cpu_user + used_cpu_sys of redis-server) is read around the same batches and
   reported beside it, not added: it is another process, on another core when there is one.
   Target: the emulator on Redis <= 1.5x its CPU on memory, per submit and per poll. The
   commands Redis ran per request (INFO commandstats deltas) are shown too: commands, not round
   trips (a pipeline of two commands is one round trip).
2. Redis round trips per request, counted exactly: an in-process app on the Redis store
   (httpx.ASGITransport), with redis-py's `Connection.send_packed_command` wrapped; each call
   sends one command or one whole pipeline and is answered before the caller goes on: one round
   trip. `--trips` submits then as many polls, after one of each to warm up (connection
   handshake, script loading). Counted apart: the journal's writes (one script per 32 entries,
   made after the response was sent, or by its own thread, with that thread's connection
   set-up), shown per request; and any other connection set-up (HELLO, CLIENT SETINFO, PING:
   once per pooled connection, not per request). Targets, on the request's own path
   (journal apart), without a rate limit: <= 2 per submit, <= 1 per poll; with a rate limit
   configured the figure is shown (3 per submit expected: the token take is its own script),
   not held to a target.
3. The scale-out figure: `redis-benchmark` against the same redis-server (`-P 1`, 50 clients)
   for GET, SET, the poll's epoch read (HGETALL, as step 2 sent it) and EVALSHA of the
   emulator's own put_job script with the arguments a submit sent (captured in step 2); then
   how many emulator workers one Redis core could serve:

       workers = Redis round trips/s / (worker req/s x round trips per request)

   with the worker's req/s measured here with wrk on the Redis store (one worker, as
   bench.compare does), and Redis' round trips/s the redis-benchmark figure of the costlier
   command of the request. A second estimate comes from step 1's Redis CPU per request:
   workers = 1 CPU second / (Redis CPU s per request x worker req/s). Both are printed with
   their numbers. redis-benchmark shares the machine's cores with redis-server, so both are
   lower bounds of what a dedicated Redis core does.

Exit status: 0 when every target is met, 1 when one is missed, 2 when redis-server (or
redis-benchmark for step 3, or wrk) is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import redis
import redis.connection

from bench._servers import (
    AUTH,
    PREDICTION,
    Z_IMAGE,
    ServerProcess,
    child_popen,
    install_sigterm_handler,
    process_cpu_seconds,
    stop_process,
    z_image_body,
)
from bench.http_throughput import WRK_INSTALL, run_wrk

CPU_RATIO = 1.5  # the emulator's CPU per request on Redis, at most this times memory's
SUBMIT_TRIPS = 2
POLL_TRIPS = 1
RATE_LIMIT = {"requests": 10**9, "per_seconds": 1}  # configured, never refusing
OPERATIONS = ("submit", "poll")
BENCHMARK_CLIENTS = 50


@dataclass
class Verdicts:
    lines: list[str] = field(default_factory=list)
    failed: bool = False

    def add(self, name: str, passed: bool, detail: str) -> None:
        self.lines.append(f"{'PASS' if passed else 'FAIL'}: {name}: {detail}")
        self.failed |= not passed


# ------------------------------------------------------------------------ Redis itself


def redis_cpu_seconds(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def redis_commands(client: redis.Redis) -> int:
    """Commands Redis ran so far, ours (INFO, CONFIG) left out."""
    stats = client.info("commandstats")
    return sum(
        int(value["calls"])
        for name, value in stats.items()
        if name not in ("cmdstat_info", "cmdstat_config")
    )


# ------------------------------------------------------------------ 1. CPU per request


@dataclass
class Cost:
    server_cpu: float  # seconds per request
    redis_cpu: float
    commands: float  # Redis commands per request


def send(base_url: str, operation: str, job_id: str, count: int, concurrency: int) -> None:
    """`count` requests of `operation` over `concurrency` keep-alive connections; each must be
    a 200."""

    def worker(share: int) -> None:
        with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as client:
            for _ in range(share):
                if operation == "submit":
                    response = client.post(Z_IMAGE, json=z_image_body())
                else:
                    response = client.get(PREDICTION.format(id=job_id))
                if response.status_code != 200:
                    raise RuntimeError(f"{operation} answered {response.status_code}")

    shares = [count // concurrency + (i < count % concurrency) for i in range(concurrency)]
    with ThreadPoolExecutor(concurrency) as pool:
        for future in [pool.submit(worker, share) for share in shares]:
            future.result()


def submit_one(base_url: str) -> str:
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=30) as client:
        response = client.post(Z_IMAGE, json=z_image_body())
        response.raise_for_status()
        return str(response.json()["id"])


def measure_cost(
    server: ServerProcess, client: redis.Redis, requests: int, concurrency: int
) -> dict[str, Cost]:
    job_id = submit_one(server.base_url)
    costs = {}
    for operation in OPERATIONS:
        send(server.base_url, operation, job_id, max(requests // 10, concurrency), concurrency)
        cpu, redis_cpu, commands = (
            process_cpu_seconds(server.pid),
            redis_cpu_seconds(client),
            redis_commands(client),
        )
        send(server.base_url, operation, job_id, requests, concurrency)
        costs[operation] = Cost(
            (process_cpu_seconds(server.pid) - cpu) / requests,
            (redis_cpu_seconds(client) - redis_cpu) / requests,
            (redis_commands(client) - commands) / requests,
        )
    return costs


# ------------------------------------------------------------------- 2. round trips


@dataclass
class Trips:
    request: dict[str, float]  # operation -> round trips on the request's path, per request
    journal: float  # the journal's writes per request (both operations together)
    setup: int  # round trips setting up a connection, in all
    submit_script: list[bytes]  # one submit's put_job EVALSHA, as sent (for redis-benchmark)
    poll_read: list[bytes]  # one poll's first command


class TripCounter:
    """Wraps redis-py's send_packed_command: every call is one round trip (one command or a
    whole pipeline, written at once and then answered)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.elsewhere = 0  # round trips from other threads (the journal's), any time
        self._thread = threading.get_ident()  # the one requests run on
        self._lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[None]:
        original = redis.connection.AbstractConnection.send_packed_command
        counter = self

        def counting(self: Any, command: Any, check_health: bool = True) -> None:
            packed = command if isinstance(command, bytes) else b"".join(command)
            with counter._lock:
                if threading.get_ident() == counter._thread:
                    counter.sent.append(packed)
                else:
                    counter.elsewhere += 1
            original(self, command, check_health)

        redis.connection.AbstractConnection.send_packed_command = counting  # type: ignore[method-assign]
        try:
            yield
        finally:
            redis.connection.AbstractConnection.send_packed_command = original  # type: ignore[method-assign]

    def take(self) -> list[bytes]:
        with self._lock:
            sent, self.sent = self.sent, []
        return sent


def unpack(packed: bytes) -> list[list[bytes]]:
    """The RESP commands in one round trip, each as its arguments."""
    commands, position = [], 0
    while position < len(packed):
        end = packed.index(b"\r\n", position)
        count = int(packed[position + 1 : end])
        position = end + 2
        args = []
        for _ in range(count):
            end = packed.index(b"\r\n", position)
            size = int(packed[position + 1 : end])
            args.append(packed[end + 2 : end + 2 + size])
            position = end + 2 + size + 2
        commands.append(args)
    return commands


SETUP_COMMANDS = {b"HELLO", b"CLIENT", b"PING", b"AUTH", b"SELECT", b"READONLY"}


def is_setup(trip: bytes) -> bool:
    """A round trip of a new connection's handshake (redis-py's on_connect)."""
    return all(command[0].upper() in SETUP_COMMANDS for command in unpack(trip))


def count_trips(url: str, trips: int, rate_limit: bool) -> Trips:
    from emulator import Config, create_app

    defaults: dict[str, Any] = {"wallet_balance": 10**12, "rate_limit": False}
    if rate_limit:
        defaults["rate_limit"] = RATE_LIMIT
    counter = TripCounter()
    with counter.installed():
        app = create_app(Config(clock="virtual", seed=1, store=url, defaults=defaults))
        runtime = app.state.runtime
        journal_sha = runtime.backend.link.script("journal").sha.encode()

        async def run() -> Trips:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", headers=AUTH
            ) as client:

                async def submit() -> str:
                    response = await client.post(Z_IMAGE, json=z_image_body())
                    response.raise_for_status()
                    return str(response.json()["id"])

                async def poll(job_id: str) -> None:
                    (await client.get(PREDICTION.format(id=job_id))).raise_for_status()

                await poll(await submit())  # connection handshake, scripts loaded
                runtime.journal.flush()
                counter.take()
                per_operation: dict[str, list[list[bytes]]] = {}
                job_id = ""
                for operation in OPERATIONS:
                    sent = []
                    for _ in range(trips):
                        if operation == "submit":
                            job_id = await submit()
                        else:
                            await poll(job_id)
                        sent.append(counter.take())
                    per_operation[operation] = [trip for batch in sent for trip in batch]
            runtime.journal.flush()
            leftover = counter.take()
            everything = [trip for sent in (*per_operation.values(), leftover) for trip in sent]
            journal = sum(journal_sha in trip for trip in everything) + counter.elsewhere
            setup = sum(is_setup(trip) for trip in everything)
            request = {
                operation: sum(journal_sha not in trip and not is_setup(trip) for trip in sent)
                / trips
                for operation, sent in per_operation.items()
            }
            submit_script = next(
                command
                for trip in per_operation["submit"]
                for command in unpack(trip)
                if command[0].upper() == b"EVALSHA" and journal_sha not in trip
            )
            poll_read = unpack(per_operation["poll"][0])[0]
            return Trips(request, journal / (2 * trips), setup, submit_script, poll_read)

        return asyncio.run(run())


# ---------------------------------------------------------------- 3. redis-benchmark


def redis_benchmark(binary: str, port: int, requests: int, command: Sequence[str]) -> float:
    """Requests/s redis-benchmark gets for `command` (a -t test name, or a whole command)."""
    args = [binary, "-h", "127.0.0.1", "-p", str(port), "-q", "-n", str(requests)]
    args += ["-c", str(BENCHMARK_CLIENTS), "-P", "1"]
    args += ["-t", command[0]] if len(command) == 1 else list(command)
    proc = child_popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        stop_process(proc)
    # -q prints "NAME: 123456.78 requests per second, p50=..." (carriage returns before it).
    found = re.findall(r"([\d.]+) requests per second", out.decode())
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"redis-benchmark failed: {(err or out).decode()[-500:]}")
    return float(found[-1])


def worker_rps(
    wrk: str, base_url: str, job_id: str, directory: Path, seconds: int
) -> dict[str, float]:
    """The one worker's req/s on Redis under wrk -t2 -c32, as bench.compare loads it."""
    from bench.compare import VIBEDREAM_SUBMIT, write_post_script

    script = write_post_script(directory, VIBEDREAM_SUBMIT)
    options = ["-H", f"Authorization: {AUTH['Authorization']}"]
    submit = run_wrk(wrk, base_url + Z_IMAGE, seconds, 32, script, threads=2, options=options)
    poll = run_wrk(
        wrk, base_url + PREDICTION.format(id=job_id), seconds, 32, threads=2, options=options
    )
    for name, result in (("submit", submit), ("poll", poll)):
        if result.non_2xx or result.socket_errors:
            raise RuntimeError(f"wrk {name}: {result.non_2xx} non-2xx, {result.socket_errors}")
    return {"submit": submit.requests_per_second, "poll": poll.requests_per_second}


# --------------------------------------------------------------------------- the run


def text_args(command: Sequence[bytes]) -> list[str]:
    return [arg.decode("utf-8", "surrogateescape") for arg in command]


def run(args: argparse.Namespace, wrk: str | None, benchmark: str | None) -> int:
    from emulator.testing.redis_server import RedisServerMissing, redis_server

    verdicts = Verdicts()
    with tempfile.TemporaryDirectory(prefix="bench-store-cost-") as tmp, ExitStack() as stack:
        try:
            redis_process = stack.enter_context(redis_server(Path(tmp) / "redis"))
        except RedisServerMissing as exc:
            print(exc, file=sys.stderr)
            return 2
        client = stack.enter_context(redis.Redis.from_url(redis_process.url))
        costs, rps = cpu_per_request(args, redis_process.url, client, wrk, Path(tmp), verdicts)
        trips = round_trips(args, redis_process.url, verdicts)
        if benchmark is None or not rps:
            missing = "redis-benchmark" if benchmark is None else "wrk"
            out(f"\n3. scale-out: not measured ({missing} missing)")
        else:
            scale_out(args, benchmark, redis_process.port, trips, rps, costs)
    out("")
    out("\n".join(verdicts.lines))
    return 1 if verdicts.failed else 0


def out(line: str) -> None:
    print(line, flush=True)


def cpu_per_request(
    args: argparse.Namespace,
    redis_url: str,
    client: redis.Redis,
    wrk: str | None,
    directory: Path,
    verdicts: Verdicts,
) -> tuple[dict[str, dict[str, Cost]], dict[str, float]]:
    """Step 1, memory then Redis (each its own server process); and the Redis worker's req/s
    under wrk for step 3 ({} without wrk)."""
    out(
        f"1. server CPU per request: {args.requests} requests per batch over"
        f" {args.concurrency} connections, one worker"
    )
    costs: dict[str, dict[str, Cost]] = {}
    rps: dict[str, float] = {}
    for store in ("memory", "redis"):
        url = "memory" if store == "memory" else f"{redis_url}?prefix=cost"
        with ServerProcess("emulator", store=url) as server:
            costs[store] = measure_cost(server, client, args.requests, args.concurrency)
            if store == "redis" and wrk is not None:
                job_id = submit_one(server.base_url)
                rps = worker_rps(wrk, server.base_url, job_id, directory, args.wrk_duration)
    out("   store   operation  server CPU/request  Redis CPU/request  Redis commands/request")
    out("                                                             (with those in scripts)")
    for store, by_operation in costs.items():
        for operation, cost in by_operation.items():
            out(
                f"   {store:7s} {operation:10s} {cost.server_cpu * 1e6:15.0f} µs"
                f" {cost.redis_cpu * 1e6:15.0f} µs {cost.commands:18.2f}"
            )
    for operation in OPERATIONS:
        redis_cost, memory_cost = costs["redis"][operation], costs["memory"][operation]
        factor = redis_cost.server_cpu / memory_cost.server_cpu
        verdicts.add(
            f"server CPU per {operation} on Redis <= {CPU_RATIO}x memory",
            factor <= CPU_RATIO,
            f"{redis_cost.server_cpu * 1e6:.0f} µs vs {memory_cost.server_cpu * 1e6:.0f} µs"
            f" ({factor:.2f}x); Redis' own CPU {redis_cost.redis_cpu * 1e6:.0f} µs beside it",
        )
    return costs, rps


def round_trips(args: argparse.Namespace, redis_url: str, verdicts: Verdicts) -> Trips:
    """Step 2, without then with a rate limit; the figures without one."""
    out(f"\n2. Redis round trips per request (in-process, {args.trips} of each)")
    trips: dict[bool, Trips] = {}
    for limited in (False, True):
        url = f"{redis_url}?prefix=trips-{uuid.uuid4().hex[:8]}"
        trips[limited] = found = count_trips(url, args.trips, limited)
        out(
            f"   {'with' if limited else 'without'} a rate limit: submit"
            f" {found.request['submit']:g}, poll {found.request['poll']:g} on the"
            f" request's path; besides, journal writes {found.journal:.3f} per request and"
            f" {found.setup} connection set-up round trips in all"
        )
    plain, limited_figures = trips[False].request, trips[True].request
    verdicts.add(
        f"round trips without a rate limit: submit <= {SUBMIT_TRIPS}, poll <= {POLL_TRIPS}",
        plain["submit"] <= SUBMIT_TRIPS and plain["poll"] <= POLL_TRIPS,
        f"submit {plain['submit']:g}, poll {plain['poll']:g} (with a rate limit, shown only:"
        f" submit {limited_figures['submit']:g}, poll {limited_figures['poll']:g})",
    )
    return trips[False]


def scale_out(
    args: argparse.Namespace,
    benchmark: str,
    port: int,
    trips: Trips,
    rps: dict[str, float],
    costs: dict[str, dict[str, Cost]],
) -> None:
    """Step 3: redis-benchmark's round trips/s, and the workers one Redis core serves."""
    out(
        f"\n3. scale-out: redis-benchmark -n {args.redis_requests} -c {BENCHMARK_CLIENTS} -P 1"
        " on the same machine"
    )
    # The poll's epoch read and put_job as step 2 sent them (the same job id each time: it
    # overwrites one job, which costs the script what a new one does, bar a new key).
    poll_command = text_args(trips.poll_read)
    put_command = text_args(trips.submit_script)
    figures = {
        "GET": redis_benchmark(benchmark, port, args.redis_requests, ["get"]),
        "SET": redis_benchmark(benchmark, port, args.redis_requests, ["set"]),
        "HGETALL (the poll's epoch read)": redis_benchmark(
            benchmark, port, args.redis_requests, poll_command
        ),
        "EVALSHA put_job (a submit's write)": redis_benchmark(
            benchmark, port, args.redis_requests, put_command
        ),
    }
    for name, value in figures.items():
        out(f"   {name:36s} {value:12,.0f} round trips/s")
    costly = {
        "submit": figures["EVALSHA put_job (a submit's write)"],
        "poll": figures["HGETALL (the poll's epoch read)"],
    }
    out("   workers one Redis core serves = Redis round trips/s / (worker req/s x round trips)")
    for operation in OPERATIONS:
        per_request = trips.request[operation]
        workers = costly[operation] / (rps[operation] * per_request)
        out(
            f"   {operation:6s}: {costly[operation]:,.0f} / ({rps[operation]:,.0f} x"
            f" {per_request:g}) = {workers:.1f} workers"
        )
    out("   from Redis' CPU: workers = 1 s / (Redis CPU per request x worker req/s)")
    for operation in OPERATIONS:
        redis_cpu = costs["redis"][operation].redis_cpu
        if redis_cpu <= 0:
            out(f"   {operation:6s}: Redis CPU per request too small to read")
            continue
        workers = 1 / (redis_cpu * rps[operation])
        out(
            f"   {operation:6s}: 1 / ({redis_cpu * 1e6:.0f} µs x {rps[operation]:,.0f}/s)"
            f" = {workers:.1f} workers"
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.store_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=2000, help="requests per CPU batch")
    parser.add_argument("--concurrency", type=int, default=4, help="connections (4)")
    parser.add_argument("--trips", type=int, default=50, help="requests per round-trip count")
    parser.add_argument("--wrk-duration", type=int, default=3, help="seconds per wrk run (3)")
    parser.add_argument(
        "--redis-requests", type=int, default=200_000, help="redis-benchmark -n (200000)"
    )
    args = parser.parse_args(argv)
    if min(args.requests, args.concurrency, args.trips, args.wrk_duration, args.redis_requests) < 1:
        parser.error("every count must be >= 1")
    install_sigterm_handler()
    wrk = shutil.which("wrk")
    if wrk is None:
        print(WRK_INSTALL, file=sys.stderr)
    benchmark = shutil.which("redis-benchmark")
    try:
        status = run(args, wrk, benchmark)
    except KeyboardInterrupt:
        print("\ninterrupted: every server was stopped", file=sys.stderr)
        return 130
    if status == 0 and (wrk is None or benchmark is None):
        return 2
    return status


if __name__ == "__main__":
    sys.exit(main())
