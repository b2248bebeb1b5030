"""What happens to one request: its fault (if any), its latency and, for a request that starts
a job, how that job ends.

Sources, each overriding the ones after it: the request's own headers (`X-Emulator-Fault`,
`X-Emulator-Latency`), the next step of a matching scenario (core/scenarios.py), and the
active settings (`faults` probabilities and `latency`, per provider and model). Random choices
come from their own seeded generator, so the same seed, config and requests give the same
faults, and turning faults on does not change the ids or durations drawn elsewhere.

Provider-neutral: an HTTP fault is a neutral ApiError the provider renders in its own shape; a
delivery fault (timeout, drop, malformed, slow) is carried out on the response by
core/delivery.py; a job fault (`moderation`, `job:500`) is a JobFate the provider applies.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from starlette.requests import Request

from emulator.core.errors import ApiError, ErrorKind
from emulator.core.http import header

if TYPE_CHECKING:
    from emulator.config import Config
    from emulator.core.clock import Clock
    from emulator.core.jobs import Job
    from emulator.core.randomness import SeededRandom
    from emulator.core.scenarios import Scenarios

FAULT_HEADER = "x-emulator-fault"
LATENCY_HEADER = "x-emulator-latency"
FAULT_HEADER_RAW = FAULT_HEADER.encode()
LATENCY_HEADER_RAW = LATENCY_HEADER.encode()
DECISION_SCOPE_KEY = "emulator.decision"
DEFAULT_RETRY_AFTER = 1
DEFAULT_TIMEOUT_SECONDS = 30.0  # how long `timeout` holds a connection (setting timeout_seconds)
DEFAULT_SLOW_BODY_SECONDS = 5.0  # over how long `slow` sends a body (setting slow_body_seconds)
MAX_HEADER_LATENCY = 600.0

# HTTP faults by the status they answer with.
HTTP_FAULTS: dict[str, ErrorKind] = {
    "401": ErrorKind.UNAUTHENTICATED,
    "402": ErrorKind.INSUFFICIENT_CREDITS,
    "403": ErrorKind.PERMISSION_DENIED,
    "429": ErrorKind.RATE_LIMITED,
    "500": ErrorKind.INTERNAL,
    "502": ErrorKind.BAD_GATEWAY,
    "503": ErrorKind.UNAVAILABLE,
    "504": ErrorKind.GATEWAY_TIMEOUT,
}
MESSAGES: dict[ErrorKind, str] = {
    ErrorKind.UNAUTHENTICATED: "The API key is not valid.",
    ErrorKind.INSUFFICIENT_CREDITS: "Insufficient credits for this request.",
    ErrorKind.PERMISSION_DENIED: "The API key may not use this resource.",
    ErrorKind.RATE_LIMITED: "Too many requests: the rate limit was exceeded.",
    ErrorKind.INTERNAL: "The service hit an internal error.",
    ErrorKind.BAD_GATEWAY: "The service received a bad answer from an upstream server.",
    ErrorKind.UNAVAILABLE: "The service is temporarily unavailable.",
    ErrorKind.GATEWAY_TIMEOUT: "The service timed out waiting for an upstream server.",
}
RETRY_AFTER_KINDS = (ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE)


class Delivery(StrEnum):
    """Faults carried out on the response itself (core/delivery.py)."""

    TIMEOUT = "timeout"  # hold the connection past the configured limit, then close it
    DROP = "drop"  # close the connection without a response
    MALFORMED = "malformed"  # a truncated JSON body
    SLOW = "slow"  # the body dribbled out over seconds


MODERATION = "moderation"
JOB_PREFIX = "job:"  # job:500 etc.: the request is accepted and its job fails later
JOB_FAULTS = tuple(f"{JOB_PREFIX}{status}" for status in ("500", "502", "503", "504"))
NAMES: tuple[str, ...] = (*HTTP_FAULTS, MODERATION, *JOB_FAULTS, *Delivery)
# Older and longer spellings, accepted everywhere a fault is named.
ALIASES: dict[str, str] = {
    "unauthenticated": "401",
    "insufficient_credits": "402",
    "permission_denied": "403",
    "rate_limited": "429",
    "internal": "500",
    "bad_gateway": "502",
    "unavailable": "503",
    "gateway_timeout": "504",
    "job_failed": "job:500",
    "job": "job:500",
}
JOB_FAILURE_REASON = "The generation failed (injected fault: {status})."


def canonical_name(name: str) -> str:
    """A fault's canonical name, or ValueError naming the accepted ones."""
    key = name.strip().lower()
    key = ALIASES.get(key, key)
    if key not in NAMES:
        raise ValueError(f"unknown fault {name.strip()!r}; one of: {', '.join(NAMES)}")
    return key


