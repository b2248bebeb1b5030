"""The admin API under /_emulator/."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.conftest import AUTH, EPOCH


def test_health_reports_version_providers_seed_and_clock(client: TestClient) -> None:
    health = client.get("/_emulator/health").json()
    assert health["status"] == "ok"
    assert health["providers"] == ["vibedream", "vertex", "3daistudio"]
    assert health["seed"] == 1234
    assert health["clock"]["mode"] == "virtual"
    assert health["store"] == {"jobs": 0, "assets": 0}


def test_clock_reads_and_advances(client: TestClient) -> None:
    assert client.get("/_emulator/clock").json() == {
        "mode": "virtual",
        "now": "2025-01-15T12:00:00.000Z",
        "epoch": EPOCH,
        "offset": 0.0,
    }
    moved = client.post("/_emulator/clock/advance", json={"seconds": 90.5}).json()
    assert moved["now"] == "2025-01-15T12:01:30.500Z"
    assert client.get("/_emulator/clock").json()["offset"] == 90.5


@pytest.mark.parametrize(
    "body", [{"seconds": -1}, {"seconds": "10"}, {"seconds": True}, {}, [], {"seconds": None}]
)
def test_advance_refuses_anything_but_a_non_negative_number(client: TestClient, body) -> None:
    response = client.post("/_emulator/clock/advance", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert client.get("/_emulator/clock").json()["offset"] == 0


def test_advance_refuses_any_step_back_however_small_and_takes_zero(client: TestClient) -> None:
    client.post("/_emulator/clock/advance", json={"seconds": 10})
    refused = client.post("/_emulator/clock/advance", json={"seconds": -0.5})
    assert refused.status_code == 400
    assert "only moves forward" in refused.json()["error"]["message"]
    assert client.get("/_emulator/clock").json()["offset"] == 10
    assert client.post("/_emulator/clock/advance", json={"seconds": 0}).status_code == 200
    assert client.get("/_emulator/clock").json()["offset"] == 10


def test_advance_refuses_a_non_finite_number(client: TestClient) -> None:
    response = client.post(
        "/_emulator/clock/advance",
        content=b'{"seconds": Infinity}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400


def test_admin_json_is_read_whatever_the_content_type_says(client: TestClient) -> None:
    """`curl -d '{"seconds": 5}'` sends a JSON body as application/x-www-form-urlencoded."""
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    answer = client.post("/_emulator/clock/advance", content=b'{"seconds": 5}', headers=form)
    assert answer.status_code == 200, answer.text
    assert client.get("/_emulator/clock").json()["offset"] == 5
    refused = client.post("/_emulator/clock/advance", content=b"seconds=5", headers=form)
    assert refused.status_code == 400
    assert "not valid JSON" in refused.json()["error"]["message"]


def test_reset_clears_the_store(client: TestClient) -> None:
    client.post("/api/v1/models/z-image-turbo/generate", json={"prompt": "x"}, headers=AUTH)
    assert client.get("/_emulator/health").json()["store"]["jobs"] == 1
    assert client.post("/_emulator/reset").json()["status"] == "reset"
    assert client.get("/_emulator/health").json()["store"] == {"jobs": 0, "assets": 0}


def test_unknown_admin_paths_are_json_404s(client: TestClient) -> None:
    response = client.get("/_emulator/nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
