"""The reference clients (clients/) on every target, in strict mode: each answer they read must
match its contract, and the images they return must be of the format and size asked for.

On the emulated targets the clients' waits move the emulator's clock (a 90 s job takes no wall
time) and the async forms run too; on a real API only the sync form runs, each paid request
estimated and charged against the suite's budget before it is sent (refused: skipped).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from clients import ASYNC_CLIENTS, SYNC_CLIENTS, GenerationResult
from clients.runners import SyncShell
from contracts.budget import Budget, Reservation, actual, estimate
from tests.contract.targets import Target


@dataclass(frozen=True)
class Case:
    params: dict[str, Any]  # the cheapest request that still names a format and a size
    size: tuple[int, int]
    format: str | None  # None: the provider chooses (vertex answers with its own mime type)


CASES = {
    "vibedream": Case(
        {"size": "768*1024", "output_format": "png", "seed": 11},
        (768, 1024),
        "png",
    ),
    "vertex": Case(
        {"aspect_ratio": "3:4", "image_size": "1K", "seed": 11},
        (896, 1200),
        None,
    ),
    "3daistudio": Case(
        {"aspect_ratio": "3:4", "resolution": "1K", "output_format": "webp", "num_images": 1},
        (896, 1200),
        "webp",
    ),
}
PROMPT = "a lighthouse on a cliff at dusk, contract suite"


class OverBudget(Exception):
    """A paid request the budget has no room for; the test is skipped, nothing was sent."""


@dataclass
class Meter:
    """httpx event hooks that charge each paid request to the budget: estimated and reserved
    before it is sent, settled with what the answer says it cost."""

    budget: Budget
    provider: str
    pending: dict[int, Reservation]

    def on_request(self, request: httpx.Request) -> None:
        body = json.loads(request.content) if request.content else None
        cost = estimate(self.provider, request.method, request.url.path, body)
        if cost is None:
            return
        reservation = self.budget.reserve(f"client {request.method} {request.url.path}", cost)
        if reservation is None:
            raise OverBudget(f"{cost} does not fit the budget ({self.budget.summary()})")
        self.pending[id(request)] = reservation

    def on_response(self, response: httpx.Response) -> None:
        reservation = self.pending.pop(id(response.request), None)
        if reservation is not None:
            response.read()
            self.budget.settle(reservation, actual(self.provider, response))


@contextmanager
def sync_client(target: Target, provider: str) -> Iterator[SyncShell[Any]]:
    with target.client(provider) as http:
        if target.budget is not None:
            meter = Meter(target.budget, provider, {})
            http.event_hooks = {"request": [meter.on_request], "response": [meter.on_response]}
        yield SYNC_CLIENTS[provider](
            target.api_key(provider), http_client=http, strict=True, **waits(target)
        )


def waits(target: Target) -> dict[str, Callable[..., Any]]:
    """On an emulator, a client's sleep moves the emulator's clock and its clock counts the
    virtual seconds; on a real API, real time."""
    if not target.is_emulator:
        return {}
    elapsed = [0.0]

    def sleep(seconds: float) -> None:
        target.advance(seconds)
        elapsed[0] += seconds

    return {"sleep": sleep, "clock": lambda: elapsed[0]}


def check_images(result: GenerationResult, provider: str) -> None:
    case = CASES[provider]
    assert result.provider == provider
    assert len(result.images) == 1, result.responses
    image = result.image
    assert image.size == case.size
    if case.format is not None:
        assert image.format == case.format
    assert image.data, "no bytes"


@pytest.mark.parametrize("provider", list(CASES))
def test_the_sync_client_generates_what_was_asked(target: Target, provider: str) -> None:
    progress: list[str] = []
    with sync_client(target, provider) as client:
        try:
            result = client.generate(
                PROMPT, on_progress=lambda p: progress.append(p.status), **CASES[provider].params
            )
        except OverBudget as refused:
            pytest.skip(f"real {provider} API: {refused}")
    check_images(result, provider)
    assert progress, "the progress callback was never called"
    if target.budget is not None:
        print(f"{provider}: {target.budget.summary()}")


@pytest.mark.parametrize("provider", list(CASES))
def test_the_async_client_gives_the_same_images_as_the_sync_one(
    target: Target, provider: str
) -> None:
    target.require_emulator("the same bytes twice")
    case = CASES[provider]
    with sync_client(target, provider) as client:
        expected = client.generate(PROMPT, **case.params)

    async def generate() -> GenerationResult:
        async with target.async_client(provider) as http:
            client = ASYNC_CLIENTS[provider](
                target.api_key(provider), http_client=http, strict=True, **waits(target)
            )
            return await client.generate(PROMPT, **case.params)

    result = asyncio.run(generate())
    check_images(result, provider)
    assert result.image.data == expected.image.data
