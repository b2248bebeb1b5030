"""The Redis store proven over real sockets: `serve --workers 2` as a subprocess, every request
on a new connection (the kernel hands each to either worker), and a crash of both the emulator
and Redis (SIGKILL) mid-job with AOF on, after which a new `serve` carries on where it was.

Each would fail on the memory store: there each worker has its own jobs (polls on the other
worker are 404s), its own fault queue, wallets and clock; and a restart forgets everything."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from emulator.testing.redis_server import RedisServer, redis_server
from tests.redis_fixture import delete_prefix
from tests.serve_process import Served, end_serve, kill, serving, start_serve

pytestmark = pytest.mark.live

KEY = "socket-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
SUBMIT = "/api/v1/models/z-image-turbo/generate"
TASK = "/v1/images/gemini/3/pro/generate/"
POLLS = 20
TIMEOUT = 10.0  # seconds any one request may take
JOURNAL_WAIT = 5.0  # the journal is written after the response, in batches of <= 50 ms


def prediction(job_id: str) -> str:
    return f"/api/v1/predictions/{job_id}"


def task_status(task_id: str) -> str:
    return f"/v1/generation-request/{task_id}/status/"


class Fresh:
    """Requests to one served emulator, each on a NEW connection: no connection is kept alive
    (one client for all, as building an httpx client per request is slow)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.client = httpx.Client(
            timeout=TIMEOUT, limits=httpx.Limits(max_keepalive_connections=0)
        )

    def __enter__(self) -> Fresh:
        return self

    def __exit__(self, *_: object) -> None:
        self.client.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        url = path if path.startswith("http") else f"{self.base_url}{path}"
        return self.client.request(method, url, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def many(self, count: int, call: Callable[[int], httpx.Response]) -> list[httpx.Response]:
        """`count` calls at once, on as many threads (and so connections)."""
        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(call, range(count)))


def health_pids(fresh: Fresh, count: int = 16) -> set[int]:
    answers = fresh.many(count, lambda _: fresh.get("/_emulator/health"))
    assert all(answer.status_code == 200 for answer in answers)
    return {answer.json()["worker"]["pid"] for answer in answers}


def wait_for_both_workers(fresh: Fresh) -> set[int]:
    """The two workers' pids, once both answered (they start after the parent binds)."""
    seen: set[int] = set()
    deadline = time.monotonic() + 20
    while len(seen) < 2 and time.monotonic() < deadline:
        seen |= health_pids(fresh)
    assert len(seen) == 2, seen
    return seen


