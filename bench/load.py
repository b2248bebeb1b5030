"""Load without loss: many clients at once against a real emulator in the `chaos` profile.

    python -m bench.load [--clients 64] [--duration 60] [--processes 2] [--speed 60] [--seed 1]

The emulator runs in a subprocess under uvicorn (one worker, uvloop, httptools, on a pre-bound
127.0.0.1 socket, as the other benches run it), so its memory is its own: VmRSS in
/proc/PID/status. Its config is the `chaos` profile (each provider's documented timings, seeded
random 429s, 503s and dropped connections, 1% of prompts moderated) on a virtual clock, with the
wallets topped up (a run must not end in 402s), a journal of 5,000 entries and the emulator's
defaults for everything that bounds memory (max_jobs, job_retention, image_cache_bytes).

Why a virtual clock: chaos's jobs take 1-90 s an image and the gateway holds each answer 2-20 s.
On a real clock a 60 s run would mostly wait, and few jobs would finish before it ends. On the
virtual clock nothing waits for wall time; this bench moves it forward through the admin API
every 0.1 s, `--speed` emulator seconds per wall second (60: a 3D AI Studio task of 40-90 s an
image ends in 1-2 s, a nano-banana-pro-edit prediction of 10-30 s in 0.2-0.5 s). Every chaos
decision (faults, moderation, durations, the 3-a-minute rate limit of 3D AI Studio) is kept;
only time runs faster.

Clients (raw httpx, one connection each, no think time) cycle through three journeys: vibedream
(submit z-image-turbo or nano-banana-pro-edit, poll until done), the Vertex gateway and the
Gemini API path (generateContent), and 3D AI Studio (generate 1 or 2 images, poll the status
until done, read the wallet); one job in 32 also has its output (and thumbnail) downloaded.
With `--processes N` the clients run in N processes besides this one: Python clients cost several
times what the server spends on a request, so on 2 cores one client process cannot keep the
server busy; the summary shows the server's CPU share to say how loaded it was.

Checks (any failure: exit 1):
- every answer is within the contracts: its status is one its operation declares, its body
  validates against that status's schema (contracts.is_valid, explained by contracts.validate);
  an error status is one the profile injects (its message says "(injected fault)") or the rate
  limit's 429 (on Google's paths both 429s are worded as Google's quota), each with a
  Retry-After; downloads are images of the format their name says;
- a connection closed without an answer (or a body that is not JSON) is accepted only as an
  injected fault: the bench reads the journal for the delivery faults the profile injects
  (GET /_emulator/requests?fault=drop) 4 times a second, checks it never skipped an entry, and
  matches the journal's spoiled requests one for one with the clients' transport errors (and
  unparsable bodies);
- every accepted job (submit answered 200) ends: after the load the clock moves past every job's
  end and each one is polled with its key until it answers (retrying injected faults): it must
  be there, finished, and agree with what the run saw;
- memory: RSS sampled 4 times a second; its peak must stay within what the stored jobs and the
  images the clients fetched may take (see `Report.memory_bound`); then the clock moves past
  job_retention, GET /_emulator/health (which reads the store, and so drops expired jobs)
  must show an empty store, and RSS must be back within 50 MB of where it was after warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import multiprocessing
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from queue import Empty
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson

import contracts
from bench._servers import (
    HOST,
    ServerProcess,
    install_sigterm_handler,
    process_cpu_seconds,
    run_uvicorn,
)

START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 30.0  # seconds; nothing in chaos holds an answer on the virtual clock
TIMEOUTS = httpx.Timeout(REQUEST_TIMEOUT).as_dict()
CLOCK_TICK = 0.1  # wall seconds between clock advances
JOURNAL_POLL = 0.25  # wall seconds between journal reads
RSS_SAMPLE = 0.25  # wall seconds between RSS samples
STORE_SAMPLE = 1.0  # wall seconds between store counts (GET /_emulator/health)
# A client downloads the outputs of one finished job in this many: each is rendered on its
# first download, a real cost that a run should include but not be made of.
DOWNLOAD_EVERY = 32
READBACK_ADVANCE = 400.0  # emulator seconds: past every job's end (3D: 5 s queued + 2 x 90 s)
READBACK_ATTEMPTS = 40  # polls of one job before giving up (injected faults are retried)
READBACK_CLIENTS = 16
SHOWN_VIOLATIONS = 20

MB = 1_000_000
END_RSS_LIMIT = 50 * MB  # RSS after expiry may exceed the start by this much
# The memory bound during the run: what each stored job may take in RSS (bench/memory_jobs.py
# measures about 2.4 KB of Python objects a job; the allocator adds some), and room for what
# else moves (connection buffers, answers in flight, caches of timestamps and fingerprints,
# the allocator's partly used arenas). The journal is allocated whole when the server starts.
JOB_RSS_BUDGET = 4_000
MEMORY_SLACK = 20 * MB

WALLET_BALANCE = 10**9  # in each provider's unit: no run ends in 402s
DELIVERY_FAULTS = ("drop", "timeout", "malformed")  # the faults that spoil an answer
INJECTED = b"(injected fault)"
RATE_LIMITED = b"Rate limit exceeded"
# Google's paths word every admission 429 (injected or the rate limit's) as Google words a
# quota (emulator/providers/vertex/exceptions.py): the Gemini API's and Vertex AI's words.
GOOGLE_QUOTA = (b"You exceeded your current quota", b"Resource exhausted. Please try again")
# vibedream's and 3D AI Studio's moderation failures; the gateway blocks with promptFeedback.
MODERATION_WORDS = ("moderation",)

VERTEX_PROMPTS = (  # few, so the server renders each once and serves them from its cache
    "a lighthouse on a cliff at dusk",
    "a red fox in fresh snow",
    "a bowl of ramen, top view",
    "an old tram in Lisbon",
)
MAGIC = {"png": b"\x89PNG", "jpeg": b"\xff\xd8\xff", "jpg": b"\xff\xd8\xff", "webp": b"RIFF"}


# ------------------------------------------------------------------------------ operations


@dataclass(frozen=True)
class Op:
    """One operation the clients call; `sample_path` finds its contract."""

    name: str
    method: str
    sample_path: str
    provider: str
    generates: bool = False  # subject to a rate limit


VD_SUBMIT = Op(
    "vibedream submit", "POST", "/api/v1/models/z-image-turbo/generate", "vibedream", True
)
VD_POLL = Op("vibedream poll", "GET", "/api/v1/predictions/x", "vibedream")
GATEWAY_PATH = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"
GEMINI_PATH = "/v1beta/models/gemini-3-pro-image:generateContent"
VX_GATEWAY = Op("vertex generateContent (gateway)", "POST", GATEWAY_PATH, "vertex", True)
VX_GEMINI = Op("vertex generateContent (Gemini API)", "POST", GEMINI_PATH, "vertex", True)
AS_GENERATE_PATH = "/v1/images/gemini/3/pro/generate/"
AS_GENERATE = Op("3daistudio generate", "POST", AS_GENERATE_PATH, "3daistudio", True)
AS_STATUS = Op("3daistudio status", "GET", "/v1/generation-request/x/status/", "3daistudio")
AS_WALLET = Op("3daistudio wallet", "GET", "/account/user/wallet/", "3daistudio")
DOWNLOAD = Op("asset download", "GET", "/assets/x/y", "")
OPS = (VD_SUBMIT, VD_POLL, VX_GATEWAY, VX_GEMINI, AS_GENERATE, AS_STATUS, AS_WALLET, DOWNLOAD)


@cache
def contract_of(op: Op) -> contracts.Operation:
    found = contracts.find_operation(op.method, op.sample_path)
    if found is None or found[0] != op.provider:
        raise LookupError(f"{op.name}: no contract for {op.method} {op.sample_path}")
    return found[1]


# ---------------------------------------------------------------------------------- tallies


@dataclass
class JobRecord:
    """An accepted job: what the run and the read-back know of it."""

    provider: str
    id: str
    key: str
    images: int  # outputs when it succeeds
    final: str | None = None  # the terminal status a poll showed, once one did


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    fault: str | None  # an injected HTTP fault or the rate limit's 429, else None


@dataclass
class Tally:
    """What one group of clients saw; tallies of processes and phases are merged."""

    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)  # (op, status/error)
    latencies: dict[str, list[float]] = field(default_factory=dict)  # op -> seconds
    faults: Counter[str] = field(default_factory=Counter)
    transport_errors: list[tuple[str, str, str]] = field(default_factory=list)  # method, path
    unparsable: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    violations: list[str] = field(default_factory=list)
    violation_count: int = 0
    jobs: list[JobRecord] = field(default_factory=list)
    endings: Counter[str] = field(default_factory=Counter)  # "vibedream completed", ...
    moderated: int = 0
    downloads: int = 0
    # Each distinct picture fetched (a download's path, a generateContent prompt): its bytes.
    # The server's image cache holds at most these.
    images: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return sum(self.outcomes.values())

    def violation(self, text: str) -> None:
        self.violation_count += 1
        if len(self.violations) < SHOWN_VIOLATIONS:
            self.violations.append(text)

    def merge(self, other: Tally) -> None:
        self.outcomes.update(other.outcomes)
        for name, values in other.latencies.items():
            self.latencies.setdefault(name, []).extend(values)
        self.faults.update(other.faults)
        self.transport_errors.extend(other.transport_errors)
        self.unparsable.extend(other.unparsable)
        for text in other.violations:
            if len(self.violations) < SHOWN_VIOLATIONS:
                self.violations.append(text)
        self.violation_count += other.violation_count
        self.jobs.extend(other.jobs)
        self.endings.update(other.endings)
        self.moderated += other.moderated
        self.downloads += other.downloads
        self.images.update(other.images)


def check_answer(
    op: Op,
    path: str,
    response: httpx.Response,
    tally: Tally,
    injected_statuses: frozenset[str],
) -> Answer | None:
    """Count an answer and check it against the contracts; None when it has no usable body
    (tallied as unparsable, for the journal to explain, or as a violation)."""
    status = response.status_code
    tally.outcomes[(op.name, str(status))] += 1
    content = response.content
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        tally.unparsable.append((op.method, path, status))
        return None
    where = f"{op.name} {op.method} {path} -> {status}"
    if not response.headers.get("content-type", "").startswith("application/json"):
        tally.violation(f"{where}: Content-Type {response.headers.get('content-type')!r}")
    operation = contract_of(op)
    schema = operation.response_schema(status)
    if schema is None:
        tally.violation(f"{where}: {operation.operation_id} declares no {status} answer")
        return None
    if not contracts.is_valid(op.provider, schema, body):
        try:
            contracts.validate(op.provider, schema, body)
            reason = "fastjsonschema refused it, jsonschema did not"
        except contracts.ContractError as exc:
            reason = str(exc)
        tally.violation(f"{where}: outside {op.provider}/{schema}: {reason}")
        return None
    fault = None
    if status >= 400:
        if INJECTED in content and str(status) in injected_statuses:
            fault = f"{status} injected"
        elif status == 429 and op.generates and RATE_LIMITED in content:
            fault = "429 rate limit"
        elif (
            status == 429
            and ("429" in injected_statuses or op.generates)
            and any(words in content for words in GOOGLE_QUOTA)
        ):
            fault = "429 quota (Google's words)"
        else:
            tally.violation(f"{where}: unexpected error {content[:200]!r}")
        if status in (429, 503) and not response.headers.get("retry-after", "").isdigit():
            tally.violation(f"{where}: no Retry-After in whole seconds")
        if fault is not None:
            tally.faults[fault] += 1
    return Answer(status, body, fault)


def job_state(job: JobRecord, body: Any, tally: Tally, where: str) -> str | None:
    """The terminal status a poll's (contract-valid) body shows, else None; checks what the
    schema cannot: the job is the one asked for, and a finished job has all its outputs."""
    if job.provider == "vibedream":
        if body["id"] != job.id:
            tally.violation(f"{where}: answered for prediction {body['id']}")
        status = body["status"]
        if status == "processing":
            return None
        if status == "completed" and len(body["outputs"] or ()) != job.images:
            tally.violation(f"{where}: completed with outputs {body['outputs']!r}")
        if status == "failed" and not body.get("error"):
            tally.violation(f"{where}: failed without an error")
        if status == "failed" and any(word in body["error"] for word in MODERATION_WORDS):
            tally.moderated += 1
        return str(status)
    status = body["status"]
    if status in ("PENDING", "IN_PROGRESS"):
        return None
    if status == "FINISHED":
        results = body["results"]
        if len(results) != job.images or any(r["thumbnail"] == r["asset_url"] for r in results):
            tally.violation(f"{where}: finished with results {results!r}")
    if status == "FAILED":
        reason = body.get("failure_reason") or ""
        if not reason:
            tally.violation(f"{where}: failed without a failure_reason")
        if any(word in reason.lower() for word in MODERATION_WORDS):
            tally.moderated += 1
    return str(status)


def output_paths(job: JobRecord, body: Any) -> list[str]:
    """The download paths of a finished job's first image (and its thumbnail)."""
    if job.provider == "vibedream":
        return [urlsplit(body["outputs"][0]).path]
    first = body["results"][0]
    return [urlsplit(first["asset_url"]).path, urlsplit(first["thumbnail"]).path]


