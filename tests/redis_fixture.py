"""The real redis-server the Redis store's tests run on (registered in tests/conftest.py).

One server per test process (each pytest-xdist worker is one), started on first use; each test
gets its own prefix on it (`redis_url`), and its keys are deleted after the test, so tests
share the server and nothing else. Without redis-server these tests skip, saying why, except
in CI (`CI` set), where a missing server is a failure: CI must not pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
import redis

from emulator.testing.redis_server import (
    RedisServer,
    RedisServerMissing,
    find_redis_server,
    redis_server,
)

UNLINK_BATCH = 500  # keys per UNLINK when a test's prefix is cleaned up


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def redis_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    try:
        find_redis_server()
    except RedisServerMissing as missing:
        if in_ci():
            pytest.fail(f"CI needs redis-server (.ci/run installs it): {missing}", pytrace=False)
        pytest.skip(str(missing))
    with redis_server(tmp_path_factory.mktemp("redis-server")) as server:
        yield server


@pytest.fixture
def redis_url(redis_server_session: RedisServer) -> Iterator[str]:
    """The session's server under a prefix of this test's own (RedisLink reads `?prefix=`);
    its keys are deleted afterwards, so Redis memory stays bounded over the whole run."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    yield f"{redis_server_session.url}?prefix={prefix}"
    delete_prefix(redis_server_session.url, prefix)


def delete_prefix(url: str, prefix: str) -> int:
    """Deletes every key under `prefix:` (SCAN, then UNLINK in batches); how many it deleted."""
    deleted = 0
    with redis.Redis.from_url(url) as client:
        batch: list[bytes] = []
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            batch.append(key)
            if len(batch) == UNLINK_BATCH:
                deleted += int(client.unlink(*batch))
                batch.clear()
        if batch:
            deleted += int(client.unlink(*batch))
    return deleted
