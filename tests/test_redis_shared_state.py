"""One state for several workers: two apps on one Redis store (each as a worker would be),
against a real redis-server (tests/redis_fixture.py). The suites parametrized over both stores
(conftest's SHARED_STATE_SUITES) check that Redis behaves as memory; these check what sharing
adds: whichever worker answers, the state is one."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
import redis
from starlette.testclient import TestClient

from emulator import create_app
from tests.conftest import AUTH, contract_client, emulator_config

SUBMIT = "/api/v1/models/z-image-turbo/generate"
TASK = "/v1/images/gemini/3/pro/generate/"

Workers = Callable[..., list[TestClient]]


@pytest.fixture
def workers(redis_url: str) -> Iterator[Workers]:
    """Opens `count` apps on the test's Redis store (same prefix): workers of one emulator."""
    opened: list[TestClient] = []

    def open_workers(count: int = 2, **overrides: object) -> list[TestClient]:
        for _ in range(count):
            client = contract_client(create_app(emulator_config(store=redis_url, **overrides)))
            client.__enter__()
            opened.append(client)
        return opened[-count:]

    yield open_workers
    for client in opened:
        client.__exit__(None, None, None)


def test_a_job_made_on_one_worker_is_polled_finished_and_downloaded_on_another(
    workers: Workers,
) -> None:
    a, b = workers()
    job = a.post(SUBMIT, json={"prompt": "a lighthouse"}, headers=AUTH).json()
    assert b.get(f"/api/v1/predictions/{job['id']}", headers=AUTH).json()["status"] == "processing"
    assert b.post("/_emulator/clock/advance", json={"seconds": 30}).status_code == 200
    done = a.get(f"/api/v1/predictions/{job['id']}", headers=AUTH).json()
    assert done["status"] == "completed"
    path = done["outputs"][0].removeprefix("http://testserver")
    first, second = a.get(path), b.get(path)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.headers["etag"] == second.headers["etag"]
    assert b.get(path, headers={"If-None-Match": first.headers["etag"]}).status_code == 304


def test_an_advance_on_one_worker_is_seen_by_the_other_at_once(workers: Workers) -> None:
    a, b = workers()
    before = a.get("/_emulator/clock").json()["epoch"]
    moved = b.post("/_emulator/clock/advance", json={"seconds": 3600}).json()
    assert moved["epoch"] == before + 3600
    assert a.get("/_emulator/clock").json()["offset"] == 3600


def test_a_queued_fault_is_used_once_whichever_worker_answers(workers: Workers) -> None:
    a, b = workers()
    queued = a.post("/_emulator/faults", json={"provider": "vibedream", "error": "503"})
    assert queued.status_code == 200, queued.text
    statuses = [
        client.post(SUBMIT, json={"prompt": "x"}, headers=AUTH).status_code
        for client in (b, a, b, a)
    ]
    assert sorted(statuses) == [200, 200, 200, 503]
    assert a.get("/_emulator/faults").json()["pending"] == {}


def test_a_balance_set_on_one_worker_pays_on_the_other(workers: Workers) -> None:
    a, b = workers()
    set_balance = a.post(
        "/_emulator/wallets", json={"provider": "3daistudio", "key": "test-key", "balance": "60"}
    )
    assert set_balance.status_code == 200, set_balance.text
    assert b.post(TASK, json={"prompt": "x"}, headers=AUTH).status_code == 200
    refused = a.post(TASK, json={"prompt": "x"}, headers=AUTH)
    assert refused.status_code == 402
    assert b.get("/account/user/wallet/", headers=AUTH).json() == {"balance": "10.00"}


def test_a_reset_on_one_worker_empties_the_other(workers: Workers) -> None:
    a, b = workers()
    job = a.post(SUBMIT, json={"prompt": "x"}, headers=AUTH).json()
    a.post("/_emulator/clock/advance", json={"seconds": 10})
    assert b.post("/_emulator/reset").status_code == 200
    assert a.get(f"/api/v1/predictions/{job['id']}", headers=AUTH).status_code == 404
    assert a.get("/_emulator/clock").json()["offset"] == 0
    assert a.get("/_emulator/health").json()["store"] == {"jobs": 0, "assets": 0}


def test_a_config_put_on_one_worker_is_in_force_on_the_other(workers: Workers) -> None:
    a, b = workers()
    config = a.get("/_emulator/config").json()["config"]
    config["providers"] = {"vibedream": {"wallet_balance": 5}}
    assert a.put("/_emulator/config", json=config).status_code == 200
    assert b.get("/_emulator/config").json()["config"]["providers"] == config["providers"]
    for _ in range(5):
        assert b.post(SUBMIT, json={"prompt": "x"}, headers=AUTH).status_code == 200
    assert a.post(SUBMIT, json={"prompt": "x"}, headers=AUTH).status_code == 402


