"""How long to wait: retries of one request, and polling of a job.

Plain values with no I/O: the protocol code asks them for a delay and yields a sleep, and
whoever runs the protocol does the sleeping (time.sleep, asyncio.sleep, or a test's hook that
advances the emulator's virtual clock).
"""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of a single request.

    What is retried: a 429 (the provider refused it, so re-sending is safe), a failure to
    connect (nothing was sent), and, for requests that are safe to repeat (polls, downloads), a
    500/502/503/504, a dropped connection, a read timeout or an unreadable body. A paid submit
    whose request may have reached the provider is never re-sent unless
    ``resend_paid_submits`` is set: a second submit may be a second charge.
    """

    max_retries: int = 3  # re-sends after the first attempt, per request
    backoff_initial: float = 0.5  # seconds before the first retry without a Retry-After
    backoff_factor: float = 2.0
    backoff_max: float = 8.0
    # A Retry-After longer than this is not waited for: the 429 is raised at once.
    max_retry_after: float = 60.0
    resend_paid_submits: bool = False

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if min(self.backoff_initial, self.backoff_max, self.max_retry_after) < 0:
            raise ValueError("delays must be >= 0")

    def backoff(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (0 for the first) when the answer gave none."""
        return min(self.backoff_initial * self.backoff_factor**attempt, self.backoff_max)


@dataclass(frozen=True)
class PollPolicy:
    """Polling of an asynchronous job: first interval, growth, cap, and the overall timeout
    (seconds from the start of the call, submit included)."""

    interval: float = 1.0
    backoff: float = 1.5
    max_interval: float = 10.0
    timeout: float = 600.0

    def __post_init__(self) -> None:
        if self.interval <= 0 or self.max_interval <= 0 or self.timeout <= 0:
            raise ValueError("interval, max_interval and timeout must be > 0")
        if self.backoff < 1:
            raise ValueError("backoff must be >= 1 (the interval never shrinks)")

    def next_interval(self, interval: float) -> float:
        return min(interval * self.backoff, self.max_interval)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110).
    None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)
