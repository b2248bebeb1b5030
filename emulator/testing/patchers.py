"""How intercept() catches each HTTP client's requests: one context manager per client, each
sending a request to an emulated host to the interceptor's in-process app, letting an allowed
host through, and refusing any other with the client's own connection error.

- httpx: respx (its default httpcore patch, so a client with its own transport, such as an
  ASGI or mock one, is not caught); one route passes the allowed hosts through, one forwards
  the emulated hosts, one refuses the rest.
- requests: responses (``RequestsMock``), a callback per method on the same three rules.
- httpx2 (google-genai's default client since it moved off httpx): respx does not support it
  (its responses must be httpx's), so its public transports' ``handle_request`` and
  ``handle_async_request`` are patched, as respx patches httpcore's. Skipped when httpx2 is
  not installed.

The in-process app raises httpx's exceptions for its ``drop`` and ``timeout`` faults
(core/delivery.py); requests and httpx2 get their own equivalents (ERRORS tables).
"""

from __future__ import annotations

import contextvars
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any
from unittest import mock

import httpx
import requests
import responses
import respx

if TYPE_CHECKING:
    from emulator.testing.interception import Interceptor

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

# ------------------------------------------------------------------ httpx (respx)

# Set while respx resolves a request of an async client: a route's side effect then returns a
# coroutine (respx awaits it), else an answer. Router.handler and async_handler are respx's
# public entry points (what httpx.MockTransport takes), so the subclass stays on its API.
_ASYNC_CALL = contextvars.ContextVar("imagegen_intercept_async", default=False)


class _Router(respx.MockRouter):
    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        token = _ASYNC_CALL.set(True)
        try:
            return await super().async_handler(request)
        finally:
            _ASYNC_CALL.reset(token)


def httpx_patch(interceptor: Interceptor) -> AbstractContextManager[Any]:
    router = _Router(assert_all_called=False)
    for host in interceptor.allow_hosts:
        router.route(host=host).pass_through()

    def emulate(request: httpx.Request) -> Any:
        if _ASYNC_CALL.get():
            return interceptor.aforward(request)
        return interceptor.forward(request)

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(
            interceptor.refusal(request.method, str(request.url)), request=request
        )

    router.route(host__regex=interceptor.hosts_regex).mock(side_effect=emulate)
    router.route().mock(side_effect=refuse)
    return router


# ------------------------------------------------------------------ requests (responses)

REQUESTS_ERRORS: tuple[tuple[type[Exception], type[Exception]], ...] = (
    (httpx.TimeoutException, requests.exceptions.ReadTimeout),
    (httpx.TransportError, requests.exceptions.ConnectionError),
)


def requests_patch(interceptor: Interceptor) -> AbstractContextManager[Any]:
    mocker = responses.RequestsMock(assert_all_requests_are_fired=False)
    # Disjoint patterns: responses' registry consumes the first of several matching ones.
    hosts = interceptor.hosts_regex[1:-1]  # the host alternatives, without ^ and $
    allowed = "|".join(map(re.escape, interceptor.allow_hosts)) or "(?!)"
    emulated = re.compile(f"(?!{_origin(allowed)}){_origin(hosts)}", re.IGNORECASE)
    passed = re.compile(_origin(allowed), re.IGNORECASE)
    other = re.compile(f"(?!{_origin(allowed)}|{_origin(hosts)})", re.IGNORECASE)

    def emulate(prepared: requests.PreparedRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        body = prepared.body or b""
        request = httpx.Request(
            str(prepared.method),
            str(prepared.url),
            headers=list(prepared.headers.items()),
            content=body.encode() if isinstance(body, str) else body,
        )
        try:
            answer = interceptor.forward(request)
        except httpx.TransportError as exc:
            raise _translated(exc, REQUESTS_ERRORS, request=prepared) from exc
        return answer.status_code, answer.headers.multi_items(), answer.content

    def refuse(prepared: requests.PreparedRequest) -> Exception:
        message = interceptor.refusal(str(prepared.method), str(prepared.url))
        return requests.exceptions.ConnectionError(message, request=prepared)

    for method in METHODS:
        mocker.add(responses.PassthroughResponse(method, passed))
        mocker.add_callback(method, emulated, callback=emulate, content_type=None)
        mocker.add_callback(method, other, callback=refuse, content_type=None)
    return mocker


def _origin(hosts: str) -> str:
    """A URL's start on one of ``hosts`` (a regex alternation), any port."""
    return rf"^https?://(?:{hosts})(?::\d+)?(?:[/?#]|$)"


# ------------------------------------------------------------------ httpx2 (its transports)


@contextmanager
def httpx2_patch(interceptor: Interceptor) -> Iterator[None]:
    try:
        import httpx2
    except ImportError:  # not installed: nothing sends with it
        yield
        return
    errors: tuple[tuple[type[Exception], type[Exception]], ...] = (
        (httpx.TimeoutException, httpx2.ReadTimeout),
        (httpx.TransportError, httpx2.RemoteProtocolError),
    )
    sync_send = httpx2.HTTPTransport.handle_request
    async_send = httpx2.AsyncHTTPTransport.handle_async_request

    def refuse(request: Any) -> Exception:
        message = interceptor.refusal(request.method, str(request.url))
        return httpx2.ConnectError(message, request=request)

    def to_httpx(request: Any, body: bytes) -> httpx.Request:
        return httpx.Request(
            request.method, str(request.url), headers=request.headers.raw, content=body
        )

    def to_httpx2(answer: httpx.Response, request: Any) -> Any:
        return httpx2.Response(
            answer.status_code,
            headers=answer.headers.raw,
            content=answer.content,
            request=request,
        )

    def handle_request(transport: Any, request: Any) -> Any:
        host = request.url.host
        if interceptor.allows(host):
            return sync_send(transport, request)
        if not interceptor.emulates(host):
            raise refuse(request)
        try:
            answer = interceptor.forward(to_httpx(request, request.read()))
        except httpx.TransportError as exc:
            raise _translated(exc, errors, request=request) from exc
        return to_httpx2(answer, request)

    async def handle_async_request(transport: Any, request: Any) -> Any:
        host = request.url.host
        if interceptor.allows(host):
            return await async_send(transport, request)
        if not interceptor.emulates(host):
            raise refuse(request)
        try:
            answer = await interceptor.aforward(to_httpx(request, await request.aread()))
        except httpx.TransportError as exc:
            raise _translated(exc, errors, request=request) from exc
        return to_httpx2(answer, request)

    with (
        mock.patch.object(httpx2.HTTPTransport, "handle_request", handle_request),
        mock.patch.object(httpx2.AsyncHTTPTransport, "handle_async_request", handle_async_request),
    ):
        yield


def _translated(
    exc: httpx.TransportError,
    table: tuple[tuple[type[Exception], type[Exception]], ...],
    **options: Any,
) -> Exception:
    """The client's own exception for an httpx one the in-process app raised."""
    for source, target in table:
        if isinstance(exc, source):
            return target(str(exc), **options)
    return exc  # pragma: no cover - the last row catches every TransportError


PATCHERS: tuple[Callable[[Interceptor], AbstractContextManager[Any]], ...] = (
    httpx_patch,
    requests_patch,
    httpx2_patch,
)