def test_a_worker_started_with_the_same_config_keeps_the_changes_made_at_run_time(
    workers: Workers,
) -> None:
    (a,) = workers(1)
    config = a.get("/_emulator/config").json()["config"]
    config["max_jobs"] = 77
    a.put("/_emulator/config", json=config)
    (restarted,) = workers(1)
    assert restarted.get("/_emulator/config").json()["config"]["max_jobs"] == 77
    (changed,) = workers(1, max_jobs=5)  # a new start-up config: it is put in force for all
    assert a.get("/_emulator/config").json()["config"]["max_jobs"] == 5
    assert changed.get("/_emulator/config").json()["config"]["max_jobs"] == 5


def test_64_concurrent_submits_on_two_workers_against_a_wallet_for_10(workers: Workers) -> None:
    """The charge is atomic across workers: exactly 10 accepted, 54 refused, balance exact."""
    clients = workers(2)
    clients[0].post(
        "/_emulator/wallets", json={"provider": "3daistudio", "key": "test-key", "balance": "500"}
    )
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def submit_four(client: TestClient) -> None:
        start.wait()
        for _ in range(4):
            status = client.post(TASK, json={"prompt": "x"}, headers=AUTH).status_code
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=submit_four, args=(clients[i % 2],)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(statuses) == {200: 10, 402: 54}
    assert clients[1].get("/account/user/wallet/", headers=AUTH).json() == {"balance": "0.00"}
    assert clients[0].get("/_emulator/health").json()["store"]["jobs"] == 10


