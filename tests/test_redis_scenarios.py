"""Scenarios on Redis behave as the in-memory ones (the same assertions on both), and are one
set for every worker: a step is played once whichever worker's link takes it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest

from emulator.core.auth import fingerprint
from emulator.core.faults import Fault
from emulator.core.redis.link import RedisLink
from emulator.core.redis.scenarios import RedisScenarios
from emulator.core.scenarios import ScenarioError, Scenarios, Step

PROVIDERS = ("vibedream", "vertex")

# ---------------------------------------------------------------------- a real redis-server


@pytest.fixture
def namespace_url(redis_url: str) -> str:
    return redis_url  # the shared fixture's: a fresh prefix per test (tests/redis_fixture.py)


# ---------------------------------------------------------------------- both classes

AnyScenarios = Scenarios | RedisScenarios


@pytest.fixture(params=["memory", "redis"])
def make(request: pytest.FixtureRequest, namespace_url: str) -> Callable[[], AnyScenarios]:
    """A factory: the memory class, or a Redis one on this test's own namespace."""
    links: list[RedisLink] = []

    def build() -> AnyScenarios:
        if request.param == "memory":
            return Scenarios()
        link = RedisLink(namespace_url)
        links.append(link)
        return RedisScenarios(link)

    request.addfinalizer(lambda: [link.close() for link in links])
    return build


def submit(
    scenarios: AnyScenarios, key: str | None = None, model: str | None = "m1"
) -> Step | None:
    return scenarios.next_step("vibedream", "submit", model, key, True)


def test_nothing_pending_at_first(make: Callable[[], AnyScenarios]) -> None:
    scenarios = make()
    assert not scenarios.pending
    assert scenarios.list() == []
    assert scenarios.pending_per_provider() == {}
    assert submit(scenarios) is None


def test_steps_play_in_order_with_times_then_the_scenario_is_gone(
    make: Callable[[], AnyScenarios],
) -> None:
    scenarios = make()
    scenarios.load(
        [
            {
                "match": {"provider": "vibedream"},
                "steps": [{"fault": "429", "times": 2}, {"latency": 1.5}, {"fault": "500"}],
            }
        ],
        PROVIDERS,
        "",
    )
    assert scenarios.pending
    played = [submit(scenarios) for _ in range(5)]
    assert played == [
        Step(Fault("429")),
        Step(Fault("429")),
        Step(latency=1.5),
        Step(Fault.parse("500")),
        None,
    ]
    assert not scenarios.pending
    assert scenarios.list() == []


def test_the_first_matching_scenario_in_order_plays(make: Callable[[], AnyScenarios]) -> None:
    scenarios = make()
    scenarios.load(
        [
            {"name": "keyed", "match": {"key": "K"}, "steps": [{"fault": "401"}]},
            {"name": "model", "match": {"model": "m2"}, "steps": [{"fault": "503"}]},
            {
                "name": "route",
                "match": {"provider": "vibedream", "route": "status"},
                "steps": [{"fault": "504"}],
            },
            {"name": "any", "steps": [{"fault": "500", "times": 3}]},
        ],
        PROVIDERS,
        "scenarios",
    )
    assert submit(scenarios) == Step(Fault.parse("500"))  # no key, m1: only "any"
    assert submit(scenarios, model="m2") == Step(Fault.parse("503"))
    assert submit(scenarios, model=None) == Step(Fault.parse("500"))
    assert scenarios.next_step("vibedream", "status", None, None, False) == Step(Fault.parse("504"))
    assert submit(scenarios, key=fingerprint("K")) == Step(Fault.parse("401"))
    assert [view["name"] for view in scenarios.list()] == ["any"]
    assert scenarios.list()[0]["used"] == 2


def test_a_job_step_waits_for_a_request_that_starts_a_job(
    make: Callable[[], AnyScenarios],
) -> None:
    scenarios = make()
    scenarios.load(
        [
            {
                "match": {"provider": "vibedream"},
                "steps": [{"job": {"finish_after": 30, "outcome": "moderation"}}],
            },
            {"match": {"provider": "vibedream"}, "steps": [{"fault": "429"}]},
        ],
        PROVIDERS,
        "",
    )
    # A poll starts no job: the job step waits, the next scenario answers it.
    assert scenarios.next_step("vibedream", "status", None, None, False) == Step(Fault("429"))
    assert scenarios.next_step("vibedream", "status", None, None, False) is None
    step = submit(scenarios)
    assert step == Step(Fault("moderation"), finish_after=30.0)
    assert step is not None and step.needs_job and step.finish_at(100.0) == 130.0
    assert not scenarios.pending


