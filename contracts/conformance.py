"""The contract suite's example probes, as a library: run them against any base URL (the
emulator, or the real API) and get a report of every field that differs from the contracts.

Per provider a small, cheap set: a valid request for the cheapest model followed through to
completion (polled until terminal, the output downloaded and checked against the format and
size asked), a poll of an unknown job, invalid requests that each change one field of the valid
one, and a missing and a wrong key, which must all be refused with a 4xx whose body is the
provider's error shape. Every answer is checked against its operation's schema for its status.

``imagegen-emulator contract-check`` runs ``check()``; so does the pytest contract suite
(tests/contract/). Waiting for jobs goes through a ``Clock``: real sleeps against a real API,
the emulator's admin API (``POST /_emulator/clock/advance``) when the target is an emulator.
Requests that cost money go through a ``Budget`` (contracts/budget.py) when one is given.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import httpx

from contracts import find_operation
from contracts.budget import UNITS, Budget, actual, describe, estimate
from contracts.findings import (
    STATUS_PATH,
    Finding,
    ProbeResult,
    Report,
    image_findings,
    is_json,
    json_body,
    operation_name,
    response_findings,
    shown,
)
from contracts.streams import joined, stream_chunks

PROVIDERS = ("vibedream", "vertex", "3daistudio")
KEY_ENV = {
    "vibedream": "VIBEDREAM_API_KEY",
    "vertex": "VERTEX_GATEWAY_API_KEY",
    "3daistudio": "THREEDAI_API_KEY",
}
BASE_URL_ENV = {"vertex": "VERTEX_GATEWAY_BASE_URL"}
REAL_BASE_URLS = {
    "vibedream": "https://api.vibedream.ai",
    "3daistudio": "https://api.3daistudio.com",
}
DEFAULT_TIMEOUT = 300.0  # seconds a job may take: 3D AI Studio documents 40-90 s an image
WRONG_KEY = "contract-check-wrong-key-0000"
# First wait between polls, growth, and the longest wait (vibedream asks for every 1-2 s).
POLL_FIRST, POLL_GROWTH, POLL_LONGEST = 1.0, 1.5, 10.0

Expect = Literal["success", "refused"]
KeyChoice = Literal["ours", "wrong", "none"]


class Clock(Protocol):
    """How a check waits between polls."""

    def wait(self, seconds: float) -> None: ...

    def note(self) -> str | None: ...


class RealTime:
    """Waits for real: the only way with a real API."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep) -> None:
        self._sleep = sleep

    def wait(self, seconds: float) -> None:
        self._sleep(seconds)

    def note(self) -> str | None:
        return None


class AdvancingClock:
    """Moves an emulator's clock forward instead of waiting: a 40-90 s job is done at once."""

    def __init__(self, advance: Callable[[float], None], how: str) -> None:
        self._advance = advance
        self.how = how
        self.total = 0.0
        self.moves = 0

    def wait(self, seconds: float) -> None:
        self._advance(seconds)
        self.total += seconds
        self.moves += 1

    def note(self) -> str | None:
        if not self.moves:
            return None
        return (
            f"jobs were not waited for: the emulator's clock was advanced {self.how}"
            f" ({self.moves} times, {self.total:g} s in all)"
        )


def admin_clock(client: httpx.Client, headers: Mapping[str, str]) -> AdvancingClock:
    def advance(seconds: float) -> None:
        client.post(
            "/_emulator/clock/advance", json={"seconds": seconds}, headers=dict(headers)
        ).raise_for_status()

    return AdvancingClock(advance, "through its admin API (POST /_emulator/clock/advance)")


@dataclass(frozen=True)
class EmulatorInfo:
    """What the target's admin API (/_emulator/) told about it."""

    admin_headers: dict[str, str]
    accepts_any_key: dict[str, bool | None]  # provider -> whether any non-empty key works


HEALTH_PATH = "/_emulator/health"


