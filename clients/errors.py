"""Every error the reference clients raise: one hierarchy, rooted at ImageGenError.

Each error carries the provider id, the HTTP status (None when no response came) and the
provider's raw body (parsed JSON when it was JSON, else its text), so a caller can always see
what the provider actually said, and ``retry_delay``: the seconds a Google body's RetryInfo
asks to wait (None without one). Messages quote the provider's message, never the API key.

| error | when |
| --- | --- |
| AuthenticationError | 401, 403; a 400 whose ErrorInfo says API_KEY_INVALID |
| ValidationError | 400 (also 413, 415, 422), with ``field`` when the body names one |
| InsufficientCreditsError | 402 |
| NotFoundError | 404 (unknown model, expired job) |
| RateLimitedError | 429 after the retries, with ``retry_after`` (and ``retry_delay``) |
| ServerError | 5xx after the retries (a poll or a download) |
| ModerationError | the provider refused the prompt or withheld the image |
| JobFailedError | an accepted job failed for another reason |
| PollingTimeoutError | the overall timeout passed while polling, with the last body |
| SubmitMayHaveSucceededError | a paid submit may have reached the provider; its answer was lost |
| NetworkError | no response (connection failed or dropped) after the retries |
| UnexpectedResponseError | an answer the protocol cannot use (not JSON, no job id, not an image) |
| ContractViolationError | strict mode: a body does not match its contract, with ``path`` |
| ConfigurationError | no API key or base URL given or in the environment |
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ImageGenError(Exception):
    """Base of every client error."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status: int | None = None,
        body: Any = None,
        code: str | None = None,
        retry_delay: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.status = status
        self.body = body
        self.code = code  # the provider's machine-readable code or reason, when it gives one
        # Seconds to wait before retrying, as the body says (Google's google.rpc.RetryInfo
        # retryDelay); None when it says nothing. The Retry-After header is ``retry_after``.
        self.retry_delay = retry_delay


class ConfigurationError(ImageGenError, ValueError):
    """A setting is missing: pass it, or set the environment variable named in the message."""


class AuthenticationError(ImageGenError):
    """The API key was refused (401) or may not do this (403)."""


class ValidationError(ImageGenError):
    """The provider refused a parameter; ``field`` names it when the body says which."""

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.field = field


class InsufficientCreditsError(ImageGenError):
    """The account cannot pay for the request (402)."""


class NotFoundError(ImageGenError):
    """Unknown model, or a job or file that does not exist (any more)."""


class RateLimitedError(ImageGenError):
    """429, still, after the allowed retries; ``retry_after`` is the provider's last hint."""

    def __init__(self, message: str, *, retry_after: float | None = None, **details: Any) -> None:
        super().__init__(message, **details)
        self.retry_after = retry_after


class ServerError(ImageGenError):
    """The provider failed (5xx), still, after the allowed retries."""


class ModerationError(ImageGenError):
    """The provider's content moderation refused the prompt or withheld the image. ``status`` is
    the HTTP status of the answer that said so (200: a failed job, a blocked candidate)."""


class JobFailedError(ImageGenError):
    """An accepted job ended failed for a reason other than moderation."""


class PollingTimeoutError(ImageGenError):
    """The overall timeout passed before the job finished. The job may still finish: ``job_id``
    names it, ``body`` is the last status seen, ``elapsed`` the seconds spent."""

    def __init__(self, message: str, *, job_id: str | None, elapsed: float, **details: Any) -> None:
        super().__init__(message, **details)
        self.job_id = job_id
        self.elapsed = elapsed


class SubmitMayHaveSucceededError(ImageGenError):
    """A paid submit may have reached the provider (and be charged) but its answer was lost:
    a dropped connection, a timeout, a 5xx, or an unreadable body. It was not sent again (opt in
    with ``RetryPolicy(resend_paid_submits=True)``). ``status`` and ``body`` hold whatever came
    back (None if nothing did); the underlying exception is ``__cause__``."""


class NetworkError(ImageGenError):
    """No response: the connection failed or dropped, still, after the allowed retries."""


class UnexpectedResponseError(ImageGenError):
    """An answer the protocol cannot use: not JSON, no job id, a download that is no image."""


class ContractViolationError(ImageGenError):
    """Strict mode: a body does not match its contract. ``path`` is the JSON path at fault
    (``$.outputs[0]``), ``schema`` the contract's name (``vibedream/prediction``)."""

    def __init__(self, message: str, *, path: str, schema: str, **details: Any) -> None:
        super().__init__(message, **details)
        self.path = path
        self.schema = schema


@dataclass(frozen=True)
class ErrorDetails:
    """What a provider's error body says, read by that provider's module."""

    message: str
    code: str | None = None
    field: str | None = None
    retry_delay: float | None = None  # seconds, from a RetryInfo detail
    reason: str | None = None  # an ErrorInfo detail's reason, e.g. API_KEY_INVALID

    @classmethod
    def read(
        cls,
        message: str,
        code: object = None,
        field: object = None,
        *,
        retry_delay: float | None = None,
        reason: object = None,
    ) -> ErrorDetails:
        """From a body's values, keeping a code, field or reason only when it is text."""
        return cls(
            message,
            code if isinstance(code, str) else None,
            field if isinstance(field, str) else None,
            retry_delay,
            reason if isinstance(reason, str) else None,
        )

    @classmethod
    def unreadable(cls, body: object) -> ErrorDetails:
        """A body not in the provider's error shape: its start stands as the message."""
        return cls(str(body)[:300] if body else "no details given")


# ErrorInfo reasons that say the credential was refused, whatever the HTTP status.
AUTHENTICATION_REASONS = frozenset(
    {"API_KEY_INVALID", "CREDENTIALS_MISSING", "ACCESS_TOKEN_TYPE_UNSUPPORTED"}
)


def error_for_status(
    provider: str,
    status: int,
    body: Any,
    details: ErrorDetails,
    retry_after: float | None = None,
) -> ImageGenError:
    """The typed error for an HTTP error answer. ``retry_after`` is the Retry-After header's
    seconds; when it is absent, a RetryInfo in the body stands in for it."""
    code = f" {details.code}" if details.code else ""
    message = f"{provider}: HTTP {status}{code}: {details.message}"
    common: dict[str, Any] = {"provider": provider, "status": status, "body": body}
    common["code"] = details.code
    common["retry_delay"] = details.retry_delay
    if retry_after is None:
        retry_after = details.retry_delay
    if details.reason in AUTHENTICATION_REASONS:
        # Google answers a bad API key with 400 INVALID_ARGUMENT: still the key's fault.
        return AuthenticationError(message, **common)
    if status in (400, 413, 415, 422):
        return ValidationError(message, field=details.field, **common)
    if status in (401, 403):
        return AuthenticationError(message, **common)
    if status == 402:
        return InsufficientCreditsError(message, **common)
    if status == 404:
        return NotFoundError(message, **common)
    if status == 429:
        return RateLimitedError(message, retry_after=retry_after, **common)
    if status >= 500:
        return ServerError(message, **common)
    return ImageGenError(message, **common)