def decoded_size(data: str) -> int:
    """Bytes a (padded) base64 string decodes to."""
    return len(data) * 3 // 4 - data[-2:].count("=")


def poll_request(job: JobRecord) -> tuple[Op, str]:
    if job.provider == "vibedream":
        return VD_POLL, f"/api/v1/predictions/{job.id}"
    return AS_STATUS, f"/v1/generation-request/{job.id}/status/"


# ---------------------------------------------------------------------------------- clients


@dataclass(frozen=True)
class ClientSpec:
    """What a process running clients needs to know (picklable, for spawned processes)."""

    base_url: str
    indices: tuple[int, ...]  # the clients' numbers: their keys and first journeys
    injected_statuses: frozenset[str]


class LoadClient:
    """One client: one connection, no think time, its own API key."""

    def __init__(self, index: int, spec: ClientSpec, tally: Tally) -> None:
        self.index = index
        self.key = f"load-client-{index}"
        self.spec = spec
        self.tally = tally
        self.finished_jobs = 0
        self.base_url = httpx.URL(spec.base_url)
        # httpx's transport, without the client around it (redirects, cookies, hooks): a
        # third less of the client's time per request, which is what limits the load here.
        self.transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1)
        )

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def send(
        self, method: str, path: str, headers: dict[str, str], content: bytes | None = None
    ) -> httpx.Response:
        request = httpx.Request(
            method, self.base_url.copy_with(path=path), headers=headers, content=content
        )
        request.extensions["timeout"] = TIMEOUTS
        response = await self.transport.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def call(
        self,
        op: Op,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        google_key: bool = False,
    ) -> Answer | None:
        """One request; None when nothing usable came back (tallied either way)."""
        key = key or self.key
        headers = {"x-goog-api-key": key} if google_key else {"Authorization": f"Bearer {key}"}
        content = None
        if body is not None:
            content = orjson.dumps(body)
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            response = await self.send(op.method, path, headers, content)
        except httpx.TransportError as exc:
            self.tally.outcomes[(op.name, type(exc).__name__)] += 1
            self.tally.transport_errors.append((op.method, path, type(exc).__name__))
            return None
        self.tally.latencies.setdefault(op.name, []).append(time.perf_counter() - started)
        return check_answer(op, path, response, self.tally, self.spec.injected_statuses)

    # ------------------------------------------------------------------ journeys

    async def run(self, deadline: float) -> None:
        journeys = (self.vibedream, self.vertex, self.aistudio)
        n = self.index
        while time.monotonic() < deadline:
            await journeys[n % len(journeys)](n // len(journeys), deadline)
            n += 1

    def prompt(self, n: int, subject: str) -> str:
        return f"load test, client {self.index}, job {n}: {subject}"

    async def vibedream(self, n: int, deadline: float) -> None:
        if n % 4 == 3:
            model = "nano-banana-pro-edit"
            body: dict[str, Any] = {
                "images": "https://example.com/photo.jpg",
                "prompt": self.prompt(n, "the same street in winter"),
                "resolution": "1k",
                "output_format": "jpeg",
            }
        else:
            model = "z-image-turbo"
            body = {"prompt": self.prompt(n, "a harbour at dawn"), "size": "1024*1024"}
        answer = await self.call(VD_SUBMIT, f"/api/v1/models/{model}/generate", body)
        if answer is not None and answer.status == 200:
            job = JobRecord("vibedream", answer.body["id"], self.key, 1)
            self.tally.jobs.append(job)
            await self.follow(job, deadline)

    async def vertex(self, n: int, deadline: float) -> None:
        prompt = VERTEX_PROMPTS[n % len(VERTEX_PROMPTS)]
        gemini = n % 2 == 1
        image_config: dict[str, Any] = {"aspectRatio": "1:1", "imageSize": "1K"}
        if not gemini:
            # Vertex AI's own field: an unknown name on the Gemini API, as at Google.
            image_config["imageOutputOptions"] = {"mimeType": "image/jpeg"}
        body = {
            "contents": [{"role": "user", "parts": [{"text": prompt}]}],
            "generationConfig": {
                "responseModalities": ["TEXT", "IMAGE"],
                "imageConfig": image_config,
            },
        }
        op, path = (VX_GEMINI, GEMINI_PATH) if gemini else (VX_GATEWAY, GATEWAY_PATH)
        answer = await self.call(op, path, body, google_key=gemini)
        if answer is None or answer.status != 200:
            return
        if "promptFeedback" in answer.body:
            self.tally.moderated += 1
            self.tally.endings["vertex blocked"] += 1
            return
        candidate = answer.body["candidates"][0]
        images = [p["inlineData"] for p in candidate["content"]["parts"] if "inlineData" in p]
        # The gateway was asked for JPEG; the Gemini API answers in its default format.
        wanted = "image/jpeg" if not gemini else images[0]["mimeType"] if images else "?"
        if candidate["finishReason"] != "STOP":
            self.tally.moderated += 1
            self.tally.endings[f"vertex {candidate['finishReason']}"] += 1
        elif (
            len(images) != 1
            or images[0]["mimeType"] != wanted
            or not base64.b64decode(images[0]["data"][:8]).startswith(
                MAGIC.get(wanted.removeprefix("image/"), b"?")
            )
        ):
            self.tally.violation(f"{op.name}: not one inline {wanted}: {candidate['content']}")
        else:
            self.tally.endings["vertex image"] += 1
            self.tally.images[f"vertex: {prompt}"] = decoded_size(images[0]["data"])

    async def aistudio(self, n: int, deadline: float) -> None:
        images = 2 if n % 3 == 2 else 1
        body = {
            "prompt": self.prompt(n, "a glass teapot"),
            "num_images": images,
            "output_format": "png" if n % 2 else "jpeg",
        }
        answer = await self.call(AS_GENERATE, AS_GENERATE_PATH, body)
        if answer is not None and answer.status == 200:
            job = JobRecord("3daistudio", answer.body["task_id"], self.key, images)
            self.tally.jobs.append(job)
            await self.follow(job, deadline)
        await self.call(AS_WALLET, "/account/user/wallet/")

    async def follow(self, job: JobRecord, deadline: float) -> None:
        """Poll the job until it ends or the run does (the read-back then finishes it)."""
        while time.monotonic() < deadline:
            answer = await self.poll(job)
            if answer is None or answer.fault is not None:
                continue
            if answer.status != 200:
                return  # a violation, tallied (a 404 is a lost job)
            if job.final is None:
                continue
            if job.final in ("completed", "FINISHED") and self.finished_jobs % DOWNLOAD_EVERY == 1:
                for path in output_paths(job, answer.body):
                    await self.download(path)
            return

    async def poll(self, job: JobRecord) -> Answer | None:
        """One poll of `job` with its key; records its end the first time one shows."""
        op, path = poll_request(job)
        answer = await self.call(op, path, key=job.key)
        if answer is None or answer.fault is not None:
            return answer
        where = f"{op.name} {path}"
        if answer.status != 200:
            self.tally.violation(f"{where}: accepted job answered {answer.status}: lost")
            return answer
        state = job_state(job, answer.body, self.tally, where)
        if job.final is not None and state != job.final:
            self.tally.violation(f"{where}: was {job.final}, now {state}")
        elif state is not None and job.final is None:
            job.final = state
            self.finished_jobs += 1
            self.tally.endings[f"{job.provider} {state}"] += 1
        return answer

    async def download(self, path: str) -> None:
        started = time.perf_counter()
        try:
            response = await self.send("GET", path, {})
        except httpx.TransportError as exc:
            self.tally.outcomes[(DOWNLOAD.name, type(exc).__name__)] += 1
            self.tally.transport_errors.append(("GET", path, type(exc).__name__))
            return
        self.tally.latencies.setdefault(DOWNLOAD.name, []).append(time.perf_counter() - started)
        self.tally.outcomes[(DOWNLOAD.name, str(response.status_code))] += 1
        extension = path.rsplit(".", 1)[-1]
        media_type = response.headers.get("content-type", "")
        if (
            response.status_code != 200
            or not media_type.startswith("image/")
            or not response.content.startswith(MAGIC.get(extension, b"?"))
        ):
            self.tally.violation(f"download {path}: {response.status_code} {media_type}")
        else:
            self.tally.downloads += 1
            self.tally.images[path] = len(response.content)


async def run_clients(spec: ClientSpec, deadline: float) -> Tally:
    tally = Tally()
    clients = [LoadClient(index, spec, tally) for index in spec.indices]
    try:
        await asyncio.gather(*(client.run(deadline) for client in clients))
    finally:
        for client in clients:
            await client.aclose()
    return tally


def client_process(spec: ClientSpec, queue: Any, go: Any, deadline: Any) -> None:
    """A spawned process's clients: ready, wait for the start, run, send the tally back."""
    import uvloop

    queue.put(("ready", None))
    go.wait()
    try:
        tally = uvloop.run(run_clients(spec, deadline.value))
    except BaseException as exc:  # reported by the parent as a failed run
        queue.put(("error", f"{type(exc).__name__}: {exc}"))
        raise
    queue.put(("tally", tally))


# ---------------------------------------------------------------------------------- server


def server_config(seed: int, journal_size: int) -> dict[str, Any]:
    """The emulator's config for the run, in its file's shape: the store's and the image
    cache's bounds are the defaults."""
    return {
        "profile": "chaos",
        "clock": "virtual",
        "seed": seed,
        "journal_size": journal_size,
        "defaults": {"wallet_balance": WALLET_BALANCE},
    }


def serve(config_json: str) -> int:
    """Child side: the emulator with this config on an ephemeral 127.0.0.1 port."""
    from emulator import create_app
    from emulator.commands.serve import listen
    from emulator.config import Config

    app = create_app(Config.from_mapping(json.loads(config_json)))
    return run_uvicorn(app, listen(HOST, 0))


class LoadServer(ServerProcess):
    """``with LoadServer(config) as server``: the emulator in a subprocess (``bench.load
    --serve``), on `config`, stopped at the end whatever happens (terminate, then kill)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__("emulator")
        self.config = config

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.load", "--serve", json.dumps(self.config)]

    def rss(self) -> int:
        """Resident memory in bytes (VmRSS)."""
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)


# ------------------------------------------------------------------------ admin-side helpers


class Admin:
    """The admin API: the clock, the journal, the store's counts."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def wait_ready(self, deadline: float) -> None:
        while True:
            with contextlib.suppress(httpx.TransportError):
                if (await self.http.get("/_emulator/health")).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("the emulator does not answer /_emulator/health")
            await asyncio.sleep(0.05)

    async def advance(self, seconds: float) -> None:
        response = await self.http.post("/_emulator/clock/advance", json={"seconds": seconds})
        response.raise_for_status()

    async def stored(self) -> dict[str, int]:
        response = await self.http.get("/_emulator/health")
        response.raise_for_status()
        counts: dict[str, int] = response.json()["store"]
        return counts

    async def config(self) -> dict[str, Any]:
        response = await self.http.get("/_emulator/config")
        response.raise_for_status()
        config: dict[str, Any] = response.json()["config"]
        return config

    async def journal(self, **filters: str) -> tuple[list[dict[str, Any]], int]:
        response = await self.http.get("/_emulator/requests", params=filters)
        response.raise_for_status()
        data = response.json()
        return data["requests"], data["capacity"]


class FaultLedger:
    """The requests the journal says were spoiled by a delivery fault (drop, malformed, ...),
    read often enough that no entry leaves the bounded journal unread: each read first notes
    the newest entry, then reads the faults, then the newest again, and the journal must still
    hold everything after what the previous read covered."""

    def __init__(self, admin: Admin, faults: Sequence[str]) -> None:
        self.admin = admin
        self.faults = tuple(faults)
        self.since = 0  # entries up to this seq were there before: not this run's
        self.covered = 0  # every entry up to this seq was read
        self.entries: dict[int, tuple[str, str, str]] = {}  # seq -> (fault, method, path)
        self.gaps = 0

    async def begin(self) -> None:
        """From now on: what the journal holds already belongs to an earlier run."""
        self.since = self.covered = await self.newest()

    async def newest(self) -> int:
        entries, _ = await self.admin.journal(limit="1")
        return int(entries[0]["seq"]) if entries else 0

    async def read(self) -> None:
        first = await self.newest()
        capacity = 0
        for fault in self.faults:
            entries, capacity = await self.admin.journal(fault=fault)
            for entry in entries:
                if entry["seq"] > self.since:
                    self.entries[entry["seq"]] = (fault, entry["method"], entry["path"])
        last = await self.newest()
        if capacity and last - capacity > self.covered:
            self.gaps += 1
        self.covered = first

    def by_request(self, fault: str) -> Counter[tuple[str, str]]:
        return Counter((m, p) for f, m, p in self.entries.values() if f == fault)


async def every(seconds: float, action: Any, stop: asyncio.Event) -> None:
    """Run `action` every `seconds` until `stop` is set."""
    while not stop.is_set():
        await action()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)


