"""A recording session: exchanges in, one sanitised HAR file out.

Secrets are collected from every exchange of the session, and masked in every entry when the
session is written, so a key first seen in the tenth request is masked in the first too.
Repeated poll answers are collapsed at the same time (see :func:`collapse_polls`).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from emulator.recording.har import (
    Collapsed,
    Entry,
    Headers,
    Timings,
    build_entry,
    redact,
    write_har,
)
from emulator.recording.sanitise import Redactor, poll_signature

__all__ = ["Session", "collapse_polls"]


class Session:
    """Entries of one session; ``redact`` holds extra regexes to mask (``--redact``).

    Safe to use from several threads (the recording proxy adds and writes from a worker)."""

    def __init__(self, redact: Sequence[str | re.Pattern[str]] = (), prefix: str = "") -> None:
        self._redactor = Redactor(redact)
        self._prefix = prefix
        self._entries: list[Entry] = []
        # The entries masked with every secret of redactor generation `_masked_at`: a file
        # write re-masks them all only after a new secret was seen, not every time.
        self._masked: list[Entry] = []
        self._masked_at = 0
        self._lock = threading.Lock()

    def add(
        self,
        method: str,
        url: str,
        request_headers: Headers,
        request_body: bytes | None,
        status: int,
        response_headers: Headers,
        response_body: bytes,
        timings: Timings,
        *,
        prefix: str | None = None,
        note: str | None = None,
    ) -> Entry:
        """Sanitise one exchange at once (its images are dropped here, not kept in memory).

        ``prefix`` overrides the session's for this exchange (each upstream has its own base
        path); ``note`` says why the recorder answered itself (Entry.note)."""
        with self._lock:
            entry = build_entry(
                method,
                url,
                request_headers,
                request_body,
                status,
                response_headers,
                response_body,
                timings,
                redactor=self._redactor,
                prefix=self._prefix if prefix is None else prefix,
                note=note,
            )
            self._entries.append(entry)
            if self._masked_at == self._redactor.generation:
                self._masked.append(entry)  # masked by build_entry with every secret known
            return entry

    def entries(self) -> list[Entry]:
        """What the file will hold: every entry masked with every secret seen, polls collapsed."""
        with self._lock:
            if self._masked_at != self._redactor.generation:
                self._masked = [redact(entry, self._redactor) for entry in self._entries]
                self._masked_at = self._redactor.generation
            return collapse_polls(self._masked)

    def write(self, path: str | os.PathLike[str]) -> Path:
        return write_har(path, self.entries())


def collapse_polls(entries: Iterable[Entry]) -> list[Entry]:
    """Consecutive identical answers of one running job folded into the first of them.

    Two answers are the same when they are GETs of the same URL with the same status and the
    same body once ids and timestamps are set aside, and the job is not finished (its
    ``status`` is ``processing``, ``PENDING``, ``IN_PROGRESS``...; see sanitise.NON_TERMINAL).
    Other requests in between (another job's polls) do not break a run. The kept entry gets
    ``collapsed`` {count, first, last}; terminal answers are always kept.
    """
    kept: list[Entry] = []
    # URL -> (index in kept, signature) of that URL's latest kept answer.
    latest: dict[str, tuple[int, str | None]] = {}
    for entry in entries:
        signature = poll_signature(entry.method, entry.url, entry.status, entry.response_text)
        previous = latest.get(entry.url)
        if signature is not None and previous is not None and previous[1] == signature:
            index = previous[0]
            folded = kept[index].collapsed
            count = 1 if folded is None else folded.count
            kept[index] = replace(
                kept[index],
                collapsed=Collapsed(count + 1, kept[index].started, entry.started),
            )
            continue
        latest[entry.url] = (len(kept), signature)
        kept.append(entry)
    return kept
