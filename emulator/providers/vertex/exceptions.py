"""The two error bodies of the generateContent paths, each defined in one table, and what
each surface says, in its own words, when it refuses a key or a request over quota.

The gateway's path answers as seed 001 shows: `{"error": {"message", "type", "code"}}`
(contracts/vertex/error-gateway.json). Google's own paths answer as Google does:
`{"error": {"code": <HTTP status>, "message", "status", "details"?}}`
(contracts/vertex/error-google.json), `details` holding google.rpc typed objects.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from emulator.core.errors import ApiError, ErrorKind, QuotaBreach
from emulator.core.http import JSONResponse

# ErrorKind -> (HTTP status, type, code) on the gateway's path.
GATEWAY_ERRORS: dict[ErrorKind, tuple[int, str, str]] = {
    ErrorKind.INVALID_REQUEST: (400, "invalid_request_error", "invalid_parameter"),
    ErrorKind.UNAUTHENTICATED: (401, "authentication_error", "invalid_api_key"),
    ErrorKind.INSUFFICIENT_CREDITS: (402, "insufficient_quota", "insufficient_balance"),
    ErrorKind.PERMISSION_DENIED: (403, "permission_error", "forbidden"),
    ErrorKind.NOT_FOUND: (404, "not_found_error", "not_found"),
    ErrorKind.CONFLICT: (409, "invalid_request_error", "conflict"),
    ErrorKind.METHOD_NOT_ALLOWED: (405, "invalid_request_error", "method_not_allowed"),
    ErrorKind.PAYLOAD_TOO_LARGE: (413, "invalid_request_error", "payload_too_large"),
    # Issue 3: every invalid request is a 400 on this API, a body that is not JSON included.
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: (400, "invalid_request_error", "unsupported_media_type"),
    ErrorKind.RATE_LIMITED: (429, "rate_limit_error", "rate_limit_exceeded"),
    ErrorKind.INTERNAL: (500, "server_error", "internal_error"),
    ErrorKind.BAD_GATEWAY: (502, "server_error", "bad_gateway"),
    ErrorKind.UNAVAILABLE: (503, "server_error", "service_unavailable"),
    ErrorKind.GATEWAY_TIMEOUT: (504, "server_error", "gateway_timeout"),
}

# ErrorKind -> (HTTP status, canonical status) on Google's paths. Google has no 402, 405, 413
# or 415: quota is RESOURCE_EXHAUSTED, a wrong method is NOT_FOUND, and a body it cannot take
# is INVALID_ARGUMENT.
GOOGLE_ERRORS: dict[ErrorKind, tuple[int, str]] = {
    ErrorKind.INVALID_REQUEST: (400, "INVALID_ARGUMENT"),
    ErrorKind.UNAUTHENTICATED: (401, "UNAUTHENTICATED"),
    ErrorKind.INSUFFICIENT_CREDITS: (429, "RESOURCE_EXHAUSTED"),
    ErrorKind.PERMISSION_DENIED: (403, "PERMISSION_DENIED"),
    ErrorKind.NOT_FOUND: (404, "NOT_FOUND"),
    # AIP-133: creating a resource whose id is taken is ALREADY_EXISTS.
    ErrorKind.CONFLICT: (409, "ALREADY_EXISTS"),
    ErrorKind.METHOD_NOT_ALLOWED: (404, "NOT_FOUND"),
    ErrorKind.PAYLOAD_TOO_LARGE: (400, "INVALID_ARGUMENT"),
    ErrorKind.UNSUPPORTED_MEDIA_TYPE: (400, "INVALID_ARGUMENT"),
    ErrorKind.RATE_LIMITED: (429, "RESOURCE_EXHAUSTED"),
    ErrorKind.INTERNAL: (500, "INTERNAL"),
    # Google fronts answer a bad upstream with 502 and, in JSON, the UNAVAILABLE status.
    ErrorKind.BAD_GATEWAY: (502, "UNAVAILABLE"),
    ErrorKind.UNAVAILABLE: (503, "UNAVAILABLE"),
    ErrorKind.GATEWAY_TIMEOUT: (504, "DEADLINE_EXCEEDED"),
}


RPC = "type.googleapis.com/google.rpc."
GEMINI_SERVICE = "generativelanguage.googleapis.com"
VERTEX_SERVICE = "aiplatform.googleapis.com"


def error_info(reason: str, service: str, *, domain: str | None = "googleapis.com") -> dict:
    """A google.rpc.ErrorInfo naming the service; Refusal.error adds the RPC's name."""
    info: dict[str, Any] = {"@type": f"{RPC}ErrorInfo", "reason": reason}
    if domain is not None:
        info["domain"] = domain
    info["metadata"] = {"service": service}
    return info


def localized(message: str) -> dict:
    return {"@type": f"{RPC}LocalizedMessage", "locale": "en-US", "message": message}


