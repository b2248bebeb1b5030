"""Issue 17, rows 7-10: how each Google surface refuses a key, and how it words a 429.

Every expected body here is the real one, as quoted in issue threads (cited per test); the
expected strings are spelled out, not imported from the emulator, so a drift in the emulator's
tables fails here. Raw HTTP goes through contract_client (every answer checked against its
contract); the official SDK (google-genai) goes over a real socket where it can send the case.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

import contracts
from emulator import create_app
from emulator.testing.server import start_server
from tests.conftest import KEY, contract_client, emulator_config

PRO = "gemini-3-pro-image"
GEMINI = f"/v1beta/models/{PRO}:generateContent"
GEMINI_V1 = f"/v1/models/{PRO}:countTokens"
VERTEX = f"/v1beta1/projects/p-1/locations/global/publishers/google/models/{PRO}:generateContent"
VERTEX_EXPRESS = f"/v1/publishers/google/models/{PRO}:generateContent"
GATEWAY = f"/api/v1/publishers/googleVertexAI/models/{PRO}:generateContent"
BODY = {"contents": [{"role": "user", "parts": [{"text": "a cat"}]}]}
RPC = "type.googleapis.com/google.rpc."

KEY_NOT_VALID = "API key not valid. Please pass a valid API key."
# github.com/continuedev/continue/issues/8516 (also google/timesketch#3703, gemini-cli#20284)
GEMINI_BAD_KEY = {
    "error": {
        "code": 400,
        "message": KEY_NOT_VALID,
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": f"{RPC}ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            },
            {"@type": f"{RPC}LocalizedMessage", "locale": "en-US", "message": KEY_NOT_VALID},
        ],
    }
}
# github.com/google-gemini/deprecated-generative-ai-python/issues/463
GEMINI_NO_KEY = {
    "error": {
        "code": 403,
        "message": "Method doesn't allow unregistered callers (callers without established"
        " identity). Please use API Key or other form of API consumer identity to call this API.",
        "status": "PERMISSION_DENIED",
    }
}
OAUTH_HINT = (
    "Expected OAuth 2 access token, login cookie or other valid authentication credential."
    " See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
PREDICTION = "google.cloud.aiplatform.{version}.PredictionService.{rpc}"


def vertex_no_credential(method: str) -> dict:
    """github.com/google-github-actions/run-gemini-cli/issues/123 (and HisMax/RedInk#40)."""
    return {
        "error": {
            "code": 401,
            "message": f"Request is missing required authentication credential. {OAUTH_HINT}",
            "status": "UNAUTHENTICATED",
            "details": [
                {
                    "@type": f"{RPC}ErrorInfo",
                    "reason": "CREDENTIALS_MISSING",
                    "domain": "googleapis.com",
                    "metadata": {"method": method, "service": "aiplatform.googleapis.com"},
                }
            ],
        }
    }


def bad_token(method: str, service: str = "aiplatform.googleapis.com") -> dict:
    """github.com/googleapis/java-aiplatform/issues/1056 (the message on aiplatform);
    GoogleCloudPlatform/cloud-logging-data-source-plugin#126 (the reason, no domain)."""
    return {
        "error": {
            "code": 401,
            "message": f"Request had invalid authentication credentials. {OAUTH_HINT}",
            "status": "UNAUTHENTICATED",
            "details": [
                {
                    "@type": f"{RPC}ErrorInfo",
                    "reason": "ACCESS_TOKEN_TYPE_UNSUPPORTED",
                    "metadata": {"method": method, "service": service},
                }
            ],
        }
    }


VERTEX_NO_CREDENTIAL = vertex_no_credential(
    PREDICTION.format(version="v1beta1", rpc="GenerateContent")
)
VERTEX_BAD_TOKEN = bad_token(PREDICTION.format(version="v1beta1", rpc="GenerateContent"))
GEMINI_QUOTA_MESSAGE = (
    "You exceeded your current quota, please check your plan and billing details. For more"
    " information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits."
)
# github.com/google-gemini/gemini-cli/issues/14811
VERTEX_QUOTA_MESSAGE = (
    "Resource exhausted. Please try again later. Please refer to"
    " https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)


def express_key_not_valid() -> dict:
    body = copy.deepcopy(GEMINI_BAD_KEY)
    body["error"]["details"][0]["metadata"]["service"] = "aiplatform.googleapis.com"
    return body


@pytest.fixture
def keyed() -> Iterator[TestClient]:
    with contract_client(create_app(emulator_config(api_keys=[KEY]))) as client:
        yield client


def limited(per_seconds: int = 60) -> TestClient:
    limit = {"rate_limit": {"requests": 1, "per_seconds": per_seconds}}
    return contract_client(create_app(emulator_config(providers={"vertex": limit})))


# --- row 7: the Gemini API, a key that is not valid ------------------------------------------


@pytest.mark.parametrize(
    "where",
    [{"headers": {"x-goog-api-key": "not-the-key"}}, {"params": {"key": "not-the-key"}}],
    ids=["x-goog-api-key", "query"],
)
@pytest.mark.parametrize("path", [GEMINI, GEMINI_V1, "/v1beta/models", "/v1beta/files"])
def test_gemini_answers_a_key_that_is_not_valid_with_400_api_key_invalid(
    keyed: TestClient, path: str, where: dict
) -> None:
    method = keyed.post if path.endswith(("Content", "Tokens")) else keyed.get
    response = method(path, json=BODY, **where) if method == keyed.post else method(path, **where)
    assert response.status_code == 400, response.text
    assert response.json() == GEMINI_BAD_KEY


# --- row 8: the Gemini API, no key at all ---------------------------------------------------


@pytest.mark.parametrize("path", [GEMINI, GEMINI_V1])
def test_gemini_answers_no_key_with_403_unregistered_callers(keyed: TestClient, path: str) -> None:
    for empty in ({}, {"headers": {"x-goog-api-key": ""}}, {"params": {"key": ""}}):
        response = keyed.post(path, json=BODY, **empty)
        assert response.status_code == 403, response.text
        assert response.json() == GEMINI_NO_KEY


def test_gemini_no_key_on_a_listing_and_a_stream(keyed: TestClient) -> None:
    for response in (
        keyed.get("/v1beta/models"),
        keyed.post(f"/v1beta/models/{PRO}:streamGenerateContent?alt=sse", json=BODY),
    ):
        assert response.status_code == 403, response.text
        assert response.json() == GEMINI_NO_KEY


# --- row 9: Vertex AI, no credential, a bad token, a bad express-mode key; the gateway ------


def test_vertex_answers_no_credential_with_401_credentials_missing(keyed: TestClient) -> None:
    for path, version in ((VERTEX, "v1beta1"), (VERTEX_EXPRESS, "v1")):
        response = keyed.post(path, json=BODY)
        assert response.status_code == 401, response.text
        method = PREDICTION.format(version=version, rpc="GenerateContent")
        assert response.json() == vertex_no_credential(method)


def test_vertex_answers_a_bad_token_with_401_invalid_credentials(keyed: TestClient) -> None:
    response = keyed.post(VERTEX, json=BODY, headers={"Authorization": "Bearer ya29.not-valid"})
    assert response.status_code == 401, response.text
    assert response.json() == VERTEX_BAD_TOKEN


@pytest.mark.parametrize(
    ("method", "path", "rpc"),
    [
        (
            "POST",
            f"/v1/publishers/google/models/{PRO}:countTokens",
            "PredictionService.CountTokens",
        ),
        (
            "POST",
            f"/v1beta1/publishers/google/models/{PRO}:computeTokens",
            "LlmUtilityService.ComputeTokens",
        ),
        ("GET", "/v1beta1/publishers/google/models", "ModelGardenService.ListPublisherModels"),
        ("GET", f"/v1/publishers/google/models/{PRO}", "ModelGardenService.GetPublisherModel"),
    ],
)
def test_vertex_names_the_rpc_it_refused(
    keyed: TestClient, method: str, path: str, rpc: str
) -> None:
    response = keyed.request(method, path, json=BODY if method == "POST" else None)
    assert response.status_code == 401, response.text
    version = path.split("/")[1]
    assert response.json() == vertex_no_credential(f"google.cloud.aiplatform.{version}.{rpc}")


def test_gemini_answers_a_bad_token_as_google_does(keyed: TestClient) -> None:
    for path, rpc in (
        (GEMINI, "v1beta.GenerativeService.GenerateContent"),
        ("/v1beta/files", "v1beta.FileService.ListFiles"),
    ):
        method = keyed.post if ":" in path else keyed.get
        kwargs: dict[str, Any] = {"json": BODY} if ":" in path else {}
        response = method(path, headers={"Authorization": "Bearer ya29.not-valid"}, **kwargs)
        assert response.status_code == 401, response.text
        expected = bad_token(
            f"google.ai.generativelanguage.{rpc}", "generativelanguage.googleapis.com"
        )
        assert response.json() == expected


def test_vertex_express_mode_answers_a_bad_key_with_400_api_key_invalid(
    keyed: TestClient,
) -> None:
    for where in ({"headers": {"x-goog-api-key": "nope"}}, {"params": {"key": "nope"}}):
        response = keyed.post(VERTEX_EXPRESS, json=BODY, **where)
        assert response.status_code == 400, response.text
        assert response.json() == express_key_not_valid()


def test_the_gateway_keeps_seed_001s_401(keyed: TestClient) -> None:
    missing = keyed.post(GATEWAY, json=BODY)
    wrong = keyed.post(GATEWAY, json=BODY, headers={"Authorization": "Bearer nope"})
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.json()["error"] == {
        "message": "API key is missing. Send it as 'Authorization: Bearer <key>'.",
        "type": "authentication_error",
        "code": "invalid_api_key",
    }
    assert wrong.json()["error"]["message"] == KEY_NOT_VALID


# --- row 10: 429s, worded per surface ---------------------------------------------------------


def gemini_quota(model: str, retry: str, quota_id: str, value: str | None) -> dict:
    """github.com/RooCodeInc/Roo-Code/issues/3883: QuotaFailure, Help, RetryInfo, in order."""
    violation: dict[str, Any] = {
        "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "quotaId": quota_id,
        "quotaDimensions": {"location": "global", "model": model},
    }
    if value is not None:
        violation["quotaValue"] = value
    return {
        "error": {
            "code": 429,
            "message": GEMINI_QUOTA_MESSAGE,
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": f"{RPC}QuotaFailure", "violations": [violation]},
                {
                    "@type": f"{RPC}Help",
                    "links": [
                        {
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }
                    ],
                },
                {"@type": f"{RPC}RetryInfo", "retryDelay": f"{retry}s"},
            ],
        }
    }


PER_MINUTE = "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"
PER_DAY = "GenerateRequestsPerDayPerProjectPerModel-FreeTier"


@pytest.mark.parametrize(("per_seconds", "quota_id"), [(60, PER_MINUTE), (86400, PER_DAY)])
def test_gemini_rate_limit_429_carries_quota_failure_help_and_retry_info(
    per_seconds: int, quota_id: str
) -> None:
    with limited(per_seconds) as client:
        auth = {"x-goog-api-key": KEY}
        assert client.post(GEMINI, json=BODY, headers=auth).status_code == 200
        refused = client.post(GEMINI, json=BODY, headers=auth)
    assert refused.status_code == 429, refused.text
    retry = refused.headers["Retry-After"]
    assert refused.json() == gemini_quota(PRO, retry, quota_id, "1")


@pytest.mark.parametrize(("fault", "retry"), [("429", "1"), ("rate_limited; retry-after=26", "26")])
def test_gemini_injected_429_carries_the_same_details(
    keyed: TestClient, fault: str, retry: str
) -> None:
    headers = {"x-goog-api-key": KEY, "X-Emulator-Fault": fault}
    response = keyed.post(GEMINI, json=BODY, headers=headers)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == retry
    # No limit configured: no quotaValue (real bodies do without it too: python-genai#2044).
    assert response.json() == gemini_quota(PRO, retry, PER_MINUTE, None)


def test_vertex_429_is_resource_exhausted_without_details() -> None:
    with limited() as client:
        auth = {"Authorization": f"Bearer {KEY}"}
        assert client.post(VERTEX, json=BODY, headers=auth).status_code == 200
        refused = client.post(VERTEX, json=BODY, headers=auth)
        injected = client.post(VERTEX, json=BODY, headers={**auth, "X-Emulator-Fault": "429"})
    for response in (refused, injected):
        assert response.status_code == 429
        assert response.headers["Retry-After"]
        assert response.json() == {
            "error": {"code": 429, "message": VERTEX_QUOTA_MESSAGE, "status": "RESOURCE_EXHAUSTED"}
        }


def test_other_429s_keep_their_own_words(keyed: TestClient) -> None:
    # Only a 429 from admission is a quota; the gateway keeps its own shape and words.
    response = keyed.post(
        GATEWAY, json=BODY, headers={"Authorization": f"Bearer {KEY}", "X-Emulator-Fault": "429"}
    )
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert "injected fault" in response.json()["error"]["message"]


# --- the contract: every detail typed, today's loose details refused -------------------------


def google_error(*details: dict) -> dict:
    return {
        "error": {"code": 400, "message": "x", "status": "INVALID_ARGUMENT", "details": [*details]}
    }


def test_every_body_above_validates_and_bad_request_is_typed_too() -> None:
    for body in (
        GEMINI_BAD_KEY,
        GEMINI_NO_KEY,
        VERTEX_NO_CREDENTIAL,
        VERTEX_BAD_TOKEN,
        express_key_not_valid(),
        gemini_quota(PRO, "26", PER_MINUTE, "250000"),
    ):
        contracts.validate("vertex", "error-google", body)
    violation = {"field": "contents[0].parts[0].inline_data", "description": "Missing data."}
    contracts.validate(
        "vertex",
        "error-google",
        google_error({"@type": f"{RPC}BadRequest", "fieldViolations": [violation]}),
    )


@pytest.mark.parametrize(
    "detail",
    [
        {"reason": "API_KEY_INVALID"},  # no @type
        {"@type": f"{RPC}Nonsense", "reason": "X"},  # a type Google does not send here
        {"@type": f"{RPC}ErrorInfo", "domain": "googleapis.com"},  # no reason
        {"@type": f"{RPC}RetryInfo", "retryDelay": 26},  # a Duration is a string
        {"@type": f"{RPC}RetryInfo", "retryDelay": "26 seconds"},
        {"@type": f"{RPC}QuotaFailure", "violations": [{"quotaMetric": "m"}]},  # no quotaId
        {
            "@type": f"{RPC}QuotaFailure",
            "violations": [{"quotaMetric": "m", "quotaId": "i", "quotaValue": 5}],
        },
        {"@type": f"{RPC}Help", "links": [{"url": "https://ai.google.dev"}]},  # no description
        {"@type": f"{RPC}BadRequest", "fieldViolations": [{"field": "contents"}]},
        {"@type": f"{RPC}LocalizedMessage", "message": "x"},  # no locale
    ],
    ids=str,
)
def test_a_detail_not_shaped_as_its_type_is_drift(detail: dict) -> None:
    with pytest.raises(contracts.ContractError):
        contracts.validate("vertex", "error-google", google_error(detail))


# --- the official SDK over a real socket -------------------------------------------------------

genai = pytest.importorskip("google.genai")
from google.genai import errors, types  # noqa: E402


@pytest.fixture
def keyed_server(no_google_environment: None) -> Iterator[str]:
    running = start_server(create_app(emulator_config(api_keys=[KEY])))
    try:
        yield running.base_url
    finally:
        running.server.should_exit = True
        running.thread.join(timeout=10)


def sdk_error(client: Any, model: str = "gemini-3-pro-image-preview") -> errors.APIError:
    with client, pytest.raises(errors.ClientError) as raised:
        client.models.generate_content(model=model, contents="a red apple")
    return raised.value


@pytest.mark.live
def test_sdk_gemini_bad_key(keyed_server: str) -> None:
    client = genai.Client(
        api_key="not-the-key", http_options=types.HttpOptions(base_url=keyed_server)
    )
    error = sdk_error(client)
    assert (error.code, error.status, error.message) == (400, "INVALID_ARGUMENT", KEY_NOT_VALID)
    assert error.details == GEMINI_BAD_KEY


@pytest.mark.live
def test_sdk_vertex_bad_token_and_bad_express_key(keyed_server: str) -> None:
    from google.oauth2.credentials import Credentials

    options = types.HttpOptions(base_url=keyed_server)
    with_token = genai.Client(
        vertexai=True,
        project="p-1",
        location="global",
        credentials=Credentials(token="ya29.not-valid"),
        http_options=options,
    )
    error = sdk_error(with_token, PRO)
    assert (error.code, error.status) == (401, "UNAUTHENTICATED")
    assert error.details == VERTEX_BAD_TOKEN
    express = genai.Client(vertexai=True, api_key="not-the-key", http_options=options)
    error = sdk_error(express, PRO)
    assert (error.code, error.status) == (400, "INVALID_ARGUMENT")
    assert error.details == express_key_not_valid()


@pytest.mark.live
def test_sdk_gemini_429_details(keyed_server: str) -> None:
    queued = httpx.post(
        f"{keyed_server}/_emulator/faults",
        json={"provider": "vertex", "error": "rate_limited", "count": 1, "retry_after": 26},
    )
    assert queued.status_code == 200, queued.text
    client = genai.Client(api_key=KEY, http_options=types.HttpOptions(base_url=keyed_server))
    error = sdk_error(client)
    assert (error.code, error.status, error.message) == (
        429,
        "RESOURCE_EXHAUSTED",
        GEMINI_QUOTA_MESSAGE,
    )
    assert error.details == gemini_quota("gemini-3-pro-image-preview", "26", PER_MINUTE, None)
