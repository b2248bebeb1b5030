"""The store is bounded: finished jobs go after their retention, the oldest go beyond
`max_jobs`, and a job's files go with it; providers answer for a dropped job as for an unknown
one (404, never a 500). Each test runs on the memory store and on Redis ([memory], [redis])."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from starlette.testclient import TestClient

from emulator.config import Config, ConfigError
from emulator.core.assets import Asset, new_asset_id
from emulator.core.clock import Clock, VirtualClock
from emulator.core.jobs import Job
from emulator.core.recipes import Recipe
from emulator.core.redis.clock import SharedClock
from emulator.core.redis.link import RedisLink
from emulator.core.redis.store import RedisStore
from emulator.core.store import DEFAULT_JOB_RETENTION, MemoryStore, Store
from tests.conftest import AUTH, STORES, emulator_config

EPOCH = 1_700_000_000.0

# (max_jobs, job_retention) -> a fresh store and the clock it reads.
OpenStore = Callable[[int, float], tuple[Store, Clock]]


@pytest.fixture(params=STORES)
def open_store(request: pytest.FixtureRequest) -> Iterator[OpenStore]:
    """Opens MemoryStore on a VirtualClock, or RedisStore on a virtual SharedClock (the test's
    own prefix): both start at EPOCH and move only when the test advances them."""
    links: list[RedisLink] = []

    def open_one(
        max_jobs: int, job_retention: float = DEFAULT_JOB_RETENTION
    ) -> tuple[Store, Clock]:
        if request.param == "memory":
            clock: Clock = VirtualClock(EPOCH)
            return MemoryStore(clock, max_jobs, job_retention), clock
        link = RedisLink(request.getfixturevalue("redis_url"))
        links.append(link)
        clock = SharedClock(link, "virtual", EPOCH)
        return RedisStore(link, clock, max_jobs, job_retention), clock

    yield open_one
    for link in links:
        link.close()


def job(number: int, created_at: float, seconds: float = 10.0) -> Job:
    return Job(
        id=f"job-{number}",
        provider="p",
        model="m",
        owner="o",
        created_at=created_at,
        queue_seconds=0.0,
        run_seconds=seconds,
        params={},
    )


def asset_for(store: Store, owner: Job) -> Asset:
    asset = Asset(
        id=new_asset_id(), filename="a.png", recipe=Recipe("tests.none", {}), available_at=0.0
    )
    store.put_asset(asset, owner)
    return asset


def test_beyond_max_jobs_the_oldest_go_first_with_their_files(open_store: OpenStore) -> None:
    store, _ = open_store(3, DEFAULT_JOB_RETENTION)
    made = [job(n, EPOCH) for n in range(5)]
    files = []
    for each in made:
        files.append(asset_for(store, each))
        store.put_job(each)
    assert [store.get_job(j.id) is not None for j in made] == [False, False, True, True, True]
    assert [store.get_asset(a.id) is not None for a in files] == [False, False, True, True, True]
    assert store.counts() == {"jobs": 3, "assets": 3}


def test_a_finished_job_goes_once_its_retention_has_passed_on_the_clock(
    open_store: OpenStore,
) -> None:
    store, clock = open_store(100, 60)
    first = job(1, EPOCH, seconds=10)  # finishes at +10, kept until +70
    store.put_job(first)
    clock.advance(69)
    store.put_job(job(2, clock.now()))
    assert store.get_job(first.id) == first  # ==: Redis gives back a copy, read from JSON
    clock.advance(1)
    store.put_job(job(3, clock.now()))
    assert store.get_job(first.id) is None
    assert store.counts()["jobs"] == 2


def test_an_unfinished_job_is_kept_whatever_its_age_within_the_count(
    open_store: OpenStore,
) -> None:
    store, clock = open_store(100, 1)
    slow = job(1, EPOCH, seconds=1000)
    store.put_job(slow)
    clock.advance(500)
    store.put_job(job(2, clock.now()))
    assert store.get_job(slow.id) == slow


def test_the_limits_come_from_the_config_and_change_with_it(
    open_client: Callable[[Config], TestClient],
) -> None:
    client = open_client(emulator_config(max_jobs=2, job_retention=30))
    job_store = client.app.state.runtime.store  # type: ignore[attr-defined]
    assert (job_store.max_jobs, job_store.job_retention) == (2, 30)
    config = client.get("/_emulator/config").json()["config"]
    assert (config["max_jobs"], config["job_retention"]) == (2, 30)
    config["max_jobs"] = 5
    client.put("/_emulator/config", json=config).raise_for_status()
    assert job_store.max_jobs == 5


@pytest.mark.parametrize(
    ("data", "where"),
    [({"max_jobs": 0}, "max_jobs"), ({"job_retention": 0}, "job_retention")],
)
def test_limits_out_of_range_are_refused(data: dict, where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        Config.from_mapping(data)


@pytest.mark.parametrize(
    ("submit", "body", "poll"),
    [
        (
            "/api/v1/models/z-image-turbo/generate",
            {"prompt": "a fox"},
            "/api/v1/predictions/{id}",
        ),
        (
            "/v1/images/gemini/3/pro/generate/",
            {"prompt": "a fox"},
            "/v1/generation-request/{id}/status/",
        ),
    ],
)
def test_a_dropped_job_and_its_files_answer_404(
    submit: str, body: dict, poll: str, open_client: Callable[[Config], TestClient]
) -> None:
    client = open_client(emulator_config(max_jobs=1))
    first = client.post(submit, json=body, headers=AUTH).json()
    first_id = first.get("id") or first["task_id"]
    client.post("/_emulator/clock/advance", json={"seconds": 600})
    done = client.get(poll.format(id=first_id), headers=AUTH).json()
    urls = done.get("outputs") or [r["asset_url"] for r in done["results"]]
    assert client.get(urls[0]).status_code == 200
    client.post(submit, json=body, headers=AUTH).raise_for_status()  # drops the first
    assert client.get(poll.format(id=first_id), headers=AUTH).status_code == 404
    assert client.get(urls[0]).status_code == 404