def detect_emulator(
    client: httpx.Client, admin_token: str | None = None
) -> tuple[EmulatorInfo | None, str | None]:
    """(EmulatorInfo, None) when the target answers ``GET /_emulator/health`` as an emulator;
    else (None, a note when it looks like one whose admin API wants a token we lack)."""
    health = client.get(HEALTH_PATH)
    headers: dict[str, str] = {}
    if health.status_code == 401 and wants_admin_token(health):
        if not admin_token:
            return None, (
                "the target looks like an imagegen-emulator whose admin API needs a token,"
                " which was not given: jobs were waited for in real time"
            )
        # Only now, to a target that asked for it: the token never goes to a real API.
        headers = {"X-Emulator-Admin-Token": admin_token}
        health = client.get(HEALTH_PATH, headers=headers)
    body = json_body(health) if health.status_code == 200 else None
    if not (isinstance(body, dict) and body.get("status") == "ok" and "providers" in body):
        return None, None
    config = client.get("/_emulator/config", headers=headers)
    settings = json_body(config) if config.status_code == 200 else None
    any_key: dict[str, bool | None] = dict.fromkeys(PROVIDERS)
    if isinstance(settings, dict) and isinstance(settings.get("config"), dict):
        shape = settings["config"]
        everyone = (shape.get("auth") or {}).get("keys")
        for provider in PROVIDERS:
            own = ((shape.get("providers") or {}).get(provider) or {}).get("api_keys")
            any_key[provider] = own is None and everyone is None
    return EmulatorInfo(headers, any_key), None