def test_steps_and_faults_round_trip_exactly(make: Callable[[], AnyScenarios]) -> None:
    scenarios = make()
    scenarios.load(
        [
            {
                "match": {"provider": "vertex"},
                "steps": [
                    {"fault": "429; retry-after=7", "latency": 0.1 + 0.2},
                    {
                        "fault": "moderation; stage=output; category=no_image",
                        "job": {"finish_at": "2030-01-02T03:04:05.678901+00:00"},
                    },
                    {"job": {"finish_at": 1234567890.123456789}},
                ],
            }
        ],
        PROVIDERS,
        "",
    )
    got = [scenarios.next_step("vertex", "predict", None, None, True) for _ in range(3)]
    assert got[0] == Step(Fault("429", retry_after=7), latency=0.1 + 0.2)
    assert got[1] is not None and got[1].fault == Fault("moderation", 1, "output", "no_image")
    assert got[1].finish_at_time == 1893553445.678901
    assert got[2] == Step(finish_at_time=1234567890.123456789)


def test_views_ids_and_names(make: Callable[[], AnyScenarios]) -> None:
    scenarios = make()
    added = scenarios.load(
        [
            {"match": {"provider": "vibedream", "key": "K"}, "steps": [{"fault": "429"}]},
            {"name": "named", "steps": [{"latency": 2, "times": 2}]},
        ],
        PROVIDERS,
        "",
    )
    scenarios.queue("vertex", Fault("503", retry_after=3), 2)
    assert [s.id for s in added] == ["s1", "s2"]
    assert [s.name for s in added] == ["s1", "named"]
    views = scenarios.list()
    assert [v["id"] for v in views] == ["s1", "s2", "s3"]
    assert views[0]["match"]["provider"] == "vibedream"
    assert views[0]["match"]["key_fingerprint"] is not None
    assert views[1]["remaining"] == [{"latency": 2.0}, {"latency": 2.0}]
    assert views[2]["name"] == "2 x 503"
    assert views[2]["match"] == {
        "provider": "vertex",
        "route": None,
        "model": None,
        "key_fingerprint": None,
    }
    assert added[0].view() == views[0]
    assert scenarios.pending_per_provider() == {"vertex": ["503", "503"]}


def test_views_equal_the_memory_class_after_the_same_operations(namespace_url: str) -> None:
    link = RedisLink(namespace_url)
    try:
        both: list[AnyScenarios] = [Scenarios(), RedisScenarios(link)]
        for scenarios in both:
            scenarios.load(
                [
                    {
                        "match": {"provider": "vibedream"},
                        "steps": [{"fault": "429", "times": 3}, {"latency": 1}, {"fault": "500"}],
                    },
                    {"match": {"model": "m1"}, "steps": [{"fault": "503", "times": 2}]},
                ],
                PROVIDERS,
                "",
            )
            scenarios.queue("vertex", Fault("429"), 2)
            scenarios.queue("vibedream", Fault("500"), 1)
            submit(scenarios)
            scenarios.next_step("vertex", "predict", "m1", None, False)
        memory, shared = both
        assert shared.list() == memory.list()
        assert shared.pending_per_provider() == memory.pending_per_provider()
        for scenarios in both:
            scenarios.remove("s2")
        assert shared.list() == memory.list()
        for scenarios in both:
            scenarios.clear_provider_wide()
        assert shared.list() == memory.list() == []
        assert shared.pending == memory.pending is False
    finally:
        link.close()


def test_remove_clear_and_ids_start_over(make: Callable[[], AnyScenarios]) -> None:
    scenarios = make()
    scenarios.load([{"steps": [{"fault": "429"}]}] * 3, PROVIDERS, "")
    assert scenarios.remove("s2")
    assert not scenarios.remove("s2")
    assert not scenarios.remove("nope")
    assert [v["id"] for v in scenarios.list()] == ["s1", "s3"]
    scenarios.queue("vertex", Fault("429"), 1)
    assert [v["id"] for v in scenarios.list()] == ["s1", "s3", "s4"]
    scenarios.clear_provider_wide()  # "steps only" matches everything, not a whole provider
    assert [v["id"] for v in scenarios.list()] == ["s1", "s3"]
    scenarios.clear()
    assert not scenarios.pending and scenarios.list() == []
    added = scenarios.load([{"steps": [{"fault": "429"}]}], PROVIDERS, "")
    assert added[0].id == "s1"


def test_a_bad_entry_adds_none(make: Callable[[], AnyScenarios]) -> None:
    scenarios = make()
    with pytest.raises(ScenarioError, match=r"scenarios\[1\]"):
        scenarios.load(
            [{"steps": [{"fault": "429"}]}, {"steps": [{"times": 0}]}], PROVIDERS, "scenarios"
        )
    assert scenarios.list() == [] and not scenarios.pending


