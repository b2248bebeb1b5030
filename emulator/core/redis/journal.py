"""The request journal on Redis: one capped stream shared by every worker, with the memory
journal's API and reads (emulator/core/journal.py).

An entry is recorded after its response was sent, so it never costs the request a round trip:
entries wait in this worker's buffer and go to Redis in one script call (lua/journal.lua:
seqs from a shared counter, then the XADDs) once BATCH are waiting, or FLUSH_DELAY seconds
after the first at the latest, from a daemon thread. A read flushes this worker's buffer
first. Redis failing while recording drops the entries and is logged once per outage: the
journal never fails a request.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from time import sleep
from typing import Any

from emulator.core.errors import ApiError
from emulator.core.faults import Decision
from emulator.core.journal import DEFAULT_JOURNAL_SIZE, Entry
from emulator.core.redis.link import RedisLink
from emulator.core.workers import worker_name

BATCH = 32  # entries per write
FLUSH_DELAY = 0.05  # seconds an entry may wait for its batch
PAGE = 1000  # entries read per round trip by a filtered query

logger = logging.getLogger("emulator")

# A buffered entry: (time, method, path, provider, status, elapsed, decision).
Row = tuple[float, str, str, str | None, int | None, float, Decision | None]


class RedisJournal:
    def __init__(
        self, link: RedisLink, size: int = DEFAULT_JOURNAL_SIZE, worker: str | None = None
    ) -> None:
        self.link = link
        self._capacity = size
        self._worker = worker
        self._stream = link.key("journal")
        self._counter = link.key("journal", "seq")
        self._buffer: list[Row] = []
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one write at a time: seqs stay in record order
        self._pending = threading.Event()
        self._flusher: tuple[int, threading.Thread] | None = None  # (pid, thread)
        self._down = False  # an outage was logged; logged again only after a success

    @property
    def size(self) -> int:
        return self._capacity

    @property
    def worker(self) -> str:
        return worker_name() if self._worker is None else self._worker

    # ------------------------------------------------------------------ writes

    def record(
        self,
        time: float,
        method: str,
        path: str,
        provider: str | None,
        status: int | None,
        elapsed: float,
        decision: Decision | None,
    ) -> None:
        with self._lock:
            self._buffer.append((time, method, path, provider, status, elapsed, decision))
            waiting = len(self._buffer)
        if waiting >= BATCH and not self._down:
            self.flush()  # in an outage the thread drops them: a request never waits on it
        elif waiting == 1:
            self._start_flusher()
            self._pending.set()

    def flush(self) -> None:
        """Write this worker's buffered entries now. Never raises: a failure drops them."""
        with self._flushing:
            with self._lock:
                rows, self._buffer = self._buffer, []
            if not rows:
                return
            args: list[Any] = [self._capacity]
            worker = self.worker.encode("utf-8", "surrogatepass")
            for row in rows:
                values = _fields(row, worker)
                args.append(len(values))
                args.extend(values)
            try:
                self.link.run("journal", args)
            except ApiError as exc:  # StoreUnavailable: the link's guard turned it into one
                if not self._down:
                    self._down = True
                    logger.warning(
                        "Journal entries dropped: %s (logged once until Redis answers again)",
                        exc.message,
                    )
            except Exception:  # a journal write must never raise
                logger.exception("Journal entries dropped")
            else:
                if self._down:
                    self._down = False
                    logger.warning("Journal entries are recorded again: Redis answers.")

    def _start_flusher(self) -> None:
        pid = os.getpid()
        if self._flusher is not None and self._flusher[0] == pid:
            return  # a forked worker does not have its parent's thread: it starts its own
        thread = threading.Thread(target=self._flush_soon, name="journal-flush", daemon=True)
        self._flusher = (pid, thread)
        thread.start()

    def _flush_soon(self) -> None:
        while True:
            self._pending.wait()
            sleep(FLUSH_DELAY)  # let the batch gather
            self._pending.clear()
            self.flush()

    # ------------------------------------------------------------------ reads

    def query(self, filters: Mapping[str, str], limit: int | None = None) -> list[dict[str, Any]]:
        """Newest first, every worker's entries; every filter must equal the entry's field
        (compared as text), as in the memory journal."""
        self.flush()
        out: list[dict[str, Any]] = []
        wanted = PAGE if filters or limit is None else min(limit, PAGE)
        top = "+"
        while True:
            with self.link.guard():
                page = self.link.client.xrevrange(self._stream, top, "-", count=wanted)
            for stream_id, fields in page:
                view = _entry(stream_id, fields).view()
                if all(str(view.get(name)) == value for name, value in filters.items()):
                    out.append(view)
                    if limit is not None and len(out) >= limit:
                        return out
            if len(page) < wanted:
                return out
            seq = int(page[-1][0].split(b"-")[0])
            if seq <= 1:
                return out
            top = f"{seq - 1}-0"

    def clear(self) -> None:
        """Every worker's entries go, and seq starts again (as the memory journal's)."""
        with self._lock:
            self._buffer = []
        with self.link.guard():
            self.link.client.delete(self._stream, self._counter)


def _fields(row: Row, worker: bytes) -> list[bytes | str]:
    """The entry as stream fields; a None field is left out."""
    time, method, path, provider, status, elapsed, decision = row
    values: list[bytes | str] = [
        "time", repr(time),
        "method", method,
        "path", path.encode("utf-8", "surrogatepass"),
        "elapsed", repr(elapsed),
        "worker", worker,
    ]
    if provider is not None:
        values += ["provider", provider]
    if status is not None:
        values += ["status", str(status)]
    if decision is not None:
        values += ["route", decision.route, "latency", repr(decision.latency)]
        if decision.model is not None:
            values += ["model", decision.model]
        if decision.owner is not None:
            values += ["owner", decision.owner]
        if decision.fault is not None:
            values += ["fault", decision.fault.name]
            if decision.source is not None:
                values += ["fault_source", decision.source]
    return values


def _text(fields: dict[bytes, bytes], name: bytes) -> str | None:
    value = fields.get(name)
    return None if value is None else value.decode("utf-8", "surrogatepass")


def _entry(stream_id: bytes, fields: dict[bytes, bytes]) -> Entry:
    status = fields.get(b"status")
    return Entry(
        seq=int(stream_id.split(b"-")[0]),
        time=float(fields[b"time"]),
        method=_text(fields, b"method") or "",
        path=_text(fields, b"path") or "",
        provider=_text(fields, b"provider"),
        status=None if status is None else int(status),
        elapsed=float(fields[b"elapsed"]),
        route=_text(fields, b"route"),
        model=_text(fields, b"model"),
        owner=_text(fields, b"owner"),
        fault=_text(fields, b"fault"),
        fault_source=_text(fields, b"fault_source"),
        latency=float(fields.get(b"latency", 0.0)),
        worker=_text(fields, b"worker") or "",
    )
