"""Properties over requests generated from the contracts, on every target (the real APIs: a
few cheap examples under the budget; properties that need the emulator's admin API or its
determinism run on the emulated targets only).

- a valid request is accepted, and every answer on the way validates;
- an invalid one (one field changed) is refused with a 4xx in the provider's error shape;
- the images are of the format and size asked;
- the same seeded request gives the same bytes (emulator);
- a job's status (and progress) never goes back while polling with the clock advancing;
- credits are conserved: balance + spent = initial, refunds included (emulator).

Every request of a failing example is printed as a curl line (hypothesis ``note``).
"""

from __future__ import annotations

import base64
from decimal import Decimal
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contracts import conformance
from contracts.conformance import JOBS
from contracts.findings import image_findings
from tests.contract.oracles import asked, charge, may_lack_image
from tests.contract.profiles import examples
from tests.contract.strategies import dotted, invalid_calls, valid_calls, with_seed
from tests.contract.wire import Call, Wire

PROVIDERS = conformance.PROVIDERS
WITH_JOBS = tuple(JOBS)  # vibedream, 3daistudio: submit, then poll
FAULTS = (None, "moderation", "job:500")


def finish(wire: Wire, call: Call, waits: list[float] | None = None) -> tuple[dict, list[dict]]:
    """Send an accepted call and follow it to its end: (the submit answer, every status)."""
    response = wire.send(call)
    assert response.status_code == 200, response.text
    answer = response.json()
    if wire.provider not in JOBS:
        return answer, []
    job_id = answer[JOBS[wire.provider].id_field]
    return answer, wire.follow(job_id, waits or [])


def images_of(wire: Wire, call: Call) -> list[bytes]:
    """Run ``call`` to success and return its images. Of a job's outputs only the first is
    downloaded (rendering is the expensive part, and all of them were asked the same format
    and size); the count of all of them is checked."""
    answer, statuses = finish(wire, call)
    if wire.provider not in JOBS:
        parts = answer["candidates"][0]["content"].get("parts", [])
        found = [base64.b64decode(p["inlineData"]["data"]) for p in parts if "inlineData" in p]
        assert found or may_lack_image(call, answer), answer["candidates"][0]
        return found
    protocol = JOBS[wire.provider]
    final = statuses[-1]
    assert final["status"] == protocol.succeeded, final
    urls = protocol.outputs(final)
    assert len(urls) == asked(call).count, final
    return [wire.download(urls[0])]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_valid_requests_are_accepted_and_every_answer_validates(wire: Wire) -> None:
    @examples("accepted", wire.target)
    @given(call=valid_calls(wire.provider, cheap=wire.target.live))
    def accepted(call: Call) -> None:
        _, statuses = finish(wire, call)
        if statuses:
            protocol = JOBS[wire.provider]
            final = statuses[-1]
            if final["status"] == protocol.succeeded:
                assert len(protocol.outputs(final)) == asked(call).count, final

    accepted()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_invalid_requests_are_refused_in_the_error_shape(wire: Wire) -> None:
    @examples("refused", wire.target)
    @given(mutation=invalid_calls(wire.provider, cheap=wire.target.live))
    def refused(mutation: tuple[Call, tuple[str | int, ...]]) -> None:
        call, path = mutation
        wire.note(f"changed: {dotted(path)}")
        response = wire.send(call)  # the body must match the provider's error schema
        assert 400 <= response.status_code < 500, response.text
        named = error_field(response.json())
        if named is not None:  # where the error shape names a field, it names this one
            assert named.split("[")[0].split(".")[0] == path[0], (named, path)

    refused()