@pytest.fixture(scope="module")
def two_workers(redis_server_session: RedisServer) -> Iterator[Fresh]:
    """`serve --workers 2` on the session's redis-server, under a prefix of its own."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    store = f"{redis_server_session.url}?prefix={prefix}"
    args = ("--workers", "2", "--store", store, "--clock", "virtual", "--seed", "5")
    with serving(*args) as served, Fresh(served.base_url) as fresh:
        wait_for_both_workers(fresh)
        yield fresh
    delete_prefix(redis_server_session.url, prefix)


def test_two_workers_share_jobs_files_faults_wallets_journal_and_reset(
    two_workers: Fresh,
) -> None:
    fresh = two_workers
    with httpx.Client(base_url=fresh.base_url, timeout=TIMEOUT) as one:  # one connection
        job = one.post(SUBMIT, json={"prompt": "a lighthouse"}, headers=AUTH)
        task = one.post(TASK, json={"prompt": "a lighthouse"}, headers=AUTH)
    assert job.status_code == task.status_code == 200, (job.text, task.text)
    job_id, task_id = job.json()["id"], task.json()["task_id"]

    def poll_both(_: int) -> tuple[httpx.Response, httpx.Response]:
        return fresh.get(prediction(job_id), headers=AUTH), fresh.get(
            task_status(task_id), headers=AUTH
        )

    with ThreadPoolExecutor(POLLS) as pool:
        polls = list(pool.map(poll_both, range(POLLS)))
    assert [(a.status_code, b.status_code) for a, b in polls] == [(200, 200)] * POLLS
    assert {a.json()["status"] for a, _ in polls} <= {"starting", "processing"}
    assert {b.json()["status"] for _, b in polls} <= {"PENDING", "IN_PROGRESS"}

    advanced = fresh.post("/_emulator/clock/advance", json={"seconds": 600})
    assert advanced.status_code == 200 and advanced.json()["offset"] == 600
    with ThreadPoolExecutor(POLLS) as pool:
        polls = list(pool.map(poll_both, range(POLLS)))
    assert {(a.json()["status"], b.json()["status"]) for a, b in polls} == {
        ("completed", "FINISHED")
    }
    done, status = polls[0][0].json(), polls[0][1].json()
    urls = [*done["outputs"], *(r[k] for r in status["results"] for k in ("asset", "thumbnail"))]
    assert len(urls) >= 3
    for url in urls:
        downloads = fresh.many(8, lambda _, url=url: fresh.get(url))
        assert {d.status_code for d in downloads} == {200}, url
        assert len({(d.content, d.headers["etag"]) for d in downloads}) == 1, url
        assert downloads[0].content

    # A fault queued for 3 requests fails exactly 3 of 10, whichever worker takes them.
    queued = fresh.post(
        "/_emulator/faults", json={"provider": "vibedream", "error": "503", "count": 3}
    )
    assert queued.status_code == 200, queued.text
    submits = fresh.many(10, lambda _: fresh.post(SUBMIT, json={"prompt": "x"}, headers=AUTH))
    assert Counter(s.status_code for s in submits) == {200: 7, 503: 3}

    wallet = {"provider": "vibedream", "key": KEY}
    assert fresh.post("/_emulator/wallets", json={**wallet, "balance": "123.45"}).status_code == 200
    balances = fresh.many(10, lambda _: fresh.post("/_emulator/wallets", json=wallet))
    assert {b.json()["balance"] for b in balances} == {"123.45"}

    # Every worker's requests are in the one journal (written after the response: wait).
    pids = wait_for_both_workers(fresh)
    deadline = time.monotonic() + JOURNAL_WAIT
    workers: set[str] = set()
    while time.monotonic() < deadline:
        journal = fresh.get("/_emulator/requests", params={"provider": "vibedream"}).json()
        workers = {entry["worker"] for entry in journal["requests"]}
        if len(workers) >= 2:
            break
        time.sleep(0.05)
    assert {int(name.rsplit(":", 1)[1]) for name in workers} == pids

    assert fresh.post("/_emulator/reset").status_code == 200
    after = fresh.many(POLLS, lambda _: fresh.get(prediction(job_id), headers=AUTH)) + fresh.many(
        POLLS, lambda _: fresh.get(task_status(task_id), headers=AUTH)
    )
    assert {a.status_code for a in after} == {404}
    offsets: dict[int, set[float]] = {}  # by worker pid: every worker is asked, boundedly
    for _ in range(10):
        for health in fresh.many(POLLS, lambda _: fresh.get("/_emulator/health")):
            answer = health.json()
            offsets.setdefault(answer["worker"]["pid"], set()).add(answer["clock"]["offset"])
        if offsets.keys() == pids:
            break
    assert offsets == {pid: {0} for pid in pids}


def test_64_concurrent_submits_on_two_workers_pay_from_one_wallet_for_10(
    two_workers: Fresh,
) -> None:
    fresh = two_workers
    key = f"wallet-{uuid.uuid4().hex[:8]}"  # a wallet of its own, whatever ran before
    headers = {"Authorization": f"Bearer {key}"}
    balance = {"provider": "3daistudio", "key": key, "balance": "500"}  # 10 images at 1K
    assert fresh.post("/_emulator/wallets", json=balance).status_code == 200
    start = threading.Barrier(64)

    def submit(_: int) -> httpx.Response:
        start.wait()  # all at once, so the two workers race for the same credits
        return fresh.post(TASK, json={"prompt": "x"}, headers=headers)

    answers = fresh.many(64, submit)
    assert Counter(a.status_code for a in answers) == {200: 10, 402: 54}
    assert fresh.get("/account/user/wallet/", headers=headers).json() == {"balance": "0.00"}


def test_a_crash_of_the_emulator_and_redis_mid_job_loses_nothing(tmp_path: Path) -> None:
    """SIGKILL to both (AOF on, fsync always): a new `serve` on the restarted Redis has the
    task, the balance and the clock offset as they were, and the task completes."""
    with redis_server(tmp_path, appendonly=True) as server:
        store = f"{server.url}?prefix=crash"
        # realistic: 40-90 s an image, so 10 s in the task is still under way.
        args = ("--store", store, "--clock", "virtual", "--seed", "5", "--profile", "realistic")
        served: Served = start_serve(*args)
        wallet = {"provider": "vibedream", "key": KEY}
        try:
            with Fresh(served.base_url) as fresh:
                task = fresh.post(TASK, json={"prompt": "a harbour"}, headers=AUTH)
                assert task.status_code == 200, task.text
                task_id = task.json()["task_id"]
                advance = fresh.post("/_emulator/clock/advance", json={"seconds": 10})
                assert advance.status_code == 200
                before = fresh.get(task_status(task_id), headers=AUTH).json()
                assert before["status"] in ("PENDING", "IN_PROGRESS")
                balance = fresh.post("/_emulator/wallets", json={**wallet, "balance": "77.50"})
                assert balance.status_code == 200
            kill(served)  # a crash: nothing of it gets to run on its way out
            served.process.wait(timeout=10)
        finally:
            end_serve(served)
        server.kill()
        server.start()

        with serving(*args) as again, Fresh(again.base_url) as fresh:
            assert fresh.get("/_emulator/clock").json()["offset"] == 10
            assert fresh.post("/_emulator/wallets", json=wallet).json()["balance"] == "77.50"
            still = fresh.get(task_status(task_id), headers=AUTH)
            assert still.status_code == 200 and still.json()["status"] == before["status"]
            assert fresh.post("/_emulator/clock/advance", json={"seconds": 600}).status_code == 200
            done = fresh.get(task_status(task_id), headers=AUTH).json()
            assert done["status"] == "FINISHED", done
            for result in done["results"]:
                for url in (result["asset"], result["thumbnail"]):
                    download = fresh.get(url)
                    assert download.status_code == 200 and download.content, url
