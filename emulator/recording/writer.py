"""A session recorded in the background: exchanges are queued, sanitised and written by one
worker thread, so neither a client's latency nor the server's event loop pays for image
descriptors or the file write.

After each burst of exchanges the whole session is rewritten atomically (write_har), once for
however many exchanges arrived meanwhile: the file on disk is always a complete HAR file.
:meth:`SessionWriter.close` drains the queue and writes a last time.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path

from emulator.recording.har import Headers, RecordingError, Timings
from emulator.recording.session import Session

__all__ = ["Exchange", "SessionWriter"]

log = logging.getLogger("imagegen_emulator.record")


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
        self._queue: queue.Queue[Exchange | None] = queue.Queue()
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
        """Wait until every exchange added so far is in the file; False on timeout."""
        with self._written:
            return self._written.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            batch = [item]
            while not self._queue.empty():  # coalesce: one write for the whole burst
                batch.append(self._queue.get_nowait())
            added = 0
            for exchange in batch:
                if exchange is None:
                    stopping = True
                    continue
                added += 1
                try:
                    self._record(exchange)
                except Exception as exc:  # a sanitiser bug must not stop the recording
                    self._error(f"{exchange.method} exchange not recorded: {type(exc).__name__}")
            try:
                self.write_now()
            except RecordingError as exc:
                self._error(str(exc))
            with self._written:
                self._pending -= added
                self._written.notify_all()

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