class Credential(StrEnum):
    """What a refused request carried, as far as the key check is concerned."""

    MISSING = "missing"  # no key or token at all
    API_KEY = "api_key"  # an API key (x-goog-api-key or ?key=) that is not accepted
    TOKEN = "token"  # an Authorization: Bearer credential that is not accepted


@dataclass(frozen=True)
class Refusal:
    """One refusal as a surface words it; `{sources}` in the message names where the key
    goes (e.g. 'Authorization: Bearer <key>')."""

    kind: ErrorKind
    message: str
    details: tuple[dict[str, Any], ...] = ()
    # The ErrorInfo names the RPC refused too (metadata.method), as Google's credential
    # errors do; its bad-API-key answer names the service alone.
    names_method: bool = False

    def error(self, sources: str = "", rpc: str | None = None) -> ApiError:
        details = copy.deepcopy(list(self.details))
        for detail in details if self.names_method and rpc else ():
            if detail["@type"] == f"{RPC}ErrorInfo":
                detail["metadata"] = {"method": rpc, **detail["metadata"]}
        return ApiError(self.kind, self.message.format(sources=sources), details=details)


KEY_NOT_VALID = "API key not valid. Please pass a valid API key."
# Google's front end for a token that is no OAuth 2 access token (or none at all): the
# wording is the same on every Google API; the ErrorInfo carries no domain for the former.
TOKEN_NOT_VALID = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login"
    " cookie or other valid authentication credential. See"
    " https://developers.google.com/identity/sign-in/web/devconsole-project."
)
NO_CREDENTIAL = (
    "Request is missing required authentication credential. Expected OAuth 2 access token,"
    " login cookie or other valid authentication credential. See"
    " https://developers.google.com/identity/sign-in/web/devconsole-project."
)
UNREGISTERED_CALLER = (
    "Method doesn't allow unregistered callers (callers without established identity)."
    " Please use API Key or other form of API consumer identity to call this API."
)


def _key_invalid(service: str) -> Refusal:
    return Refusal(
        ErrorKind.INVALID_REQUEST,
        KEY_NOT_VALID,
        (error_info("API_KEY_INVALID", service), localized(KEY_NOT_VALID)),
    )


def _token_invalid(service: str) -> Refusal:
    details = (error_info("ACCESS_TOKEN_TYPE_UNSUPPORTED", service, domain=None),)
    return Refusal(ErrorKind.UNAUTHENTICATED, TOKEN_NOT_VALID, details, names_method=True)


# Surface name -> what it answers for each refused credential. The gateway keeps seed 001's
# 401 for all three. Real bodies, quoted in issue threads:
# - Gemini, a bad key: github.com/continuedev/continue/issues/8516 (and google/timesketch#3703)
# - Gemini, no key: github.com/google-gemini/deprecated-generative-ai-python/issues/463
# - Vertex, no credential: github.com/google-github-actions/run-gemini-cli/issues/123
# - a token that is not an access token: github.com/googleapis/java-aiplatform/issues/1056
#   (the message on aiplatform) and GoogleCloudPlatform/cloud-logging-data-source-plugin#126
#   (ErrorInfo ACCESS_TOKEN_TYPE_UNSUPPORTED, no domain)
# - Vertex express mode, a bad key: not seen quoted; Google's front end answers every API's
#   bad key alike (brunnurs/valuenet#12: language.googleapis.com), so its service is named.
KEY_REFUSALS: dict[str, Mapping[Credential, Refusal]] = {
    "gateway": {
        Credential.MISSING: Refusal(
            ErrorKind.UNAUTHENTICATED, "API key is missing. Send it as {sources}."
        ),
        Credential.API_KEY: Refusal(ErrorKind.UNAUTHENTICATED, KEY_NOT_VALID),
        Credential.TOKEN: Refusal(ErrorKind.UNAUTHENTICATED, KEY_NOT_VALID),
    },
    "gemini": {
        Credential.MISSING: Refusal(ErrorKind.PERMISSION_DENIED, UNREGISTERED_CALLER),
        Credential.API_KEY: _key_invalid(GEMINI_SERVICE),
        Credential.TOKEN: _token_invalid(GEMINI_SERVICE),
    },
    "vertex": {
        Credential.MISSING: Refusal(
            ErrorKind.UNAUTHENTICATED,
            NO_CREDENTIAL,
            (error_info("CREDENTIALS_MISSING", VERTEX_SERVICE),),
            names_method=True,
        ),
        # Express mode: an API key Google does not know.
        Credential.API_KEY: _key_invalid(VERTEX_SERVICE),
        Credential.TOKEN: _token_invalid(VERTEX_SERVICE),
    },
}


