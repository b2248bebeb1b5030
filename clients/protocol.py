"""The wire protocol's shared moves, written once as sans-IO generators.

A protocol step is a generator: it yields ``Send`` (an httpx.Request to send) or ``Sleep``
(seconds to wait), receives the httpx.Response or the httpx.TransportError the send ended with
(None after a sleep), and returns its result. Responses are used by duck typing, so any
httpx-compatible client works. It does no I/O, so the same code serves the sync
and the async clients: runners.py drives it with an httpx.Client or an httpx.AsyncClient.

Here: one request with its retries (``Wire.exchange``), a download, and polling a job until it
ends (``poll_job``). Each provider module composes these into generate() and edit().
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, TypeVar

import httpx

import contracts
from clients.errors import (
    ContractViolationError,
    ErrorDetails,
    ImageGenError,
    NetworkError,
    PollingTimeoutError,
    SubmitMayHaveSucceededError,
    UnexpectedResponseError,
    error_for_status,
)
from clients.images import Image, NotAnImage
from clients.policy import PollPolicy, RetryPolicy, parse_retry_after
from clients.results import Progress, ProgressCallback
from clients.settings import Endpoint, ProviderSettings

T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    request: httpx.Request
    follow_redirects: bool = False


@dataclass(frozen=True)
class Sleep:
    seconds: float


Step = Send | Sleep
Reply = httpx.Response | Exception | None
Flow = Generator[Step, Reply, T]

# Transport failures are told apart by class name, not class: starlette's TestClient is built
# on httpx2, a fork of httpx whose exceptions have the same names but are other classes.
# Failures before any byte of the request left: always safe to send again.
NOT_SENT = frozenset({"ConnectError", "ConnectTimeout", "PoolTimeout"})
# The request itself is at fault: sending it again cannot help.
NOT_RETRYABLE = frozenset({"UnsupportedProtocol", "LocalProtocolError"})
# Server failures worth another try, when the request is safe to repeat.
RETRYABLE_STATUSES = frozenset({500, 502, 503, 504})


class _NotJSON:
    """Marks a body that is not JSON (its text is kept)."""

    def __init__(self, text: str) -> None:
        self.text = text


@dataclass(frozen=True)
class _Answer:
    response: httpx.Response
    body: Any


@dataclass(frozen=True)
class _Failure:
    error: ImageGenError
    retryable: bool
    delay: float | None = None  # the provider's Retry-After, when it gave one


@cache
def _operations(provider: str) -> dict[str, contracts.Operation]:
    return {op.operation_id: op for op in contracts.operations(provider)}


def schema_for(provider: str, operation_id: str, status: int) -> str | None:
    """The contract's schema name for an operation's answer with this status."""
    return _operations(provider)[operation_id].response_schema(status)


@dataclass(frozen=True)
class JobState:
    """A provider's job status, read by that provider's module."""

    status: str
    progress: float | None
    done: bool


class Wire:
    """What every request of one client needs: where to, which key, how to retry, whether to
    check contracts, and how this provider words its errors."""

    def __init__(
        self,
        provider: str,
        endpoint: Endpoint,
        build_request: Callable[..., httpx.Request],
        retry: RetryPolicy,
        strict: bool,
        describe_error: Callable[[Any], ErrorDetails],
    ) -> None:
        self.provider = provider
        self.endpoint = endpoint
        self.build_request = build_request  # httpx's, so the http client's own headers apply
        self.retry = retry
        self.strict = strict
        self.describe_error = describe_error

    def __repr__(self) -> str:
        return f"Wire({self.provider!r}, {self.endpoint.base_url!r}, strict={self.strict})"

    # ---------------------------------------------------------------- requests

    def api(self, method: str, path: str, json: Any = None) -> httpx.Request:
        headers = {
            "Authorization": f"Bearer {self.endpoint.api_key}",
            "Accept": "application/json",
        }
        return self.build_request(method, self.endpoint.base_url + path, json=json, headers=headers)

    def download_request(self, url: str) -> httpx.Request:
        # No key: output URLs are direct download links, often on another host (a CDN).
        return self.build_request("GET", str(httpx.URL(self.endpoint.base_url + "/").join(url)))

    # ---------------------------------------------------------------- one exchange

    def exchange(
        self,
        request: httpx.Request,
        *,
        operation: str | None,
        paid: bool = False,
        expect_json: bool = True,
        follow_redirects: bool = False,
    ) -> Flow[tuple[httpx.Response, Any]]:
        """Send ``request`` until it succeeds or may not be retried; return the response and its
        JSON body (None when ``expect_json`` is false). ``operation`` is the contracts'
        operationId (strict mode checks the body against it); ``paid`` marks a submit that
        must not be sent twice once it may have reached the provider."""
        attempt = 0
        while True:
            reply = yield Send(request, follow_redirects)
            verdict = self._judge(reply, operation, paid, expect_json)
            if isinstance(verdict, _Answer):
                return verdict.response, verdict.body
            if not verdict.retryable or attempt >= self.retry.max_retries:
                raise verdict.error
            delay = verdict.delay if verdict.delay is not None else self.retry.backoff(attempt)
            yield Sleep(delay)
            attempt += 1

    def _judge(
        self, reply: Reply, operation: str | None, paid: bool, expect_json: bool
    ) -> _Answer | _Failure:
        if isinstance(reply, Exception):
            return self._judge_transport(reply, paid)
        if reply is None:
            raise TypeError("a Send must be answered with a response or a transport error")
        response = reply
        if response.is_success and not expect_json:
            return _Answer(response, None)
        body = _parse(response)
        if response.is_success:
            if isinstance(body, _NotJSON):
                message = (
                    f"{self.provider}: HTTP {response.status_code} with a body that is not JSON"
                )
                if paid:
                    return _Failure(self._may_have_succeeded(message, response, body.text), False)
                error = UnexpectedResponseError(
                    message, provider=self.provider, status=response.status_code, body=body.text
                )
                return _Failure(error, retryable=True)
            self._check_contract(operation, response.status_code, body)
            return _Answer(response, body)
        return self._judge_error(response, body, operation, paid)

    def refusal(self, response: httpx.Response, *, operation: str | None, paid: bool) -> Exception:
        """The typed error for a non-2xx answer (its body read), as exchange() would raise
        it once it gives up: for a call that is not retried, such as a stream."""
        return self._judge_error(response, _parse(response), operation, paid).error

    def transport_failure(self, exc: Exception, *, paid: bool) -> Exception:
        """The typed error for a transport failure, as exchange() would raise it."""
        return self._judge_transport(exc, paid).error

    def answer_body(self, text: str, *, operation: str | None, status: int = 200) -> Any:
        """One JSON body read from a stream, checked against its contract in strict mode."""
        try:
            body = json.loads(text)
        except ValueError:
            raise UnexpectedResponseError(
                f"{self.provider}: a streamed chunk is not JSON: {text[:80]!r}",
                provider=self.provider,
                status=status,
                body=text,
            ) from None
        self._check_contract(operation, status, body)
        return body

    def _judge_error(
        self, response: httpx.Response, body: Any, operation: str | None, paid: bool
    ) -> _Failure:
        status = response.status_code
        raw = body.text if isinstance(body, _NotJSON) else body
        if not isinstance(body, _NotJSON):
            self._check_contract(operation, status, body)
        details = self.describe_error(raw)
        # The Retry-After header, else the body's RetryInfo (Google's 429s carry one).
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is None:
            retry_after = details.retry_delay
        error = error_for_status(self.provider, status, raw, details, retry_after)
        if status == 429:
            # Refused, not processed: safe to send again, paid or not, if the wait is bearable.
            too_long = retry_after is not None and retry_after > self.retry.max_retry_after
            return _Failure(error, retryable=not too_long, delay=retry_after)
        if status in RETRYABLE_STATUSES:
            if paid and not self.retry.resend_paid_submits:
                failure = self._may_have_succeeded(error.message, response, raw)
                failure.__cause__ = error
                return _Failure(failure, retryable=False)
            if retry_after is not None:
                retry_after = min(retry_after, self.retry.max_retry_after)
            return _Failure(error, retryable=True, delay=retry_after)
        return _Failure(error, retryable=False)

    def _judge_transport(self, exc: Exception, paid: bool) -> _Failure:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        kinds = _class_names(exc)
        if kinds & NOT_SENT:
            error: ImageGenError = NetworkError(
                f"{self.provider}: could not connect ({what})", provider=self.provider
            )
            retryable = True
        elif kinds & NOT_RETRYABLE:
            error = NetworkError(f"{self.provider}: {what}", provider=self.provider)
            retryable = False
        elif paid and not self.retry.resend_paid_submits:
            error = self._may_have_succeeded(f"no answer ({what})", None, None)
            retryable = False
        else:
            error = NetworkError(f"{self.provider}: no answer ({what})", provider=self.provider)
            retryable = True
        error.__cause__ = exc
        return _Failure(error, retryable)

    def _may_have_succeeded(
        self, what: str, response: httpx.Response | None, body: Any
    ) -> SubmitMayHaveSucceededError:
        return SubmitMayHaveSucceededError(
            f"{self.provider}: the submit may have succeeded (and been charged) but its answer"
            f" was lost: {what}. It was not sent again; check the account before retrying.",
            provider=self.provider,
            status=None if response is None else response.status_code,
            body=body,
        )

    def _check_contract(self, operation: str | None, status: int, body: Any) -> None:
        if not self.strict or operation is None:
            return
        schema = schema_for(self.provider, operation, status)
        name = f"{self.provider}/{schema}"
        if schema is None:
            raise ContractViolationError(
                f"{self.provider}: {operation} has no HTTP {status} answer in its contract",
                path="$",
                schema=f"{self.provider}/{operation}",
                provider=self.provider,
                status=status,
                body=body,
            )
        try:
            contracts.validate(self.provider, schema, body)
        except contracts.ContractError as exc:
            raise ContractViolationError(
                f"{self.provider}: HTTP {status} body breaks {name}: {exc}",
                path=exc.path,
                schema=name,
                provider=self.provider,
                status=status,
                body=body,
            ) from exc

    # ---------------------------------------------------------------- composite moves

    def download(self, url: str) -> Flow[Image]:
        """GET an output file (retried like any safe request) and read its format and size."""
        if not isinstance(url, str) or not url:
            raise UnexpectedResponseError(
                f"{self.provider}: an output URL is not a string: {url!r}", provider=self.provider
            )
        response, _ = yield from self.exchange(
            self.download_request(url), operation=None, expect_json=False, follow_redirects=True
        )
        try:
            return Image.from_bytes(response.content, url=url)
        except NotAnImage as exc:
            raise UnexpectedResponseError(
                f"{self.provider}: download of an output is {exc}",
                provider=self.provider,
                status=response.status_code,
            ) from None


def _class_names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def is_transport_error(exc: BaseException) -> bool:
    """An httpx (or httpx2) TransportError: the exchange failed, with no response."""
    return any(
        cls.__name__ == "TransportError" and cls.__module__.split(".")[0] in ("httpx", "httpx2")
        for cls in type(exc).__mro__
    )


def _parse(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _NotJSON(response.text)


def poll_job(
    wire: Wire,
    *,
    status_request: Callable[[], httpx.Request],
    operation: str,
    read_state: Callable[[Any], JobState],
    job_id: str,
    polling: PollPolicy,
    clock: Callable[[], float],
    started: float,
    on_progress: ProgressCallback | None,
) -> Flow[Any]:
    """Poll until the job is done; return its last status body. The first poll goes at once
    (a fast job is often done), then the interval grows by ``polling.backoff`` up to its cap.
    Raises PollingTimeoutError when ``polling.timeout`` seconds have passed since ``started``."""
    interval = polling.interval
    while True:
        _, body = yield from wire.exchange(status_request(), operation=operation)
        state = read_state(body)
        elapsed = clock() - started
        if on_progress is not None:
            on_progress(Progress(state.status, state.progress, elapsed))
        if state.done:
            return body
        remaining = polling.timeout - elapsed
        if remaining <= 0:
            raise PollingTimeoutError(
                f"{wire.provider}: job {job_id} still {state.status} after {elapsed:.1f}s"
                f" (timeout {polling.timeout:g}s); it may still finish",
                job_id=job_id,
                elapsed=elapsed,
                provider=wire.provider,
                status=200,
                body=body,
            )
        yield Sleep(min(interval, remaining))
        interval = polling.next_interval(interval)


def require_list(provider: str, body: dict[str, Any], name: str) -> list[Any]:
    """``body[name]`` as a list, None counting as empty; UnexpectedResponseError otherwise."""
    value = body.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise UnexpectedResponseError(
            f"{provider}: {name!r} is not a list", provider=provider, status=200, body=body
        )
    return value


def require(provider: str, body: Any, name: str, status: int = 200) -> Any:
    """``body[name]``, or UnexpectedResponseError naming what is missing (non-strict clients
    meet malformed answers here rather than as a KeyError)."""
    if isinstance(body, dict) and body.get(name) is not None:
        return body[name]
    raise UnexpectedResponseError(
        f"{provider}: the answer has no {name!r}", provider=provider, status=status, body=body
    )


class ProviderProtocol:
    """One provider's generate() and edit() as flows. Subclasses set ``settings`` (its
    environment variables and real base URL), ``default_polling`` and the models generate()
    and edit() use unless told otherwise, read its error body in ``describe_error`` and
    implement generate(prompt, *, model, params, on_progress) and edit(prompt, images, *,
    model, params, on_progress), ``params`` being the provider's own parameters."""

    settings: ClassVar[ProviderSettings]
    default_polling: ClassVar[PollPolicy] = PollPolicy()
    generate_model: ClassVar[str]
    edit_model: ClassVar[str]

    def __init__(
        self,
        endpoint: Endpoint,
        build_request: Callable[..., httpx.Request],
        *,
        strict: bool,
        retry: RetryPolicy,
        polling: PollPolicy | None,
        clock: Callable[[], float],
    ) -> None:
        provider = self.settings.provider
        self.wire = Wire(provider, endpoint, build_request, retry, strict, self.describe_error)
        self.polling = polling or self.default_polling
        self.clock = clock

    @property
    def provider(self) -> str:
        return self.settings.provider

    @staticmethod
    def describe_error(body: Any) -> ErrorDetails:
        raise NotImplementedError
