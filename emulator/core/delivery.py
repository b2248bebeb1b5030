"""How a response leaves the emulator: held for its latency, or spoiled by a delivery fault.

`ResponseTap` wraps the server's `send` for one request. It reads the request's Decision
(core/faults.py) when the response starts, waits out the latency on the emulator's clock (a
real, non-blocking sleep on a live server), and for a delivery fault keeps the response back
until the handler is done, then:

- `malformed`: sends the first half of the body, with a Content-Length that matches it, so the
  HTTP exchange is valid and the JSON is not;
- `slow`: sends the body in 10 pieces spread over `slow_body_seconds`;
- `drop`: closes the connection without a response;
- `timeout`: holds the connection for `timeout_seconds`, then closes it.

A streamed answer (Decision.streamed) is paced by core/streams.py instead: the tap only holds
a timeout, and closes the connection where the stream raises StreamCut (a mid-stream drop).

Closing needs the server's transport, which uvicorn's `send` carries. In-process (httpx's
ASGITransport, Starlette's TestClient) there is no connection, so the emulator raises the
exception an httpx client would raise on a socket instead: RemoteProtocolError, ReadTimeout.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from starlette.types import Message, Scope, Send

from emulator.core.clock import Clock
from emulator.core.faults import DECISION_SCOPE_KEY, Decision, Delivery

SLOW_PIECES = 10


class DroppedConnection(httpx.RemoteProtocolError):
    """In-process stand-in for a connection closed without a response."""


class HeldPastTimeout(httpx.ReadTimeout):
    """In-process stand-in for a connection held past its timeout, then closed."""


class ResponseTap:
    """Wraps one request's `send`; it is on every provider request, hence the slots."""

    __slots__ = ("_held", "clock", "delivery", "dropped", "scope", "server_send", "status")

    def __init__(self, scope: Scope, send: Send, clock: Clock) -> None:
        self.scope = scope
        self.server_send = send
        self.clock = clock
        self.status: int | None = None
        self._held: list[Message] = []
        # The delivery fault being carried out, known when the response starts.
        self.delivery: Delivery | None = None
        self.dropped = False  # no response reached the client (drop, timeout)

    @property
    def decision(self) -> Decision | None:
        return self.scope.get(DECISION_SCOPE_KEY)

    async def cut(self) -> None:
        """A stream raised StreamCut: close the connection in the middle of its body."""
        await self._close(DroppedConnection("Server disconnected in the middle of a stream."))

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            decision = self.scope.get(DECISION_SCOPE_KEY)
            if decision is not None and decision.streamed:
                # The stream paces itself and spoils its own events (core/streams.py).
                timeout = decision.delivery is Delivery.TIMEOUT
                self.delivery = Delivery.TIMEOUT if timeout else None
            elif decision is not None:
                if decision.latency > 0:
                    await self.clock.sleep(decision.latency)
                self.delivery = decision.delivery
        if self.delivery is None:
            await self.server_send(message)
        else:
            self._held.append(message)

    async def finish(self) -> None:
        """After the handler returns: carry out a held delivery fault."""
        decision = self.decision
        if self.delivery is None or decision is None:
            return
        start, body = self._held[0], b"".join(m.get("body", b"") for m in self._held[1:])
        if self.delivery is Delivery.MALFORMED:
            truncated = body[: len(body) // 2]
            await self.server_send(_with_length(start, len(truncated)))
            await self.server_send({"type": "http.response.body", "body": truncated})
        elif self.delivery is Delivery.SLOW:
            await self.server_send(start)
            piece = max(1, -(-len(body) // SLOW_PIECES))
            pause = decision.slow_body_seconds / SLOW_PIECES
            for offset in range(0, len(body), piece):
                await self.clock.sleep(pause)
                more = offset + piece < len(body)
                chunk = body[offset : offset + piece]
                await self.server_send(
                    {"type": "http.response.body", "body": chunk, "more_body": more}
                )
            if not body:
                await self.server_send({"type": "http.response.body", "body": b""})
        elif self.delivery is Delivery.DROP:
            await self._close(DroppedConnection("Server disconnected without sending a response."))
        else:
            await self.clock.sleep(decision.timeout_seconds)
            await self._close(HeldPastTimeout("The emulator held the connection, then closed it."))

    async def _close(self, in_process: Exception) -> None:
        self.dropped = True
        cycle: Any = getattr(self.server_send, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:
            raise in_process
        transport.close()
        # uvicorn marks the request disconnected when the loop reports the closed connection;
        # until then it would answer "returned without starting response" with a 500.
        for _ in range(10):
            if getattr(cycle, "disconnected", True):
                return
            await asyncio.sleep(0)


def _with_length(start: Message, length: int) -> Message:
    headers = [
        (name, str(length).encode() if name.lower() == b"content-length" else value)
        for name, value in start.get("headers", [])
    ]
    return {**start, "headers": headers}
