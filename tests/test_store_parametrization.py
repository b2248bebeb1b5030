"""The machinery that runs chosen suites on both stores (tests/conftest.py: SHARED_STATE_SUITES,
the `store` fixture, pytest_generate_tests), checked on small test files through pytester: a
listed module's tests that use the app get [memory] and [redis] and really run on each; the
others, and unlisted modules, run once on memory."""

from __future__ import annotations

import pytest

import tests.conftest as shared

pytest_plugins = ["pytester"]

# The inner run takes this project's conftest whole (fixtures and hooks); the modules it
# finds already imported cannot be assertion-rewritten, which pytest says, and is let through.
INI = """
[pytest]
addopts = -p no:cacheprovider -p no:hypothesispytest
filterwarnings =
    error
    ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning
"""
CONFTEST = "from tests.conftest import *  # noqa: F403\n"
HEALTH = """
def backend(client):
    return client.get("/_emulator/health").json()["backend"]["store"]
"""
LISTED = (
    HEALTH
    + """
import pytest
from tests.conftest import emulator_config


def test_client(client, store):
    assert store in ("memory", "redis")
    described = backend(client)
    assert described == "memory" if store == "memory" else described.startswith("redis://")


def test_open_client_opens_workers_of_one_emulator(open_client, store):
    first, second = open_client(emulator_config()), open_client(emulator_config())
    first.post("/_emulator/clock/advance", json={"seconds": 7})
    # On memory two apps are two emulators; on Redis (one prefix) they share the clock.
    assert second.get("/_emulator/clock").json()["offset"] == (7 if store == "redis" else 0)


def test_live_server(live_server, store):
    assert live_server.base_url.startswith("http://127.0.0.1:")


def test_without_the_app(store):
    assert store == "memory"


@pytest.mark.parametrize("store", ["memory"], indirect=True)
def test_that_chose_its_store(client, store):
    assert backend(client) == "memory"
"""
)
UNLISTED = (
    HEALTH
    + """
def test_client(client, store):
    assert store == "memory" and backend(client) == "memory"
"""
)


@pytest.fixture
def tester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_listed=LISTED, test_unlisted=UNLISTED)
    # Read by pytest_generate_tests when the inner run collects; restored after this test.
    monkeypatch.setattr(shared, "SHARED_STATE_SUITES", ("test_listed",))
    return pytester


def test_a_listed_module_runs_its_app_tests_on_both_stores(
    tester: pytest.Pytester, redis_server_session: object
) -> None:
    # redis_server_session: skipped (or failed in CI) here when redis-server is missing,
    # rather than the inner run's Redis tests erroring.
    result = tester.runpytest("-v")
    result.assert_outcomes(passed=9)
    ran = {
        line.split(" ")[0]
        for line in result.outlines
        if line.startswith("test_") and " PASSED" in line
    }
    assert ran == {
        "test_listed.py::test_client[memory]",
        "test_listed.py::test_client[redis]",
        "test_listed.py::test_open_client_opens_workers_of_one_emulator[memory]",
        "test_listed.py::test_open_client_opens_workers_of_one_emulator[redis]",
        "test_listed.py::test_live_server[memory]",
        "test_listed.py::test_live_server[redis]",
        "test_listed.py::test_without_the_app",
        "test_listed.py::test_that_chose_its_store[memory]",
        "test_unlisted.py::test_client",
    }


def test_with_the_tuple_empty_nothing_is_parametrized(
    tester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared, "SHARED_STATE_SUITES", ())
    result = tester.runpytest("--collect-only", "-q")
    collected = [line for line in result.outlines if "::" in line]
    assert len(collected) == 6
    assert not [line for line in collected if "[redis]" in line]
