"""Load without loss (bench/load.py): a short run of the load test in the default suite and the
full one (64 clients, 60 s) behind `slow`, with memory per 10,000 jobs (bench/memory_jobs.py);
the checks the load test relies on, each shown to catch what it is for; and what bounds memory
and gives it back: the store drops expired jobs on any use (with their cached renderings) and
resizes its tables, the journal keeps no object a request made, an asset keeps little."""

from __future__ import annotations

import asyncio
import sys
import tracemalloc
from collections import Counter
from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from bench import load
from bench.load import (
    AS_GENERATE,
    AS_STATUS,
    DOWNLOAD,
    VD_POLL,
    VD_SUBMIT,
    VX_GATEWAY,
    FaultLedger,
    JobRecord,
    Report,
    Settings,
    Tally,
    check_answer,
    check_memory,
    job_state,
    run_load,
    settle_delivery_faults,
)
from emulator import create_app
from emulator.core.assets import Asset
from emulator.core.clock import VirtualClock
from emulator.core.faults import Decision, Fault
from emulator.core.jobs import Job
from emulator.core.journal import FILTERS, Journal
from emulator.core.recipes import Recipe, register
from emulator.core.store import MemoryStore
from tests.conftest import AUTH, EPOCH, contract_client, emulator_config

INJECTED = frozenset({"429", "503"})
RATE_LIMIT = "Rate limit exceeded: 3 requests per 60 s"
ID = "6f1c2a9e-0b7d-4c2e-9a51-3d8f0e4b7a10"
PREDICTION = {
    "id": ID,
    "modelId": "z-image-turbo",
    "modelName": "Z-Image Turbo",
    "status": "completed",
    "outputs": ["http://127.0.0.1:1/assets/a/1-0.jpeg"],
    "error": None,
    "createdAt": "2025-01-15T12:00:00.000Z",
    "completedAt": "2025-01-15T12:00:02.000Z",
}


