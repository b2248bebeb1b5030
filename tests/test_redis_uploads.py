"""The Files API's uploads on Redis: the memory store's behaviours on both, then what sharing
adds (a session continued on another worker, bounds counted across workers, races)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulator.core.clock import VirtualClock
from emulator.core.errors import ErrorKind
from emulator.core.redis.link import RedisLink
from emulator.core.redis.uploads import RedisUploads
from emulator.core.uploads import SessionStatus, UploadError, UploadStore
from tests.conftest import EPOCH

Uploads = UploadStore | RedisUploads
MakeUploads = Callable[..., Uploads]


@pytest.fixture
def namespace_url(redis_url: str) -> str:
    return redis_url  # the shared fixture's: a fresh prefix per test (tests/redis_fixture.py)


@pytest.fixture
def links() -> Iterator[list[RedisLink]]:
    made: list[RedisLink] = []
    yield made
    for link in made:
        link.close()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(EPOCH)


def redis_uploads(links: list[RedisLink], url: str, clock: VirtualClock, **bounds: Any) -> Any:
    link = RedisLink(url)
    links.append(link)
    return RedisUploads(link, clock, **bounds)


@pytest.fixture(params=["memory", "redis"])
def make(
    request: pytest.FixtureRequest,
    links: list[RedisLink],
    namespace_url: str,
    clock: VirtualClock,
) -> MakeUploads:
    if request.param == "memory":
        return lambda **bounds: UploadStore(clock, **bounds)
    return lambda **bounds: redis_uploads(links, namespace_url, clock, **bounds)


def start(
    store: Uploads,
    sid: str = "s1",
    owner: str = "fp1",
    file_id: str = "f1",
    declared: int | None = None,
    name: str | None = "a picture",
) -> Any:
    return store.start(
        session_id=sid,
        owner=owner,
        file_id=file_id,
        display_name=name,
        mime_type="image/png",
        declared_size=declared,
    )


# ---------------------------------------------------------------------- on both


def test_an_upload_in_chunks_becomes_a_file(make: MakeUploads, clock: VirtualClock) -> None:
    store = make()
    session = start(store, declared=6)
    assert (session.status, session.received, session.declared_size) == (SessionStatus.ACTIVE, 0, 6)
    assert store.append("s1", 0, b"abc").received == 3
    assert store.append("s1", 3, b"def").received == 6
    clock.advance(10)
    stored = store.finalize("s1")
    assert (stored.id, stored.owner, stored.display_name, stored.mime_type) == (
        "f1", "fp1", "a picture", "image/png",
    )
    assert stored.data == b"abcdef" and stored.size == 6
    assert stored.sha256 == hashlib.sha256(b"abcdef").hexdigest()
    assert stored.created_at == EPOCH + 10 and stored.expires_at == EPOCH + 10 + store.file_ttl
    assert store.finalize("s1") == stored  # the same file again
    assert store.get_file("fp1", "f1") == stored
    assert store.get_file("fp2", "f1") is None  # another key's view
    session = store.session("s1")
    assert session is not None and session.status is SessionStatus.FINAL
    assert store.counts() == {"files": 1, "file_bytes": 6, "upload_sessions": 1}


def test_an_empty_file_and_one_without_a_name(make: MakeUploads) -> None:
    store = make()
    start(store, name=None)
    stored = store.finalize("s1")
    assert (stored.data, stored.display_name, stored.sha256) == (
        b"", None, hashlib.sha256(b"").hexdigest(),
    )


def test_a_wrong_offset_or_too_many_bytes_is_refused(make: MakeUploads) -> None:
    store = make()
    start(store, declared=4)
    store.append("s1", 0, b"ab")
    with pytest.raises(UploadError, match="offset 0 does not match the 2 bytes") as wrong:
        store.append("s1", 0, b"ab")
    assert wrong.value.kind is ErrorKind.INVALID_REQUEST
    assert wrong.value.session is not None and wrong.value.session.received == 2
    with pytest.raises(UploadError, match="would hold 5 bytes, more than the 4 declared"):
        store.append("s1", 2, b"abc")
    with pytest.raises(UploadError, match="received 2 bytes but declared 4") as short:
        store.finalize("s1")
    assert short.value.kind is ErrorKind.INVALID_REQUEST
    store.append("s1", 2, b"cd")
    assert store.finalize("s1").data == b"abcd"


def test_unknown_finished_and_cancelled_sessions(make: MakeUploads) -> None:
    store = make()
    assert store.session("nope") is None
    for step in (
        lambda: store.append("nope", 0, b"x"),
        lambda: store.finalize("nope"),
        lambda: store.cancel("nope"),
    ):
        with pytest.raises(UploadError, match="No such upload") as missing:
            step()
        assert missing.value.kind is ErrorKind.NOT_FOUND and missing.value.session is None
    start(store)
    store.append("s1", 0, b"x")
    cancelled = store.cancel("s1")
    assert (cancelled.status, cancelled.received) == (SessionStatus.CANCELLED, 0)
    with pytest.raises(UploadError, match="The upload is cancelled; it takes no more data"):
        store.append("s1", 0, b"x")
    with pytest.raises(UploadError, match="is cancelled"):
        store.finalize("s1")
    start(store, sid="s2")  # the id is free again
    store.finalize("s2")
    with pytest.raises(UploadError, match="finalized; it cannot be cancelled") as final:
        store.cancel("s2")
    assert final.value.session is not None and final.value.session.status is SessionStatus.FINAL
    with pytest.raises(UploadError, match="is final; it takes no more data"):
        store.append("s2", 0, b"x")


def test_a_file_id_is_one_per_owner(make: MakeUploads) -> None:
    store = make()
    start(store)
    with pytest.raises(UploadError, match="File files/f1 already exists") as taken:
        start(store, sid="s2")
    assert taken.value.kind is ErrorKind.CONFLICT
    start(store, sid="s3", owner="fp2")  # another owner's f1
    store.finalize("s1")
    with pytest.raises(UploadError, match="already exists"):
        start(store, sid="s4")
    assert store.delete_file("fp1", "f1") is True
    assert store.delete_file("fp1", "f1") is False
    assert store.get_file("fp1", "f1") is None
    with pytest.raises(UploadError, match="no longer exists") as gone:
        store.finalize("s1")
    assert gone.value.kind is ErrorKind.NOT_FOUND
    start(store, sid="s5")
    assert store.finalize("s5").id == "f1"


def test_files_listed_per_owner_newest_first(make: MakeUploads) -> None:
    store = make()
    for n in range(5):
        start(store, sid=f"s{n}", owner="fp1" if n != 2 else "fp2", file_id=f"f{n}")
        store.finalize(f"s{n}")
    listed = list(store.files_of("fp1"))
    assert [f.id for f in listed] == ["f4", "f3", "f1", "f0"]
    assert [f.seq for f in listed] == sorted((f.seq for f in listed), reverse=True)
    assert [f.id for f in store.files_of("fp2")] == ["f2"]
    assert list(store.files_of("nobody")) == []


def test_lifetimes_on_the_emulators_clock(make: MakeUploads, clock: VirtualClock) -> None:
    store = make(file_ttl=100.0, session_ttl=50.0)
    start(store)
    store.finalize("s1")
    start(store, sid="s2", file_id="f2")
    clock.advance(49.9)
    assert store.session("s2") is not None
    clock.advance(0.1)  # the sessions' lives end (a file's goes on)
    assert store.session("s1") is None and store.session("s2") is None
    with pytest.raises(UploadError, match="No such upload"):
        store.append("s2", 0, b"x")
    assert store.counts() == {"files": 1, "file_bytes": 0, "upload_sessions": 0}
    start(store, sid="s3", file_id="f2")  # the expired session's claim went with it
    clock.advance(50)
    assert store.get_file("fp1", "f1") is None
    assert list(store.files_of("fp1")) == []
    assert store.counts()["files"] == 0


def test_bounds_refuse_new_uploads_and_drop_nothing(make: MakeUploads) -> None:
    store = make(max_bytes=10, max_entries=3)
    start(store, declared=6)  # reserves 6
    with pytest.raises(UploadError, match="full \\(10 bytes in all\\)") as full:
        start(store, sid="s2", file_id="f2", declared=5)
    assert full.value.kind is ErrorKind.RATE_LIMITED
    start(store, sid="s2", file_id="f2")  # size unknown: reserves what it receives
    store.append("s2", 0, b"1234")
    with pytest.raises(UploadError, match="full"):
        store.append("s2", 4, b"x")
    store.append("s1", 0, b"123456")  # within its own reservation
    start(store, sid="s3", file_id="f3")
    with pytest.raises(UploadError, match="maximum of 3 files and uploads") as many:
        start(store, sid="s4", file_id="f4")
    assert many.value.kind is ErrorKind.RATE_LIMITED
    store.cancel("s2")  # gives its bytes back, not its entry
    store.append("s3", 0, b"abcd")
    assert store.finalize("s1").size == 6
    assert store.counts() == {"files": 1, "file_bytes": 6, "upload_sessions": 3}


# ---------------------------------------------------------------------- shared


def test_an_upload_started_on_one_worker_goes_on_on_another(
    links: list[RedisLink], namespace_url: str, clock: VirtualClock
) -> None:
    one = redis_uploads(links, namespace_url, clock)
    two = redis_uploads(links, namespace_url, clock)
    start(one, declared=4)
    two.append("s1", 0, b"ab")
    with pytest.raises(UploadError, match="offset 0 does not match the 2 bytes"):
        one.append("s1", 0, b"ab")
    one.append("s1", 2, b"cd")
    stored = two.finalize("s1")
    assert one.finalize("s1") == stored and one.get_file("fp1", "f1") == stored
    assert [f.id for f in one.files_of("fp1")] == ["f1"]
    with pytest.raises(UploadError, match="already exists"):
        start(one, sid="s2")
    assert two.delete_file("fp1", "f1")
    assert one.get_file("fp1", "f1") is None
    assert one.counts() == two.counts() == {"files": 0, "file_bytes": 0, "upload_sessions": 1}


def test_bounds_are_counted_across_workers(
    links: list[RedisLink], namespace_url: str, clock: VirtualClock
) -> None:
    one = redis_uploads(links, namespace_url, clock, max_bytes=10, max_entries=4)
    two = redis_uploads(links, namespace_url, clock, max_bytes=10, max_entries=4)
    start(one, declared=6)
    with pytest.raises(UploadError, match="full"):
        start(two, sid="s2", file_id="f2", declared=5)
    start(two, sid="s2", file_id="f2")
    start(one, sid="s3", file_id="f3")
    start(two, sid="s4", file_id="f4")
    with pytest.raises(UploadError, match="maximum of 4"):
        start(one, sid="s5", file_id="f5")


def test_concurrent_chunks_at_one_offset_take_one(
    links: list[RedisLink], namespace_url: str, clock: VirtualClock
) -> None:
    workers = [redis_uploads(links, namespace_url, clock) for _ in range(8)]
    start(workers[0])
    outcomes: list[str] = []

    def send(store: RedisUploads, n: int) -> None:
        try:
            store.append("s1", 0, bytes([n]) * 3)
            outcomes.append("ok")
        except UploadError:
            outcomes.append("refused")

    threads = [threading.Thread(target=send, args=(w, n)) for n, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 7
    assert workers[3].finalize("s1").size == 3


def test_concurrent_starts_never_pass_the_bounds(
    links: list[RedisLink], namespace_url: str, clock: VirtualClock
) -> None:
    workers = [
        redis_uploads(links, namespace_url, clock, max_bytes=100, max_entries=1000)
        for _ in range(8)
    ]
    started: list[int] = []

    def begin(store: RedisUploads, n: int) -> None:
        for k in range(5):
            try:
                start(store, sid=f"s{n}-{k}", file_id=f"f{n}-{k}", declared=10)
                started.append(1)
            except UploadError:
                pass

    threads = [threading.Thread(target=begin, args=(w, n)) for n, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(started) == 10
    assert workers[0].counts()["upload_sessions"] == 10


def test_a_reset_removes_every_upload_key(
    links: list[RedisLink], namespace_url: str, clock: VirtualClock
) -> None:
    store = redis_uploads(links, namespace_url, clock)
    start(store)
    store.append("s1", 0, b"abc")
    store.finalize("s1")
    start(store, sid="s2", file_id="f2", declared=3)
    store.link.run("reset", [])
    with store.link.guard():
        left = store.link.client.keys(store.link.key("*"))
    assert sorted(left) == [store.link.key("epoch").encode()]
    assert store.counts() == {"files": 0, "file_bytes": 0, "upload_sessions": 0}
    start(store)


def test_every_key_has_a_wall_time_ttl(
    links: list[RedisLink], namespace_url: str, clock: VirtualClock
) -> None:
    store = redis_uploads(links, namespace_url, clock)
    start(store)
    store.append("s1", 0, b"abc")
    store.finalize("s1")
    start(store, sid="s2", file_id="f2")
    store.append("s2", 0, b"abc")
    with store.link.guard():
        client = store.link.client
        keys = [k for k in client.keys(store.link.key("*")) if not k.endswith(b":epoch")]
        assert keys and all(client.pttl(k) > 0 for k in keys), [
            (k, client.pttl(k)) for k in keys
        ]