def test_a_rate_limit_is_one_bucket_across_workers_with_a_true_retry_after(
    workers: Workers,
) -> None:
    limit = {"rate_limit": {"requests": 3, "per_seconds": 60}}
    a, b = workers(2, defaults=limit)
    answers = [c.post(TASK, json={"prompt": "x"}, headers=AUTH) for c in (a, b, a, b)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert answers[3].headers["retry-after"] == "20"
    a.post("/_emulator/clock/advance", json={"seconds": 20})
    assert b.post(TASK, json={"prompt": "x"}, headers=AUTH).status_code == 200


def test_a_fault_that_refuses_a_request_does_not_spend_its_rate_limit_token(
    workers: Workers,
) -> None:
    limit = {"rate_limit": {"requests": 1, "per_seconds": 60}}
    a, b = workers(2, defaults=limit)
    refused = a.post(TASK, json={"prompt": "x"}, headers={**AUTH, "X-Emulator-Fault": "500"})
    assert refused.status_code == 500
    assert b.post(TASK, json={"prompt": "x"}, headers=AUTH).status_code == 200
    assert a.post(TASK, json={"prompt": "x"}, headers=AUTH).status_code == 429


def test_one_worker_on_redis_answers_as_the_memory_store_does(redis_url: str) -> None:
    """Same seed, same requests: the same answers and image bytes on either store."""

    def run(store: str) -> list[object]:
        with TestClient(create_app(emulator_config(store=store))) as client:
            seen: list[object] = []
            job = client.post(SUBMIT, json={"prompt": "a fox", "seed": -1}, headers=AUTH).json()
            task = client.post(TASK, json={"prompt": "a fox", "num_images": 2}, headers=AUTH)
            client.post("/_emulator/clock/advance", json={"seconds": 600})
            done = client.get(f"/api/v1/predictions/{job['id']}", headers=AUTH).json()
            status = client.get(
                f"/v1/generation-request/{task.json()['task_id']}/status/", headers=AUTH
            ).json()
            seen += [job, task.json(), {k: v for k, v in done.items() if k != "outputs"}]
            files = [r[k] for r in status["results"] for k in ("asset", "thumbnail")]
            urls = done["outputs"] + files
            seen += [client.get(url.removeprefix("http://testserver")).content for url in urls]
            seen.append(status["progress"])
            return seen

    assert run(redis_url) == run("memory")


def test_the_store_going_down_is_a_503_in_each_providers_shape_and_it_recovers(
    redis_server_session: object, tmp_path: object
) -> None:
    from emulator.testing.redis_server import redis_server

    with redis_server(tmp_path) as server:  # type: ignore[arg-type]
        client = TestClient(create_app(emulator_config(store=server.url)))
        job = client.post(SUBMIT, json={"prompt": "x"}, headers=AUTH).json()
        server.stop()
        down = [
            client.get(f"/api/v1/predictions/{job['id']}", headers=AUTH),
            client.post(TASK, json={"prompt": "x"}, headers=AUTH),
            client.post(
                "/v1beta/models/gemini-3-pro-image-preview:generateContent",
                json={"contents": [{"parts": [{"text": "x"}]}]},
                headers={"x-goog-api-key": "k"},
            ),
        ]
        assert [r.status_code for r in down] == [503, 503, 503]
        assert "Store unavailable" in down[0].json()["error"]
        assert down[1].json()["error"]["code"] == "service_unavailable"
        assert down[2].json()["error"]["status"] == "UNAVAILABLE"
        health = client.get("/_emulator/health")
        assert health.status_code == 503 and health.json()["backend"]["ready"] is False
        server.start()
        assert client.get("/_emulator/health").status_code == 200
        assert client.post(SUBMIT, json={"prompt": "x"}, headers=AUTH).status_code == 200


def test_redis_losing_its_scripts_is_not_an_error(workers: Workers, redis_url: str) -> None:
    (a,) = workers(1)
    job = a.post(SUBMIT, json={"prompt": "x"}, headers=AUTH).json()
    redis.Redis.from_url(redis_url.split("?")[0]).script_flush()
    assert a.get(f"/api/v1/predictions/{job['id']}", headers=AUTH).status_code == 200
    assert a.post(TASK, json={"prompt": "x"}, headers=AUTH).status_code == 200


def test_with_aof_a_crash_of_redis_and_a_restart_of_the_emulator_lose_nothing(
    redis_server_session: object, tmp_path: object
) -> None:
    """A job submitted before the crash completes after it; wallets, the clock offset and the
    files are as they were."""
    from emulator.testing.redis_server import redis_server

    with redis_server(tmp_path, appendonly=True) as server:  # type: ignore[arg-type]
        with TestClient(create_app(emulator_config(store=server.url))) as before:
            job = before.post(SUBMIT, json={"prompt": "before"}, headers=AUTH).json()
            task = before.post(TASK, json={"prompt": "before"}, headers=AUTH).json()
            before.post("/_emulator/clock/advance", json={"seconds": 5})
            wallets = before.get("/_emulator/wallets").json()
            early = before.get(f"/api/v1/predictions/{job['id']}", headers=AUTH).json()
            path = early["outputs"][0].removeprefix("http://testserver")
            picture = before.get(path).content
        server.kill()  # SIGKILL: no shutdown save, only the append-only file
        server.start()
        with TestClient(create_app(emulator_config(store=server.url))) as after:
            assert after.get("/_emulator/clock").json()["offset"] == 5
            assert after.get("/_emulator/wallets").json() == wallets
            status = f"/v1/generation-request/{task['task_id']}/status/"
            assert after.get(status, headers=AUTH).json()["status"] != "FINISHED"
            after.post("/_emulator/clock/advance", json={"seconds": 600})
            assert after.get(status, headers=AUTH).json()["status"] == "FINISHED"
            assert after.get(path).content == picture


def test_two_workers_with_one_seed_never_give_two_jobs_one_id(workers: Workers) -> None:
    """Both draw the same id first (same seed, same worker number, as two hosts would): the
    second gets another id instead of overwriting the first job."""
    a, b = workers()
    first = a.post(SUBMIT, json={"prompt": "first"}, headers=AUTH).json()
    second = b.post(SUBMIT, json={"prompt": "second"}, headers=AUTH).json()
    assert first["id"] != second["id"]
    a.post("/_emulator/clock/advance", json={"seconds": 30})
    for job in (first, second):
        done = b.get(f"/api/v1/predictions/{job['id']}", headers=AUTH).json()
        assert done["status"] == "completed"
    assert a.get("/_emulator/health").json()["store"]["jobs"] == 2


def test_a_worker_of_another_seed_or_clock_start_is_no_new_config(workers: Workers) -> None:
    """What each worker keeps from its own start (seed, clock, store...) is not compared: a
    restart that draws another random seed keeps the changes made at run time."""
    (a,) = workers(1, seed=1)
    config = a.get("/_emulator/config").json()["config"]
    config["max_jobs"] = 77
    a.put("/_emulator/config", json=config)
    (b,) = workers(1, seed=2)
    assert b.get("/_emulator/config").json()["config"]["max_jobs"] == 77
    assert b.get("/_emulator/health").json()["seed"] == 2
