"""The emulator against the tools users would pick instead: `python -m bench.compare`.

    python -m bench.compare [--duration 3] [--rounds 2] [--warmup 2] [--peer-warmup S]
                            [--threads 2] [--connections 32] [--peers wiremock,prism,mockoon]
                            [--no-images] [--image-runs 3] [--no-peers] [--no-redis]

Prints one table: requests/s and p50/p99 latency under `wrk -t2 -c32` (small JSON POSTs for
submits, GETs for polls) over a real socket on 127.0.0.1, side by side in one run, for

- the emulator, one and two uvicorn workers: vibedream submit and poll, Vertex
  generateContent (1K image), 3D AI Studio generate and status;
- the emulator on the Redis store (a redis-server the bench starts in a temporary directory and
  stops after), one and two workers: vibedream submit and poll, 3D AI Studio generate and
  status; on two workers a poll reaches whichever worker, the job being in the shared store;
- a bare Starlette route answering constant JSON on the same server settings (bench/bare_app.py,
  the ceiling), one and two workers, for POST and GET;
- WireMock standalone serving a static stub of vibedream's submit and poll, with its default
  request journal and with `--no-request-journal`;
- Stoplight Prism and Mockoon CLI mocking the same two operations from the emulator's OpenAPI
  document.

Every target is measured once per round, `--rounds` rounds in rotating order (the machine is
shared and noisy), after a warm-up run each (longer for the peers, whose JIT compilers need it:
WireMock 24 s, Prism and Mockoon 8 s, shared by their two operations; --peer-warmup sets one
figure for all). The table keeps each figure's best over the rounds: the highest req/s, the
lowest p50 and p99 (noise only ever makes one worse). Before that, one request to each shows
its answer: status, size, and whether it is what the provider's contract says (a peer's answer
is checked against the same schema).

Two workers: the emulator's store is per process, and a connection stays with the worker that
accepted it, so a poll finds its job only when it reaches the worker that took the submit. The
table shows that poll twice: for a job submitted over HTTP (in one worker: most polls that reach
the other one are 404s), and for a job every worker holds (each created the same one at startup,
which the seeded app makes possible, bench/_servers.py --preload): the throughput polls would
have with a shared store.

Peers are installed with npm into bench/.peers/ on first use (bench/peers/). A peer that cannot
be installed or started is reported in the table with the reason, not skipped.

Then verdicts: the memory store's floor (1 worker: vibedream submit >= 0.50 and poll >= 0.70 of
the bare route's req/s; the old ">= 70% for every submit and poll" was withdrawn in issue 19);
ahead of Prism and of Mockoon; p99 at least 10x lower than WireMock with its journal; on Redis
with two workers, polls of a job submitted over HTTP all 2xx; every answer 2xx where it should
be. And the image rendering figure of bench/images_render.py (time and size per resolution and
format). --no-peers (= --peers '') runs none of the peers and leaves out their verdicts;
--no-redis leaves out the Redis rows.

Exit status: 0 when every target is met, 1 when one is missed (or the emulator answered a non-2xx
where it should not), 2 when wrk is missing, 3 when none is missed but one could not be checked
(a peer unavailable).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import contracts
from bench import images_render
from bench._servers import (
    AISTUDIO_GENERATE,
    AISTUDIO_STATUS,
    API_KEY,
    AUTH,
    PREDICTION,
    VERTEX_GENERATE,
    Z_IMAGE,
    ServerProcess,
    aistudio_body,
    install_sigterm_handler,
    vertex_body,
    z_image_body,
)
from bench.http_throughput import WRK_INSTALL, run_wrk
from bench.peers import Peer, PeerProcess, PeerUnavailable
from bench.peers.mockoon import Mockoon
from bench.peers.prism import Prism
from bench.peers.wiremock import WireMock
from emulator.testing.redis_server import RedisServerError, RedisServerMissing, redis_server

# The memory store's floor on one worker, as a share of the bare route's req/s (issue 19).
SUBMIT_FLOOR = 0.50
POLL_FLOOR = 0.70
WIREMOCK_P99_FACTOR = 10.0  # the emulator's p99 at least this much lower
PEERS: dict[str, Callable[[], list[Peer]]] = {
    "wiremock": lambda: [WireMock(journal=True), WireMock(journal=False)],
    "prism": lambda: [Prism()],
    "mockoon": lambda: [Mockoon()],
}
EMULATOR = "emulator"
EMULATOR_REDIS = "emulator on Redis"
EMULATORS = (EMULATOR, EMULATOR_REDIS)
ANY_WORKER = "job submitted over HTTP, any worker"
BARE = "bare Starlette"
WIREMOCK_JOURNAL = WireMock(journal=True).name
PROBE_TIMEOUT = 30.0  # the first request may render an image


@dataclass(frozen=True)
class Operation:
    label: str
    method: str
    path: str  # "{id}" is the job to poll
    body: dict[str, Any] | None = None
    contract: tuple[str, str] | None = None  # (provider, schema) of a 200 answer
    polls: str | None = None  # the operation whose job this one polls


VIBEDREAM_SUBMIT = Operation(
    "vibedream submit", "POST", Z_IMAGE, z_image_body(), ("vibedream", "submit-response")
)
VIBEDREAM_POLL = Operation(
    "vibedream poll",
    "GET",
    PREDICTION,
    contract=("vibedream", "prediction"),
    polls="vibedream submit",
)
VERTEX = Operation(
    "vertex generateContent", "POST", VERTEX_GENERATE, vertex_body(), ("vertex", "response")
)
AISTUDIO_SUBMIT = Operation(
    "3daistudio generate",
    "POST",
    AISTUDIO_GENERATE,
    aistudio_body(),
    ("3daistudio", "submit-response"),
)
AISTUDIO_POLL = Operation(
    "3daistudio status",
    "GET",
    AISTUDIO_STATUS,
    contract=("3daistudio", "status"),
    polls="3daistudio generate",
)
EMULATOR_OPERATIONS = (VIBEDREAM_SUBMIT, VIBEDREAM_POLL, VERTEX, AISTUDIO_SUBMIT, AISTUDIO_POLL)
PEER_OPERATIONS = (VIBEDREAM_SUBMIT, VIBEDREAM_POLL)  # the static stubs, the same paths
BARE_POST = Operation("POST constant JSON", "POST", Z_IMAGE, z_image_body())
BARE_GET = Operation("GET constant JSON", "GET", PREDICTION)
REDIS_OPERATIONS = (VIBEDREAM_SUBMIT, VIBEDREAM_POLL, AISTUDIO_SUBMIT, AISTUDIO_POLL)
FLOORS = ((VIBEDREAM_SUBMIT, SUBMIT_FLOOR), (VIBEDREAM_POLL, POLL_FLOOR))
SHOWN_BESIDE_FLOORS = (AISTUDIO_SUBMIT, AISTUDIO_POLL, VERTEX)  # in the verdict, not held
SUBMITS = {VIBEDREAM_SUBMIT.label: VIBEDREAM_SUBMIT, AISTUDIO_SUBMIT.label: AISTUDIO_SUBMIT}
JOB_ID_FIELD = {VIBEDREAM_SUBMIT.label: "id", AISTUDIO_SUBMIT.label: "task_id"}
PRELOADED_KEY = {VIBEDREAM_SUBMIT.label: "vibedream", AISTUDIO_SUBMIT.label: "3daistudio"}
A_JOB_ID = "cd613e30-d8f1-4adf-91b7-584a2265b1f5"  # any id, for servers that answer them all


@dataclass(frozen=True)
class Measurement:
    requests_per_second: float
    p50: float  # seconds
    p99: float
    requests: int
    non_2xx: int
    socket_errors: str | None


@dataclass
class Target:
    server: str
    workers: int
    operation: Operation
    url: Callable[[], str] | None  # None: unavailable (see `unavailable`); called before a run
    note: str = ""  # after the operation's label, e.g. "job in one worker"
    warmup: int = 0  # seconds of load before the measured runs
    expect_2xx: bool = True
    unavailable: str = ""
    answer: str = ""
    runs: list[Measurement] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.operation.label} ({self.note})" if self.note else self.operation.label

    @property
    def best(self) -> Measurement | None:
        """Each figure at its best over the runs, as noise on a shared machine only ever makes
        one worse (so req/s, p50 and p99 may come from different runs); the requests, non-2xx
        answers and socket errors of all runs together."""
        if not self.runs:
            return None
        errors = [run.socket_errors for run in self.runs if run.socket_errors]
        return Measurement(
            max(run.requests_per_second for run in self.runs),
            min(run.p50 for run in self.runs),
            min(run.p99 for run in self.runs),
            sum(run.requests for run in self.runs),
            sum(run.non_2xx for run in self.runs),
            "; ".join(errors) or None,
        )


# ---------------------------------------------------------------------------------- wrk


LATENCY = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_latency(output: str) -> dict[str, float]:
    """wrk --latency's 50% and 99% lines, in seconds."""
    found = {q: float(value) * UNIT_SECONDS[unit] for q, value, unit in LATENCY.findall(output)}
    if set(found) != {"50", "99"}:
        raise RuntimeError(f"cannot read wrk's latency distribution:\n{output}")
    return found


