"""The journal on Redis: the memory journal's behaviours on both, then what sharing adds
(several workers on one stream, a global seq, the cap, batching, outages)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest

from emulator.core.faults import Decision, Fault
from emulator.core.journal import FILTERS, Journal
from emulator.core.redis import journal as redis_journal
from emulator.core.redis.journal import RedisJournal
from emulator.core.redis.link import RedisLink
from emulator.core.workers import WORKER_NAME_ENV, worker_name
from tests.conftest import EPOCH


class AnyJournal(Protocol):
    @property
    def size(self) -> int: ...

    def record(
        self,
        time: float,
        method: str,
        path: str,
        provider: str | None,
        status: int | None,
        elapsed: float,
        decision: Decision | None,
    ) -> None: ...

    def query(
        self, filters: dict[str, str], limit: int | None = None
    ) -> list[dict[str, Any]]: ...

    def clear(self) -> None: ...


MakeJournal = Callable[..., AnyJournal]


@pytest.fixture
def namespace_url(redis_url: str) -> str:
    return redis_url  # the shared fixture's: a fresh prefix per test (tests/redis_fixture.py)


@pytest.fixture
def links(namespace_url: str) -> Iterator[list[RedisLink]]:
    made: list[RedisLink] = []
    yield made
    for link in made:
        link.close()


def new_link(links: list[RedisLink], url: str) -> RedisLink:
    link = RedisLink(url)
    links.append(link)
    return link


@pytest.fixture(params=["memory", "redis"])
def make_journal(
    request: pytest.FixtureRequest, links: list[RedisLink], namespace_url: str
) -> MakeJournal:
    if request.param == "memory":
        return lambda size=1000, worker="w1": Journal(size, worker)
    return lambda size=1000, worker="w1": RedisJournal(new_link(links, namespace_url), size, worker)


def decision(
    route: str = "poll",
    model: str | None = "m1",
    owner: str | None = "fp",
    fault: str | None = None,
    source: str | None = None,
    latency: float = 0.0,
) -> Decision:
    return Decision(
        "vibedream", route, model, owner, Fault(fault) if fault else None, source, latency
    )


def record(journal: AnyJournal, n: int, **fields: Any) -> None:
    status = fields.pop("status", 200)
    journal.record(
        EPOCH + n, "GET", f"/p/{n}", "vibedream", status, 0.002 * n, decision(**fields)
    )


# ---------------------------------------------------------------------- on both


def test_an_entry_reads_back_as_recorded(make_journal: MakeJournal) -> None:
    journal = make_journal(worker="host-a:1")
    journal.record(
        EPOCH, "POST", "/api/v1/models/x/generate", "vibedream", 429, 0.0123,
        decision("submit", "z-image", "abc123", "429", "header", 0.25),
    )
    journal.record(EPOCH + 1.5, "GET", "/unknown/é/\udcff", None, None, 0.001, None)
    newest, first = journal.query({})
    assert first == {
        "seq": 1,
        "time": "2025-01-15T12:00:00.000Z",
        "method": "POST",
        "path": "/api/v1/models/x/generate",
        "provider": "vibedream",
        "route": "submit",
        "model": "z-image",
        "key_fingerprint": "abc123",
        "status": 429,
        "fault": "429",
        "fault_source": "header",
        "latency_ms": 250.0,
        "elapsed_ms": 12.3,
        "worker": "host-a:1",
    }
    assert newest == {
        "seq": 2,
        "time": "2025-01-15T12:00:01.500Z",
        "method": "GET",
        "path": "/unknown/é/\udcff",
        "provider": None,
        "route": None,
        "model": None,
        "key_fingerprint": None,
        "status": None,
        "fault": None,
        "fault_source": None,
        "latency_ms": 0.0,
        "elapsed_ms": 1.0,
        "worker": "host-a:1",
    }


def test_newest_first_filtered_as_text_and_limited(make_journal: MakeJournal) -> None:
    journal = make_journal()
    for n in range(1, 7):
        record(
            journal, n,
            route="poll" if n % 2 else "submit",
            status=429 if n == 4 else 200,
            fault="429" if n == 4 else None,
            source="random" if n == 4 else None,
        )
    assert [e["seq"] for e in journal.query({})] == [6, 5, 4, 3, 2, 1]
    assert [e["seq"] for e in journal.query({"route": "poll"})] == [5, 3, 1]
    assert [e["seq"] for e in journal.query({"status": "429"})] == [4]
    assert [e["seq"] for e in journal.query({"fault": "None"})] == [6, 5, 3, 2, 1]
    assert [e["seq"] for e in journal.query({"route": "submit", "status": "200"})] == [6, 2]
    assert [e["seq"] for e in journal.query({}, 2)] == [6, 5]
    assert [e["seq"] for e in journal.query({"route": "poll"}, 1)] == [5]
    assert [e["seq"] for e in journal.query({"worker": "w1"}, 2)] == [6, 5]
    assert journal.query({"worker": "w2"}) == []
    assert journal.query({"provider": "3daistudio"}) == []
    assert set(FILTERS) <= set(journal.query({})[0])


def test_bounded_oldest_first_out_and_cleared(make_journal: MakeJournal) -> None:
    journal = make_journal(size=5)
    assert journal.size == 5
    for n in range(1, 8):
        record(journal, n)
    assert [e["seq"] for e in journal.query({})] == [7, 6, 5, 4, 3]
    assert [e["path"] for e in journal.query({}, 1)] == ["/p/7"]
    journal.clear()
    assert journal.query({}) == []
    record(journal, 1)
    assert [e["seq"] for e in journal.query({})] == [1]


def test_a_long_path_is_kept_whole(make_journal: MakeJournal) -> None:
    journal = make_journal(size=2)
    long = "/v1beta/" + "x" * 500
    journal.record(EPOCH, "GET", long, None, 200, 0.0, None)
    journal.record(EPOCH, "GET", "/short", None, 200, 0.0, None)
    assert [e["path"] for e in journal.query({})] == ["/short", long]


def test_the_worker_defaults_to_this_process(
    make_journal: MakeJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(WORKER_NAME_ENV, "named-worker")
    monkeypatch.setattr("emulator.core.workers._named", None)  # computed again, restored after
    journal = make_journal(worker=None)
    record(journal, 1)
    assert [e["worker"] for e in journal.query({"worker": "named-worker"})] == ["named-worker"]


def test_the_worker_name_is_the_env_var_else_host_and_pid(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import os
    import socket

    monkeypatch.delenv(WORKER_NAME_ENV, raising=False)
    monkeypatch.setattr("emulator.core.workers._named", None)
    assert worker_name() == f"{socket.gethostname()}:{os.getpid()}"
    monkeypatch.setenv(WORKER_NAME_ENV, "api-2")
    # Kept once per process: the env var counts from the next process (or a forked child).
    monkeypatch.setattr("emulator.core.workers._named", None)
    assert worker_name() == "api-2"
    monkeypatch.setattr("emulator.core.workers._named", (-1, "parent:1"))  # as if forked
    assert worker_name() == "api-2"


# ---------------------------------------------------------------------- shared


def two_workers(links: list[RedisLink], url: str, size: int = 1000) -> tuple[RedisJournal, ...]:
    return (
        RedisJournal(new_link(links, url), size, "host-a:1"),
        RedisJournal(new_link(links, url), size, "host-b:2"),
    )


def test_two_workers_share_one_journal_with_a_global_seq(
    links: list[RedisLink], namespace_url: str
) -> None:
    a, b = two_workers(links, namespace_url)
    record(a, 1)
    a.flush()
    record(b, 2)
    b.flush()
    record(a, 3)
    a.flush()
    for journal in (a, b):
        entries = journal.query({})
        assert [(e["seq"], e["path"], e["worker"]) for e in entries] == [
            (3, "/p/3", "host-a:1"),
            (2, "/p/2", "host-b:2"),
            (1, "/p/1", "host-a:1"),
        ]
    assert [e["seq"] for e in b.query({"worker": "host-a:1"})] == [3, 1]
    b.clear()
    assert a.query({}) == []


def test_concurrent_workers_get_distinct_seqs_in_stream_order(
    links: list[RedisLink], namespace_url: str
) -> None:
    journals = [RedisJournal(new_link(links, namespace_url), 10_000, f"w{i}") for i in range(4)]

    def run(journal: RedisJournal) -> None:
        for n in range(300):
            record(journal, n)

    threads = [threading.Thread(target=run, args=(j,)) for j in journals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for journal in journals:
        journal.flush()
    entries = journals[0].query({})
    assert [e["seq"] for e in entries] == list(range(1200, 0, -1))
    for i in range(4):  # each worker's own entries stay in the order it recorded them
        paths = [e["path"] for e in reversed(entries) if e["worker"] == f"w{i}"]
        assert paths == [f"/p/{n}" for n in range(300)]


def test_the_shared_stream_is_capped_at_size(links: list[RedisLink], namespace_url: str) -> None:
    a, b = two_workers(links, namespace_url, size=10)
    for n in range(40):
        record(a if n % 2 else b, n)
    a.flush()
    b.flush()
    entries = a.query({})
    assert len(entries) == 10
    assert entries[0]["seq"] == 40 and [e["seq"] for e in entries] == sorted(
        (e["seq"] for e in entries), reverse=True
    )
    with a.link.guard():
        assert a.link.client.xlen(a.link.key("journal")) == 10


def test_entries_are_written_in_batches_or_soon_after(
    links: list[RedisLink], namespace_url: str
) -> None:
    a, b = two_workers(links, namespace_url)
    for n in range(redis_journal.BATCH - 1):
        record(a, n)
    assert b.query({}) == []  # buffered in a: not written yet...
    record(a, 99)  # ...until the batch is full: written at once, in one round trip
    assert len(b.query({})) == redis_journal.BATCH
    record(a, 100)
    deadline = time.monotonic() + 2
    while len(b.query({})) == redis_journal.BATCH and time.monotonic() < deadline:
        time.sleep(0.01)
    assert b.query({}, 1)[0]["path"] == "/p/100"  # the thread wrote it ~50 ms later


def test_an_outage_drops_entries_logs_once_and_never_raises(
    links: list[RedisLink], namespace_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = namespace_url.rsplit("prefix=", 1)[1]
    dead = RedisJournal(new_link(links, f"redis://127.0.0.1:1/0?prefix={prefix}"), 100, "w")
    with caplog.at_level(logging.WARNING, logger="emulator"):
        for n in range(3 * redis_journal.BATCH):
            record(dead, n)
        dead.flush()
        dead.flush()
    dropped = [r for r in caplog.records if "dropped" in r.getMessage()]
    assert len(dropped) == 1
    # Back: the link points at a live Redis again; recording works and says so.
    alive = RedisLink(namespace_url)
    links.append(alive)
    dead.link = alive
    record(dead, 1)
    with caplog.at_level(logging.WARNING, logger="emulator"):
        assert [e["path"] for e in dead.query({})] == ["/p/1"]
    assert any("again" in r.getMessage() for r in caplog.records)
