"""The store is bounded: finished jobs go after their retention, the oldest go beyond
`max_jobs`, and a job's files go with it; providers answer for a dropped job as for an unknown
one (404, never a 500)."""

from __future__ import annotations

import pytest

from emulator import create_app
from emulator.config import Config, ConfigError
from emulator.core.assets import Asset, new_asset_id
from emulator.core.clock import VirtualClock
from emulator.core.jobs import Job
from emulator.core.recipes import Recipe
from emulator.core.store import MemoryStore
from tests.conftest import AUTH, contract_client, emulator_config

EPOCH = 1_700_000_000.0


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


def asset_for(store: MemoryStore, owner: Job) -> Asset:
    asset = Asset(
        id=new_asset_id(), filename="a.png", recipe=Recipe("tests.none", {}), available_at=0.0
    )
    store.put_asset(asset, owner)
    return asset


def test_beyond_max_jobs_the_oldest_go_first_with_their_files() -> None:
    store = MemoryStore(VirtualClock(EPOCH), max_jobs=3)
    made = [job(n, EPOCH) for n in range(5)]
    files = []
    for each in made:
        files.append(asset_for(store, each))
        store.put_job(each)
    assert [store.get_job(j.id) is not None for j in made] == [False, False, True, True, True]
    assert [store.get_asset(a.id) is not None for a in files] == [False, False, True, True, True]
    assert store.counts() == {"jobs": 3, "assets": 3}


def test_a_finished_job_goes_once_its_retention_has_passed_on_the_clock() -> None:
    clock = VirtualClock(EPOCH)
    store = MemoryStore(clock, max_jobs=100, job_retention=60)
    first = job(1, EPOCH, seconds=10)  # finishes at +10, kept until +70
    store.put_job(first)
    clock.advance(69)
    store.put_job(job(2, clock.now()))
    assert store.get_job(first.id) is first
    clock.advance(1)
    store.put_job(job(3, clock.now()))
    assert store.get_job(first.id) is None
    assert store.counts()["jobs"] == 2


def test_an_unfinished_job_is_kept_whatever_its_age_within_the_count() -> None:
    clock = VirtualClock(EPOCH)
    store = MemoryStore(clock, max_jobs=100, job_retention=1)
    slow = job(1, EPOCH, seconds=1000)
    store.put_job(slow)
    clock.advance(500)
    store.put_job(job(2, clock.now()))
    assert store.get_job(slow.id) is slow


def test_the_limits_come_from_the_config_and_change_with_it() -> None:
    app = create_app(emulator_config(max_jobs=2, job_retention=30))
    store = app.state.runtime.store
    assert (store.max_jobs, store.job_retention) == (2, 30)
    with contract_client(app) as client:
        config = client.get("/_emulator/config").json()["config"]
        assert (config["max_jobs"], config["job_retention"]) == (2, 30)
        config["max_jobs"] = 5
        client.put("/_emulator/config", json=config).raise_for_status()
    assert store.max_jobs == 5


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
def test_a_dropped_job_and_its_files_answer_404(submit: str, body: dict, poll: str) -> None:
    with contract_client(create_app(emulator_config(max_jobs=1))) as client:
        first = client.post(submit, json=body, headers=AUTH).json()
        first_id = first.get("id") or first["task_id"]
        client.post("/_emulator/clock/advance", json={"seconds": 600})
        done = client.get(poll.format(id=first_id), headers=AUTH).json()
        urls = done.get("outputs") or [r["asset_url"] for r in done["results"]]
        assert client.get(urls[0]).status_code == 200
        client.post(submit, json=body, headers=AUTH).raise_for_status()  # drops the first
        assert client.get(poll.format(id=first_id), headers=AUTH).status_code == 404
        assert client.get(urls[0]).status_code == 404