class ClockDriver:
    """Moves the virtual clock `speed` emulator seconds per wall second, in small steps."""

    def __init__(self, admin: Admin, speed: float) -> None:
        self.admin = admin
        self.speed = speed
        self.last = time.monotonic()
        self.advanced = 0.0

    async def tick(self) -> None:
        now = time.monotonic()
        seconds = (now - self.last) * self.speed
        self.last = now
        await self.admin.advance(seconds)
        self.advanced += seconds


@dataclass
class MemoryLog:
    samples: list[tuple[float, int]] = field(default_factory=list)  # (wall s, RSS bytes)
    stored: list[tuple[float, int]] = field(default_factory=list)  # (wall s, jobs)

    @property
    def peak(self) -> int:
        return max((rss for _, rss in self.samples), default=0)

    @property
    def most_jobs(self) -> int:
        return max((jobs for _, jobs in self.stored), default=0)


# ------------------------------------------------------------------------------------- run


@dataclass(frozen=True)
class Settings:
    clients: int = 64
    duration: float = 60.0
    processes: int = 2  # 0: the clients run in this process
    speed: float = 60.0  # emulator seconds per wall second
    seed: int = 1
    journal_size: int = 5_000  # read 4 times a second: enough for 20,000 requests/s


@dataclass
class Report:
    settings: Settings
    config: dict[str, Any] = field(default_factory=dict)
    run: Tally = field(default_factory=Tally)  # the timed load
    other: Tally = field(default_factory=Tally)  # warm-up and read-back
    run_seconds: float = 0.0
    server_cpu: float = 0.0  # seconds during the timed load
    drops: int = 0  # transport errors, each to be matched with a fault in the journal
    problems: list[str] = field(default_factory=list)  # the bench's own findings
    read_back: int = 0
    memory: MemoryLog = field(default_factory=MemoryLog)
    rss_start: int = 0
    rss_end: int = 0
    stored_after: dict[str, int] = field(default_factory=dict)

    @property
    def jobs(self) -> list[JobRecord]:
        return self.other.jobs + self.run.jobs

    @property
    def violation_count(self) -> int:
        return self.run.violation_count + self.other.violation_count + len(self.problems)

    @property
    def image_bytes(self) -> int:
        """What the image cache can hold: the pictures fetched, up to its byte bound."""
        fetched = sum({**self.other.images, **self.run.images}.values())
        return min(fetched, int(self.config.get("image_cache_bytes", fetched)))

    @property
    def memory_bound(self) -> int:
        """What RSS may grow by during the run: the stored jobs, the cached images, slack."""
        return self.memory.most_jobs * JOB_RSS_BUDGET + self.image_bytes + MEMORY_SLACK

    @property
    def ok(self) -> bool:
        return self.violation_count == 0

    def lines(self) -> list[str]:
        s, run = self.settings, self.run
        where = f"{s.processes} client processes" if s.processes else "in the bench's process"
        out = [
            f"load: {s.clients} clients for {s.duration:g} s ({where}), profile chaos, seed"
            f" {s.seed}, virtual clock at {s.speed:g}x (advanced every {CLOCK_TICK:g} s)",
            f"server: max_jobs {self.config.get('max_jobs')}, job_retention"
            f" {self.config.get('job_retention'):g} s, image_cache_bytes"
            f" {int(self.config.get('image_cache_bytes', 0)) / MB:.1f} MB, journal_size"
            f" {self.config.get('journal_size')}",
            "",
            f"requests: {run.requests:,} in {self.run_seconds:.1f} s ="
            f" {run.requests / max(self.run_seconds, 1e-9):,.0f} req/s; server CPU"
            f" {self.server_cpu / max(self.run_seconds, 1e-9):.0%} of one core",
            f"  {'operation':38s} {'count':>8s} {'p50 ms':>8s} {'p99 ms':>8s}  answers",
        ]
        for op in OPS:
            outcomes = {o: n for (name, o), n in run.outcomes.items() if name == op.name}
            if not outcomes:
                continue
            latencies = sorted(run.latencies.get(op.name, ())) or [0.0]
            p50 = latencies[len(latencies) // 2] * 1000
            p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
            shown = ", ".join(f"{o} {n:,}" for o, n in sorted(outcomes.items()))
            out.append(
                f"  {op.name:38s} {sum(outcomes.values()):8,d} {p50:8.2f} {p99:8.2f}  {shown}"
            )
        statuses: Counter[str] = Counter()
        for (_, outcome), n in run.outcomes.items():
            statuses[outcome] += n
        out.append("by status: " + ", ".join(f"{k} {n:,}" for k, n in sorted(statuses.items())))
        faults = self.run.faults + self.other.faults
        out.append(
            "faults seen (whole run, warm-up and read-back included): "
            + ", ".join(f"{k} {n:,}" for k, n in sorted(faults.items()))
            + f", connections dropped {self.drops:,} (matched with the journal)"
            + f", moderated {self.run.moderated + self.other.moderated:,}"
        )
        jobs = self.jobs
        per_provider = Counter(job.provider for job in jobs)
        endings = self.run.endings + self.other.endings
        out.append(
            f"jobs: accepted {len(jobs):,} ("
            + ", ".join(f"{p} {n:,}" for p, n in sorted(per_provider.items()))
            + f"), ended during the load {sum(1 for j in self.run.jobs if j.final):,},"
            f" read back finished {self.read_back:,}/{len(jobs):,}; "
            + ", ".join(f"{k} {n:,}" for k, n in sorted(endings.items()))
        )
        out.append(f"downloads: {self.run.downloads + self.other.downloads:,} images checked")
        memory = self.memory
        out.append(
            f"server RSS: start {self.rss_start / MB:.1f} MB (after warm-up), peak"
            f" {memory.peak / MB:.1f} MB (+{(memory.peak - self.rss_start) / MB:.1f} MB with"
            f" {memory.most_jobs:,} jobs stored and {self.image_bytes / MB:.1f} MB of images"
            f" fetched; bound +{self.memory_bound / MB:.0f} MB), end"
            f" {self.rss_end / MB:.1f} MB after expiry ({(self.rss_end - self.rss_start) / MB:+.1f}"
            f" MB; limit +{END_RSS_LIMIT / MB:.0f} MB); store after expiry: {self.stored_after}"
        )
        out.append("RSS over time: " + timeline(memory))
        if self.violation_count:
            out.append(f"FAIL: {self.violation_count} problem(s)")
            shown = [*self.problems, *self.run.violations, *self.other.violations]
            out += [f"  - {text}" for text in shown[:SHOWN_VIOLATIONS]]
        else:
            out.append("OK: no answer outside the contracts, no job lost, memory bounded")
        return out


def timeline(memory: MemoryLog, points: int = 8) -> str:
    """RSS (and stored jobs) at a few evenly spread moments."""
    samples = memory.samples
    if not samples:
        return "-"
    picks = [samples[round(i * (len(samples) - 1) / (points - 1))] for i in range(points)]
    jobs = memory.stored

    def jobs_at(t: float) -> int:
        before = [n for when, n in jobs if when <= t]
        return before[-1] if before else 0

    return " | ".join(f"{t:.0f}s {rss / MB:.0f} MB {jobs_at(t):,} jobs" for t, rss in picks)


def profile_faults(config: dict[str, Any]) -> tuple[frozenset[str], tuple[str, ...]]:
    """(HTTP statuses the profile injects, delivery faults it injects), for the checks."""
    from emulator.config import Config
    from emulator.providers.vibedream.catalog import models

    parsed = Config.from_mapping(config)
    used = [("vibedream", m) for m in models()] + [
        ("vertex", "gemini-3-pro-image"),
        ("3daistudio", "gemini-3-pro"),
    ]
    names = {
        fault.name
        for provider, model in used
        for _, fault in parsed.fault_table(provider, model).cumulative
    }
    statuses = frozenset(name for name in names if name.isdigit())
    return statuses, tuple(name for name in DELIVERY_FAULTS if name in names)


async def run_load(settings: Settings) -> Report:
    config = server_config(settings.seed, settings.journal_size)
    injected_statuses, delivery_faults = profile_faults(config)
    report = Report(settings)
    with LoadServer(config) as server:
        admin = Admin(server.base_url)
        try:
            await admin.wait_ready(time.monotonic() + START_TIMEOUT)
            report.config = await admin.config()
            await drive(server, admin, settings, report, injected_statuses, delivery_faults)
        finally:
            await admin.aclose()
    return report


async def drive(
    server: LoadServer,
    admin: Admin,
    settings: Settings,
    report: Report,
    injected_statuses: frozenset[str],
    delivery_faults: Sequence[str],
) -> None:
    spec = ClientSpec(server.base_url, (), injected_statuses)
    ledger = FaultLedger(admin, delivery_faults)
    clock = ClockDriver(admin, settings.speed)
    began = time.monotonic()

    async def sample_rss() -> None:
        report.memory.samples.append((time.monotonic() - began, server.rss()))

    async def sample_store() -> None:
        report.memory.stored.append((time.monotonic() - began, (await admin.stored())["jobs"]))

    await ledger.begin()
    stop_clock, stop_watch = asyncio.Event(), asyncio.Event()
    watchers = [
        asyncio.create_task(every(CLOCK_TICK, clock.tick, stop_clock)),
        asyncio.create_task(every(JOURNAL_POLL, ledger.read, stop_watch)),
        asyncio.create_task(every(RSS_SAMPLE, sample_rss, stop_watch)),
        asyncio.create_task(every(STORE_SAMPLE, sample_store, stop_watch)),
    ]
    try:
        # Warm-up: every journey a few times from 3 clients, so every code path, validator
        # and cached picture exists before the memory baseline is taken.
        warm = ClientSpec(server.base_url, tuple(range(3)), injected_statuses)
        report.other.merge(await run_clients(warm, time.monotonic() + 1.0))
        report.rss_start = server.rss()

        cpu_before, started = server.cpu_seconds(), time.monotonic()
        report.run = await run_timed(spec, settings, report)
        report.run_seconds = time.monotonic() - started
        report.server_cpu = server.cpu_seconds() - cpu_before

        stop_clock.set()
        await read_back(server.base_url, admin, report, injected_statuses)
        await expire(server, admin, report)
    finally:
        stop_clock.set()
        stop_watch.set()
        for outcome in await asyncio.gather(*watchers, return_exceptions=True):
            if isinstance(outcome, BaseException):
                report.problems.append(f"a watcher of the run failed: {outcome!r}")
    await ledger.read()
    settle_delivery_faults(report, ledger)
    check_memory(report)


async def run_timed(spec: ClientSpec, settings: Settings, report: Report) -> Tally:
    """The clients for `duration` seconds, here or in spawned processes."""
    indices = range(3, 3 + settings.clients)  # 0-2 were the warm-up's
    if settings.processes == 0:
        here = ClientSpec(spec.base_url, tuple(indices), spec.injected_statuses)
        return await run_clients(here, time.monotonic() + settings.duration)
    context = multiprocessing.get_context("spawn")
    queue, go, deadline = context.Queue(), context.Event(), context.Value("d", 0.0)
    processes = []
    for number in range(settings.processes):
        mine = ClientSpec(
            spec.base_url, tuple(indices[number :: settings.processes]), spec.injected_statuses
        )
        process = context.Process(
            target=client_process, args=(mine, queue, go, deadline), daemon=True
        )
        process.start()
        processes.append(process)
    tally = Tally()
    try:
        for _ in processes:
            kind, payload = await receive(queue, processes, START_TIMEOUT)
            if kind != "ready":
                report.problems.append(f"the client processes did not start: {payload}")
                return tally
        deadline.value = time.monotonic() + settings.duration
        go.set()
        for _ in processes:
            kind, payload = await receive(queue, processes, settings.duration + START_TIMEOUT)
            if kind != "tally":
                report.problems.append(f"a client process failed: {payload}")
                break
            tally.merge(payload)
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()
    return tally


async def receive(queue: Any, processes: Sequence[Any], timeout: float) -> tuple[str, Any]:
    """The next message of the client processes: ("error", why) when one of them died or
    nothing came within `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message: tuple[str, Any] = await loop.run_in_executor(None, queue.get, True, 0.5)
            return message
        except Empty:
            died = [p.exitcode for p in processes if p.exitcode not in (None, 0)]
            if died:
                return "error", f"a client process exited with status {died[0]}"
    return "error", f"no word from the client processes within {timeout:.0f} s"


async def read_back(
    base_url: str, admin: Admin, report: Report, injected_statuses: frozenset[str]
) -> None:
    """Past every job's end, poll each accepted job until it answers: it must have ended."""
    await admin.advance(READBACK_ADVANCE)
    jobs = report.jobs
    queue: asyncio.Queue[JobRecord] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    spec = ClientSpec(base_url, (), injected_statuses)
    clients = [LoadClient(-1 - n, spec, report.other) for n in range(READBACK_CLIENTS)]
    finished = 0

    async def work(client: LoadClient) -> None:
        nonlocal finished
        while not queue.empty():
            job = queue.get_nowait()
            for _ in range(READBACK_ATTEMPTS):
                answer = await client.poll(job)
                if answer is not None and answer.fault is None:
                    break
            else:
                report.problems.append(f"{job.provider} job {job.id}: no answer to any poll")
                continue
            if answer.status != 200:
                continue  # the poll tallied it as lost
            if job.final is None:
                report.problems.append(f"{job.provider} job {job.id}: not ended after the run")
            else:
                finished += 1  # and the poll checked it agrees with what the load saw

    try:
        await asyncio.gather(*(work(client) for client in clients))
    finally:
        for client in clients:
            await client.aclose()
    report.read_back = finished


async def expire(server: LoadServer, admin: Admin, report: Report) -> None:
    """Move the clock past every job's retention, read the store (which drops them) and
    measure what the server holds then."""
    retention = float(report.config.get("job_retention", 0))
    await admin.advance(retention + 1)
    report.stored_after = await admin.stored()
    if report.stored_after.get("jobs") or report.stored_after.get("assets"):
        report.problems.append(f"the store still holds {report.stored_after} after expiry")
    samples = []
    for _ in range(3):  # freed arenas go back at once; a few samples ride out a blip
        await asyncio.sleep(0.2)
        samples.append(server.rss())
    report.rss_end = min(samples)


def settle_delivery_faults(report: Report, ledger: FaultLedger) -> None:
    """Each transport error and each body that is not JSON must be a fault the journal
    recorded on that very request; and each such fault must have reached a client."""
    tallies = (report.run, report.other)
    if ledger.gaps:
        report.problems.append(
            f"the journal turned over between two reads {ledger.gaps} time(s): faults could not"
            " all be attributed (raise journal_size)"
        )
    errors = Counter((m, p) for t in tallies for m, p, _ in t.transport_errors)
    spoiled = Counter((m, p) for t in tallies for m, p, _ in t.unparsable)
    closing = ledger.by_request("drop") + ledger.by_request("timeout")
    for name, seen, recorded in (
        ("transport error", errors, closing),
        ("body that is not JSON", spoiled, ledger.by_request("malformed")),
    ):
        for (method, path), n in (seen - recorded).items():
            report.problems.append(f"{n} {name}(s) on {method} {path} with no fault in the journal")
        for (method, path), n in (recorded - seen).items():
            report.problems.append(f"{n} journal fault(s) on {method} {path} no client saw")
    report.drops = sum(errors.values())


def check_memory(report: Report) -> None:
    grown = report.memory.peak - report.rss_start
    if grown > report.memory_bound:
        report.problems.append(
            f"RSS grew by {grown / MB:.1f} MB during the load, over the bound of"
            f" {report.memory_bound / MB:.1f} MB for {report.memory.most_jobs:,} stored jobs and"
            f" {report.image_bytes / MB:.1f} MB of images"
        )
    if report.rss_end - report.rss_start > END_RSS_LIMIT:
        report.problems.append(
            f"RSS after expiry is {(report.rss_end - report.rss_start) / MB:.1f} MB over its"
            f" start, more than {END_RSS_LIMIT / MB:.0f} MB"
        )


# -------------------------------------------------------------------------------------- CLI


def positive(kind: type) -> Any:
    def parse(text: str) -> Any:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value

    return parse


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    defaults = Settings()
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--clients", type=positive(int), default=defaults.clients)
    parser.add_argument("--duration", type=positive(float), default=defaults.duration)
    parser.add_argument(
        "--processes",
        type=int,
        default=defaults.processes,
        help="client processes (0: the clients run in the bench's own process)",
    )
    parser.add_argument(
        "--speed",
        type=positive(float),
        default=defaults.speed,
        help="emulator seconds per wall second",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--serve", metavar="CONFIG_JSON", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.processes < 0:
        parser.error("--processes must be >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve is not None:
        return serve(args.serve)
    install_sigterm_handler()
    import uvloop

    settings = Settings(
        clients=args.clients,
        duration=args.duration,
        processes=min(args.processes, args.clients),
        speed=args.speed,
        seed=args.seed,
    )
    report = uvloop.run(run_load(settings))
    print("\n".join(report.lines()), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
