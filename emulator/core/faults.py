"""Faults a test asks for: the next N requests to a provider fail with a given error.

Two sources, the request's own header first: `X-Emulator-Fault: rate_limited` (optionally
`; retry-after=5`) fails that one request; the admin API queues faults per provider
(`POST /_emulator/faults`). The error is a neutral ApiError, so each provider answers it in
its own shape. The fault-model issue extends this with profiles and random faults.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from starlette.requests import Request

from emulator.core.errors import ApiError, ErrorKind

FAULT_HEADER = "x-emulator-fault"
DEFAULT_RETRY_AFTER = 1

MESSAGES: dict[ErrorKind, str] = {
    ErrorKind.RATE_LIMITED: "Too many requests: the rate limit was exceeded.",
    ErrorKind.INSUFFICIENT_CREDITS: "Insufficient credits for this request.",
    ErrorKind.INTERNAL: "The service hit an internal error.",
    ErrorKind.UNAVAILABLE: "The service is temporarily unavailable.",
    ErrorKind.UNAUTHENTICATED: "The API key is not valid.",
    ErrorKind.PERMISSION_DENIED: "The API key may not use this resource.",
}
# Not an HTTP error: the request is accepted and its job ends FAILED (async providers).
JOB_FAILED = "job_failed"
JOB_FAILURE_REASON = "The generation failed (injected fault)."
INJECTABLE = (*MESSAGES, JOB_FAILED)


@dataclass(frozen=True)
class Fault:
    kind: ErrorKind | str  # an ErrorKind, or JOB_FAILED
    retry_after: int = DEFAULT_RETRY_AFTER  # seconds, sent as Retry-After on a 429 or 503

    def error(self) -> ApiError:
        assert isinstance(self.kind, ErrorKind), "job_failed is not an HTTP error"
        headers = {}
        if self.kind in (ErrorKind.RATE_LIMITED, ErrorKind.UNAVAILABLE):
            headers["Retry-After"] = str(self.retry_after)
        return ApiError(self.kind, f"{MESSAGES[self.kind]} (injected fault)", headers=headers)

    @classmethod
    def parse(cls, value: str) -> Fault:
        """`rate_limited` or `rate_limited; retry-after=5`; ValueError with a readable reason."""
        name, _, options = value.partition(";")
        kind: ErrorKind | str | None = name.strip().lower()
        if kind != JOB_FAILED:
            try:
                kind = ErrorKind(kind)
            except ValueError:
                kind = None
        if kind is None or kind not in INJECTABLE:
            raise ValueError(f"unknown fault {name.strip()!r}; one of: {', '.join(INJECTABLE)}")
        retry_after = DEFAULT_RETRY_AFTER
        key, _, number = options.partition("=")
        if key.strip():
            if key.strip().lower() != "retry-after" or not number.strip().isdigit():
                raise ValueError("the only option is retry-after=<whole seconds>")
            retry_after = int(number)
        return cls(kind, retry_after)


class FaultQueue:
    """Queued faults per provider id, consumed one request at a time."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}

    def push(self, provider: str, fault: Fault, count: int = 1) -> None:
        self._queues.setdefault(provider, deque()).extend([fault] * count)

    def pending(self) -> dict[str, list[str]]:
        return {
            provider: [str(f.kind) for f in queue]
            for provider, queue in self._queues.items()
            if queue
        }

    def clear(self) -> None:
        self._queues.clear()

    def raise_if_due(self, provider: str, request: Request, *, starts_job: bool = False) -> bool:
        """Raise the HTTP fault this request should get: its header's, else the next queued
        one. Returns True when the job this request starts must fail instead (job_failed);
        requests that start no job leave a queued job_failed for the next one that does."""
        header = request.headers.get(FAULT_HEADER)
        if header:
            try:
                fault = Fault.parse(header)
            except ValueError as exc:
                raise ApiError(ErrorKind.INVALID_REQUEST, f"{FAULT_HEADER}: {exc}.") from None
            if fault.kind == JOB_FAILED:
                return starts_job
            raise fault.error()
        queue = self._queues.get(provider)
        if not queue:
            return False
        if queue[0].kind == JOB_FAILED:
            if starts_job:
                queue.popleft()
            return starts_job
        raise queue.popleft().error()
