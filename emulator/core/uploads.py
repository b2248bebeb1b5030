"""Files uploaded by clients: resumable upload sessions and the files they produce.

Provider-neutral: a provider gives each file its id, its metadata and its wire format; this
module keeps the bytes, who owns them (an API key's fingerprint) and how long they live, on
the emulator's clock. What is stored is data only (bytes, strings, numbers: no closures), so
a shared backend can hold it later.

Lifetimes: a file lives `file_ttl` seconds after it was created; an upload session lives
`session_ttl` seconds after it started, whatever happened to it. Both are dropped whenever the
store is used once the clock is past them (a file past its expiry is never found).

Bounds: at most `max_bytes` held in all (files, plus the bytes each open session has received
or declared it will send, whichever is more) and at most `max_entries` files and open sessions.
Past either bound a new upload is refused (UploadError, `RATE_LIMITED`, which providers answer
as their quota error) and nothing stored is dropped to make room: a stored file only goes when
it expires, is deleted, or the emulator is reset.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from emulator.core.errors import ApiError, ErrorKind

if TYPE_CHECKING:
    from emulator.core.clock import Clock

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_FILE_TTL = 48 * 3600.0
DEFAULT_SESSION_TTL = 7 * 24 * 3600.0


class SessionStatus(StrEnum):
    ACTIVE = "active"
    FINAL = "final"
    CANCELLED = "cancelled"


@dataclass(slots=True)
class UploadSession:
    id: str  # random and unguessable: the upload URL is the only credential of its chunks
    owner: str  # the key fingerprint that started it
    file_id: str  # the id the file will have
    display_name: str | None
    mime_type: str
    declared_size: int | None  # None: the size is known at finalize only
    started_at: float
    expires_at: float
    data: bytearray = field(default_factory=bytearray)
    status: SessionStatus = SessionStatus.ACTIVE

    @property
    def received(self) -> int:
        return len(self.data)

    @property
    def reserved(self) -> int:
        """Bytes this session holds against the budget."""
        return max(self.received, self.declared_size or 0)


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: str
    owner: str
    display_name: str | None
    mime_type: str
    data: bytes
    sha256: str  # hex digest of data
    created_at: float
    expires_at: float
    seq: int  # creation order, for stable paging

    @property
    def size(self) -> int:
        return len(self.data)


class UploadError(ApiError):
    """A refused upload step. `session` is the session's status after the refusal (None when
    there is no such session), so a provider can report it in its own headers."""

    def __init__(self, kind: ErrorKind, message: str, session: UploadSession | None = None) -> None:
        super().__init__(kind, message)
        self.session = session


class UploadStore:
    """In memory. Sessions and files are keyed by id; files are also per owner, so one key
    never sees (or collides with) another's."""

    def __init__(
        self,
        clock: Clock,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        file_ttl: float = DEFAULT_FILE_TTL,
        session_ttl: float = DEFAULT_SESSION_TTL,
    ) -> None:
        self.clock = clock
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.file_ttl = file_ttl
        self.session_ttl = session_ttl
        # Insertion order is expiry order (one lifetime for all), so expiry pops the front.
        self._sessions: OrderedDict[str, UploadSession] = OrderedDict()
        self._files: OrderedDict[tuple[str, str], StoredFile] = OrderedDict()
        self._file_bytes = 0
        self._seq = 0

    # ------------------------------------------------------------------ sessions

    def start(
        self,
        *,
        session_id: str,
        owner: str,
        file_id: str,
        display_name: str | None,
        mime_type: str,
        declared_size: int | None,
    ) -> UploadSession:
        self._expire()
        if self._taken(owner, file_id):
            raise UploadError(ErrorKind.CONFLICT, f"File files/{file_id} already exists.")
        if len(self._sessions) + len(self._files) >= self.max_entries:
            raise UploadError(
                ErrorKind.RATE_LIMITED,
                f"The emulator's file storage holds its maximum of {self.max_entries} files"
                " and uploads; delete files or reset the emulator.",
            )
        self._require_room(declared_size or 0)
        now = self.clock.now()
        session = UploadSession(
            id=session_id,
            owner=owner,
            file_id=file_id,
            display_name=display_name,
            mime_type=mime_type,
            declared_size=declared_size,
            started_at=now,
            expires_at=now + self.session_ttl,
        )
        self._sessions[session_id] = session
        return session

    def session(self, session_id: str) -> UploadSession | None:
        self._expire()
        return self._sessions.get(session_id)

    def append(self, session_id: str, offset: int, chunk: bytes) -> UploadSession:
        """Add `chunk` at `offset`, which must be the bytes received so far."""
        session = self._active(session_id)
        if offset != session.received:
            raise UploadError(
                ErrorKind.INVALID_REQUEST,
                f"The upload offset {offset} does not match the {session.received} bytes"
                " received so far; query the upload and resume from there.",
                session,
            )
        total = session.received + len(chunk)
        if session.declared_size is not None and total > session.declared_size:
            raise UploadError(
                ErrorKind.INVALID_REQUEST,
                f"The upload would hold {total} bytes, more than the {session.declared_size}"
                " declared when it started.",
                session,
            )
        self._require_room(total - session.reserved)
        session.data += chunk
        return session

    def finalize(self, session_id: str) -> StoredFile:
        """The session's bytes as a stored file (the same file again for a finalized one)."""
        session = self._sessions_or_raise(session_id)
        if session.status is SessionStatus.FINAL:
            found = self._files.get((session.owner, session.file_id))
            if found is not None:
                return found
            raise UploadError(
                ErrorKind.NOT_FOUND, "The file this upload created no longer exists.", session
            )
        session = self._active(session_id)
        if session.declared_size is not None and session.received != session.declared_size:
            raise UploadError(
                ErrorKind.INVALID_REQUEST,
                f"The upload received {session.received} bytes but declared"
                f" {session.declared_size} when it started.",
                session,
            )
        if (session.owner, session.file_id) in self._files:
            raise UploadError(
                ErrorKind.CONFLICT, f"File files/{session.file_id} already exists.", session
            )
        data = bytes(session.data)
        now = self.clock.now()
        self._seq += 1
        stored = StoredFile(
            id=session.file_id,
            owner=session.owner,
            display_name=session.display_name,
            mime_type=session.mime_type,
            data=data,
            sha256=hashlib.sha256(data).hexdigest(),
            created_at=now,
            expires_at=now + self.file_ttl,
            seq=self._seq,
        )
        session.data = bytearray()  # the bytes move to the file: held once
        session.status = SessionStatus.FINAL
        self._files[(stored.owner, stored.id)] = stored
        self._file_bytes += stored.size
        return stored

    def cancel(self, session_id: str) -> UploadSession:
        session = self._sessions_or_raise(session_id)
        if session.status is SessionStatus.FINAL:
            raise UploadError(
                ErrorKind.INVALID_REQUEST,
                "The upload is finalized; it cannot be cancelled.",
                session,
            )
        session.data = bytearray()
        session.status = SessionStatus.CANCELLED
        return session

    # ------------------------------------------------------------------ files

    def get_file(self, owner: str, file_id: str) -> StoredFile | None:
        self._expire()
        return self._files.get((owner, file_id))

    def files_of(self, owner: str) -> Iterator[StoredFile]:
        """The owner's files, newest first."""
        self._expire()
        return (f for f in reversed(self._files.values()) if f.owner == owner)

    def delete_file(self, owner: str, file_id: str) -> bool:
        self._expire()
        stored = self._files.pop((owner, file_id), None)
        if stored is None:
            return False
        self._file_bytes -= stored.size
        return True

    # ------------------------------------------------------------------ upkeep

    def counts(self) -> dict[str, int]:
        self._expire()
        return {
            "files": len(self._files),
            "file_bytes": self._file_bytes,
            "upload_sessions": len(self._sessions),
        }

    def clear(self) -> None:
        self._sessions.clear()
        self._files.clear()
        self._file_bytes = 0
        self._seq = 0

    def _taken(self, owner: str, file_id: str) -> bool:
        if (owner, file_id) in self._files:
            return True
        return any(
            s.owner == owner and s.file_id == file_id and s.status is SessionStatus.ACTIVE
            for s in self._sessions.values()
        )

    def _held(self) -> int:
        return self._file_bytes + sum(
            s.reserved for s in self._sessions.values() if s.status is SessionStatus.ACTIVE
        )

    def _require_room(self, more: int) -> None:
        if more > 0 and self._held() + more > self.max_bytes:
            raise UploadError(
                ErrorKind.RATE_LIMITED,
                f"The emulator's file storage is full ({self.max_bytes} bytes in all);"
                " delete files or reset the emulator.",
            )

    def _sessions_or_raise(self, session_id: str) -> UploadSession:
        session = self.session(session_id)
        if session is None:
            raise UploadError(
                ErrorKind.NOT_FOUND, "No such upload: it never started, expired or was reset."
            )
        return session

    def _active(self, session_id: str) -> UploadSession:
        session = self._sessions_or_raise(session_id)
        if session.status is not SessionStatus.ACTIVE:
            raise UploadError(
                ErrorKind.INVALID_REQUEST,
                f"The upload is {session.status.value}; it takes no more data.",
                session,
            )
        return session

    def _expire(self) -> None:
        now = self.clock.now()
        while self._sessions:
            first = next(iter(self._sessions.values()))
            if now < first.expires_at:
                break
            self._sessions.popitem(last=False)
        while self._files:
            first_file = next(iter(self._files.values()))
            if now < first_file.expires_at:
                break
            self._files.popitem(last=False)
            self._file_bytes -= first_file.size