def answer(status: int, body: Any, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else None
    json_body = None if isinstance(body, bytes) else body
    response = httpx.Response(
        status, json=json_body, content=content, headers={"content-type": "application/json"}
    )
    response.headers.update(headers)
    return response


def require_ok(report: Report) -> None:
    assert report.ok, "\n".join(report.lines())


# ------------------------------------------------------------------------------- the runs


@pytest.mark.live
def test_a_short_load_run_loses_nothing_and_gives_memory_back() -> None:
    """8 clients for 3 s, every check of the full run (about 6 s with start and read-back)."""
    report = asyncio.run(run_load(Settings(clients=8, duration=3, processes=0)))
    require_ok(report)
    operations = {name for name, _ in report.run.outcomes}
    assert {VD_SUBMIT.name, VD_POLL.name, AS_GENERATE.name, AS_STATUS.name} <= operations
    assert any(name.startswith("vertex") for name in operations)
    providers = Counter(job.provider for job in report.jobs)
    assert providers["vibedream"] > 0 and providers["3daistudio"] > 0
    assert report.read_back == len(report.jobs)
    assert all(job.final is not None for job in report.jobs)
    faults = report.run.faults + report.other.faults
    assert faults["429 injected"] + faults["503 injected"] + report.drops > 0, "chaos did nothing"
    assert report.stored_after == {"jobs": 0, "assets": 0}
    assert report.rss_end - report.rss_start <= load.END_RSS_LIMIT


@pytest.mark.slow
@pytest.mark.live
def test_the_full_load_run_64_clients_60_seconds() -> None:
    report = asyncio.run(run_load(Settings()))
    print("\n".join(report.lines()))
    require_ok(report)
    assert report.read_back == len(report.jobs) > 0


@pytest.mark.slow
def test_memory_per_10000_jobs_is_under_30_mb(capsys: pytest.CaptureFixture[str]) -> None:
    from bench import memory_jobs

    assert memory_jobs.main([]) == 0, capsys.readouterr().out


# ------------------------------------------------------------------- the checks catch faults


def test_an_answer_within_the_contract_passes() -> None:
    tally = Tally()
    got = check_answer(VD_POLL, "/api/v1/predictions/p1", answer(200, PREDICTION), tally, INJECTED)
    assert got is not None and got.fault is None and tally.violation_count == 0
    assert tally.outcomes == Counter({(VD_POLL.name, "200"): 1})


def test_a_body_outside_the_contract_is_a_violation() -> None:
    tally = Tally()
    body = {**PREDICTION, "status": "done"}
    got = check_answer(VD_POLL, "/api/v1/predictions/p1", answer(200, body), tally, INJECTED)
    assert got is None
    assert tally.violation_count == 1 and "status" in tally.violations[0]


def test_a_status_the_operation_does_not_declare_is_a_violation() -> None:
    tally = Tally()
    check_answer(VD_POLL, "/api/v1/predictions/p1", answer(302, {}), tally, INJECTED)
    assert tally.violation_count == 1 and "declares no 302" in tally.violations[0]


@pytest.mark.parametrize(
    ("op", "status", "message", "headers", "fault"),
    [
        (VD_SUBMIT, 429, "Too many. (injected fault)", {"retry-after": "1"}, "429 injected"),
        (VD_SUBMIT, 429, f"{RATE_LIMIT}.", {"retry-after": "20"}, "429 rate limit"),
        (VD_POLL, 503, "Unavailable. (injected fault)", {"retry-after": "1"}, "503 injected"),
    ],
)
def test_injected_faults_and_the_rate_limit_are_expected_errors(
    op: load.Op, status: int, message: str, headers: dict[str, str], fault: str
) -> None:
    tally = Tally()
    body = {"error": message, "code": "rate_limited" if status == 429 else "unavailable"}
    got = check_answer(op, "/x", answer(status, body, **headers), tally, INJECTED)
    assert tally.violation_count == 0, tally.violations
    assert got is not None and got.fault == fault and tally.faults[fault] == 1


@pytest.mark.parametrize(
    ("op", "status", "message", "headers", "problem"),
    [
        # an error the profile does not inject
        (VD_SUBMIT, 500, "Boom. (injected fault)", {}, "unexpected error"),
        # a 404 is nothing chaos does: a lost job
        (VD_POLL, 404, "Prediction 'p1' not found.", {}, "unexpected error"),
        # the rate limit's 429 on a request that generates nothing
        (VD_POLL, 429, f"{RATE_LIMIT}.", {"retry-after": "1"}, "unexpected"),
        # an injected 429 without Retry-After
        (VD_SUBMIT, 429, "Too many. (injected fault)", {}, "Retry-After"),
    ],
)
def test_other_errors_are_violations(
    op: load.Op, status: int, message: str, headers: dict[str, str], problem: str
) -> None:
    tally = Tally()
    response = answer(status, {"error": message, "code": "x"}, **headers)
    check_answer(op, "/api/v1/predictions/p1", response, tally, INJECTED)
    assert tally.violation_count == 1 and problem in tally.violations[0]


def test_a_body_that_is_not_json_is_left_for_the_journal_to_explain() -> None:
    tally = Tally()
    got = check_answer(VD_POLL, "/p", answer(200, b'{"id": "p1", "sta'), tally, INJECTED)
    assert got is None and tally.violation_count == 0
    assert tally.unparsable == [("GET", "/p", 200)]


def test_a_finished_job_must_have_all_its_outputs() -> None:
    tally = Tally()
    job = JobRecord("3daistudio", "t1", "k", images=2)
    one = {"asset_url": "u1", "asset": "u1", "asset_type": "IMAGE", "thumbnail": "t1"}
    body = {"status": "FINISHED", "progress": 100, "results": [one]}
    assert job_state(job, body, tally, "status") == "FINISHED"
    assert tally.violation_count == 1 and "results" in tally.violations[0]
    running = {"status": "IN_PROGRESS", "progress": 40, "results": []}
    assert job_state(job, running, Tally(), "status") is None


def test_a_poll_answering_for_another_job_is_a_violation() -> None:
    tally = Tally()
    job_state(JobRecord("vibedream", "another", "k", 1), PREDICTION, tally, "poll")
    assert tally.violation_count == 1 and ID in tally.violations[0]


def ledger_with(entries: dict[int, tuple[str, str, str]], gaps: int = 0) -> FaultLedger:
    ledger = FaultLedger(admin=None, faults=("drop",))  # type: ignore[arg-type]
    ledger.entries, ledger.gaps = entries, gaps
    return ledger


def report_with(*errors: tuple[str, str]) -> Report:
    report = Report(Settings())
    report.run.transport_errors = [(m, p, "RemoteProtocolError") for m, p in errors]
    return report


def test_a_transport_error_is_accepted_only_where_the_journal_has_a_drop() -> None:
    report = report_with(("GET", "/a"), ("GET", "/a"), ("POST", "/b"))
    ledger = ledger_with({3: ("drop", "GET", "/a"), 9: ("drop", "GET", "/a")})
    settle_delivery_faults(report, ledger)
    assert report.problems == ["1 transport error(s) on POST /b with no fault in the journal"]


def test_a_drop_in_the_journal_no_client_saw_is_a_problem() -> None:
    report = report_with()
    settle_delivery_faults(report, ledger_with({4: ("drop", "GET", "/a")}))
    assert report.problems == ["1 journal fault(s) on GET /a no client saw"]


def test_a_journal_that_turned_over_unread_is_a_problem() -> None:
    report = report_with()
    settle_delivery_faults(report, ledger_with({}, gaps=1))
    assert len(report.problems) == 1 and "journal_size" in report.problems[0]


class FakeAdmin:
    """The journal endpoint over an in-memory Journal, for the ledger."""

    def __init__(self, journal: Journal) -> None:
        self.journal_ = journal

    async def journal(self, **filters: str) -> tuple[list[dict[str, Any]], int]:
        limit = filters.pop("limit", None)
        found = self.journal_.query(filters, int(limit) if limit else None)
        return found, self.journal_.size


def record(journal: Journal, n: int, fault: str | None = None) -> None:
    decision = Decision("vibedream", "poll", None, "fp", Fault(fault) if fault else None)
    journal.record(EPOCH, "GET", f"/p/{n}", "vibedream", None if fault else 200, 0.0, decision)


def test_the_ledger_reads_every_drop_and_notices_an_entry_it_could_not_read() -> None:
    journal = Journal(size=10)
    ledger = FaultLedger(FakeAdmin(journal), ("drop",))  # type: ignore[arg-type]
    for n in range(8):
        record(journal, n, "drop" if n in (2, 5) else None)
    asyncio.run(ledger.read())
    assert sorted(ledger.entries) == [3, 6] and ledger.gaps == 0
    for n in range(8, 16):  # 8 more: the journal of 10 still holds all after seq 8
        record(journal, n, "drop" if n == 12 else None)
    asyncio.run(ledger.read())
    assert sorted(ledger.entries) == [3, 6, 13] and ledger.gaps == 0
    for n in range(16, 40):  # 24 more: entries 17-30 left the journal unread
        record(journal, n)
    asyncio.run(ledger.read())
    assert ledger.gaps == 1


def test_memory_over_its_bound_or_not_given_back_is_a_problem() -> None:
    report = Report(Settings())
    report.config = {"image_cache_bytes": 5 * load.MB}
    report.run.images = {"/assets/a/1.png": 4 * load.MB, "/assets/b/2.png": 4 * load.MB}
    report.rss_start = 100 * load.MB
    report.memory.samples = [(0.0, report.rss_start), (1.0, report.rss_start + 30 * load.MB)]
    # 1,000 jobs: 4 MB; images: 8 MB fetched, 5 MB cached at most; 20 MB of slack: 29 MB
    report.memory.stored = [(1.0, 1000)]
    assert report.memory_bound == 29 * load.MB
    report.rss_end = report.rss_start + 51 * load.MB
    check_memory(report)
    assert len(report.problems) == 2
    assert "over the bound" in report.problems[0] and "after expiry" in report.problems[1]


def test_every_operation_the_clients_call_has_a_contract() -> None:
    for op in load.OPS:
        if op is not DOWNLOAD:
            assert load.contract_of(op).method == op.method
    assert load.contract_of(VX_GATEWAY).response_schema(200) == "response"


def test_the_profile_injects_what_the_checks_expect() -> None:
    statuses, delivery = load.profile_faults(load.server_config(1, 100))
    assert statuses == {"429", "503"} and delivery == ("drop",)


# ---------------------------------------------------------------- memory comes back


def job(number: int, created_at: float) -> Job:
    return Job(f"job-{number}", "p", "m", "o", created_at, 0.0, 10.0, {})


def test_expired_jobs_go_when_the_store_is_read_not_only_when_a_job_arrives() -> None:
    clock = VirtualClock(EPOCH)
    store = MemoryStore(clock, max_jobs=100, job_retention=60)
    for n in range(3):
        store.put_job(job(n, EPOCH))  # each finishes at +10, kept until +70
    clock.advance(69)
    assert store.counts()["jobs"] == 3
    clock.advance(1)
    assert store.get_job("job-0") is None
    assert store.counts() == {"jobs": 0, "assets": 0}
    assert list(store.newest_jobs()) == []


def test_health_gives_the_memory_of_expired_jobs_back() -> None:
    app = create_app(emulator_config(job_retention=60))
    with contract_client(app) as client:
        for prompt in ("a", "b"):
            submit = {"prompt": prompt}
            client.post("/api/v1/models/z-image-turbo/generate", json=submit, headers=AUTH)
        assert client.get("/_emulator/health").json()["store"]["jobs"] == 2
        client.post("/_emulator/clock/advance", json={"seconds": 3600})
        assert client.get("/_emulator/health").json()["store"] == {"jobs": 0, "assets": 0}


DECISIONS = [
    None,
    Decision("vertex", "generateContent", "gemini-3-pro-image", "fp1"),
    Decision("vibedream", "poll", "z-image-turbo", "fp2", Fault("drop"), "random"),
    Decision("3daistudio", "status", None, "fp1", Fault("429"), "header"),
]


def test_the_journal_filters_the_raw_entries_as_it_filters_their_views() -> None:
    journal = Journal(size=50)
    statuses = (200, None, 429, 404)
    for n in range(40):
        decision = DECISIONS[n % len(DECISIONS)]
        provider = decision.provider if decision else None
        method = "POST" if n % 3 else "GET"
        journal.record(EPOCH + n, method, f"/x/{n}", provider, statuses[n % 4], 0.01, decision)
    views = journal.query({})
    assert len(views) == 40
    for name in FILTERS:
        for value in {str(view[name]) for view in views} | {"nothing"}:
            expected = [view for view in views if str(view[name]) == value]
            assert journal.query({name: value}) == expected, (name, value)
            assert journal.query({name: value}, limit=1) == expected[:1]
    # A field of the view outside FILTERS still filters (the slower way).
    assert journal.query({"path": "/x/7"}) == [views[40 - 1 - 7]]
    assert journal.query({"provider": "vertex", "fault": "None"}) == [
        view for view in views if view["provider"] == "vertex"
    ]


_built: list[Mapping[str, Any]] = []


def _counted_spec(params: Mapping[str, Any]) -> Any:
    _built.append(params)
    return object()


register("tests.counted", _counted_spec)


def test_an_asset_builds_its_spec_once_and_keeps_little() -> None:
    _built.clear()
    recipe = Recipe("tests.counted", {"n": 1})
    first = Asset("a1", "".join(["img_001", ".png"]), recipe, 0.0)
    second = Asset("a2", "".join(["img_00", "1.png"]), Recipe("tests.counted", {}), 0.0)
    assert first.spec is first.spec and _built == [{"n": 1}]
    assert first.filename is second.filename  # one copy of a name many assets share
    assert not hasattr(first, "__dict__")
    assert first == Asset("a1", "img_001.png", Recipe("tests.counted", {"n": 1}), 0.0)


def test_the_command_line_takes_clients_duration_and_processes() -> None:
    args = load.parse_args(["--clients", "4", "--duration", "2", "--processes", "0"])
    assert (args.clients, args.duration, args.processes) == (4, 2.0, 0)
    for wrong in (["--clients", "0"], ["--duration", "-1"], ["--processes", "-1"]):
        with pytest.raises(SystemExit):
            load.parse_args(wrong)


def test_a_store_down_to_a_quarter_of_its_peak_gives_its_tables_back() -> None:
    clock = VirtualClock(EPOCH)
    store = MemoryStore(clock, max_jobs=100_000, job_retention=60)
    for n in range(8000):
        store.put_job(job(n, EPOCH + n / 100))  # finishing from +10 to +90
    full = sys.getsizeof(store._jobs)
    clock.advance(70 + 75)  # all but the last 500 or so past their retention
    assert store.counts()["jobs"] < 2000
    assert sys.getsizeof(store._jobs) < full / 2
    assert [j.id for j in store.newest_jobs()][-1] == store._order[0]


def test_the_journal_holds_no_object_a_request_made() -> None:
    """A full journal recording more entries allocates nothing it keeps: the arenas the load's
    jobs filled can all be given back once the jobs go."""
    journal = Journal(size=500)

    def fill(first: int, count: int) -> None:
        for n in range(first, first + count):
            fault = Fault("drop") if n % 7 == 0 else None
            decision = Decision("vibedream", "poll", f"model-{n % 3}", f"fp{n % 5}", fault)
            decision.latency = n / 1000
            journal.record(
                EPOCH + n, "GET", f"/api/v1/predictions/{n}", "vibedream", 200, 0.5, decision
            )

    fill(0, 500)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    fill(500, 5000)
    grown = sum(
        stat.size_diff for stat in tracemalloc.take_snapshot().compare_to(before, "filename")
    )
    tracemalloc.stop()
    assert grown < 20_000  # the snapshots' own bookkeeping; 5,000 kept entries would be MBs
    newest = journal.query({}, limit=1)[0]
    assert newest["seq"] == 5500 and newest["path"] == "/api/v1/predictions/5499"
    assert newest["latency_ms"] == 5499.0 and newest["model"] == "model-0"  # 5499 % 3


@pytest.mark.parametrize(
    "path",
    ["/assets/é/ü.png", "/x/" + "a" * 500, "/x/\udcff", "/"],
)
def test_any_path_comes_back_from_the_journal_as_it_was(path: str) -> None:
    journal = Journal(size=2)
    for _ in range(3):  # round the ring, so a slot holds a long path then a short one
        journal.record(EPOCH, "GET", path, None, None, 0.0, None)
        journal.record(EPOCH, "GET", "/short", None, 404, 0.0, None)
    journal.record(EPOCH, "GET", path, None, None, 0.0, None)
    assert [view["path"] for view in journal.query({})] == [path, "/short"]
    assert journal.query({"status": "None"})[0]["path"] == path


def test_a_downloaded_image_leaves_the_cache_with_its_job() -> None:
    app = create_app(emulator_config(job_retention=60))
    images = app.state.runtime.images
    with contract_client(app) as client:
        body = {"prompt": "a fox", "seed": 7}
        done = []
        for _ in range(2):
            submitted = client.post(
                "/api/v1/models/z-image-turbo/generate", json=body, headers=AUTH
            )
            done.append(submitted.json()["id"])
        client.post("/_emulator/clock/advance", json={"seconds": 10})
        for prediction_id in done:
            poll = client.get(f"/api/v1/predictions/{prediction_id}", headers=AUTH).json()
            assert client.get(poll["outputs"][0]).status_code == 200
        assert len(images) == 1 and images.size_bytes > 0  # the same prompt: the same picture
        client.post("/_emulator/clock/advance", json={"seconds": 60})
        assert client.get("/_emulator/health").json()["store"]["jobs"] == 0
        assert len(images) == 0 and images.size_bytes == 0
