"""A profile fitted to recorded traffic: pure functions from recorded entries to the settings of
``[profiles.NAME]`` (emulator/config.py), so `--profile NAME` behaves like what was recorded.

What is fitted, per provider (``recording.protocols.PROTOCOLS`` says how each provider's jobs
read):

- ``job_duration`` per model: from a job's submit to its first terminal poll answer (successful
  jobs only); 3D AI Studio's is per image, so the time after the queue is divided by the task's
  image count. ``queue_duration`` per model, for a provider with a queued state: from the
  submit to the first answer that is no longer queued. A synchronous provider (vertex) has no
  job: its generation's time is the answer's ``elapsed_ms`` (streams included), fitted as the
  model's ``latency``.
- ``latency``: every other successful answer of the provider, by its time to first byte
  (``first_byte_ms``, else ``elapsed_ms``): what the emulator holds before it answers.
- ``faults``: the share of requests (collapsed polls counted as many) answered 429, 500, 502,
  503 or 504 (another 5xx counts as 500), or not answered at all (HAR status 0, or the
  recording proxy's own 504 after its ``--timeout``: ``timeout``, whose ``timeout_seconds`` is
  fitted too; the proxy's own 502s, an upstream it could not reach, are left out); 429 and
  503 with their Retry-After (the header, or a Google error's RetryInfo ``retryDelay``),
  rounded up to whole seconds. A job that failed without moderation is ``job:500``. Other 4xx
  are the client's doing (a bad key, no credits) and are not faults. With a fitted 429 rate,
  ``rate_limit = false``: the recorded 429s stand in for the base profile's token bucket, so
  the rate holds whatever pace the app keeps.
- ``moderation``: the share of accepted jobs (vertex: of successful generations) that ended
  moderated, as one ``{probability}`` rule (stage as recorded: vertex's blocked prompt or
  withheld image; the built-in word rules still apply before it).

A distribution is fitted robustly: lognormal with the samples' median, sigma from the
interquartile range (ln q75 - ln q25) / 1.349, clamped to the 1st and 99th percentiles; equal
samples give a fixed number, samples at zero a uniform [p1, p99]. A figure with fewer than
``MIN_SAMPLES`` samples (durations, latencies), ``MIN_REQUESTS`` requests (fault rates) or
``MIN_JOBS`` finished jobs (moderation, job failures) is not written, so
the base profile's value stays, and the figure's note says so.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contracts.streams import parsed_chunks
from emulator.core.faults import HTTP_FAULTS, Delivery
from emulator.recording.har import Entry
from emulator.recording.protocols import PROTOCOLS, JobProtocol

__all__ = [
    "MIN_JOBS",
    "MIN_REQUESTS",
    "MIN_SAMPLES",
    "Calibration",
    "Figure",
    "calibrate",
    "fit_seconds",
    "percentile",
    "retry_after_seconds",
]

MIN_SAMPLES = 5  # a duration or latency needs this many samples
MIN_REQUESTS = 50  # a fault rate needs this many requests
MIN_JOBS = 20  # a moderation or job failure rate needs this many finished jobs
LOW_PERCENTILE, HIGH_PERCENTILE = 1.0, 99.0  # a fitted distribution's bounds
IQR_PER_SIGMA = 1.349  # a normal distribution's interquartile range, in standard deviations
DIGITS = 3  # seconds and rates are written to the millisecond / 0.1 %
RATE_DIGITS = 4
UNANSWERED = 0  # HAR's status of a request that got no response
# The recording proxy's own answers (an Entry with a note): the upstream too slow, or not
# reachable at all.
RECORDER_TIMEOUT, RECORDER_UNREACHABLE = 504, 502
OTHER_5XX = "500"  # a 5xx the fault model has no name for


# --------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class Figure:
    """One setting of the fitted profile: ``value`` None when there were too few samples (the
    base profile's value stays); ``note`` says what it was fitted from."""

    provider: str
    model: str | None
    key: str
    value: Any
    note: str


@dataclass(frozen=True)
class Calibration:
    base: str  # the profile the fitted one extends
    figures: tuple[Figure, ...]
    entries: int
    requests: int  # collapsed polls counted as the requests they were
    first: datetime | None
    last: datetime | None
    providers: tuple[str, ...]

    def profile(self) -> dict[str, Any]:
        """The ``[profiles.NAME]`` table, in the config file's shape."""
        providers: dict[str, dict[str, Any]] = {}
        for figure in self.figures:
            if figure.value is None:
                continue
            section = providers.setdefault(figure.provider, {})
            if figure.model is not None:
                section = section.setdefault("models", {}).setdefault(figure.model, {})
            section[figure.key] = figure.value
        return {"extends": self.base, "providers": providers}


# --------------------------------------------------------------------------- fitting


def percentile(ordered: Sequence[float], percent: float) -> float:
    """Linear interpolation between the closest ranks of sorted samples."""
    if not ordered:
        raise ValueError("no samples")
    position = (len(ordered) - 1) * percent / 100
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def fit_seconds(samples: Iterable[float]) -> float | dict[str, Any]:
    """A duration setting (core/durations.py) fitted to samples in seconds (module docstring)."""
    ordered = sorted(max(0.0, sample) for sample in samples)
    low = round(percentile(ordered, LOW_PERCENTILE), DIGITS)
    high = round(percentile(ordered, HIGH_PERCENTILE), DIGITS)
    median = round(percentile(ordered, 50), DIGITS)
    if high - low <= 10**-DIGITS:
        return median
    lower, upper = percentile(ordered, 25), percentile(ordered, 75)
    if lower <= 0 or median <= 0:
        return {"distribution": "uniform", "min": low, "max": high}
    sigma = (math.log(upper) - math.log(lower)) / IQR_PER_SIGMA
    return {
        "distribution": "lognormal",
        "median": median,
        "sigma": round(sigma, DIGITS),
        "min": low,
        "max": high,
    }


def _described(samples: Sequence[float], what: str) -> str:
    ordered = sorted(samples)
    return (
        f"{len(ordered)} {what}: median {percentile(ordered, 50):.3g} s,"
        f" p1-p99 {percentile(ordered, LOW_PERCENTILE):.3g}-"
        f"{percentile(ordered, HIGH_PERCENTILE):.3g} s"
    )


def _duration_figure(
    provider: str, model: str | None, key: str, samples: Sequence[float], what: str, base: str
) -> Figure:
    if len(samples) < MIN_SAMPLES:
        return Figure(
            provider,
            model,
            key,
            None,
            f"{len(samples)} {what} (fewer than {MIN_SAMPLES}): {base}'s value kept",
        )
    return Figure(provider, model, key, fit_seconds(samples), _described(samples, what))


# --------------------------------------------------------------------------- reading entries


def _parse_time(text: str) -> datetime:
    """An entry's start (read_har checked it is ISO 8601); one without an offset is UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _requests(entry: Entry) -> int:
    return entry.collapsed.count if entry.collapsed is not None else 1


def _bodies(entry: Entry) -> list[Any]:
    """The answer's JSON bodies: one, or a stream's chunks."""
    parsed = entry.response_json()
    if parsed is not None:
        return parsed if isinstance(parsed, list) else [parsed]
    chunks = parsed_chunks(entry.response_mime, entry.response_text.encode())
    return chunks or []


def _moderation_stage(protocol: JobProtocol, bodies: Sequence[Any]) -> str | None:
    for test in protocol.moderated:
        if any(test.matches(body) for body in bodies):
            return test.stage
    return None


_RETRY_DELAY = re.compile(r"^(\d+(?:\.\d+)?)s$")


def retry_after_seconds(entry: Entry) -> float | None:
    """The wait an answer asks for: its Retry-After header (seconds), else a Google error's
    RetryInfo retryDelay ("26s")."""
    for name, value in entry.response_headers:
        if name.lower() == "retry-after":
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    body = entry.response_json()
    error = body.get("error") if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            found = _RETRY_DELAY.match(str(detail.get("retryDelay", "")))
            if found:
                return float(found.group(1))
    return None


@dataclass
class _Job:
    model: str | None
    submitted: datetime
    images: int
    answers: list[tuple[datetime, str, Entry]] = field(default_factory=list)


@dataclass
class _Traffic:
    """One provider's recorded traffic, sorted into what the fit needs."""

    requests: int = 0
    faults: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    retry_after: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    unanswered_seconds: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    model_latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    jobs: dict[str, _Job] = field(default_factory=dict)
    generations: int = 0  # synchronous: successful generations
    moderated: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # by stage


def _fault_name(entry: Entry) -> str | None:
    status = entry.status
    if status == UNANSWERED or (entry.note is not None and status == RECORDER_TIMEOUT):
        return Delivery.TIMEOUT.value
    if status == 429 or (500 <= status < 600):
        name = str(status)
        return name if name in HTTP_FAULTS else OTHER_5XX
    return None


def _sort(entries: Iterable[Entry]) -> dict[str, _Traffic]:
    traffic: dict[str, _Traffic] = defaultdict(_Traffic)
    polls: list[tuple[str, Entry]] = []
    for entry in sorted(entries, key=lambda e: _parse_time(e.started)):
        provider, operation = entry.provider, entry.operation
        protocol = PROTOCOLS.get(provider or "")
        if provider is None or operation is None or protocol is None:
            continue
        if entry.note is not None and entry.status == RECORDER_UNREACHABLE:
            continue  # the recorder could not reach the upstream: not the provider's doing
        seen = traffic[provider]
        seen.requests += _requests(entry)
        fault = _fault_name(entry)
        if fault is not None:
            seen.faults[fault] += _requests(entry)
            wait = retry_after_seconds(entry)
            if wait is not None:
                seen.retry_after[fault].append(wait)
            if fault == Delivery.TIMEOUT.value:
                seen.unanswered_seconds.append(entry.elapsed_ms / 1000)
            continue
        if not 200 <= entry.status < 300:
            continue
        model = protocol.model_of(entry.path_params(), entry.path)
        if operation in protocol.generations:
            seen.generations += 1
            if model is not None:
                seen.model_latencies[model].append(entry.elapsed_ms / 1000)
            stage = _moderation_stage(protocol, _bodies(entry))
            if stage is not None:
                seen.moderated[stage] += 1
            continue
        first_byte = entry.first_byte_ms if entry.first_byte_ms is not None else entry.elapsed_ms
        seen.latencies.append(first_byte / 1000)
        if operation in protocol.starts and protocol.job_id is not None:
            job_id = next(iter(protocol.job_id.values(entry.response_json())), None)
            request = entry.request_json()
            images = (
                request.get(protocol.images_field, 1)
                if protocol.images_field and isinstance(request, dict)
                else 1
            )
            if isinstance(job_id, str):
                seen.jobs[job_id] = _Job(
                    model,
                    _parse_time(entry.started),
                    images if isinstance(images, int) and images > 0 else 1,
                )
        elif operation == protocol.poll:
            polls.append((provider, entry))
    for provider, entry in polls:
        protocol = PROTOCOLS[provider]
        job = traffic[provider].jobs.get(entry.path_params().get(protocol.poll_param, ""))
        state = next(iter(protocol.status.values(entry.response_json())), None)
        if job is not None and isinstance(state, str):
            job.answers.append((_parse_time(entry.started), state, entry))
    return traffic


# --------------------------------------------------------------------------- the fit


@dataclass
class _Outcomes:
    """How one provider's jobs ended: duration samples of successful jobs per model, and the
    count of finished jobs, failed ones, and moderated ones by stage."""

    run: dict[str | None, list[float]] = field(default_factory=lambda: defaultdict(list))
    queue: dict[str | None, list[float]] = field(default_factory=lambda: defaultdict(list))
    finished: int = 0
    failed: int = 0  # not moderated
    moderated: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _outcomes(protocol: JobProtocol, seen: _Traffic) -> _Outcomes:
    outcomes = _Outcomes(finished=seen.generations, moderated=defaultdict(int, seen.moderated))
    for job in seen.jobs.values():
        ending = next(
            ((at, state, entry) for at, state, entry in job.answers if state in protocol.terminal),
            None,
        )
        if ending is None:
            continue  # never seen to finish
        outcomes.finished += 1
        ended_at, state, entry = ending
        if state in protocol.failed:
            stage = _moderation_stage(protocol, _bodies(entry))
            if stage is None:
                outcomes.failed += 1
            else:
                outcomes.moderated[stage] += 1
            continue
        running_at = job.submitted
        if protocol.queued:
            running_at = next(
                (at for at, state, _ in job.answers if state not in protocol.queued), ended_at
            )
            outcomes.queue[job.model].append((running_at - job.submitted).total_seconds())
        outcomes.run[job.model].append((ended_at - running_at).total_seconds() / job.images)
    return outcomes


def _job_figures(provider: str, outcomes: _Outcomes, base: str) -> list[Figure]:
    protocol = PROTOCOLS[provider]
    what = "jobs (per image)" if protocol.images_field else "jobs"
    figures = []
    for model in sorted(model for model in outcomes.run.keys() | outcomes.queue.keys() if model):
        if protocol.queued:
            samples = outcomes.queue[model]
            figures.append(
                _duration_figure(provider, model, "queue_duration", samples, "jobs", base)
            )
        samples = outcomes.run[model]
        figures.append(_duration_figure(provider, model, "job_duration", samples, what, base))
    return figures


def _rate(count: int, total: int) -> float:
    return round(count / total, RATE_DIGITS) if total else 0.0


def _fault_figures(provider: str, seen: _Traffic, outcomes: _Outcomes, base: str) -> list[Figure]:
    if seen.requests < MIN_REQUESTS:
        note = f"{seen.requests} requests (fewer than {MIN_REQUESTS}): {base}'s faults kept"
        return [Figure(provider, None, "faults", None, note)]
    table: dict[str, float] = {}
    notes = []
    for name in sorted(seen.faults):
        waits = sorted(seen.retry_after.get(name, []))
        key = f"{name}; retry-after={max(1, math.ceil(percentile(waits, 50)))}" if waits else name
        table[key] = _rate(seen.faults[name], seen.requests)
        notes.append(f"{seen.faults[name]} x {name}")
    if outcomes.failed and outcomes.finished >= MIN_JOBS:
        # One draw per request picks at most one fault: a job fault lands only on a request
        # that no HTTP fault took.
        accepted = 1 - sum(table.values())
        table["job:500"] = round(outcomes.failed / outcomes.finished * accepted, RATE_DIGITS)
        notes.append(f"{outcomes.failed} of {outcomes.finished} jobs failed")
    summary = ", ".join(notes) if notes else "none"
    note = f"{seen.requests} requests; faults: {summary}"
    figures = [Figure(provider, None, "faults", table, note)]
    if "429" in seen.faults:
        note = "the recorded 429s stand in for the base profile's rate limit"
        figures.append(Figure(provider, None, "rate_limit", False, note))
    waits = seen.unanswered_seconds
    if waits and len(waits) < MIN_SAMPLES:
        note = f"{len(waits)} unanswered (fewer than {MIN_SAMPLES}): {base}'s value kept"
        figures.append(Figure(provider, None, "timeout_seconds", None, note))
    elif waits:
        median = round(percentile(sorted(waits), 50), DIGITS)
        note = _described(waits, "unanswered requests (the median)")
        figures.append(Figure(provider, None, "timeout_seconds", median, note))
    return figures


def _moderation_figure(provider: str, outcomes: _Outcomes, base: str) -> Figure:
    what = "generations" if PROTOCOLS[provider].generations else "finished jobs"
    screened = outcomes.finished
    if screened < MIN_JOBS:
        note = f"{screened} {what} (fewer than {MIN_JOBS}): {base}'s moderation kept"
        return Figure(provider, None, "moderation", None, note)
    moderated = sum(outcomes.moderated.values())
    rule: dict[str, Any] = {"probability": _rate(moderated, screened)}
    if moderated:
        rule["stage"] = max(outcomes.moderated, key=lambda stage: outcomes.moderated[stage])
    note = f"{moderated} of {screened} {what} moderated"
    return Figure(provider, None, "moderation", [rule], note)


def calibrate(entries: Sequence[Entry], base: str = "realistic") -> Calibration:
    """The profile fitted to ``entries`` (of any number of files), extending ``base``."""
    traffic = _sort(entries)
    figures: list[Figure] = []
    for provider in sorted(traffic):
        seen = traffic[provider]
        outcomes = _outcomes(PROTOCOLS[provider], seen)
        figures += _job_figures(provider, outcomes, base)
        figures += [
            _duration_figure(provider, model, "latency", samples, "generations", base)
            for model, samples in sorted(seen.model_latencies.items())
        ]
        figures.append(_duration_figure(provider, None, "latency", seen.latencies, "answers", base))
        figures += _fault_figures(provider, seen, outcomes, base)
        figures.append(_moderation_figure(provider, outcomes, base))
    times = sorted(_parse_time(entry.started) for entry in entries)
    return Calibration(
        base=base,
        figures=tuple(figures),
        entries=len(entries),
        requests=sum(_requests(entry) for entry in entries),
        first=times[0] if times else None,
        last=times[-1] if times else None,
        providers=tuple(sorted(traffic)),
    )