def error_field(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return error.get("field")
    return body.get("field") if isinstance(body, dict) else None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_images_are_of_the_format_and_size_asked(wire: Wire) -> None:
    @examples("dimensions", wire.target)
    @given(call=valid_calls(wire.provider, cheap=wire.target.live, plain=True))
    def dimensions(call: Call) -> None:
        want = asked(call)
        for data in images_of(wire, call):
            differences = image_findings(
                data,
                expected_format=want.format,
                expected_size=want.size,
                operation="output",
                where="image",
                probe="",
            )
            assert not differences, [finding.line() for finding in differences]

    dimensions()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_same_seeded_request_gives_the_same_bytes(emulator_wire: Wire) -> None:
    wire = emulator_wire

    @examples("same-bytes", wire.target)
    @given(
        call=valid_calls(wire.provider, plain=True),
        seed=st.integers(min_value=0, max_value=2**31 - 1),
    )
    def same_bytes(call: Call, seed: int) -> None:
        seeded = with_seed(call, seed)
        assert images_of(wire, seeded) == images_of(wire, seeded)

    same_bytes()


@pytest.mark.parametrize("provider", WITH_JOBS)
def test_a_job_status_never_goes_back(wire: Wire) -> None:
    protocol = JOBS[wire.provider]
    live = wire.target.live

    @examples("monotonic", wire.target)
    @given(
        call=valid_calls(wire.provider, cheap=live),
        fault=st.just(None) if live else st.sampled_from(FAULTS),
        waits=st.just([1.0, 1.0]) if live else st.lists(st.floats(0, 45), max_size=10),
    )
    def monotonic(call: Call, fault: str | None, waits: list[float]) -> None:
        _, statuses = finish(wire, Call(call.method, call.path, call.body, fault), waits)
        for before, after in pairwise(statuses):
            regression = protocol.regression(before, after)
            assert regression is None, (regression, before, after)
        if fault is not None:
            assert statuses[-1]["status"] == protocol.failed, statuses[-1]

    monotonic()


@pytest.mark.parametrize("provider", PROVIDERS)
def test_credits_are_conserved(emulator_wire: Wire) -> None:
    wire = emulator_wire
    provider = wire.provider
    top = {"vibedream": 60, "vertex": 60, "3daistudio": 500}[provider]

    @examples("credits", wire.target)
    @given(
        initial=st.integers(min_value=0, max_value=top),
        calls=st.lists(
            st.tuples(valid_calls(provider), st.sampled_from(FAULTS)), min_size=1, max_size=4
        ),
        invalid=st.lists(invalid_calls(provider), max_size=1),
    )
    def conserved(initial: int, calls: list[tuple[Call, str | None]], invalid: list) -> None:
        # Let every job of earlier examples end (and refund) before this wallet is set.
        wire.advance(3600)
        set_balance(wire, Decimal(initial))
        spent = Decimal(0)
        for call, fault in calls:
            response = wire.send(Call(call.method, call.path, call.body, fault))
            if response.status_code != 200:
                assert response.status_code in (402, 429, 500), response.text
                continue
            answer = response.json()
            if provider in JOBS:
                final = wire.follow(answer[JOBS[provider].id_field], [])[-1]
                if final["status"] == JOBS[provider].failed:
                    continue  # refunded when it failed
                assert fault is None, final
            spent += charge(call, answer)
        for call, _ in invalid:
            assert 400 <= wire.send(call).status_code < 500
        wire.advance(3600)  # every refund due
        now = balance(wire)
        assert now + spent == initial, f"balance {now} + spent {spent} != initial {initial}"

    conserved()


def set_balance(wire: Wire, amount: Decimal) -> None:
    response = admin(wire, {"provider": wire.provider, "key": wire.key, "balance": str(amount)})
    assert Decimal(response["balance"]) == amount


def balance(wire: Wire) -> Decimal:
    """The wallet: 3D AI Studio's own wallet API, else the emulator's admin API."""
    if wire.provider == "3daistudio":
        return Decimal(wire.get("/account/user/wallet/")["balance"])
    return Decimal(admin(wire, {"provider": wire.provider, "key": wire.key})["balance"])


def admin(wire: Wire, body: dict) -> dict:
    response = wire.client.post("/_emulator/wallets", json=body)
    assert response.status_code == 200, response.text
    return response.json()