# Surface name -> its RPCs' package ({version}: the path's v1, v1beta or v1beta1) and the
# RPC behind each route: a model method by its name, else "<HTTP method> <collection or
# member>" (generative_service.proto, model_service.proto, file_service.proto;
# prediction_service.proto, llm_utility_service.proto, model_garden_service.proto).
RPC_PACKAGES: dict[str, str] = {
    "gemini": "google.ai.generativelanguage.{version}",
    "vertex": "google.cloud.aiplatform.{version}",
}
RPCS: dict[str, dict[str, str]] = {
    "gemini": {
        "generateContent": "GenerativeService.GenerateContent",
        "streamGenerateContent": "GenerativeService.StreamGenerateContent",
        "countTokens": "GenerativeService.CountTokens",
        "GET models": "ModelService.ListModels",
        "GET model": "ModelService.GetModel",
        "GET files": "FileService.ListFiles",
        "GET file": "FileService.GetFile",
        "DELETE file": "FileService.DeleteFile",
        "POST files": "FileService.CreateFile",
    },
    "vertex": {
        "generateContent": "PredictionService.GenerateContent",
        "streamGenerateContent": "PredictionService.StreamGenerateContent",
        "countTokens": "PredictionService.CountTokens",
        "computeTokens": "LlmUtilityService.ComputeTokens",
        "GET models": "ModelGardenService.ListPublisherModels",
        "GET model": "ModelGardenService.GetPublisherModel",
    },
}


@dataclass(frozen=True)
class QuotaWording:
    """How a Google surface words a 429 raised at admission (a rate limit or an injected
    429): its message and whether it sends QuotaFailure, Help and RetryInfo details."""

    message: str
    quota_metric: str | None = None  # None: no details at all
    help_links: tuple[tuple[str, str], ...] = ()  # (description, url)


# github.com/RooCodeInc/Roo-Code/issues/3883 (QuotaFailure with quotaValue, Help, RetryInfo
# "26s", in that order); googleapis/python-genai#2044 and google-gemini/gemini-cli#8437 show
# the per-minute and per-day quota ids. Vertex AI's: google-gemini/gemini-cli#14811, no details.
GEMINI_QUOTA = QuotaWording(
    "You exceeded your current quota, please check your plan and billing details. For more"
    " information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
    quota_metric=f"{GEMINI_SERVICE}/generate_content_free_tier_requests",
    help_links=(
        ("Learn more about Gemini API quotas", "https://ai.google.dev/gemini-api/docs/rate-limits"),
    ),
)
VERTEX_QUOTA = QuotaWording(
    "Resource exhausted. Please try again later. Please refer to"
    " https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)
# The window of the configured limit -> the Gemini API's quota id (any other window: the
# per-minute one, the limit Gemini enforces first).
QUOTA_IDS: dict[float, str] = {
    60.0: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
    86400.0: "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
}
DEFAULT_QUOTA_ID = QUOTA_IDS[60.0]


def quota_details(wording: QuotaWording, quota: QuotaBreach, retry_after: str | None) -> list:
    """QuotaFailure, Help and RetryInfo, as the Gemini API sends them, in its order."""
    if wording.quota_metric is None:
        return []
    violation: dict[str, Any] = {
        "quotaMetric": wording.quota_metric,
        "quotaId": QUOTA_IDS.get(quota.per_seconds or 60.0, DEFAULT_QUOTA_ID),
        "quotaDimensions": {"location": "global", "model": quota.model or "*"},
    }
    if quota.requests is not None:
        violation["quotaValue"] = str(quota.requests)
    details: list[dict[str, Any]] = [{"@type": f"{RPC}QuotaFailure", "violations": [violation]}]
    links = [{"description": text, "url": url} for text, url in wording.help_links]
    if links:
        details.append({"@type": f"{RPC}Help", "links": links})
    if retry_after is not None and retry_after.isdigit():
        details.append({"@type": f"{RPC}RetryInfo", "retryDelay": f"{int(retry_after)}s"})
    return details


def render_gateway_error(error: ApiError) -> JSONResponse:
    status, error_type, code = GATEWAY_ERRORS[error.kind]
    body = {"error": {"message": error.message, "type": error_type, "code": code}}
    return JSONResponse(body, status_code=status, headers=error.headers)


def render_google_error(error: ApiError) -> JSONResponse:
    status, canonical = GOOGLE_ERRORS[error.kind]
    body: dict[str, Any] = {"code": status, "message": error.message, "status": canonical}
    if error.details:
        body["details"] = error.details
    return JSONResponse({"error": body}, status_code=status, headers=error.headers)


def google_renderer(quota: QuotaWording) -> Callable[[ApiError], JSONResponse]:
    """Google's error body, with a 429 from admission worded as this surface words it."""

    def render(error: ApiError) -> JSONResponse:
        if error.kind is ErrorKind.RATE_LIMITED and error.quota is not None:
            retry_after = error.headers.get("Retry-After")
            details = quota_details(quota, error.quota, retry_after)
            worded = ApiError(error.kind, quota.message, headers=error.headers, details=details)
            return render_google_error(worded)
        return render_google_error(error)

    return render


render_gemini_error = google_renderer(GEMINI_QUOTA)
render_vertex_error = google_renderer(VERTEX_QUOTA)