def write_post_script(directory: Path, operation: Operation) -> Path:
    """A wrk script that makes every request `operation`'s POST (built once by wrk)."""
    script = directory / f"{re.sub(r'[^a-z0-9]+', '-', operation.label.lower())}.lua"
    body = json.dumps(operation.body, separators=(",", ":"))
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    return script


@dataclass(frozen=True)
class Load:
    wrk: str
    threads: int
    connections: int
    scripts: dict[str, Path]  # operation label -> its POST script

    def run(self, target: Target, seconds: int) -> Measurement:
        assert target.url is not None
        options = ["--latency", "-H", f"Authorization: Bearer {API_KEY}"]
        script = self.scripts[target.operation.label] if target.operation.method == "POST" else None
        result = run_wrk(
            self.wrk,
            target.url(),
            seconds,
            self.connections,
            script,
            threads=self.threads,
            options=options,
        )
        latency = parse_latency(result.output)
        return Measurement(
            result.requests_per_second,
            latency["50"],
            latency["99"],
            result.requests,
            result.non_2xx,
            result.socket_errors,
        )


# ------------------------------------------------------------------------------- targets


def submit_job(base_url: str, submit: Operation) -> str:
    """A job of `submit`'s provider, created over HTTP (so, with workers, in one of them)."""
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=PROBE_TIMEOUT) as client:
        response = client.post(submit.path, json=submit.body)
        response.raise_for_status()
        return str(response.json()[JOB_ID_FIELD[submit.label]])