def wants_admin_token(response: httpx.Response) -> bool:
    body = json_body(response)
    error = body.get("error") if isinstance(body, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return isinstance(message, str) and "admin token" in message


# --------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class JobProtocol:
    """How an asynchronous provider's jobs are polled and read."""

    id_field: str  # in the submit answer
    poll_path: str  # with {id}
    rank: Mapping[str, int]  # status -> order; a job's status never goes down
    succeeded: str
    failed: str
    outputs: Callable[[Mapping[str, Any]], list[str]]
    progress_field: str | None = None  # never goes down either

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset({self.succeeded, self.failed})

    def regression(self, before: Mapping[str, Any], after: Mapping[str, Any]) -> Finding | None:
        """A Finding (operation and probe left blank) if ``after`` went back from ``before``."""
        old, new = before.get("status"), after.get("status")
        if old in self.rank and new in self.rank:
            if self.rank[new] < self.rank[old] or (old in self.terminal and new != old):
                return Finding("", None, "$.status", f"{old!r} or a later status", repr(new))
            field_name = self.progress_field
            if field_name and old == new:
                was, now = before.get(field_name), after.get(field_name)
                if isinstance(was, int) and isinstance(now, int) and now < was:
                    return Finding("", None, f"$.{field_name}", f">= {was} (it was)", str(now))
        return None


JOBS: dict[str, JobProtocol] = {
    "vibedream": JobProtocol(
        id_field="id",
        poll_path="/api/v1/predictions/{id}",
        rank={"processing": 0, "completed": 1, "failed": 1},
        succeeded="completed",
        failed="failed",
        outputs=lambda body: [url for url in body.get("outputs") or [] if isinstance(url, str)],
    ),
    "3daistudio": JobProtocol(
        id_field="task_id",
        poll_path="/v1/generation-request/{id}/status/",
        rank={"PENDING": 0, "IN_PROGRESS": 1, "FINISHED": 2, "FAILED": 2},
        succeeded="FINISHED",
        failed="FAILED",
        outputs=lambda body: [
            result["asset_url"]
            for result in body.get("results") or []
            if isinstance(result, dict) and isinstance(result.get("asset_url"), str)
        ],
        progress_field="progress",
    ),
}


def poll_waits(timeout: float) -> list[float]:
    """The waits between polls: 1 s, growing by half each time to 10 s, until ``timeout``."""
    waits, wait, total = [], POLL_FIRST, 0.0
    while total < timeout:
        wait = min(wait, timeout - total)
        waits.append(wait)
        total += wait
        wait = min(wait * POLL_GROWTH, POLL_LONGEST)
    return waits


# --------------------------------------------------------------------------- a session


class SkipProbe(Exception):
    """The probe was not run (or not finished): the budget, or the target, rules it out."""


class StopProbe(Exception):
    """The probe cannot go on; what went wrong is already among the findings."""


def auth_headers(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


class Session:
    """Sends a check's requests: budgets them, validates every answer, collects findings."""

    def __init__(
        self,
        provider: str,
        client: httpx.Client,
        api_key: str,
        *,
        clock: Clock,
        budget: Budget | None,
        timeout: float,
        report: Report,
        emulator: EmulatorInfo | None,
    ) -> None:
        self.provider = provider
        self.client = client
        self.api_key = api_key
        self.clock = clock
        self.budget = budget
        self.timeout = timeout
        self.report = report
        self.emulator = emulator
        self.probe = ""

    def find(self, finding: Finding) -> None:
        self.report.findings.append(finding)

    def call(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        expect: Expect = "success",
        key: KeyChoice = "ours",
    ) -> httpx.Response:
        """Send one request (skipped if the budget cannot pay its worst case) and record how
        its answer differs from the contract and from ``expect``."""
        chosen = {"ours": self.api_key, "wrong": WRONG_KEY, "none": None}[key]
        reservation = None
        # Only our own key can be charged: a refused key spends nothing of ours.
        cost = estimate(self.provider, method, path, json) if key == "ours" else None
        if cost is not None and self.budget is not None:
            reservation = self.budget.reserve(f"{self.probe}: {method} {path}", cost)
            if reservation is None:
                room = describe(self.budget.room(cost.unit), cost.unit)
                raise SkipProbe(f"would cost up to {cost}; the budget has {room} left")
        try:
            response = self.client.request(method, path, json=json, headers=auth_headers(chosen))
        except httpx.TransportError:
            if reservation is not None and self.budget is not None:
                self.budget.settle(reservation, None)  # it may have been charged
            raise
        if reservation is not None and self.budget is not None:
            self.budget.settle(reservation, actual(self.provider, response))
        for finding in response_findings(response, self.probe):
            self.find(finding)
        status = response.status_code
        if expect == "success" and status != 200:
            self.differ(response, STATUS_PATH, "200", f"{status}{error_summary(response)}")
        elif expect == "refused" and not 400 <= status < 500:
            self.differ(response, STATUS_PATH, "a 4xx refusal", str(status))
        return response

    def body(self, response: httpx.Response) -> dict[str, Any]:
        """The answer's JSON object, or stop the probe (the findings already say why)."""
        found = find_operation(response.request.method, response.request.url.path)
        if found is not None and found[1].streamed:  # the answer its chunks add up to
            chunks = stream_chunks(response)
            body: Any = json_body(response) if chunks is None else joined(chunks)
        else:
            body = json_body(response)
        if response.status_code != 200 or not is_json(body) or not isinstance(body, dict):
            raise StopProbe
        return body

    def differ(self, response: httpx.Response, path: str, expected: str, got: str) -> None:
        """Record a difference the schema cannot see (a semantic check)."""
        request = response.request
        operation = operation_name(request.method, request.url.path)
        self.find(Finding(operation, response.status_code, path, expected, got, self.probe))

    def follow(self, job_id: str) -> tuple[httpx.Response, dict[str, Any]]:
        """Poll a job until it ends; each answer is checked, and its status (and progress)
        must never go back. Returns the last answer; stops the probe if the job does not end
        within the timeout."""
        protocol = JOBS[self.provider]
        path = protocol.poll_path.format(id=job_id)
        previous: dict[str, Any] | None = None
        for wait in [*poll_waits(self.timeout), None]:
            response = self.call("GET", path)
            body = self.body(response)
            regression = protocol.regression(previous, body) if previous else None
            if regression is not None:
                self.differ(response, regression.path, regression.expected, regression.actual)
            if body.get("status") in protocol.terminal or wait is None:
                break
            self.clock.wait(wait)
            previous = body
        if body.get("status") not in protocol.terminal:
            expected = f"{protocol.succeeded!r} or {protocol.failed!r} within {self.timeout:g} s"
            self.differ(response, "$.status", expected, shown(body.get("status")))
            raise StopProbe
        return response, body

    def download(self, url: str, *, expected_format: str, expected_size: tuple[int, int]) -> None:
        """Fetch an output (without our key: it may live on another host) and check it."""
        response = self.client.get(url)
        where = f"GET {url if len(url) <= 80 else url[:77] + '...'}"
        if response.status_code != 200:
            self.find(
                Finding(DOWNLOAD, response.status_code, STATUS_PATH, "200", where, self.probe)
            )
            return
        for finding in image_findings(
            response.content,
            expected_format=expected_format,
            expected_size=expected_size,
            operation=DOWNLOAD,
            where=where,
            probe=self.probe,
        ):
            self.find(finding)


DOWNLOAD = "download an output"


def error_summary(response: httpx.Response) -> str:
    """`` ('message' (string))`` from a provider's error body, whatever its shape; "" if none."""
    body = json_body(response)
    message: object = None
    if isinstance(body, dict):
        error = body.get("error")
        message = error.get("message") if isinstance(error, dict) else error
    return f" ({shown(message)})" if isinstance(message, str) else ""


# --------------------------------------------------------------------------- mutations

MISSING = object()  # a mutation that removes the field
_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def mutated(body: Mapping[str, Any], where: str, value: object) -> dict[str, Any]:
    """A deep copy of ``body`` with the field at ``where`` (``a.b[0].c``) set to ``value``,
    or removed when ``value`` is MISSING. Missing parents are created as objects."""
    result = copy.deepcopy(dict(body))
    steps: list[str | int] = [name if name else int(index) for name, index in _STEP.findall(where)]
    node: Any = result
    for step in steps[:-1]:
        node = node.setdefault(step, {}) if isinstance(step, str) else node[step]
    last = steps[-1]
    if value is MISSING:
        del node[last]
    else:
        node[last] = value
    return result


def mutation_name(where: str, value: object) -> str:
    return f"{where} missing" if value is MISSING else f"{where}={value!r}"


# --------------------------------------------------------------------------- probes


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable[[Session], None]
    # Against an emulator that takes any non-empty key, a wrong key cannot be refused.
    needs_key_check: bool = False


@dataclass(frozen=True)
class ProviderProbes:
    """A provider's valid request, the invalid variants of it, and what to check."""

    provider: str
    submit_path: str
    valid: dict[str, Any]
    expected_format: str  # of the output the valid request asks for
    expected_size: tuple[int, int]
    invalid: tuple[tuple[str, object], ...]  # (field, value): one change each
    check_answer: Callable[[Session, ProviderProbes, httpx.Response], None]
    model: str | None = None  # what the answer's modelId must say, where it has one
    unknown_job_path: str | None = None
    extra: tuple[Probe, ...] = ()

    def probes(self) -> list[Probe]:
        found = [Probe(f"generate {describe_request(self.valid)}", self._run_valid), *self.extra]
        if self.unknown_job_path:
            found.append(Probe("poll an unknown job", self._run_unknown_job))
        found += [
            Probe(f"refuse {mutation_name(where, value)}", self._refuse(where, value))
            for where, value in self.invalid
        ]
        found += [
            Probe("refuse a missing key", self._refuse_key("none")),
            Probe("refuse a wrong key", self._refuse_key("wrong"), needs_key_check=True),
        ]
        return found

    def _run_valid(self, session: Session) -> None:
        self.check_answer(session, self, session.call("POST", self.submit_path, json=self.valid))

    def _run_unknown_job(self, session: Session) -> None:
        assert self.unknown_job_path is not None
        session.call("GET", self.unknown_job_path, expect="refused")

    def _refuse(self, where: str, value: object) -> Callable[[Session], None]:
        body = mutated(self.valid, where, value)

        def run(session: Session) -> None:
            session.call("POST", self.submit_path, json=body, expect="refused")

        return run

    def _refuse_key(self, key: KeyChoice) -> Callable[[Session], None]:
        def run(session: Session) -> None:
            session.call("POST", self.submit_path, json=self.valid, expect="refused", key=key)

        return run


def describe_request(body: Mapping[str, Any]) -> str:
    """``size='768*1024' output_format='png'``: the fields that shape the output."""
    config = body.get("generationConfig", {}).get("imageConfig", {})
    flat = {k: v for k, v in body.items() if k != "prompt" and not isinstance(v, list | dict)}
    return " ".join(f"{k}={v}" for k, v in {**flat, **config}.items())


UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


def follow_job(session: Session, probes: ProviderProbes, submitted: httpx.Response) -> None:
    """Submit answered: poll to the end, expect success, download and check the outputs."""
    protocol = JOBS[probes.provider]
    job_id = session.body(submitted).get(protocol.id_field)
    if not isinstance(job_id, str):
        raise StopProbe
    poll_path = protocol.poll_path.format(id=job_id)
    status_url = session.body(submitted).get("statusUrl")
    if isinstance(status_url, str) and not status_url.endswith(poll_path):
        session.differ(submitted, "$.statusUrl", f"a URL ending in {poll_path}", shown(status_url))
    response, done = session.follow(job_id)
    if done.get("status") != protocol.succeeded:
        reason = done.get("error") or done.get("failure_reason")
        session.differ(
            response, "$.status", repr(protocol.succeeded), shown(reason or done.get("status"))
        )
        raise StopProbe
    asked = probes.valid.get("num_images", 1)
    outputs = protocol.outputs(done)
    if len(outputs) != asked:
        session.differ(response, "$", f"{asked} output(s), as asked", str(len(outputs)))
    if probes.model and done.get("modelId") != probes.model:
        session.differ(response, "$.modelId", repr(probes.model), shown(done.get("modelId")))
    for url in outputs:
        session.download(
            url, expected_format=probes.expected_format, expected_size=probes.expected_size
        )


def check_generate_content(
    session: Session, probes: ProviderProbes, response: httpx.Response
) -> None:
    """A synchronous answer: one candidate with an image part of the asked format and size,
    and token counts that add up."""
    body = session.body(response)
    candidates = body.get("candidates") or [{}]
    candidate = candidates[0] if isinstance(candidates[0], dict) else {}
    if candidate.get("finishReason") != "STOP":
        session.differ(
            response,
            "$.candidates[0].finishReason",
            "'STOP' (an image was asked)",
            shown(candidate.get("finishReason")),
        )
    parts = (candidate.get("content") or {}).get("parts") or []
    images = [
        part["inlineData"]
        for part in parts
        if isinstance(part, dict) and isinstance(part.get("inlineData"), dict)
    ]
    where = "$.candidates[0].content.parts[*].inlineData"
    if not images:
        session.differ(response, where, "an image part", "none")
    for blob in images:
        mime = f"image/{probes.expected_format}"
        if blob.get("mimeType") != mime:
            session.differ(response, f"{where}.mimeType", repr(mime), shown(blob.get("mimeType")))
        try:
            data = base64.b64decode(str(blob.get("data", "")), validate=True)
        except (binascii.Error, ValueError):
            session.differ(response, f"{where}.data", "standard base64", "undecodable text")
            continue
        for finding in image_findings(
            data,
            expected_format=probes.expected_format,
            expected_size=probes.expected_size,
            operation=operation_name(response.request.method, response.request.url.path),
            where=f"{where}.data",
            probe=session.probe,
        ):
            session.find(finding)
    usage = body.get("usageMetadata") or {}
    counts = [
        usage.get(k, 0) for k in ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount")
    ]
    if all(isinstance(c, int) for c in counts) and usage.get("totalTokenCount") != sum(counts):
        session.differ(
            response,
            "$.usageMetadata.totalTokenCount",
            f"promptTokenCount + candidatesTokenCount + thoughtsTokenCount = {sum(counts)}",
            shown(usage.get("totalTokenCount")),
        )


def stream_generate_content(session: Session) -> None:
    """The valid generateContent request streamed (alt=sse): every chunk checked against the
    chunk contract, and the answer they add up to checked as the unary one is."""
    probes = PROBES["vertex"]
    path = probes.submit_path.replace(":generateContent", ":streamGenerateContent") + "?alt=sse"
    check_generate_content(session, probes, session.call("POST", path, json=probes.valid))


def read_wallet(session: Session) -> None:
    session.call("GET", "/account/user/wallet/")


PROBES: dict[str, ProviderProbes] = {
    "vibedream": ProviderProbes(
        provider="vibedream",
        submit_path="/api/v1/models/z-image-turbo/generate",  # the cheapest model: 1 cent
        valid={
            "prompt": "imagegen contract check: a red bicycle against a white wall",
            "size": "768*1024",
            "output_format": "png",
            "seed": 1234,
        },
        expected_format="png",
        expected_size=(768, 1024),
        invalid=(
            ("size", "1000*1000"),
            ("output_format", "gif"),
            ("seed", -2),
            ("strength", 1.5),
            ("prompt", " "),
            ("prompt", MISSING),
        ),
        check_answer=follow_job,
        model="z-image-turbo",
        unknown_job_path=f"/api/v1/predictions/{UNKNOWN_ID}",
    ),
    "vertex": ProviderProbes(
        provider="vertex",
        submit_path="/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent",
        valid={  # 1K: the cheapest size (about 14 cents)
            "contents": [
                {
                    "role": "user",
                    "parts": [{"text": "imagegen contract check: a lighthouse at dawn"}],
                }
            ],
            "generationConfig": {
                "responseModalities": ["TEXT", "IMAGE"],
                "imageConfig": {"aspectRatio": "3:4", "imageSize": "1K"},
            },
        },
        expected_format="png",
        expected_size=(896, 1200),
        invalid=(
            ("generationConfig.imageConfig.imageSize", "2k"),
            ("generationConfig.imageConfig.aspectRatio", "7:3"),
            ("generationConfig.candidateCount", 2),
            ("contents[0].role", "robot"),
            ("contents", []),
            ("unexpectedField", True),
        ),
        check_answer=check_generate_content,
        extra=(Probe("stream the same request (alt=sse)", stream_generate_content),),
    ),
    "3daistudio": ProviderProbes(
        provider="3daistudio",
        submit_path="/v1/images/gemini/3/pro/generate/",
        valid={  # one 1K image: 50 credits
            "prompt": "imagegen contract check: a teapot on a wooden table",
            "resolution": "1K",
            "num_images": 1,
            "aspect_ratio": "3:4",
            "output_format": "png",
        },
        expected_format="png",
        expected_size=(896, 1200),
        invalid=(
            ("resolution", "8K"),
            ("output_format", "gif"),
            ("aspect_ratio", "7:3"),
            ("num_images", 0),
            ("prompt", ""),
            ("prompt", MISSING),
        ),
        check_answer=follow_job,
        unknown_job_path=f"/v1/generation-request/{UNKNOWN_ID}/status/",
        extra=(Probe("read the wallet", read_wallet),),
    ),
}


# --------------------------------------------------------------------------- running


def check(
    provider: str,
    client: httpx.Client,
    api_key: str,
    *,
    clock: Clock | None = None,
    budget: Budget | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    admin_token: str | None = None,
) -> Report:
    """Run the provider's probes against ``client``'s base URL and report what differs.

    Without a ``clock``, an emulator target (one that answers ``/_emulator/health``) has its
    clock advanced through the admin API; any other target is waited for in real time.
    httpx.TransportError (the target cannot be reached) propagates.
    """
    if provider not in PROBES:
        raise ValueError(f"unknown provider {provider!r}; choose one of {', '.join(PROBES)}")
    report = Report(provider, str(client.base_url).rstrip("/"))
    emulator, emulator_note = detect_emulator(client, admin_token)
    if clock is None:
        clock = admin_clock(client, emulator.admin_headers) if emulator else RealTime()
    session = Session(
        provider,
        client,
        api_key,
        clock=clock,
        budget=budget,
        timeout=timeout,
        report=report,
        emulator=emulator,
    )
    for probe in PROBES[provider].probes():
        report.probes.append(run_probe(session, probe))
    if emulator is not None:
        report.notes.append(f"the target is an imagegen-emulator (it answers {HEALTH_PATH})")
    if emulator_note:
        report.notes.append(emulator_note)
    clock_note = clock.note()
    if clock_note:
        report.notes.append(clock_note)
    if budget is not None:
        emulated = " (emulated money: the target is an emulator)" if emulator else ""
        report.spending = budget.summary((UNITS[provider],)) + emulated
    return report


def run_probe(session: Session, probe: Probe) -> ProbeResult:
    emulator = session.emulator
    if probe.needs_key_check and emulator and emulator.accepts_any_key.get(session.provider):
        return ProbeResult(
            probe.name,
            "skipped",
            "this emulator accepts any non-empty key (no keys configured)",
        )
    session.probe = probe.name
    before = len(session.report.findings)
    try:
        probe.run(session)
    except SkipProbe as skip:
        return ProbeResult(probe.name, "skipped", str(skip))
    except StopProbe:
        pass
    drift = len(session.report.findings) > before
    return ProbeResult(probe.name, "drift" if drift else "ok")
