"""The provider-agnostic core: clock, jobs, durations, configuration, size tables, data URIs,
key policy."""

from __future__ import annotations

import base64
import random
import time
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulator.config import Config, ConfigError
from emulator.core import sizes
from emulator.core.auth import KeyPolicy, fingerprint
from emulator.core.clock import RealClock, VirtualClock
from emulator.core.datauri import InvalidDataUri, decode_base64, parse_data_uri
from emulator.core.durations import Duration
from emulator.core.jobs import Job, JobStatus
from emulator.core.randomness import SeededRandom


def test_virtual_clock_stands_still_until_advanced() -> None:
    clock = VirtualClock(start=1000.0)
    assert clock.now() == 1000.0
    time.sleep(0.01)
    assert clock.now() == 1000.0
    clock.advance(90)
    assert clock.now() == 1090.0
    clock.reset()
    assert clock.now() == 1000.0


def test_real_clock_is_wall_time_plus_the_advanced_offset() -> None:
    clock = RealClock()
    assert abs(clock.now() - time.time()) < 1
    clock.advance(3600)
    assert abs(clock.now() - time.time() - 3600) < 1


def job(**overrides: object) -> Job:
    settings = dict(
        id="j",
        provider="p",
        model="m",
        owner="o",
        created_at=100.0,
        queue_seconds=10.0,
        run_seconds=40.0,
        params={},
    )
    settings.update(overrides)
    return Job(**settings)  # type: ignore[arg-type]


def test_job_state_is_a_pure_function_of_time() -> None:
    subject = job()
    assert subject.state_at(105).status is JobStatus.QUEUED
    assert subject.state_at(105).progress == 0
    running = subject.state_at(130)
    assert (running.status, running.progress, running.finished_at) == (
        JobStatus.RUNNING,
        50.0,
        None,
    )
    done = subject.state_at(150)
    assert (done.status, done.progress, done.finished_at) == (JobStatus.SUCCEEDED, 100.0, 150.0)
    assert subject.state_at(10_000) == done
    assert subject.state_at(130) == running  # asking again changes nothing


def test_a_job_runs_from_exactly_its_start_instant() -> None:
    subject = job()  # created at 100, queued 10 s
    assert subject.state_at(109.999).status is JobStatus.QUEUED
    assert subject.state_at(110) == (JobStatus.RUNNING, 0.0, None)


def test_a_job_with_a_failure_ends_failed() -> None:
    state = job(failure="flagged").state_at(1000)
    assert state.status is JobStatus.FAILED and state.done


def test_a_zero_length_job_is_done_at_once() -> None:
    assert job(queue_seconds=0, run_seconds=0).state_at(100).status is JobStatus.SUCCEEDED


def test_progress_never_reads_100_before_completion() -> None:
    assert job().state_at(149.9999).progress == 99.0  # capped at 99 while running (issue 23)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(2, Duration(2, 2)), (0.5, Duration(0.5, 0.5)), ([10, 30], Duration(10, 30))],
)
def test_duration_parses_fixed_and_uniform(value: object, expected: Duration) -> None:
    assert Duration.parse(value) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, -1, [30, 10], [1], [1, 2, 3], "5", [1, "2"]])
def test_duration_refuses_nonsense(value: object) -> None:
    with pytest.raises(ValueError):
        Duration.parse(value)  # type: ignore[arg-type]


def test_duration_draws_within_bounds_and_replays_with_the_seed() -> None:
    first = [Duration(10, 30).draw(SeededRandom(5)) for _ in range(3)]
    assert all(10 <= d <= 30 for d in first)
    assert first == [Duration(10, 30).draw(SeededRandom(5)) for _ in range(3)]


def test_seeded_random_replays_ids_after_reset() -> None:
    rng = SeededRandom(3)
    ids = [rng.uuid4() for _ in range(3)]
    rng.reset()
    assert ids == [rng.uuid4() for _ in range(3)]