def fixed_url(base_url: str, operation: Operation, job_id: str = A_JOB_ID) -> Callable[[], str]:
    url = base_url + operation.path.format(id=job_id)
    return lambda: url


def fresh_job_url(base_url: str, operation: Operation) -> Callable[[], str]:
    """A poll URL of a job submitted just before the run: a long run of submits elsewhere could
    otherwise push an older job out of the emulator's bounded store."""
    assert operation.polls is not None
    submit = SUBMITS[operation.polls]
    return lambda: base_url + operation.path.format(id=submit_job(base_url, submit))


def emulator_targets(server: ServerProcess) -> list[Target]:
    """The emulator's rows; on a shared store (Redis) a poll's job, submitted over HTTP, is in
    the store every worker reads, so every poll must answer 2xx whichever worker it reaches."""
    shared = server.store != "memory"
    name = EMULATOR_REDIS if shared else EMULATOR
    targets = []
    for operation in REDIS_OPERATIONS if shared else EMULATOR_OPERATIONS:
        if operation.polls is None:
            targets.append(
                Target(name, server.workers, operation, fixed_url(server.base_url, operation))
            )
            continue
        note = ""
        if server.workers > 1:
            note = ANY_WORKER if shared else "job in one worker"
        targets.append(
            Target(
                name,
                server.workers,
                operation,
                fresh_job_url(server.base_url, operation),
                note=note,
                expect_2xx=shared or server.workers == 1,
            )
        )
    return targets


