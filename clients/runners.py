"""Drive a protocol flow (protocol.py) with real I/O, and the client shells built on it.

``run_sync`` and ``run_async`` are the only places that send requests and sleep: everything
else is the same code for both. The shells own (or borrow) the httpx client, resolve settings
and hand each call's flow to their runner; a provider's client classes only name their
protocol.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Generic, Self, TypeVar, cast

import httpx

from clients.images import ImageInput
from clients.policy import PollPolicy, RetryPolicy
from clients.protocol import Flow, ProviderProtocol, Reply, Sleep, is_transport_error
from clients.results import GenerationResult, ProgressCallback
from clients.settings import resolve

T = TypeVar("T")
P = TypeVar("P", bound=ProviderProtocol)
H = TypeVar("H", httpx.Client, httpx.AsyncClient)

# Generous read timeout: a 4K image takes vertex tens of seconds to answer.
DEFAULT_TIMEOUT = httpx.Timeout(120.0, connect=10.0)


def run_sync(flow: Flow[T], http: httpx.Client, sleep: Callable[[float], object]) -> T:
    reply: Reply = None
    try:
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                return cast(T, done.value)
            if isinstance(step, Sleep):
                sleep(step.seconds)
                reply = None
                continue
            try:
                reply = http.send(step.request, follow_redirects=step.follow_redirects)
            except Exception as exc:
                if not is_transport_error(exc):
                    raise
                reply = exc
    finally:
        flow.close()


async def run_async(flow: Flow[T], http: httpx.AsyncClient, sleep: Callable[[float], object]) -> T:
    """``sleep`` may be a coroutine function (asyncio.sleep) or a plain one."""
    reply: Reply = None
    try:
        while True:
            try:
                step = flow.send(reply)
            except StopIteration as done:
                return cast(T, done.value)
            if isinstance(step, Sleep):
                waited = sleep(step.seconds)
                if inspect.isawaitable(waited):
                    await waited
                reply = None
                continue
            try:
                reply = await http.send(step.request, follow_redirects=step.follow_redirects)
            except Exception as exc:
                if not is_transport_error(exc):
                    raise
                reply = exc
    finally:
        flow.close()


class _Shell(Generic[P, H]):
    """Settings, the http client and the protocol; what the sync and async shells share.

    ``http_client``: a ready httpx client (a starlette TestClient, or one with an ASGI or mock
    transport); it is borrowed, never closed. Without one, the shell opens its own with
    ``timeout`` and closes it in close() / on leaving a ``with`` block. ``sleep`` and ``clock``
    are injectable so a test can drive a virtual clock (clients.emulator_clock).
    """

    _protocol_class: type[ProviderProtocol]

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        http_client: H | None = None,
        strict: bool = False,
        retry: RetryPolicy | None = None,
        polling: PollPolicy | None = None,
        sleep: Callable[[float], object] | None = None,
        clock: Callable[[], float] = time.monotonic,
        timeout: httpx.Timeout | float = DEFAULT_TIMEOUT,
    ) -> None:
        endpoint = resolve(self._protocol_class.settings, api_key, base_url, http_client)
        self._owns_http = http_client is None
        self._http: H = http_client if http_client is not None else self._open_http(timeout)
        self._sleep = sleep if sleep is not None else self._default_sleep()
        protocol = self._protocol_class(
            endpoint,
            self._http.build_request,
            strict=strict,
            retry=retry or RetryPolicy(),
            polling=polling,
            clock=clock,
        )
        self._protocol = cast(P, protocol)

    def _open_http(self, timeout: httpx.Timeout | float) -> H:
        raise NotImplementedError

    def _default_sleep(self) -> Callable[[float], object]:
        raise NotImplementedError

    @classmethod
    def default_polling(cls) -> PollPolicy:
        """How this provider's jobs are polled unless ``polling`` says otherwise."""
        return cls._protocol_class.default_polling

    @property
    def base_url(self) -> str:
        return self._protocol.wire.endpoint.base_url

    @property
    def http_client(self) -> H:
        return self._http

    def _generation(
        self,
        prompt: str,
        images: ImageInput | Sequence[ImageInput] | None,
        model: str | None,
        on_progress: ProgressCallback | None,
        params: dict[str, Any],
    ) -> Flow[GenerationResult]:
        """The flow of one generate() (``images`` None) or edit() call."""
        protocol: Any = self._protocol
        if images is None:
            model = model or protocol.generate_model
            return protocol.generate(prompt, model=model, params=params, on_progress=on_progress)
        model = model or protocol.edit_model
        return protocol.edit(prompt, images, model=model, params=params, on_progress=on_progress)

    def __repr__(self) -> str:
        # Never the key.
        strict = self._protocol.wire.strict
        return f"{type(self).__name__}(base_url={self.base_url!r}, strict={strict})"


class SyncShell(_Shell[P, httpx.Client]):
    def _open_http(self, timeout: httpx.Timeout | float) -> httpx.Client:
        return httpx.Client(timeout=timeout)

    def _default_sleep(self) -> Callable[[float], object]:
        return time.sleep

    def _run(self, flow: Flow[T]) -> T:
        return run_sync(flow, self._http, self._sleep)

    def generate(
        self,
        prompt: str,
        *,
        model: str | None = None,
        on_progress: ProgressCallback | None = None,
        **params: Any,
    ) -> GenerationResult:
        """Text to image. ``model``: the provider's default generation model unless given;
        ``params``: the provider's own parameters (see its module); ``on_progress`` gets a
        Progress after every poll."""
        return self._run(self._generation(prompt, None, model, on_progress, params))

    def edit(
        self,
        prompt: str,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str | None = None,
        on_progress: ProgressCallback | None = None,
        **params: Any,
    ) -> GenerationResult:
        """An edit of ``images`` (bytes, an Image, a URL or a data: URI; one or a list)."""
        return self._run(self._generation(prompt, images, model, on_progress, params))

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncShell(_Shell[P, httpx.AsyncClient]):
    def _open_http(self, timeout: httpx.Timeout | float) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=timeout)

    def _default_sleep(self) -> Callable[[float], Any]:
        return asyncio.sleep

    async def _run(self, flow: Flow[T]) -> T:
        return await run_async(flow, self._http, self._sleep)

    async def generate(
        self,
        prompt: str,
        *,
        model: str | None = None,
        on_progress: ProgressCallback | None = None,
        **params: Any,
    ) -> GenerationResult:
        """As SyncShell.generate, awaited."""
        return await self._run(self._generation(prompt, None, model, on_progress, params))

    async def edit(
        self,
        prompt: str,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str | None = None,
        on_progress: ProgressCallback | None = None,
        **params: Any,
    ) -> GenerationResult:
        """As SyncShell.edit, awaited."""
        return await self._run(self._generation(prompt, images, model, on_progress, params))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
