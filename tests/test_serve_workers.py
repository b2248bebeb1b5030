"""`serve --store` and `serve --workers N`: which store is used, the refusals (one line, before
the port is bound), the password kept out of sight, the config the workers rebuild, and N real
worker processes on one port over a real redis-server."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from uvicorn.config import STARTUP_FAILURE

from emulator.app import create_app
from emulator.cli import main
from emulator.commands import serve
from emulator.commands.serve import (
    NO_REDIS,
    REDIS_URL_ENV,
    STORE_ENV,
    WORKER_CONFIG_ENV,
    config_for_workers,
    config_from_workers,
    file_store,
    resolve_store,
    worker_app,
)
from emulator.config import Config
from emulator.core.urls import safe_url
from emulator.core.workers import WORKER_ENV
from tests.serve_process import SERVE

SECRET = "s3cr3t-pass"
MEMORY_REFUSAL = (
    "imagegen-emulator: error: --workers 2 needs a shared store: with the memory store each"
    " worker would have its own jobs, wallets and clock (give --store redis://HOST:PORT/0)\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# A local session fixture until the shared one (tests/redis_fixture.py) is in this tree.
@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            *(server, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder)),
            *("--save", "", "--appendonly", "no"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def no_store_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv(STORE_ENV, raising=False)
    monkeypatch.delenv(REDIS_URL_ENV, raising=False)
    return monkeypatch


def serve_exit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run `serve` in this process, on a port that is busy: a refusal made before binding is
    the one reported, not the busy port."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(["serve", "--port", str(port), *args])
    out, err = capsys.readouterr()
    assert out == ""
    return code, err


# ---------------------------------------------------------------------- refusals


def test_the_memory_store_with_several_workers_is_refused_before_binding(
    capsys: pytest.CaptureFixture[str], no_store_env: pytest.MonkeyPatch
) -> None:
    assert serve_exit(capsys, "--workers", "2") == (2, MEMORY_REFUSAL)
    assert serve_exit(capsys, "--workers", "2", "--store", "memory") == (2, MEMORY_REFUSAL)


@pytest.mark.parametrize("workers", ["0", "-3"])
def test_fewer_than_one_worker_is_refused(
    capsys: pytest.CaptureFixture[str], no_store_env: pytest.MonkeyPatch, workers: str
) -> None:
    assert serve_exit(capsys, "--workers", workers) == (
        2,
        f"imagegen-emulator: error: --workers must be at least 1, got {workers}\n",
    )


def test_a_store_that_is_no_redis_url_is_refused_without_its_password(
    capsys: pytest.CaptureFixture[str], no_store_env: pytest.MonkeyPatch
) -> None:
    code, err = serve_exit(capsys, "--store", f"http://:{SECRET}@127.0.0.1:6379/0")
    assert code == 2
    assert err == (
        "imagegen-emulator: error: --store: the store is memory or a Redis URL (redis://,"
        " rediss:// or unix://), got 'http://:***@127.0.0.1:6379/0'\n"
    )


def test_a_redis_store_without_the_redis_package_is_one_line(
    capsys: pytest.CaptureFixture[str], no_store_env: pytest.MonkeyPatch
) -> None:
    no_store_env.setitem(sys.modules, "redis", None)  # `import redis` now fails
    assert serve_exit(capsys, "--store", "redis://127.0.0.1:6379/0") == (
        2,
        f"imagegen-emulator: error: {NO_REDIS}\n",
    )


def test_a_redis_store_nobody_answers_at_is_one_line_without_the_password(
    capsys: pytest.CaptureFixture[str], no_store_env: pytest.MonkeyPatch
) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    code, err = serve_exit(capsys, "--store", url, "--workers", "2")
    assert code == 2
    assert err.count("\n") == 1 and SECRET not in err
    assert "cannot reach Redis at redis://:***@127.0.0.1:" in err


def test_a_redis_url_redis_cannot_parse_is_one_line(
    capsys: pytest.CaptureFixture[str], no_store_env: pytest.MonkeyPatch
) -> None:
    code, err = serve_exit(capsys, "--store", f"redis://:{SECRET}@127.0.0.1:notaport/0")
    assert code == 2
    assert err.startswith("imagegen-emulator: error: store: ") and err.count("\n") == 1
    assert SECRET not in err


# ---------------------------------------------------------------------- which store


def test_store_precedence_option_then_file_then_our_env_then_redis_url() -> None:
    env = {STORE_ENV: "redis://ours/0", REDIS_URL_ENV: "redis://theirs/0"}
    assert resolve_store("redis://option/0", "memory", env) == ("redis://option/0", "--store")
    assert resolve_store(None, "memory", env) == ("memory", "config: store")
    assert resolve_store(None, None, env) == ("redis://ours/0", STORE_ENV)
    assert resolve_store(None, None, {REDIS_URL_ENV: "redis://theirs/0"}) == (
        "redis://theirs/0",
        REDIS_URL_ENV,
    )
    assert resolve_store(None, None, {STORE_ENV: "", REDIS_URL_ENV: ""}) == ("memory", "default")


def test_file_store_is_what_the_file_itself_says(tmp_path: Path) -> None:
    says = tmp_path / "says.toml"
    says.write_text('store = "memory"\n')
    silent = tmp_path / "silent.toml"
    silent.write_text("seed = 3\n")
    assert file_store(str(says)) == "memory"
    assert file_store(str(silent)) is None
    assert file_store(None) is None


def test_serve_applies_the_precedence(
    capsys: pytest.CaptureFixture[str], no_store_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    memory_file = tmp_path / "memory.toml"
    memory_file.write_text('store = "memory"\n')
    redis_file = tmp_path / "redis.toml"
    redis_file.write_text('store = "redis://127.0.0.1:6379/0"\n')
    no_store_env.setenv(REDIS_URL_ENV, "redis://127.0.0.1:6379/0")
    # The file's memory beats REDIS_URL; --store memory beats the file's Redis.
    args = ("--workers", "2")
    assert serve_exit(capsys, "--config", str(memory_file), *args) == (2, MEMORY_REFUSAL)
    assert serve_exit(capsys, "--config", str(redis_file), "--store", "memory", *args) == (
        2,
        MEMORY_REFUSAL,
    )
    # IMAGEGEN_EMULATOR_STORE beats REDIS_URL (the refusal names who said it).
    no_store_env.setenv(STORE_ENV, "bogus")
    code, err = serve_exit(capsys, *args)
    assert code == 2 and err.startswith(f"imagegen-emulator: error: {STORE_ENV}: the store is")


# ---------------------------------------------------------------------- the password


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"redis://:{SECRET}@h:6379/0", "redis://:***@h:6379/0"),
        (f"redis://user:{SECRET}@h/0?prefix=a", "redis://user:***@h/0?prefix=a"),
        (f"rediss://h:6379/0?password={SECRET}", "rediss://h:6379/0?password=***"),
        (f"redis://:{SECRET}@h:notaport/0", "redis://:***@h:notaport/0"),
        (f"redis://:{SECRET}@[::1/0", "redis://***"),
        ("redis://user@h:6379/0", "redis://user@h:6379/0"),
        ("memory", "memory"),
    ],
)
def test_safe_url_never_shows_the_password(url: str, shown: str) -> None:
    assert safe_url(url) == shown


def test_the_config_view_does_not_show_the_password(redis_url: str) -> None:
    url = redis_url.replace("redis://", f"redis://:{SECRET}@") + f"?prefix=t{uuid.uuid4().hex}"
    try:
        app = create_app(Config(store=url))
    except Exception as exc:  # a Redis that refuses AUTH without a password set
        pytest.skip(f"this redis-server does not accept a password it has not set: {exc}")
    with TestClient(app) as client:
        text = client.get("/_emulator/config").text
    assert SECRET not in text and "redis://:***@127.0.0.1:" in text
    assert SECRET not in serve.banner("http://127.0.0.1:1", app.state.runtime)
    app.state.runtime.backend.link.close()


# ---------------------------------------------------------------------- the workers' config


def every_field_set() -> Config:
    """A config whose every field differs from its default."""
    return Config(
        seed=11,
        clock="virtual",
        clock_start=1_700_000_000.25,
        store=f"redis://:{SECRET}@127.0.0.1:6379/2?prefix=x",
        max_body_bytes=4096,
        image_cache_bytes=8192,
        api_keys=["k-1", "k-2"],
        providers={"vibedream": {"latency": 0.01, "models": {"m": {"job_duration": 1}}}},
        defaults={"wallet_balance": 5},
        profile="mine",
        profiles={"mine": {"extends": "instant", "defaults": {"latency": 0.002}}},
        scenarios=[{"name": "s", "steps": []}],
        journal_size=17,
        max_jobs=99,
        job_retention=12.5,
        admin_token="a-token-of-length",
        cors_allowed_origins=["https://a.example"],
        admin_allowed_origins=["https://b.example"],
        allowed_hosts=["emu.test"],
        replay_folder="recordings",
        replay_strict=True,
        replay_match=["method", "body"],
        replay_ignore=["$.id"],
    )


def test_config_for_workers_round_trips_every_field() -> None:
    config = every_field_set()
    defaults = Config()
    for field in dataclasses.fields(Config):  # a new field must be set above, to be checked
        assert getattr(config, field.name) != getattr(defaults, field.name), field.name
    assert config_from_workers(config_for_workers(config)) == config
    # Without a replay folder the replay settings still travel.
    quiet = dataclasses.replace(config, replay_folder=None, replay_strict=False)
    assert config_from_workers(config_for_workers(quiet)) == quiet
    assert config_from_workers(config_for_workers(defaults)) == defaults


def test_a_replacement_worker_is_numbered_past_the_first_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(WORKER_CONFIG_ENV, config_for_workers(Config(seed=5)))
    monkeypatch.setenv(WORKER_ENV, "3+pid")
    app = worker_app()
    assert os.environ[WORKER_ENV] == str(3 + os.getpid())
    assert WORKER_CONFIG_ENV not in os.environ  # nothing it starts inherits the token
    with TestClient(app) as client:
        assert client.get("/_emulator/health").json()["worker"] == {
            "index": 3 + os.getpid(),
            "pid": os.getpid(),
        }


def test_a_worker_that_cannot_reach_the_store_exits_as_a_startup_failure(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"redis://:{SECRET}@127.0.0.1:{free_port()}/0"
    monkeypatch.setenv(WORKER_CONFIG_ENV, config_for_workers(Config(store=url)))
    monkeypatch.setenv(WORKER_ENV, "1")
    with pytest.raises(SystemExit) as exited:
        worker_app()
    assert exited.value.code == STARTUP_FAILURE  # uvicorn's supervisor stops, not respawns
    err = capsys.readouterr().err
    assert err.startswith("imagegen-emulator: error: worker 1: ") and err.count("\n") == 1
    assert "cannot reach Redis at redis://:***@127.0.0.1:" in err and SECRET not in err


# ---------------------------------------------------------------------- real workers


@pytest.mark.live
def test_several_workers_on_the_memory_store_are_refused() -> None:
    env = {k: v for k, v in os.environ.items() if k not in (STORE_ENV, REDIS_URL_ENV)}
    result = subprocess.run(
        [*SERVE, "--workers", "2", "--store", "memory"],
        capture_output=True,
        text=True,
        timeout=30,
        env=env,
    )
    assert (result.returncode, result.stdout, result.stderr) == (2, "", MEMORY_REFUSAL)


@pytest.mark.live
def test_two_workers_on_redis_answer_on_one_port(redis_url: str) -> None:
    url = redis_url  # a fresh prefix of its own
    process = subprocess.Popen(
        [*SERVE, "--workers", "2", "--store", url, "--seed", "4", "--clock", "virtual"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        match = re.search(r"listening on (http://\S+)", first)
        assert match, first + process.stdout.read()
        base_url = match.group(1)
        banner = first + "".join(process.stdout.readline() for _ in range(3))
        assert "workers: 2" in banner and "seed: 4" in banner

        def health(_: int) -> dict[str, Any] | None:
            try:  # a new connection each time: the kernel hands it to either worker
                return httpx.get(f"{base_url}/_emulator/health", timeout=5).json()
            except httpx.TransportError:  # a worker still starting
                return None

        def answers_from_both() -> dict[int, dict[str, Any]]:
            """The last health answer of each worker (by pid), once both answered."""
            seen: dict[int, dict[str, Any]] = {}
            deadline = time.monotonic() + 30
            with ThreadPoolExecutor(8) as pool:
                while len(seen) < 2 and time.monotonic() < deadline:
                    for answer in pool.map(health, range(16)):
                        if answer is not None:
                            seen[answer["worker"]["pid"]] = answer
            assert len(seen) == 2, seen
            return seen

        seen = answers_from_both()
        assert sorted(answer["worker"]["index"] for answer in seen.values()) == [0, 1]
        assert process.pid not in seen  # the parent supervises, the workers answer
        # State is shared: the clock advanced through one worker is advanced on both.
        advanced = httpx.post(f"{base_url}/_emulator/clock/advance", json={"seconds": 1000})
        assert advanced.json()["offset"] == 1000
        offsets = [answer["clock"]["offset"] for answer in answers_from_both().values()]
        assert offsets == [1000, 1000]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert banner.count("listening on") == 1
        assert process.stdout.read().count("listening on") == 0  # printed once, by the parent
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