@given(st.integers(min_value=0, max_value=2**63))
def test_seeded_uuid4_is_the_standard_version_4_uuid_of_the_same_draw(seed: int) -> None:
    reference = uuid.UUID(int=random.Random(seed).getrandbits(128), version=4)
    assert SeededRandom(seed).uuid4() == str(reference)


def test_a_model_setting_overrides_the_provider_setting() -> None:
    config = Config.from_mapping(
        {
            "providers": {
                "vibedream": {
                    "job_duration": [1, 2],
                    "models": {"z-image-turbo": {"job_duration": 5}},
                }
            }
        }
    )
    assert config.job_duration("vibedream", "z-image-turbo") == Duration(5, 5)
    assert config.job_duration("vibedream", "nano-banana-pro-edit") == Duration(1, 2)
    assert config.job_duration("3daistudio", "x") == Duration(0, 0)  # the instant profile


def test_key_table_combines_global_and_provider_keys() -> None:
    config = Config.from_mapping(
        {"auth": {"keys": ["a"]}, "providers": {"vibedream": {"api_keys": ["b"]}}}
    )
    policy = KeyPolicy(config.key_table())
    assert policy.accepts("vibedream", "b") and not policy.accepts("vibedream", "a")
    assert policy.accepts("3daistudio", "a") and not policy.accepts("3daistudio", "b")


def test_default_key_policy_accepts_any_non_empty_key() -> None:
    policy = KeyPolicy()
    assert policy.accepts("vibedream", "anything")
    assert not policy.accepts("vibedream", "") and not policy.accepts("vibedream", None)
    assert policy.describe("vibedream") == "any non-empty key"


def test_fingerprint_is_short_stable_and_not_the_key() -> None:
    assert fingerprint("secret-key") == fingerprint("secret-key")
    assert "secret" not in fingerprint("secret-key") and len(fingerprint("secret-key")) == 12


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"clock": "sundial"}, "clock"),
        ({"seed": "x"}, "seed"),
        ({"providers": {"vibedream": {"job_duration": [3, 1]}}}, "job_duration"),
        ({"providers": {"vibedream": {"models": {"m": {"bogus": 1}}}}}, "bogus"),
    ],
)
def test_config_errors_name_the_setting(data: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Config.from_mapping(data)


@pytest.mark.parametrize(
    ("width", "height", "ratio"),
    [
        (1000, 1000, "1:1"),
        (1920, 1080, "16:9"),
        (1080, 1920, "9:16"),
        (3000, 2000, "3:2"),
        (2560, 1080, "21:9"),
        (1000, 800, "5:4"),
        (800, 1000, "4:5"),
        (5000, 100, "21:9"),
    ],
)
def test_nearest_ratio(width: int, height: int, ratio: str) -> None:
    assert sizes.nearest_ratio("gemini-3-pro-image", width, height) == ratio


def test_every_table_cell_has_its_ratio() -> None:
    for ratio in sizes.ratios("gemini-3-pro-image"):
        for resolution in sizes.resolutions("gemini-3-pro-image"):
            width, height = sizes.dimensions("gemini-3-pro-image", ratio, resolution)
            assert sizes.nearest_ratio("gemini-3-pro-image", width, height) == ratio


def test_data_uris_decode_standard_and_url_safe_base64() -> None:
    payload = bytes(range(256))
    standard = base64.b64encode(payload).decode()
    url_safe = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    assert parse_data_uri(f"data:image/png;base64,{standard}") == ("image/png", payload)
    assert parse_data_uri(f"data:IMAGE/PNG;base64,{url_safe}") == ("image/png", payload)
    assert decode_base64(standard[:40] + "\n" + standard[40:]) == payload


@pytest.mark.parametrize("uri", ["data:image/png;base64", "data:image/png;base64,@@@@", "nope"])
def test_malformed_data_uris_are_refused(uri: str) -> None:
    with pytest.raises(InvalidDataUri):
        parse_data_uri(uri)
