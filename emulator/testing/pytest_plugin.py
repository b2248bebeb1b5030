"""The pytest plugin (entry point ``pytest11``: ``imagegen_emulator``), active wherever the
package is installed.

Fixtures:

- ``imagegen_emulator``: a fresh emulator for each test, in-process (no socket);
- ``imagegen_server``: the same helper over a real uvicorn server on 127.0.0.1 and an ephemeral
  port, shared by the tests of a session (of an xdist worker) and reset before each one;
- ``imagegen_intercept``: the in-process helper, with requests to the providers' real hosts
  (httpx, httpx2, requests) answered by it and any other host refused (interception.py);
  ``@pytest.mark.imagegen(allow_hosts=[...], gateway_url=...)`` lets hosts through and names
  the gateway.

Both are an ImagegenEmulator (handle.py). Choose the profile and seed with
``@pytest.mark.imagegen(profile=..., seed=..., config={...})`` or ``--imagegen-profile`` and
``--imagegen-seed`` (settings.py has the precedence); replay recordings with
``@pytest.mark.imagegen(replay="recordings/", replay_strict=True)``. ``strict=True`` (or
``--imagegen-strict``) fails a test at teardown when a queued fault or scenario step went
unused, or a request met an unknown endpoint or model.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from emulator.app import create_app
from emulator.testing.backends import InProcess, OverHttp
from emulator.testing.handle import ImagegenEmulator
from emulator.testing.interception import InterceptError, Interceptor
from emulator.testing.server import ServerPool
from emulator.testing.settings import (
    DEFAULT_PROFILE,
    DEFAULT_SEED,
    EmulatorSettings,
    SettingsError,
    closest,
    resolve,
    resolve_strict,
)

MARKER = "imagegen"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("imagegen-emulator", "imagegen-emulator fixtures")
    group.addoption(
        "--imagegen-profile",
        metavar="NAME",
        help=f"profile of the imagegen_emulator and imagegen_server fixtures: instant"
        f" (default: {DEFAULT_PROFILE}), dev, realistic, chaos",
    )
    group.addoption(
        "--imagegen-seed",
        type=int,
        metavar="N",
        help=f"seed of the imagegen fixtures' random choices (default: {DEFAULT_SEED})",
    )
    group.addoption(
        "--imagegen-strict",
        action="store_true",
        default=False,
        help="fail a test at teardown when a queued fault or scenario step went unused or a"
        " request met an unknown endpoint or model (the imagegen marker's strict= wins)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(profile=None, seed=None, config=None, replay=None, replay_strict=None,"
        " strict=None, allow_hosts=None, gateway_url=None):"
        " the imagegen_emulator and imagegen_server fixtures' profile, seed and config (a"
        " mapping in the config file's shape) for these tests; replay: recordings (a folder"
        " of HAR files) to answer matching requests from, replay_strict: refuse the others;"
        " strict: fail at teardown on unused faults and unexpected requests; allow_hosts,"
        " gateway_url: the imagegen_intercept fixture's hosts let through and gateway URL",
    )


def pytest_report_header(config: pytest.Config) -> str:
    defaults = _resolve(config, [])
    return f"imagegen-emulator: profile {defaults.profile}, seed {defaults.seed}"


def _resolve(config: pytest.Config, markers: list[pytest.Mark]) -> EmulatorSettings:
    return resolve(
        config.getoption("imagegen_profile"),
        config.getoption("imagegen_seed"),
        [(mark.args, mark.kwargs) for mark in markers],
    )


def _settings(request: pytest.FixtureRequest) -> EmulatorSettings:
    try:
        settings = _resolve(request.config, list(request.node.iter_markers(MARKER)))
        settings.build()  # a bad profile or config is refused here, in one line
    except SettingsError as exc:
        problem = str(exc)
    else:
        return settings
    # Outside the except block: the test's error is this one line, with no chained exception.
    pytest.fail(f"imagegen emulator: {problem}", pytrace=False)


@pytest.fixture
def imagegen_emulator(request: pytest.FixtureRequest) -> Iterator[ImagegenEmulator]:
    """A fresh emulator for this test, in-process: virtual clock, profile instant, seed 0
    unless the imagegen marker or the --imagegen-* options say otherwise."""
    settings = _settings(request)
    with ImagegenEmulator(InProcess(create_app(settings.build())), settings) as emulator:
        yield emulator
        _check_strict(request, emulator, since_seq=0)


@pytest.fixture
def imagegen_intercept(request: pytest.FixtureRequest) -> Iterator[ImagegenEmulator]:
    """As imagegen_emulator, and while the test runs, requests from httpx, httpx2 and requests
    to the providers' real hosts are answered by this emulator; other hosts are refused unless
    the imagegen marker's ``allow_hosts`` lists them."""
    settings = _settings(request)
    markers = _markers(request)
    try:
        interceptor = Interceptor(
            settings,
            allow_hosts=closest(markers, "allow_hosts", ()),
            gateway_url=closest(markers, "gateway_url", None),
        )
        emulator = interceptor.start()
    except InterceptError as exc:
        problem = str(exc)
    else:
        try:
            yield emulator
            refused = [f"refused: {line}" for line in interceptor.refused]
            _check_strict(request, emulator, since_seq=0, more=refused)
        finally:
            interceptor.stop()
        return
    pytest.fail(f"imagegen emulator: {problem}", pytrace=False)


@pytest.fixture(scope="session")
def imagegen_server_pool() -> Iterator[ServerPool]:
    """The session's uvicorn servers (one per seed and clock asked for), stopped at its end."""
    pool = ServerPool()
    yield pool
    pool.close()


@pytest.fixture
def imagegen_server(
    request: pytest.FixtureRequest, imagegen_server_pool: ServerPool
) -> Iterator[ImagegenEmulator]:
    """The emulator on a real server (``base_url`` is http://127.0.0.1:PORT), reset to this
    test's settings before it runs."""
    settings = _settings(request)
    server = imagegen_server_pool.get(settings)
    with ImagegenEmulator(OverHttp(server.base_url), settings) as emulator:
        emulator.reset()
        # The reset emptied the journal; the seq still guards against another user's leftovers.
        since_seq = emulator.last_seq() if _strict(request) else 0
        yield emulator
        _check_strict(request, emulator, since_seq)


def _markers(request: pytest.FixtureRequest) -> list[tuple[tuple[object, ...], dict]]:
    return [(mark.args, mark.kwargs) for mark in request.node.iter_markers(MARKER)]


def _strict(request: pytest.FixtureRequest) -> bool:
    return resolve_strict(bool(request.config.getoption("imagegen_strict")), _markers(request))


def _check_strict(
    request: pytest.FixtureRequest,
    emulator: ImagegenEmulator,
    since_seq: int,
    more: list[str] | None = None,
) -> None:
    """At teardown, when strict: one failure listing every unused step and unexpected
    request of this test (a reset at the next test's start forgets them), and ``more``
    (imagegen_intercept's refused requests)."""
    if not _strict(request):
        return
    problems = [*emulator.unmet_expectations(since_seq), *(more or [])]
    if problems:
        listing = "\n".join(f"  {line}" for line in problems)
        pytest.fail(f"imagegen emulator (strict):\n{listing}", pytrace=False)
