"""A streamed answer: events sent one by one, spread over the request's latency, with the
request's delivery fault carried out on the events themselves.

Provider-neutral: a provider hands over its answer as a list of payloads and a `Framing` (how a
payload is written on the wire, and what opens and closes the stream); this module decides when
each event leaves and what a fault does to the stream:

- the first event leaves after `FIRST_EVENT_SHARE` of the latency (the time to first chunk),
  the others at even steps after it, the last one at the full latency, so a slow profile looks
  like a slow stream and not like a long silence;
- `drop`: the connection is cut after half of the events (core/delivery.py closes it);
- `malformed`: one event, the middle one, is sent cut in half, so it does not parse;
- `slow`: the events are spread over `slow_body_seconds` more;
- `timeout` is the response tap's, as for any response: it holds the stream, then closes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from emulator.core.clock import Clock
from emulator.core.faults import Decision, Delivery

FIRST_EVENT_SHARE = 0.25


class StreamCut(Exception):
    """Raised by a stream that must be cut here: core/delivery.py closes the connection."""


@dataclass(frozen=True)
class Framing:
    media_type: str
    serialise: Callable[[Any], str]  # a payload as text
    frame: Callable[[str, int], bytes]  # (text, index) -> the event's bytes on the wire
    opening: bytes = b""
    closing: bytes = b""


def event_times(count: int, seconds: float, first: float | None = None) -> list[float]:
    """When each of `count` events leaves, in seconds after the request was answered; `first`
    sets the first event's time (a replayed stream's recorded time to first byte) instead of
    FIRST_EVENT_SHARE of `seconds`."""
    if count <= 0:
        return []
    if first is None:
        first = seconds * FIRST_EVENT_SHARE if count > 1 else seconds
    first = min(first, seconds)
    step = (seconds - first) / (count - 1) if count > 1 else 0.0
    return [first + step * index for index in range(count)]


def cut_after(count: int) -> int:
    """How many events a dropped stream sends before the cut: half, at least one."""
    return max(1, count // 2)


def corrupt_index(count: int) -> int:
    return count // 2


async def paced_events(
    payloads: Sequence[Any],
    framing: Framing,
    clock: Clock,
    decision: Decision,
    first: float | None = None,
) -> AsyncIterator[bytes]:
    """The wire bytes of a stream, each event when it is due (see the module docstring);
    `first`: the first event's time, as in event_times."""
    seconds = decision.latency
    delivery = decision.delivery
    if delivery is Delivery.SLOW:
        seconds += decision.slow_body_seconds
    count = len(payloads)
    elapsed = 0.0
    times = event_times(count, seconds, first)
    for index, (payload, due) in enumerate(zip(payloads, times, strict=True)):
        if due > elapsed:
            await clock.sleep(due - elapsed)
            elapsed = due
        if delivery is Delivery.DROP and index == cut_after(count):
            raise StreamCut
        text = framing.serialise(payload)
        if delivery is Delivery.MALFORMED and index == corrupt_index(count):
            text = text[: len(text) // 2]
        event = framing.frame(text, index)
        yield framing.opening + event if index == 0 else event
    if count == 0:
        yield framing.opening
    yield framing.closing
