"""A session recorded in the background: exchanges are queued, sanitised and written by one
worker thread, so neither a client's latency nor the server's event loop pays for image
descriptors or the file write.

After each exchange the whole session is rewritten atomically (write_har), once for however
many exchanges arrived meanwhile, and at most once every WRITE_INTERVAL seconds or, for a long
session whose write takes a while, every WRITE_DUTY times the last write's duration (so the
writer never takes more than about 1/WRITE_DUTY of a core from the proxy's event loop): the file
on disk is always a complete HAR file, at most that far behind. :meth:`SessionWriter.flush`
writes at once; :meth:`SessionWriter.close` drains the queue and writes a last time.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from emulator.recording.har import Headers, RecordingError, Timings
from emulator.recording.session import Session

__all__ = ["Exchange", "SessionWriter"]

log = logging.getLogger("imagegen_emulator.record")

WRITE_INTERVAL = 0.5  # seconds between two writes of the file, at least
WRITE_DUTY = 5.0  # ... and at least this many times the last write's duration
_FLUSH = object()  # a queue item: write now


@dataclass(frozen=True)
class Exchange:
    """One raw exchange, as the proxy saw it (credentials still in it: never logged)."""

    method: str
    url: str
    request_headers: Headers
    request_body: bytes | None
    status: int
    response_headers: Headers
    response_body: bytes
    timings: Timings
    prefix: str = ""
    note: str | None = None


class SessionWriter:
    def __init__(self, session: Session, path: Path) -> None:
        self.session = session
        self.path = path
        self._queue: queue.Queue[Exchange | object | None] = queue.Queue()
        self._written = threading.Condition()
        self._pending = 0  # exchanges queued and not yet in a written file
        self.errors: list[str] = []  # one line each (RecordingError)
        self._thread = threading.Thread(target=self._run, name="recording-writer", daemon=True)
        self._thread.start()

    def write_now(self) -> None:
        """Write the session as it is (an empty one at start: the file exists from the start,
        and an unwritable folder is found before any traffic). Raises RecordingError."""
        self.session.write(self.path)

    def add(self, exchange: Exchange) -> None:
        with self._written:
            self._pending += 1
        self._queue.put(exchange)

    def flush(self, timeout: float = 30.0) -> bool:
        """Write every exchange added so far, now; False when not done within ``timeout``."""
        self._queue.put(_FLUSH)
        with self._written:
            return self._written.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        next_write = 0.0  # monotonic time before which the file is not rewritten
        unwritten = 0  # exchanges in the session and not yet in the file
        stopping = False
        while not stopping:
            wait = next_write - time.monotonic() if unwritten else None
            try:
                item = self._queue.get(timeout=None if wait is None else max(wait, 0.0))
            except queue.Empty:
                item = _FLUSH  # the interval is over: write what is pending
            batch = [item]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            due = False
            for exchange in batch:
                if exchange is None:
                    stopping = due = True
                elif exchange is _FLUSH:
                    due = True
                else:
                    assert isinstance(exchange, Exchange)
                    unwritten += 1
                    try:
                        self._record(exchange)
                    except Exception as exc:  # a sanitiser bug must not stop the recording
                        self._error(
                            f"{exchange.method} exchange not recorded: {type(exc).__name__}"
                        )
            if not unwritten and not stopping:
                continue
            if not due and time.monotonic() < next_write:
                continue
            started = time.monotonic()
            try:
                self.write_now()
            except RecordingError as exc:
                self._error(str(exc))
            finished = time.monotonic()
            next_write = finished + max(WRITE_INTERVAL, WRITE_DUTY * (finished - started))
            with self._written:
                self._pending -= unwritten
                self._written.notify_all()
            unwritten = 0

    def _record(self, exchange: Exchange) -> None:
        self.session.add(
            exchange.method,
            exchange.url,
            exchange.request_headers,
            exchange.request_body,
            exchange.status,
            exchange.response_headers,
            exchange.response_body,
            exchange.timings,
            prefix=exchange.prefix,
            note=exchange.note,
        )

    def _error(self, message: str) -> None:
        self.errors.append(message)
        log.error("%s", message)