@dataclass(frozen=True)
class Fault:
    name: str  # canonical: one of NAMES
    retry_after: int = DEFAULT_RETRY_AFTER  # seconds, sent as Retry-After on a 429 or 503
    # `moderation` only: how the moderation verdict reads (core/moderation.py Stage and
    # Category); None leaves the provider's default, a blocked prompt.
    stage: str | None = None
    category: str | None = None

    @classmethod
    def parse(cls, value: str) -> Fault:
        """`429`, `rate_limited`, `429; retry-after=5`, or `moderation; stage=output;
        category=no_image`; ValueError with a readable reason."""
        name, *options = value.split(";")
        fault = cls(canonical_name(name))
        for option in options:
            key, _, raw = option.partition("=")
            key, raw = key.strip().lower(), raw.strip().lower()
            if not key:
                continue
            if key == "retry-after" and raw.isdigit():
                fault = dataclasses.replace(fault, retry_after=int(raw))
            elif key in ("stage", "category") and fault.name == MODERATION:
                fault = dataclasses.replace(fault, **{key: _moderation_value(key, raw)})
            else:
                raise ValueError(
                    "the options are retry-after=<whole seconds>, and for moderation"
                    " stage=<prompt|output> and category=<name>"
                )
        return fault

    @property
    def http_kind(self) -> ErrorKind | None:
        return HTTP_FAULTS.get(self.name)

    @property
    def delivery(self) -> Delivery | None:
        return Delivery(self.name) if self.name in Delivery.__members__.values() else None

    @property
    def fails_job(self) -> bool:
        """Accepted now, failed later: moderation or job:5xx."""
        return self.name == MODERATION or self.name.startswith(JOB_PREFIX)

    def error(self) -> ApiError:
        kind = self.http_kind
        assert kind is not None, f"{self.name} is not an HTTP fault"
        headers = {"Retry-After": str(self.retry_after)} if kind in RETRY_AFTER_KINDS else {}
        return ApiError(kind, f"{MESSAGES[kind]} (injected fault)", headers=headers)


@dataclass(frozen=True)
class JobFate:
    """How a job a request starts must end, when something other than its request decides."""

    moderated: bool = False  # fails with the provider's own moderation message
    moderation_stage: str | None = None  # how that verdict reads, when the fault said
    moderation_category: str | None = None
    failure: str | None = None  # fails with this reason
    status: str | None = None  # the HTTP status of that failure, e.g. "500"
    finish_at: float | None = None  # ends at this time on the emulator's clock (scenarios)


def _moderation_value(key: str, raw: str) -> str:
    # Imported here: core/moderation.py reads the config, which reads this module.
    from emulator.core.moderation import Category, Stage

    allowed = [member.value for member in (Stage if key == "stage" else Category)]
    if raw not in allowed:
        raise ValueError(f"moderation {key} is one of {', '.join(allowed)}, got {raw!r}")
    return raw


def fate_of(fault: Fault | None, finish_at: float | None = None) -> JobFate | None:
    if fault is not None and fault.name == MODERATION:
        return JobFate(
            moderated=True,
            finish_at=finish_at,
            moderation_stage=fault.stage,
            moderation_category=fault.category,
        )
    if fault is not None and fault.name.startswith(JOB_PREFIX):
        status = fault.name.removeprefix(JOB_PREFIX)
        reason = JOB_FAILURE_REASON.format(status=status)
        return JobFate(failure=reason, status=status, finish_at=finish_at)
    return JobFate(finish_at=finish_at) if finish_at is not None else None


def settle(job: Job, fate: JobFate | None, moderation_failure: str) -> None:
    """Apply a fate to a job just made: its failure, and when a scenario says it ends."""
    if fate is None:
        return
    if fate.moderated:
        job.failure = moderation_failure
    elif fate.failure is not None:
        job.failure = fate.failure
    if fate.finish_at is not None:
        end = max(fate.finish_at, job.created_at)
        job.queue_seconds = min(job.queue_seconds, end - job.created_at)
        job.run_seconds = end - job.started_at


@dataclass(slots=True)
class Decision:
    """What was decided for one request; the journal and core/delivery.py read it back."""

    provider: str
    route: str
    model: str | None
    owner: str | None
    fault: Fault | None = None
    source: str | None = None  # header, scenario or random
    latency: float = 0.0  # seconds to hold the answer
    fate: JobFate | None = None  # for a request that starts a job
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS
    slow_body_seconds: float = DEFAULT_SLOW_BODY_SECONDS
    # A streamed answer spreads its latency over its events and carries out drop, malformed
    # and slow on them itself (core/streams.py); the response tap then only holds a timeout.
    streamed: bool = False

    @property
    def delivery(self) -> Delivery | None:
        return self.fault.delivery if self.fault else None


