"""The request journal: what each request to a provider was and what was answered.

Bounded (the oldest entries go first), and it never holds a key: only the key's fingerprint.
Entries are kept as plain tuples (building a NamedTuple costs a measurable share of a poll)
and turned into `Entry` and JSON only when read (the admin API).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any, NamedTuple

from emulator.core.clock import iso8601
from emulator.core.faults import Decision

DEFAULT_JOURNAL_SIZE = 1000


class Entry(NamedTuple):
    seq: int
    time: float
    method: str
    path: str
    provider: str | None
    status: int | None  # None: no response was sent (a dropped connection)
    elapsed: float  # seconds from the request to the end of the response
    decision: Decision | None

    def view(self) -> dict[str, Any]:
        d = self.decision
        return {
            "seq": self.seq,
            "time": iso8601(self.time),
            "method": self.method,
            "path": self.path,
            "provider": self.provider,
            "route": d.route if d else None,
            "model": d.model if d else None,
            "key_fingerprint": d.owner if d else None,
            "status": self.status,
            "fault": d.fault.name if d and d.fault else None,
            "fault_source": d.source if d and d.fault else None,
            "latency_ms": round(d.latency * 1000, 3) if d else 0.0,
            "elapsed_ms": round(self.elapsed * 1000, 3),
        }


FILTERS = ("provider", "route", "model", "status", "fault", "key_fingerprint", "method")


class Journal:
    def __init__(self, size: int = DEFAULT_JOURNAL_SIZE) -> None:
        # Each item holds Entry's fields in order, seq included.
        self._entries: deque[tuple[Any, ...]] = deque(maxlen=size)
        self._seq = 0

    @property
    def size(self) -> int:
        return self._entries.maxlen or 0

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
        self._seq += 1
        self._entries.append((self._seq, time, method, path, provider, status, elapsed, decision))

    def query(self, filters: Mapping[str, str], limit: int | None = None) -> list[dict[str, Any]]:
        """Newest first; every filter must equal the entry's field (compared as text)."""
        out = []
        for fields in reversed(self._entries):
            view = Entry(*fields).view()
            if all(str(view.get(name)) == value for name, value in filters.items()):
                out.append(view)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def clear(self) -> None:
        self._entries.clear()
        self._seq = 0
