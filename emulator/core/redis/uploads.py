"""The Files API's uploads on Redis, with the memory store's API and rules
(emulator/core/uploads.py): sessions and files as hashes, a session's bytes a string each
chunk is appended to (lua/upload_append.lua: at the offset received so far, or refused), the
bounds counted in Redis by the same scripts that change them, so they hold across workers.
Lifetimes are on the emulator's clock, checked by every script before it reads or writes
(lua/uploads.lua's upkeep); the keys' wall-time TTLs only bound Redis memory.

A finalize reads the session's bytes to hash them, then makes the file in one script that
checks no chunk came in between (else it reads again).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator.core.errors import ErrorKind
from emulator.core.redis.link import RedisLink
from emulator.core.uploads import (
    DEFAULT_FILE_TTL,
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_ENTRIES,
    DEFAULT_SESSION_TTL,
    SessionStatus,
    StoredFile,
    UploadError,
    UploadSession,
)

if TYPE_CHECKING:
    from emulator.core.clock import Clock

UPLOADS = ("uploads",)
BATCH = 50  # files fetched per round trip when listing
MIN_TTL_MS = 1000
MAX_TTL_MS = 400 * 24 * 3600 * 1000
FINALIZE_ATTEMPTS = 5  # reads of a session still receiving chunks before giving up


@dataclass(slots=True)
class SharedSession(UploadSession):
    """A session as Redis holds it: its bytes stay there, only their count comes along."""

    received_bytes: int = 0

    @property
    def received(self) -> int:  # type: ignore[override]
        return self.received_bytes


def _ttl_ms(seconds: float) -> int:
    return int(min(max(seconds * 1000, MIN_TTL_MS), MAX_TTL_MS))


def _pairs(flat: list[Any]) -> dict[str, bytes]:
    return {flat[i].decode(): flat[i + 1] for i in range(0, len(flat), 2)}


def _text(fields: dict[str, bytes], name: str) -> str | None:
    value = fields.get(name)
    return None if value is None else value.decode()


def _session(sid: str, flat: list[Any]) -> SharedSession:
    fields = _pairs(flat)
    declared = fields["declared"]
    return SharedSession(
        id=sid,
        owner=fields["owner"].decode(),
        file_id=fields["file_id"].decode(),
        display_name=_text(fields, "display_name"),
        mime_type=fields["mime_type"].decode(),
        declared_size=int(declared) if declared else None,
        started_at=float(fields["started_at"]),
        expires_at=float(fields["expires_at"]),
        status=SessionStatus(fields["status"].decode()),
        received_bytes=int(fields["received"]),
    )


def _file(owner: str, file_id: str, flat: list[Any]) -> StoredFile:
    fields = _pairs(flat)
    return StoredFile(
        id=file_id,
        owner=owner,
        display_name=_text(fields, "display_name"),
        mime_type=fields["mime_type"].decode(),
        data=fields["data"],
        sha256=fields["sha256"].decode(),
        created_at=float(fields["created_at"]),
        expires_at=float(fields["expires_at"]),
        seq=int(fields["seq"]),
    )


class RedisUploads:
    def __init__(
        self,
        link: RedisLink,
        clock: Clock,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        file_ttl: float = DEFAULT_FILE_TTL,
        session_ttl: float = DEFAULT_SESSION_TTL,
    ) -> None:
        self.link = link
        self.clock = clock
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.file_ttl = file_ttl
        self.session_ttl = session_ttl

    def _run(self, name: str, *args: Any) -> Any:
        return self.link.run(name, [repr(self.clock.now()), *args], UPLOADS)

    def _index_ttl_ms(self) -> int:
        return _ttl_ms(max(self.file_ttl, self.session_ttl))

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
        now = self.clock.now()
        reply = self.link.run(
            "upload_start",
            [
                repr(now),
                session_id,
                owner,
                file_id,
                display_name or "",
                "0" if display_name is None else "1",
                mime_type,
                "" if declared_size is None else str(declared_size),
                repr(now + self.session_ttl),
                _ttl_ms(self.session_ttl),
                self.max_entries,
                self.max_bytes,
                self._index_ttl_ms(),
            ],
            UPLOADS,
        )
        outcome = reply[0].decode()
        if outcome == "conflict":
            raise UploadError(ErrorKind.CONFLICT, f"File files/{file_id} already exists.")
        if outcome == "entries":
            raise UploadError(
                ErrorKind.RATE_LIMITED,
                f"The emulator's file storage holds its maximum of {self.max_entries} files"
                " and uploads; delete files or reset the emulator.",
            )
        if outcome == "bytes":
            raise self._full()
        return _session(session_id, reply[1])

    def session(self, session_id: str) -> UploadSession | None:
        flat = self._run("upload_session", session_id)
        return None if flat is None else _session(session_id, flat)

    def append(self, session_id: str, offset: int, chunk: bytes) -> UploadSession:
        """Add `chunk` at `offset`, which must be the bytes received so far."""
        reply = self._run("upload_append", session_id, offset, chunk, self.max_bytes)
        outcome = reply[0].decode()
        if outcome == "missing":
            raise self._missing()
        session = _session(session_id, reply[1])
        if outcome == "status":
            raise self._inactive(session)
        if outcome == "offset":
            raise UploadError(
                ErrorKind.INVALID_REQUEST,
                f"The upload offset {offset} does not match the {session.received} bytes"
                " received so far; query the upload and resume from there.",
                session,
            )
        if outcome == "declared":
            raise UploadError(
                ErrorKind.INVALID_REQUEST,
                f"The upload would hold {int(reply[2])} bytes, more than the"
                f" {session.declared_size} declared when it started.",
                session,
            )
        if outcome == "bytes":
            raise self._full()
        return session

    def finalize(self, session_id: str) -> StoredFile:
        """The session's bytes as a stored file (the same file again for a finalized one)."""
        data_key = self.link.key("upload", session_id, "data")
        for _attempt in range(FINALIZE_ATTEMPTS):
            with self.link.guard():
                data = self.link.client.get(data_key) or b""
            digest = hashlib.sha256(data).hexdigest()
            now = self.clock.now()
            expires_at = now + self.file_ttl
            reply = self.link.run(
                "upload_finalize",
                [
                    repr(now),
                    session_id,
                    len(data),
                    digest,
                    repr(expires_at),
                    _ttl_ms(self.file_ttl),
                    self._index_ttl_ms(),
                ],
                UPLOADS,
            )
            outcome = reply[0].decode()
            if outcome == "changed":
                continue
            if outcome == "missing":
                raise self._missing()
            session = _session(session_id, reply[1])
            if outcome == "same":
                return _file(session.owner, session.file_id, reply[2])
            if outcome == "gone":
                raise UploadError(
                    ErrorKind.NOT_FOUND, "The file this upload created no longer exists.", session
                )
            if outcome == "status":
                raise self._inactive(session)
            if outcome == "declared":
                raise UploadError(
                    ErrorKind.INVALID_REQUEST,
                    f"The upload received {session.received} bytes but declared"
                    f" {session.declared_size} when it started.",
                    session,
                )
            if outcome == "conflict":
                raise UploadError(
                    ErrorKind.CONFLICT, f"File files/{session.file_id} already exists.", session
                )
            return StoredFile(
                id=session.file_id,
                owner=session.owner,
                display_name=session.display_name,
                mime_type=session.mime_type,
                data=data,
                sha256=digest,
                created_at=now,
                expires_at=expires_at,
                seq=int(reply[2]),
            )
        raise UploadError(
            ErrorKind.CONFLICT, "The upload is still receiving chunks; finalize it again."
        )

    def cancel(self, session_id: str) -> UploadSession:
        reply = self._run("upload_cancel", session_id)
        outcome = reply[0].decode()
        if outcome == "missing":
            raise self._missing()
        session = _session(session_id, reply[1])
        if outcome == "final":
            raise UploadError(
                ErrorKind.INVALID_REQUEST,
                "The upload is finalized; it cannot be cancelled.",
                session,
            )
        return session

    # ------------------------------------------------------------------ files

    def get_file(self, owner: str, file_id: str) -> StoredFile | None:
        flat = self._run("upload_files", "get", owner, file_id)
        return None if flat is None else _file(owner, file_id, flat)

    def files_of(self, owner: str) -> Iterator[StoredFile]:
        """The owner's files, newest first."""
        ids = [raw.decode() for raw in self._run("upload_files", "list", owner, "")]
        return self._fetch(owner, ids)

    def _fetch(self, owner: str, ids: list[str]) -> Iterator[StoredFile]:
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            pipe = self.link.client.pipeline(transaction=False)
            for file_id in batch:
                pipe.hgetall(self.link.key("file", owner, file_id))
            for file_id, fields in zip(batch, self.link.execute(pipe), strict=True):
                if fields:  # else deleted (or gone by its wall-time TTL) since the list
                    stored = _file(owner, file_id, [x for kv in fields.items() for x in kv])
                    if self.clock.now() < stored.expires_at:
                        yield stored

    def delete_file(self, owner: str, file_id: str) -> bool:
        return bool(self._run("upload_files", "delete", owner, file_id))

    # ------------------------------------------------------------------ upkeep

    def counts(self) -> dict[str, int]:
        files, file_bytes, sessions = self._run("upload_files", "counts", "", "")
        return {"files": files, "file_bytes": file_bytes, "upload_sessions": sessions}

    def clear(self) -> None:
        """Done by the reset script, with everything else."""

    # ------------------------------------------------------------------ errors

    def _full(self) -> UploadError:
        return UploadError(
            ErrorKind.RATE_LIMITED,
            f"The emulator's file storage is full ({self.max_bytes} bytes in all);"
            " delete files or reset the emulator.",
        )

    @staticmethod
    def _missing() -> UploadError:
        return UploadError(
            ErrorKind.NOT_FOUND, "No such upload: it never started, expired or was reset."
        )

    @staticmethod
    def _inactive(session: UploadSession) -> UploadError:
        return UploadError(
            ErrorKind.INVALID_REQUEST,
            f"The upload is {session.status.value}; it takes no more data.",
            session,
        )
