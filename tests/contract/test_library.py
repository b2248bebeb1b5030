"""The contract suite's own machinery: findings and the report, the budget and its price
table, the shared ledger, the targets."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from starlette.testclient import TestClient

from contracts import conformance
from contracts.budget import Budget, Cost, Unit, actual, estimate
from contracts.findings import Finding, Report, response_findings
from emulator import create_app
from tests.contract.targets import KEY, FileLedger, Target, emulator_settings, real_endpoints

PREDICTION = "/api/v1/predictions/550e8400-e29b-41d4-a716-446655440000"
GATEWAY = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"


def answered(method: str, path: str, status: int, body: object) -> httpx.Response:
    request = httpx.Request(method, f"https://api.example.com{path}")
    return httpx.Response(status, json=body, request=request)


def test_every_field_that_differs_is_a_finding() -> None:
    body = {
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "modelId": "z-image-turbo",
        "status": "done",
        "outputs": 5,
        "error": None,
        "createdAt": "2025-01-15T12:00:00.000Z",
        "completedAt": None,
    }
    findings = response_findings(answered("GET", PREDICTION, 200, body))
    by_path = {finding.path: finding for finding in findings}
    assert set(by_path) >= {"$.status", "$.outputs", "$.modelName"}
    assert by_path["$.modelName"].actual == "nothing (missing)"
    assert by_path["$.status"].actual == "'done' (string)"
    assert all(f.operation == "getPrediction (GET /api/v1/predictions/{id})" for f in findings)


def test_an_undeclared_status_and_a_body_that_is_not_json_are_findings() -> None:
    request = httpx.Request("GET", f"https://api.example.com{PREDICTION}")
    html = httpx.Response(200, text="<html>maintenance</html>", request=request)
    (finding,) = response_findings(html)
    assert (finding.path, finding.expected) == ("$", "a JSON body")
    (redirect,) = response_findings(answered("GET", PREDICTION, 302, {}))
    assert redirect.path == "(status)"


def test_the_report_groups_by_operation_and_counts_repeats() -> None:
    twice = Finding("getPrediction (GET /x)", 200, "$.status", "one of [...]", "'done'", "p")
    other = Finding("submitPrediction (POST /y)", 200, "$.costCents", "type integer", "'1'", "p")
    report = Report("vibedream", "https://api.example.com", findings=[twice, other, twice])
    text = report.render()
    assert (
        "  getPrediction (GET /x)\n    200 $.status: expected one of [...]; got 'done' (x2)" in text
    )
    assert text.index("getPrediction") < text.index("submitPrediction")
    assert not report.conforms
    assert report.verdict().startswith("result: DRIFT (2 field(s) differ")
    assert Report("vibedream", "u").conforms


def test_a_status_that_goes_back_is_a_regression() -> None:
    protocol = conformance.JOBS["3daistudio"]
    running = {"status": "IN_PROGRESS", "progress": 40}
    assert protocol.regression({"status": "PENDING", "progress": 0}, running) is None
    assert protocol.regression(running, {"status": "PENDING", "progress": 0}) is not None
    assert protocol.regression(running, {"status": "IN_PROGRESS", "progress": 30}) is not None
    done = {"status": "FINISHED", "progress": 100}
    assert protocol.regression(done, {"status": "FAILED", "progress": 100}) is not None


def test_estimates_follow_the_price_table() -> None:
    def cost(method: str, path: str, body: object = None) -> Cost | None:
        provider = "vibedream" if "/models/" in path and "google" not in path else None
        provider = provider or ("vertex" if "googleVertexAI" in path else "3daistudio")
        return estimate(provider, method, path, body)

    assert cost("POST", "/api/v1/models/z-image-turbo/generate", {}) == Cost(Decimal(1), Unit.CENTS)
    nano = cost("POST", "/api/v1/models/nano-banana-pro-edit/generate", {"resolution": "4k"})
    assert nano == Cost(Decimal(24), Unit.CENTS)
    generate = "/v1/images/gemini/3/pro/generate/"
    assert cost("POST", generate, {"resolution": "4K", "num_images": 3}).amount == 240
    assert cost("POST", generate, {"resolution": "8K"}).amount == 80  # unknown: the dearest
    assert cost("GET", PREDICTION) is None  # a poll is free
    one_k = cost("POST", GATEWAY, {"contents": [{"parts": [{"text": "a cat"}]}]})
    assert one_k is not None and Decimal("13.44") < one_k.amount < Decimal(16)
    # The stream twin, as contract-check sends it (with ?alt=sse), is the same paid call.
    streamed = GATEWAY.replace(":generateContent", ":streamGenerateContent") + "?alt=sse"
    assert cost("POST", streamed, {"contents": [{"parts": [{"text": "a cat"}]}]}) == one_k


def test_what_was_spent_comes_from_the_answer_when_it_says() -> None:
    submit = "/api/v1/models/z-image-turbo/generate"
    assert actual("vibedream", answered("POST", submit, 200, {"costCents": 16})).amount == 16
    assert actual("vibedream", answered("POST", submit, 400, {"error": "x"})).amount == 0
    status = "/v1/images/gemini/3/pro/generate/"
    assert actual("3daistudio", answered("POST", status, 200, {"task_id": "t"})) is None
    usage = {
        "promptTokenCount": 10,
        "candidatesTokenCount": 1130,
        "candidatesTokensDetails": [
            {"modality": "TEXT", "tokenCount": 10},
            {"modality": "IMAGE", "tokenCount": 1120},
        ],
        "totalTokenCount": 1140,
    }
    cents = actual("vertex", answered("POST", GATEWAY, 200, {"usageMetadata": usage}))
    # (10 x $2 + 10 x $12 + 1120 x $120) per million tokens = 13.454 cents, rounded up
    assert cents == Cost(Decimal("13.46"), Unit.CENTS)


def test_a_probe_the_budget_cannot_pay_is_skipped_and_reported() -> None:
    with TestClient(create_app(emulator_settings())) as client:
        report = conformance.check("vertex", client, KEY, budget=Budget({Unit.CENTS: 10}))
    outcomes = {probe.name: probe for probe in report.probes}
    generate = outcomes["generate aspectRatio=3:4 imageSize=1K"]
    assert generate.outcome == "skipped"
    assert "would cost up to 14" in generate.detail and "10 cents left" in generate.detail
    assert outcomes["refuse a wrong key"].outcome == "ok"  # a refused key costs us nothing
    assert "spent: 0 cents (budget 10 cents)" in report.render()
    assert report.conforms


def test_a_shared_ledger_holds_one_budget_for_every_worker(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    first, second = (Budget({Unit.CENTS: 50}, FileLedger(path)) for _ in range(2))
    held = first.reserve("a", Cost(Decimal(40), Unit.CENTS))
    assert held is not None
    assert second.reserve("b", Cost(Decimal(20), Unit.CENTS)) is None  # 40 in flight
    first.settle(held, Cost(Decimal(0), Unit.CENTS))  # refused: nothing spent
    assert second.reserve("b", Cost(Decimal(20), Unit.CENTS)) is not None
    assert second.spent() == {Unit.CENTS: Decimal(0)}


def test_what_one_worker_holds_or_spent_is_room_another_worker_lacks(tmp_path: Path) -> None:
    path = tmp_path / "ledger.json"
    first, second = (Budget({Unit.CENTS: 50}, FileLedger(path)) for _ in range(2))
    held = first.reserve("a", Cost(Decimal(15), Unit.CENTS))
    assert held is not None
    assert second.room(Unit.CENTS) == 35  # in flight on the other worker
    first.settle(held, Cost(Decimal(12), Unit.CENTS))  # the answer said what it cost
    assert second.room(Unit.CENTS) == 38
    assert second.spent() == {Unit.CENTS: Decimal(12)}
    assert second.reserve("b", Cost(Decimal(39), Unit.CENTS)) is None


def test_a_real_api_is_unavailable_until_its_variables_are_set() -> None:
    found, missing = real_endpoints({"VERTEX_GATEWAY_API_KEY": "k"})
    assert not found
    assert "set VERTEX_GATEWAY_BASE_URL to run against it" in missing["vertex"]
    assert "VIBEDREAM_API_KEY" in missing["vibedream"]
    assert "THREEDAI_API_KEY" in missing["3daistudio"]
    found, missing = real_endpoints(
        {
            "VIBEDREAM_API_KEY": "k",
            "VERTEX_GATEWAY_BASE_URL": "https://gw.example/",
            "VERTEX_GATEWAY_API_KEY": "k",
        }
    )
    assert found["vibedream"].base_url == "https://api.vibedream.ai"
    assert found["vertex"].base_url == "https://gw.example"
    assert "k" not in repr(found["vibedream"])
    assert list(missing) == ["3daistudio"]


def test_mutated_changes_one_field_of_a_copy() -> None:
    valid = {"contents": [{"role": "user", "parts": [{"text": "x"}]}]}
    changed = conformance.mutated(valid, "contents[0].role", "robot")
    assert changed["contents"][0]["role"] == "robot"
    assert valid["contents"][0]["role"] == "user"
    assert conformance.mutated(valid, "generationConfig.candidateCount", 2)["generationConfig"] == {
        "candidateCount": 2
    }
    assert (
        "role"
        not in conformance.mutated(valid, "contents[0].role", conformance.MISSING)["contents"][0]
    )


@pytest.mark.parametrize("provider", ["3daistudio"])
def test_the_async_client_reaches_the_same_emulator(emulator_target: Target, provider: str) -> None:
    async def wallet() -> httpx.Response:
        async with emulator_target.async_client(provider) as client:
            return await client.get(
                "/account/user/wallet/", headers={"Authorization": f"Bearer {KEY}"}
            )

    response = asyncio.run(wallet())
    assert response.status_code == 200
    assert response_findings(response) == []