def unavailable_redis_targets(reason: str) -> list[Target]:
    """The Redis rows when no redis-server could be started: shown, with the reason."""
    return [
        Target(EMULATOR_REDIS, workers, operation, None, unavailable=reason)
        for workers in (1, 2)
        for operation in REDIS_OPERATIONS
    ]


def preloaded_targets(server: ServerProcess) -> list[Target]:
    """Polls of the job every worker created at startup (a server that gets no submits, so
    nothing pushes that job out of its store)."""
    targets = []
    for operation in (VIBEDREAM_POLL, AISTUDIO_POLL):
        assert operation.polls is not None
        job_id = server.preloaded[PRELOADED_KEY[operation.polls]]
        url = fixed_url(server.base_url, operation, job_id)
        targets.append(Target(EMULATOR, server.workers, operation, url, note="job in every worker"))
    return targets


def bare_targets(server: ServerProcess) -> list[Target]:
    return [
        Target(BARE, server.workers, operation, fixed_url(server.base_url, operation))
        for operation in (BARE_POST, BARE_GET)
    ]


def peer_targets(peer: Peer, process: PeerProcess | None, reason: str, warmup: int) -> list[Target]:
    """`warmup`: seconds for the peer, shared by its operations."""
    return [
        Target(
            peer.name,
            1,
            operation,
            fixed_url(process.base_url, operation) if process else None,
            warmup=-(-warmup // len(PEER_OPERATIONS)),
            unavailable=reason,
        )
        for operation in PEER_OPERATIONS
    ]


def start_peer(
    peer: Peer, stack: contextlib.ExitStack, workdir: Path, openapi: Path
) -> tuple[PeerProcess | None, str]:
    """The started peer, or None and why not."""
    try:
        peer.install()
        process = stack.enter_context(peer.process(workdir, openapi))
    except PeerUnavailable as exc:
        print(f"  {peer.name}: unavailable: {exc}", flush=True)
        return None, str(exc)
    print(f"  {peer.name}: {process.base_url}", flush=True)
    return process, ""


# -------------------------------------------------------------------------------- probing


def probe(target: Target) -> str:
    """One request to the target: what it answers, and whether that is the contract's."""
    assert target.url is not None
    operation = target.operation
    try:
        with httpx.Client(headers=AUTH, timeout=PROBE_TIMEOUT) as client:
            response = client.request(operation.method, target.url(), json=operation.body)
    except httpx.HTTPError as exc:
        return f"request failed: {exc}"
    summary = f"{response.status_code}, {len(response.content):,} B"
    if operation.contract is None:
        return f"{summary}, constant"
    if response.status_code != 200:
        return summary
    try:
        contracts.validate(*operation.contract, response.json())
    except contracts.ContractError as exc:
        return f"{summary}, NOT the contract's ({exc.path}: {exc.keyword})"
    except ValueError:
        return f"{summary}, not JSON"
    return f"{summary}, contract ok"


# ------------------------------------------------------------------------------ the table


def ms_text(seconds: float) -> str:
    return f"{seconds * 1000:.2f}" if seconds < 0.1 else f"{seconds * 1000:.0f}"


def baseline(target: Target, targets: Sequence[Target]) -> Target | None:
    """The bare route with the same method on the same number of workers (1 for the peers)."""
    workers = target.workers if target.server in EMULATORS else 1
    operation = BARE_POST if target.operation.method == "POST" else BARE_GET
    for candidate in targets:
        if (candidate.server, candidate.workers) == (BARE, workers) and (
            candidate.operation is operation
        ):
            return candidate
    return None


def ratio(a: Target | None, b: Target | None) -> float | None:
    if a is None or b is None or a.best is None or b.best is None:
        return None
    if not b.best.requests_per_second:
        return None
    return a.best.requests_per_second / b.best.requests_per_second


def non_2xx_text(measurement: Measurement) -> str:
    text = "0"
    if measurement.non_2xx:
        text = f"{measurement.non_2xx / max(measurement.requests, 1):.0%}"
    if measurement.socket_errors:
        text += f"; socket errors: {measurement.socket_errors}"
    return text


def table(targets: Sequence[Target]) -> list[str]:
    header = ["server", "workers", "operation", "req/s", "p50 ms", "p99 ms", "vs bare"]
    header += ["non-2xx", "answer (one request)"]
    rows = []
    for target in targets:
        row = [target.server, str(target.workers), target.label]
        if target.best is None:
            row += ["unavailable" if target.unavailable else "not measured", "", "", "", ""]
            row.append(target.unavailable)
        else:
            best = target.best
            base = ratio(target, baseline(target, targets))
            row += [
                f"{best.requests_per_second:,.0f}",
                ms_text(best.p50),
                ms_text(best.p99),
                "" if target.server == BARE or base is None else f"{base:.2f}",
                non_2xx_text(best),
                target.answer,
            ]
        rows.append(row)
    return markdown(header, rows)


def markdown(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {3, 4, 5, 6}

    def line(cells: list[str]) -> str:
        padded = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "| " + " | ".join(padded) + " |"

    rule = (
        "| "
        + " | ".join(
            "-" * (width - 1) + ":" if i in numeric else "-" * width
            for i, width in enumerate(widths)
        )
        + " |"
    )
    return [line(header), rule, *(line(row) for row in rows)]


# ------------------------------------------------------------------------------- verdicts


@dataclass
class Verdicts:
    lines: list[str] = field(default_factory=list)
    failed: bool = False
    unknown: bool = False

    def add(self, name: str, passed: bool | None, detail: str) -> None:
        word = {True: "PASS", False: "FAIL", None: "NOT CHECKED"}[passed]
        self.lines.append(f"{word}: {name}: {detail}")
        self.failed |= passed is False
        self.unknown |= passed is None


def find(
    targets: Sequence[Target], server: str, operation: Operation, workers: int = 1, note: str = ""
) -> Target | None:
    """`server`'s target for `operation` on `workers` with that note (the verdicts' rows)."""
    matches = (
        target
        for target in targets
        if target.server == server
        and target.operation is operation
        and target.workers == workers
        and target.note == note
    )
    return next(matches, None)


def peer_missing(targets: Sequence[Target], peer: str) -> str:
    """Why `peer` has no figures, or "" when it has."""
    rows = [target for target in targets if target.server == peer]
    if not rows:
        return "not run (see --peers)"
    if all(target.best is None for target in rows):
        return f"unavailable: {rows[0].unavailable}" if rows[0].unavailable else "not measured"
    return ""


def rps(target: Target | None) -> str:
    if target is None or target.best is None:
        return "n/a"
    return f"{target.best.requests_per_second:,.0f}"


def judge_redis(targets: Sequence[Target], verdicts: Verdicts) -> None:
    """On Redis with two workers, a poll of a job submitted over HTTP answers 2xx whichever
    worker it reaches (the memory store's two workers answer ~45% 404s); and, for reading
    only, what the Redis store costs in req/s against the memory store."""
    rows = [target for target in targets if target.server == EMULATOR_REDIS]
    if not rows:
        return  # --no-redis
    name = "Redis, 2 workers: polls of a job submitted over HTTP, 0% non-2xx"
    polls = [find(targets, EMULATOR_REDIS, op, 2, ANY_WORKER) for op in REDIS_OPERATIONS]
    measured = [poll for poll in polls if poll is not None and poll.runs]
    if not measured:
        verdicts.add(name, None, f"not measured: {rows[0].unavailable or 'no runs'}")
    else:
        parts = []
        for poll in measured:
            wrong = sum(run.non_2xx for run in poll.runs)
            errors = [run.socket_errors for run in poll.runs if run.socket_errors]
            total = sum(run.requests for run in poll.runs)
            part = f"{poll.operation.label} {wrong:,} of {total:,} non-2xx"
            parts.append(part + (f", socket errors: {'; '.join(errors)}" if errors else ""))
        bad = any(run.non_2xx or run.socket_errors for poll in measured for run in poll.runs)
        verdicts.add(name, not bad, "; ".join(parts))
    shares = []
    for workers in (1, 2):
        for operation in REDIS_OPERATIONS:
            note = ANY_WORKER if workers > 1 and operation.polls else ""
            # The memory 2-worker polls that answer 2xx are those of the job in every worker.
            memory_note = "job in every worker" if workers > 1 and operation.polls else ""
            value = ratio(
                find(targets, EMULATOR_REDIS, operation, workers, note),
                find(targets, EMULATOR, operation, workers, memory_note),
            )
            if value is not None:
                shares.append(f"{operation.label} {workers}w {value:.2f}")
    if shares:
        verdicts.lines.append(
            "INFO: Redis req/s / memory req/s (same workers; 2-worker polls against the memory"
            " job in every worker): " + ", ".join(shares)
        )


def judge(targets: Sequence[Target], peers: Sequence[str] = tuple(PEERS)) -> Verdicts:
    """The verdicts; those of a peer only when `peers` names it (run or tried)."""
    verdicts = Verdicts()
    # 1. the memory store's floor (1 worker): vibedream submit and poll against the bare route.
    parts: list[str] = []
    passed: bool | None = True
    for operation, floor in FLOORS:
        emulator = find(targets, EMULATOR, operation)
        value = ratio(emulator, baseline(emulator, targets)) if emulator else None
        if value is None:
            passed = None if passed is not False else False
            parts.append(f"{operation.label} n/a (floor {floor:.2f})")
            continue
        passed = passed if value >= floor else False
        parts.append(f"{operation.label} {value:.2f} (floor {floor:.2f})")
    shown = []
    for operation in SHOWN_BESIDE_FLOORS:
        emulator = find(targets, EMULATOR, operation)
        value = ratio(emulator, baseline(emulator, targets)) if emulator else None
        if value is not None:
            shown.append(f"{operation.label} {value:.2f}")
    if shown:
        parts.append(f"(not held to it: {', '.join(shown)})")
    verdicts.add(
        "memory store's floor, 1 worker, share of the bare route's req/s",
        passed,
        ", ".join(parts),
    )
    judge_redis(targets, verdicts)
    # 2. and 3. ahead of Prism and of Mockoon, on the same two operations.
    for peer in ("Prism", "Mockoon"):
        if peer.lower() not in peers:
            continue
        name = f"emulator ahead of {peer}"
        missing = peer_missing(targets, peer)
        if missing:
            verdicts.add(name, None, f"{peer} {missing}")
            continue
        parts, passed = [], True
        for operation in PEER_OPERATIONS:
            ours, theirs = find(targets, EMULATOR, operation), find(targets, peer, operation)
            value = ratio(ours, theirs)
            if value is None:
                parts.append(f"{operation.label} not measured")
                passed = None if passed is not False else False
                continue
            passed = passed if value > 1 else False
            parts.append(f"{operation.label} {rps(ours)} vs {rps(theirs)} req/s ({value:.1f}x)")
        verdicts.add(name, passed, "; ".join(parts))
    # 4. p99 at least 10x lower than WireMock with its default journal.
    name = f"emulator p99 >= {WIREMOCK_P99_FACTOR:.0f}x lower than WireMock with its journal"
    missing = peer_missing(targets, WIREMOCK_JOURNAL)
    if "wiremock" not in peers:
        pass
    elif missing:
        verdicts.add(name, None, f"WireMock {missing}")
    else:
        parts, passed = [], True
        for operation in PEER_OPERATIONS:
            ours = find(targets, EMULATOR, operation)
            theirs = find(targets, WIREMOCK_JOURNAL, operation)
            if ours is None or ours.best is None or theirs is None or theirs.best is None:
                parts.append(f"{operation.label} not measured")
                passed = None if passed is not False else False
                continue
            factor = theirs.best.p99 / ours.best.p99 if ours.best.p99 else float("inf")
            passed = passed if factor >= WIREMOCK_P99_FACTOR else False
            parts.append(
                f"{operation.label} p99 {ms_text(ours.best.p99)} ms vs"
                f" {ms_text(theirs.best.p99)} ms ({factor:.1f}x lower)"
            )
        verdicts.add(name, passed, "; ".join(parts))
    # The emulator answers 2xx wherever it should: in every run, not only the best.
    wrong = [
        f"{target.label} ({target.workers} worker{'s' if target.workers > 1 else ''})"
        for target in targets
        if target.server in (*EMULATORS, BARE)
        and target.expect_2xx
        and any(run.non_2xx or run.socket_errors for run in target.runs)
    ]
    verdicts.add(
        "every emulator (memory, Redis) and bare answer 2xx"
        " (except polls of a job in one worker, memory)",
        not wrong,
        "yes" if not wrong else "non-2xx or socket errors in " + ", ".join(wrong),
    )
    return verdicts


# ---------------------------------------------------------------------------------- run


def measure(targets: list[Target], load: Load, rounds: int, duration: int) -> None:
    live = [target for target in targets if target.url is not None]
    for target in live:
        target.answer = probe(target)
    warming = [target for target in live if target.warmup]
    print(f"warming up: {sum(t.warmup for t in warming)} s in all ...", flush=True)
    for target in warming:
        load.run(target, target.warmup)
    for round_no in range(rounds):
        shift = round_no * len(live) // rounds  # each round starts elsewhere in the list
        order = live[shift:] + live[:shift]
        print(f"round {round_no + 1}/{rounds}: {len(order)} runs of {duration} s", flush=True)
        for target in order:
            measurement = load.run(target, duration)
            target.runs.append(measurement)
            print(
                f"  {target.server:22s} {target.workers} {target.label:52s}"
                f" {measurement.requests_per_second:9,.0f} req/s"
                f"  p99 {ms_text(measurement.p99):>6s} ms  non-2xx {non_2xx_text(measurement)}",
                flush=True,
            )


def redis_targets(stack: contextlib.ExitStack, workdir: Path) -> list[Target]:
    """A redis-server of our own (stopped with the stack) and the emulator on it, one and two
    workers, each server under its own prefix; rows marked unavailable when it cannot start."""
    try:
        redis = stack.enter_context(redis_server(workdir / "redis"))
    except (RedisServerMissing, RedisServerError) as exc:
        print(f"  redis-server: unavailable: {exc}", flush=True)
        return unavailable_redis_targets(str(exc).splitlines()[0])
    print(f"  redis-server: {redis.url}", flush=True)
    targets = []
    for workers in (1, 2):
        store = f"{redis.url}?prefix=bench-{workers}w"
        server = stack.enter_context(ServerProcess("emulator", workers=workers, store=store))
        targets += emulator_targets(server)
    return targets


def compare(args: argparse.Namespace, wrk: str) -> int:
    started = time.monotonic()
    peer_names = [name for name in args.peers.split(",") if name]
    print(
        f"compare: wrk -t{args.threads} -c{args.connections}, {args.duration} s per run,"
        f" {args.rounds} rounds in rotating order after a warm-up, the best of each figure;"
        f" {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    with (
        tempfile.TemporaryDirectory(prefix="bench-compare-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        openapi = workdir / "openapi.json"
        openapi.write_text(json.dumps(contracts.openapi_document()))
        print("starting the servers ...", flush=True)
        bare_1 = stack.enter_context(ServerProcess("bare"))
        emulator_1 = stack.enter_context(ServerProcess("emulator"))
        bare_2 = stack.enter_context(ServerProcess("bare", workers=2))
        emulator_2 = stack.enter_context(ServerProcess("emulator", workers=2))
        preloaded_2 = stack.enter_context(ServerProcess("emulator", workers=2, preload=True))
        targets = [
            *bare_targets(bare_1),
            *emulator_targets(emulator_1),
            *bare_targets(bare_2),
            *emulator_targets(emulator_2),
            *preloaded_targets(preloaded_2),
        ]
        if args.redis:
            targets += redis_targets(stack, workdir)
        for target in targets:
            target.warmup = args.warmup
        for name in peer_names:
            for peer in PEERS[name]():
                process, reason = start_peer(
                    peer, stack, workdir / re.sub(r"\W+", "-", peer.name).strip("-"), openapi
                )
                warmup = peer.warmup if args.peer_warmup is None else args.peer_warmup
                targets += peer_targets(peer, process, reason, warmup)
        scripts = {
            operation.label: write_post_script(workdir, operation)
            for operation in (*EMULATOR_OPERATIONS, BARE_POST)
            if operation.method == "POST"
        }
        load = Load(wrk, args.threads, args.connections, scripts)
        measure(targets, load, args.rounds, args.duration)
    print(f"\nall servers stopped; {time.monotonic() - started:.0f} s\n")
    print("\n".join(table(targets)))
    verdicts = judge(targets, peer_names)
    print()
    print("\n".join(verdicts.lines))
    if args.images:
        print(f"\nimage rendering (render() in-process, median of {args.image_runs} runs):")
        print("\n".join(images_render.table(images_render.measure(args.image_runs))))
    if verdicts.failed:
        return 1
    return 3 if verdicts.unknown else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=int, default=3, help="seconds per wrk run (3)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per target, best kept (2)")
    parser.add_argument(
        "--warmup", type=int, default=2, help="warm-up seconds per emulator or bare target (2)"
    )
    parser.add_argument(
        "--peer-warmup",
        type=int,
        help="warm-up seconds per peer (default: WireMock 24, Prism and Mockoon 8)",
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (32)")
    parser.add_argument(
        "--peers",
        default=",".join(PEERS),
        help=f"comma-separated peers to compare with, of {','.join(PEERS)} (all); '' for none",
    )
    parser.add_argument(
        "--no-images", dest="images", action="store_false", help="skip the image figure"
    )
    parser.add_argument("--image-runs", type=int, default=3, help="renders per image case (3)")
    parser.add_argument(
        "--no-peers", action="store_true", help="no WireMock, Prism, Mockoon (= --peers '')"
    )
    parser.add_argument(
        "--no-redis", dest="redis", action="store_false", help="leave out the Redis store rows"
    )
    args = parser.parse_args(argv)
    if args.no_peers:
        args.peers = ""
    if min(args.duration, args.rounds, args.threads, args.connections, args.image_runs) < 1:
        parser.error("--duration, --rounds, --threads, --connections, --image-runs must be >= 1")
    if args.warmup < 0 or (args.peer_warmup or 0) < 0:
        parser.error("--warmup and --peer-warmup must be >= 0")
    unknown = [name for name in args.peers.split(",") if name and name not in PEERS]
    if unknown:
        parser.error(f"unknown peer(s) {', '.join(unknown)}: choose from {', '.join(PEERS)}")
    if args.connections < args.threads:
        parser.error("wrk needs at least as many connections as threads")
    install_sigterm_handler()
    wrk = shutil.which("wrk")
    if wrk is None:
        print(WRK_INSTALL, file=sys.stderr)
        return 2
    try:
        return compare(args, wrk)
    except KeyboardInterrupt:
        print("\ninterrupted: every server and peer was stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
