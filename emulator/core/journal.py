"""The request journal: what each request to a provider was and what was answered.

Bounded (the oldest entries go first), and it never holds a key: only the key's fingerprint.

A ring of preallocated columns rather than an object per entry: numbers in arrays, words
(method, provider, route, model, fingerprint, fault) as shared strings, paths as UTF-8 in
fixed slots of one bytearray. So the journal keeps no object a request allocated. That matters
for memory coming back: the entries of a load are spread over every arena of the allocator the
load's jobs filled, and an arena goes back to the system only when nothing in it is alive, so a
journal of objects keeps the jobs' memory after they expire (measured in-process, 20,000 jobs:
with a 5,000-entry journal of tuples none of the 50 MB they took came back; with this one
about 35 MB does). Recording costs about 0.6 us (a tuple: 0.1 us). An entry becomes `Entry` and
JSON only when read (the admin API); a filtered read compares the columns and builds the
matching entries only.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping
from sys import intern
from typing import Any, NamedTuple

from emulator.core.clock import iso8601
from emulator.core.faults import Decision
from emulator.core.workers import worker_name

DEFAULT_JOURNAL_SIZE = 1000
PATH_SLOT = 192  # bytes of a path kept in the ring; a longer path is kept whole, aside
NO_STATUS = -1  # no response was sent (a dropped connection)


class Entry(NamedTuple):
    seq: int
    time: float
    method: str
    path: str
    provider: str | None
    status: int | None  # None: no response was sent (a dropped connection)
    elapsed: float  # seconds from the request to the end of the response
    route: str | None
    model: str | None
    owner: str | None  # the key's fingerprint
    fault: str | None
    fault_source: str | None
    latency: float  # seconds the answer was held
    worker: str = ""  # the worker process that answered (emulator/core/workers.py)

    def view(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": iso8601(self.time),
            "method": self.method,
            "path": self.path,
            "provider": self.provider,
            "route": self.route,
            "model": self.model,
            "key_fingerprint": self.owner,
            "status": self.status,
            "fault": self.fault,
            "fault_source": self.fault_source,
            "latency_ms": round(self.latency * 1000, 3),
            "elapsed_ms": round(self.elapsed * 1000, 3),
            "worker": self.worker,
        }


FILTERS = (
    "provider", "route", "model", "status", "fault", "key_fingerprint", "method", "worker",
)


class Journal:
    def __init__(self, size: int = DEFAULT_JOURNAL_SIZE, worker: str | None = None) -> None:
        """`worker`: the name every entry shows; None: this process's `worker_name()`, asked
        when an entry is read (so a worker forked after this was built shows its own pid). One
        process's journal has one worker: it is kept once, not per entry."""
        self._worker = worker
        self._capacity = size
        self._seq = 0  # entries recorded; the newest is in slot (seq - 1) % size
        self._time = array("d", bytes(8 * size))
        self._elapsed = array("d", bytes(8 * size))
        self._latency = array("d", bytes(8 * size))
        self._status = array("i", [NO_STATUS]) * size
        # Words: the provider, route and fault source are the code's own constants; the
        # others are interned, so an entry shares them rather than keeping the request's copy.
        self._method: list[str | None] = [None] * size
        self._provider: list[str | None] = [None] * size
        self._route: list[str | None] = [None] * size
        self._model: list[str | None] = [None] * size
        self._owner: list[str | None] = [None] * size
        self._fault: list[str | None] = [None] * size
        self._source: list[str | None] = [None] * size
        self._path_bytes = bytearray(PATH_SLOT * size)
        self._path_length = array("i", bytes(4 * size))
        self._long_paths: dict[int, str] = {}  # slot -> a path longer than PATH_SLOT bytes

    @property
    def size(self) -> int:
        return self._capacity

    @property
    def worker(self) -> str:
        return worker_name() if self._worker is None else self._worker

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
        slot = self._seq % self._capacity
        self._seq += 1
        self._time[slot] = time
        self._elapsed[slot] = elapsed
        self._status[slot] = NO_STATUS if status is None else status
        self._method[slot] = intern(method)
        self._provider[slot] = provider
        if decision is None:
            self._latency[slot] = 0.0
            self._route[slot] = self._model[slot] = self._owner[slot] = None
            self._fault[slot] = self._source[slot] = None
        else:
            self._latency[slot] = decision.latency
            self._route[slot] = decision.route
            model, owner, fault = decision.model, decision.owner, decision.fault
            self._model[slot] = None if model is None else intern(model)
            self._owner[slot] = None if owner is None else intern(owner)
            if fault is None:
                self._fault[slot] = self._source[slot] = None
            else:
                self._fault[slot], self._source[slot] = intern(fault.name), decision.source
        encoded = path.encode("utf-8", "surrogatepass")
        length = len(encoded)
        self._path_length[slot] = length
        if length <= PATH_SLOT:
            start = slot * PATH_SLOT
            self._path_bytes[start : start + length] = encoded
            if self._long_paths:
                self._long_paths.pop(slot, None)
        else:
            self._long_paths[slot] = path

    def _slots(self) -> Iterator[tuple[int, int]]:
        """(seq, slot) of every entry held, newest first."""
        for seq in range(self._seq, max(0, self._seq - self._capacity), -1):
            yield seq, (seq - 1) % self._capacity

    def _path(self, slot: int) -> str:
        length = self._path_length[slot]
        if length > PATH_SLOT:
            return self._long_paths[slot]
        start = slot * PATH_SLOT
        return self._path_bytes[start : start + length].decode("utf-8", "surrogatepass")

    def _entry(self, seq: int, slot: int, worker: str) -> Entry:
        status = self._status[slot]
        return Entry(
            seq=seq,
            time=self._time[slot],
            method=self._method[slot] or "",
            path=self._path(slot),
            provider=self._provider[slot],
            status=None if status == NO_STATUS else status,
            elapsed=self._elapsed[slot],
            route=self._route[slot],
            model=self._model[slot],
            owner=self._owner[slot],
            fault=self._fault[slot],
            fault_source=self._source[slot],
            latency=self._latency[slot],
            worker=worker,
        )

    def _column(self, name: str) -> list[Any] | None:
        """A filter's values by slot, as the view shows them; None for a field of the view
        that has no column of its own (compared on the view)."""
        if name == "status":
            return [None if status == NO_STATUS else status for status in self._status]
        columns = {
            "method": self._method,
            "provider": self._provider,
            "route": self._route,
            "model": self._model,
            "key_fingerprint": self._owner,
            "fault": self._fault,
        }
        return columns.get(name)

    def query(self, filters: Mapping[str, str], limit: int | None = None) -> list[dict[str, Any]]:
        """Newest first; every filter must equal the entry's field (compared as text)."""
        columns = {name: self._column(name) for name in filters}
        by_column = [
            (column, filters[name]) for name, column in columns.items() if column is not None
        ]
        by_view = [(name, filters[name]) for name, column in columns.items() if column is None]
        out: list[dict[str, Any]] = []
        worker = self.worker
        if "worker" in filters and filters["worker"] != worker:
            return out  # every entry is this worker's
        for seq, slot in self._slots():
            if not all(str(column[slot]) == value for column, value in by_column):
                continue
            view = self._entry(seq, slot, worker).view()
            if all(str(view.get(name)) == value for name, value in by_view):
                out.append(view)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def clear(self) -> None:
        self._seq = 0
        nothing = [None] * self._capacity
        for column in (
            self._method,
            self._provider,
            self._route,
            self._model,
            self._owner,
            self._fault,
            self._source,
        ):
            column[:] = nothing
        self._long_paths.clear()
