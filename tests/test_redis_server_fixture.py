"""emulator/testing/redis_server.py: a real redis-server, on 127.0.0.1 only, that stops
without leaving a process, restarts on its port and directory, keeps its data through a
restart and a SIGKILL when append-only, and says how to install it when it is missing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import redis

from emulator.testing import redis_server as module
from emulator.testing.redis_server import (
    RedisServer,
    RedisServerError,
    RedisServerMissing,
    redis_server,
)
from tests.redis_fixture import delete_prefix

pytest_plugins = ["pytester"]

# Skips (fails in CI) as every Redis test does when redis-server is missing; the test of the
# missing binary's error runs without it.
needs_redis = pytest.mark.usefixtures("redis_server_session")


def refused(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        try:
            sock.connect((host, port))
        except OSError:
            return True
        return False


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@needs_redis
def test_it_starts_and_answers_ping_on_127_0_0_1_only(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert server.dir == tmp_path
        with redis.Redis.from_url(server.url) as client:
            assert client.ping() is True
            assert client.config_get("bind")["bind"] == "127.0.0.1"
            assert client.config_get("appendonly")["appendonly"] == "no"
            assert client.config_get("save")["save"] == ""
        # The whole of 127/8 is this host's loopback: bound to 0.0.0.0 (or to every address),
        # 127.0.0.2 would answer too.
        assert refused("127.0.0.2", server.port)
        if socket.has_ipv6:
            assert refused("::1", server.port)
        assert (tmp_path / "redis.log").read_text().count("Ready to accept connections") == 1


@needs_redis
def test_stop_leaves_no_process_and_no_listener(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        assert server.process is not None
        pid = server.process.pid
        server.stop()
        assert server.process is None and not server.running
        assert gone(pid)
        assert refused("127.0.0.1", server.port)
        assert not server.ping()
    assert gone(pid)


@needs_redis
def test_the_context_stops_it_on_exit(tmp_path: Path) -> None:
    with redis_server(tmp_path) as server:
        assert server.process is not None
        pid, port = server.process.pid, server.port
    assert gone(pid) and refused("127.0.0.1", port)


@needs_redis
def test_start_again_with_appendonly_keeps_a_key_written_before_stop(tmp_path: Path) -> None:
    with redis_server(tmp_path, appendonly=True) as server:
        port = server.port
        with redis.Redis.from_url(server.url) as client:
            client.set("kept", "through a stop")
        server.stop()
        server.start()
        assert server.port == port and server.dir == tmp_path
        with redis.Redis.from_url(server.url) as client:
            assert client.get("kept") == b"through a stop"


@needs_redis
def test_without_appendonly_a_restart_starts_empty(tmp_path: Path) -> None:
    """The test above could pass by the server never stopping: this one shows it does."""
    with redis_server(tmp_path) as server:
        with redis.Redis.from_url(server.url) as client:
            client.set("lost", "1")
        server.stop()
        server.start()
        with redis.Redis.from_url(server.url) as client:
            assert client.get("lost") is None


@needs_redis
def test_kill_then_start_keeps_a_key_appendfsync_always(tmp_path: Path) -> None:
    with redis_server(tmp_path, appendonly=True) as server:
        assert server.process is not None
        pid = server.process.pid
        with redis.Redis.from_url(server.url) as client:
            assert client.config_get("appendfsync")["appendfsync"] == "always"
            for index in range(100):
                client.set(f"key{index}", index)
        server.kill()
        assert gone(pid) and refused("127.0.0.1", server.port)
        server.start()
        with redis.Redis.from_url(server.url) as client:
            assert client.get("key99") == b"99" and client.dbsize() == 100
    log = (tmp_path / "redis.log").read_text()
    assert "User requested shutdown" in log  # the final stop; the kill left no such line
    assert log.count("User requested shutdown") == 1


def test_a_missing_binary_gives_the_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no redis-server on PATH
    monkeypatch.setattr(module, "FALLBACK_BINARY", tmp_path / "no-redis-server")
    with pytest.raises(RedisServerMissing, match="apt-get install redis-server"), redis_server(
        tmp_path
    ):
        pass
    assert not (tmp_path / "redis.log").exists()  # nothing was started


@needs_redis
def test_a_port_in_use_is_an_error_quoting_the_log(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(RedisServerError, match="Address already in use"):
            RedisServer(tmp_path, port=port).start()


@needs_redis
def test_a_taken_ephemeral_port_is_retried_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        picks = iter([busy])
        monkeypatch.setattr(module, "free_port", lambda: next(picks, 0) or pick_free())
        with redis_server(tmp_path) as server:
            assert server.port != busy and server.ping()


def pick_free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_redis_url_gives_each_test_its_prefix_and_deletes_its_keys(
    redis_server_session: RedisServer, redis_url: str
) -> None:
    base, _, prefix = redis_url.partition("?prefix=")
    assert base == redis_server_session.url and prefix.startswith("t") and len(prefix) == 13
    with redis.Redis.from_url(base) as client:
        client.mset({f"{prefix}:a": 1, f"{prefix}:b:c": 2, f"other{prefix}:a": 3})
        assert delete_prefix(base, prefix) == 2
        assert client.exists(f"{prefix}:a", f"{prefix}:b:c") == 0
        assert client.get(f"other{prefix}:a") == b"3"
        client.delete(f"other{prefix}:a")


@pytest.mark.parametrize("ci", ["", "true"])
def test_the_session_fixture_skips_without_redis_server_but_fails_in_ci(
    ci: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makeini(INNER_INI)
    pytester.makeconftest("from tests.redis_fixture import redis_server_session, redis_url\n")
    pytester.makepyfile(test_inner="def test_needs_redis(redis_url):\n    pass\n")
    monkeypatch.setenv("PATH", str(pytester.path))
    monkeypatch.setattr(module, "FALLBACK_BINARY", pytester.path / "no-redis-server")
    monkeypatch.setenv("CI", ci)
    result = pytester.runpytest("-rs")
    if ci:
        result.assert_outcomes(errors=1)
        result.stdout.fnmatch_lines(["*CI needs redis-server*apt-get install redis-server*"])
    else:
        result.assert_outcomes(skipped=1)
        result.stdout.fnmatch_lines(["SKIPPED*apt-get install redis-server*"])


INNER_INI = """
[pytest]
addopts = -p no:cacheprovider -p no:hypothesispytest
filterwarnings =
    error
    ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning
"""