@dataclass(frozen=True)
class FaultTable:
    """Probabilities per fault; one uniform draw picks at most one. A key is a fault as the
    header spells it, options included: `"429; retry-after=5" = 0.05`."""

    cumulative: tuple[tuple[float, Fault], ...]

    @classmethod
    def parse(cls, value: Any) -> FaultTable:
        if not isinstance(value, Mapping):
            raise ValueError("faults is a table of fault name = probability")
        total = 0.0
        cumulative = []
        for name, probability in value.items():
            fault = Fault.parse(str(name))
            if (
                isinstance(probability, bool)
                or not isinstance(probability, int | float)
                or not 0 <= probability <= 1
            ):
                raise ValueError(f"faults.{name}: a probability is a number from 0 to 1")
            total += probability
            cumulative.append((total, fault))
        if total > 1 + 1e-9:
            raise ValueError(f"faults: the probabilities add up to {total:g}, more than 1")
        return cls(tuple(cumulative))

    def pick(self, rng: SeededRandom) -> Fault | None:
        if not self.cumulative:
            return None
        draw = rng.random()
        for bound, fault in self.cumulative:
            if draw < bound:
                return fault
        return None


class FaultPolicy:
    """Decides each request's fault, latency and job fate (see the module docstring)."""

    def __init__(
        self, config: Config, rng: SeededRandom, scenarios: Scenarios, clock: Clock
    ) -> None:
        self.config = config
        self.rng = rng
        self.scenarios = scenarios
        self.clock = clock

    def decide(
        self,
        request: Request,
        *,
        provider: str,
        route: str,
        model: str | None,
        owner: str | None,
        starts_job: bool = False,
    ) -> Decision:
        """Record the decision on the request, then raise its HTTP fault if it has one. A job
        fault on a request that starts no job is ignored (scenarios keep it for the next)."""
        config = self.config
        decision = Decision(provider, route, model, owner)
        request.scope[DECISION_SCOPE_KEY] = decision
        finish_at = None
        latency: float | None = None
        fault_header = header(request, FAULT_HEADER_RAW)
        latency_header = header(request, LATENCY_HEADER_RAW)
        fault = _header_fault(fault_header)
        if fault is not None:
            decision.source = "header"
        else:
            step = None
            if self.scenarios.pending:
                step = self.scenarios.next_step(provider, route, model, owner, starts_job)
            if step is not None:
                decision.source = "scenario"
                fault, latency = step.fault, step.latency
                finish_at = step.finish_at(request_time=self.clock.now())
            else:
                picked = config.fault_table(provider, model).pick(self.rng)
                if picked is not None:
                    fault, decision.source = picked, "random"
                elif latency_header is None:
                    # The usual request, with nothing to decide but the config's latency.
                    decision.latency = config.latency(provider, model).draw(self.rng)
                    return decision
        if fault is not None and fault.fails_job and not starts_job:
            fault = None  # nothing to fail later: answer normally
        decision.fault = fault
        if fault is not None and fault.name in (Delivery.TIMEOUT, Delivery.SLOW):
            timeout = config.setting(provider, model, "timeout_seconds")
            slow = config.setting(provider, model, "slow_body_seconds")
            decision.timeout_seconds = decision.timeout_seconds if timeout is None else timeout
            decision.slow_body_seconds = decision.slow_body_seconds if slow is None else slow
        header_latency = _header_latency(latency_header)
        if header_latency is not None:
            latency = header_latency
        if latency is None:
            latency = config.latency(provider, model).draw(self.rng)
        decision.latency = latency
        if starts_job:
            decision.fate = fate_of(fault, finish_at)
        if fault is not None and fault.http_kind is not None:
            raise fault.error()
        return decision


def _header_fault(header: str | None) -> Fault | None:
    if not header:
        return None
    try:
        return Fault.parse(header)
    except ValueError as exc:
        raise ApiError(ErrorKind.INVALID_REQUEST, f"{FAULT_HEADER}: {exc}.") from None


def _header_latency(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        seconds = float(header)
    except ValueError:
        seconds = math.nan
    if not 0 <= seconds <= MAX_HEADER_LATENCY:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"{LATENCY_HEADER}: give seconds from 0 to {MAX_HEADER_LATENCY:g}, got {header!r}.",
        )
    return seconds