def test_a_million_times_is_one_run(make: Callable[[], AnyScenarios]) -> None:
    scenarios = make()
    scenarios.load(
        [
            {
                "match": {"provider": "vertex"},
                "steps": [{"fault": "429", "times": 1_000_000}, {"fault": "500"}],
            }
        ],
        PROVIDERS,
        "",
    )
    assert scenarios.next_step("vertex", "predict", None, None, False) == Step(Fault("429"))
    if isinstance(scenarios, RedisScenarios):
        client = scenarios.link.client
        assert client.lrange(scenarios.link.key("scenario", "s1", "steps"), 0, -1) == [
            b'999999 0 {"fault":"429; retry-after=1"}',
            b'1 0 {"fault":"500; retry-after=1"}',
        ]
    view = scenarios.list()[0]
    assert view["used"] == 1 and len(view["remaining"]) == 1_000_000


# ---------------------------------------------------------------------- shared by workers


def test_a_step_played_on_one_worker_is_gone_on_the_other(namespace_url: str) -> None:
    one, two = RedisLink(namespace_url), RedisLink(namespace_url)
    try:
        first, second = RedisScenarios(one), RedisScenarios(two)
        first.load([{"steps": [{"fault": "429"}, {"fault": "500"}]}], PROVIDERS, "")
        assert second.pending
        assert second.next_step("vertex", "predict", None, None, True) == Step(Fault("429"))
        assert first.list()[0]["remaining"] == [{"fault": "500"}]
        assert first.list()[0]["used"] == 1
        second.queue("vertex", Fault("429"), 1)
        assert [v["id"] for v in first.list()] == ["s1", "s2"]  # one id counter for all
    finally:
        one.close()
        two.close()


def _request(link: RedisLink, work: Callable[[], Any]) -> Any:
    """One simulated request: a fresh request view, so the epoch is read again."""
    token = link.begin_request()
    try:
        return work()
    finally:
        link.end_request(token)


def test_pending_ends_on_the_other_worker_once_the_last_step_is_played(
    namespace_url: str,
) -> None:
    one, two = RedisLink(namespace_url), RedisLink(namespace_url)
    try:
        first, second = RedisScenarios(one), RedisScenarios(two)
        _request(one, lambda: first.queue("vertex", Fault("429"), 2))
        assert _request(two, lambda: second.pending)
        _request(one, lambda: first.next_step("vertex", "predict", None, None, False))
        assert _request(two, lambda: second.pending)

        def last_and_pending() -> tuple[Step | None, bool]:
            step = first.next_step("vertex", "predict", None, None, False)
            return step, first.pending  # this request's own view follows its write

        assert _request(one, last_and_pending) == (Step(Fault("429")), False)
        assert not _request(two, lambda: second.pending)
        assert one.client.hget(one.epoch_key, "scenarios") == b"0"
    finally:
        one.close()
        two.close()


def test_concurrent_workers_play_each_step_exactly_once(namespace_url: str) -> None:
    links = [RedisLink(namespace_url) for _ in range(4)]
    try:
        workers = [RedisScenarios(link) for link in links]
        # 100 distinct steps (latencies 0..99) so a step played twice would show.
        workers[0].load(
            [
                {
                    "match": {"provider": "vertex"},
                    "steps": [{"latency": float(i)} for i in range(100)],
                }
            ],
            PROVIDERS,
            "",
        )
        played: list[Step | None] = []
        lock = threading.Lock()
        start = threading.Barrier(8)

        def worker(index: int) -> None:
            scenarios = workers[index % 4]
            start.wait()
            for _ in range(25):
                step = _request(
                    scenarios.link,
                    lambda: scenarios.next_step("vertex", "predict", None, None, True),
                )
                with lock:
                    played.append(step)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        steps = [step for step in played if step is not None]
        assert len(played) == 200
        assert sorted(step.latency or 0.0 for step in steps) == [float(i) for i in range(100)]
        assert not _request(links[1], lambda: workers[1].pending)
        assert workers[2].list() == []
    finally:
        for link in links:
            link.close()


def test_a_reset_removes_every_scenario_key(namespace_url: str) -> None:
    link = RedisLink(namespace_url)
    try:
        scenarios = RedisScenarios(link)
        scenarios.load([{"steps": [{"fault": "429", "times": 5}]}], PROVIDERS, "")
        assert link.client.keys(f"{link.namespace}:scen*")
        link.run("reset", [])
        assert link.client.keys(f"{link.namespace}:scen*") == []
        assert not scenarios.pending and scenarios.list() == []
        assert scenarios.load([{"steps": [{"fault": "429"}]}], PROVIDERS, "")[0].id == "s1"
    finally:
        link.close()
