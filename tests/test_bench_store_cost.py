"""bench/store_cost.py's round-trip count (the cheap part of that bench: a few requests to an
in-process app on a real redis-server): the counts the bench holds to its targets, and the
counter itself, shown to see one round trip more when there is one (a rate limit's token
take)."""

from __future__ import annotations

import redis

from bench.store_cost import TripCounter, count_trips, unpack


def test_a_submit_is_two_round_trips_and_a_poll_one(redis_url: str) -> None:
    trips = count_trips(redis_url, 3, rate_limit=False)
    assert trips.request == {"submit": 2, "poll": 1}
    # What step 3 hands to redis-benchmark: the submit's put_job and the poll's first read.
    assert trips.submit_script[0].upper() == b"EVALSHA"
    assert trips.poll_read[0].upper() == b"HGETALL"
    assert 0 < trips.journal < 1  # one batched write for many requests


def test_a_rate_limit_adds_the_token_take(redis_url: str) -> None:
    trips = count_trips(redis_url, 3, rate_limit=True)
    assert trips.request == {"submit": 3, "poll": 1}


def test_a_pipeline_is_one_round_trip_of_several_commands(redis_url: str) -> None:
    counter = TripCounter()
    with counter.installed(), redis.Redis.from_url(redis_url.split("?")[0]) as client:
        client.ping()  # the connection's handshake
        counter.take()
        pipe = client.pipeline(transaction=False)
        pipe.get("a")
        pipe.hgetall("b")
        pipe.execute()
        client.get("c")
        sent = counter.take()
    assert len(sent) == 2
    assert [command[0] for command in unpack(sent[0])] == [b"GET", b"HGETALL"]
    assert unpack(sent[1]) == [[b"GET", b"c"]]
