"""The three ways the Gemini image models are reached, and what differs between them: the
paths of a model, the model methods served there, where the key is read, which error body is
answered, and whether Vertex's extra response fields are sent."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from starlette.requests import Request
from starlette.responses import Response

from emulator.core.errors import ApiError
from emulator.core.http import bearer_token, header
from emulator.providers.vertex.catalog import Model, served_model
from emulator.providers.vertex.exceptions import (
    KEY_REFUSALS,
    RPC_PACKAGES,
    RPCS,
    Credential,
    Refusal,
    render_gateway_error,
    render_gemini_error,
    render_vertex_error,
)


class KeySource(StrEnum):
    BEARER = "Authorization: Bearer <key>"
    GOOG_HEADER = "x-goog-api-key: <key>"
    QUERY = "?key=<key>"


class Method(StrEnum):
    """The model methods (`POST {model}:{method}`) a surface may serve."""

    GENERATE = "generateContent"
    STREAM = "streamGenerateContent"
    COUNT_TOKENS = "countTokens"
    COMPUTE_TOKENS = "computeTokens"


# Where a refused key was read -> what kind of credential it was (exceptions.KEY_REFUSALS).
CREDENTIALS: dict[KeySource, Credential] = {
    KeySource.BEARER: Credential.TOKEN,
    KeySource.GOOG_HEADER: Credential.API_KEY,
    KeySource.QUERY: Credential.API_KEY,
}

# A collection in a path -> what one of its members is called in exceptions.RPCS.
_MEMBERS: dict[str, str] = {"models": "model", "files": "file"}

_READERS: dict[KeySource, Callable[[Request], str | None]] = {
    KeySource.BEARER: bearer_token,
    KeySource.GOOG_HEADER: lambda request: header(request, b"x-goog-api-key") or None,
    KeySource.QUERY: lambda request: request.query_params.get("key") or None,
}


@dataclass(frozen=True)
class Surface:
    name: str
    # Starlette path templates of one model resource, each with a {model} parameter; a model
    # method is `POST {model path}:{method}`.
    model_paths: tuple[str, ...]
    methods: tuple[Method, ...]  # the model methods served; any other is a 404
    path_prefixes: tuple[str, ...]  # every path under these answers in this surface's errors
    key_sources: tuple[KeySource, ...]
    render_error: Callable[[ApiError], Response]
    error_schema: str
    vertex_fields: bool  # Vertex AI adds createTime and usageMetadata.trafficType
    # The model listing (`GET`): the collection (paged), and one model (a path with {model}).
    model_list_paths: tuple[str, ...] = ()
    model_get_paths: tuple[str, ...] = ()
    model_resource: str = "models/{model}"  # how the surface names a model in its answers
    # The contract of a generateContent body here: Vertex AI's fields, or the Gemini API's.
    request_schema: str = "request"

    def resource_name(self, model_id: str) -> str:
        return self.model_resource.format(model=model_id)

    def served_model(self, model_id: str, method: str) -> Model:
        """The model a request names, or the 404 for one this surface does not serve."""
        return served_model(model_id, self.resource_name(model_id), method, self.name)

    serves_files: bool = False  # a Files API (files.py), and fileData parts naming its files

    def credential(self, request: Request) -> tuple[KeySource, str] | None:
        """The first key found in the surface's key sources, and where it was found."""
        return next(
            ((source, key) for source in self.key_sources if (key := _READERS[source](request))),
            None,
        )

    @property
    def key_refusals(self) -> Mapping[Credential, Refusal]:
        return KEY_REFUSALS[self.name]

    def key_refused(self, found: tuple[KeySource, str] | None, request: Request) -> ApiError:
        """The error this surface answers a missing (None) or unaccepted key with."""
        refusal = self.key_refusals[Credential.MISSING if found is None else CREDENTIALS[found[0]]]
        sources = " or ".join(f"'{source.value}'" for source in self.key_sources)
        return refusal.error(sources, self.rpc_name(request))

    def rpc_name(self, request: Request) -> str | None:
        """The full name of the RPC a request calls (exceptions.RPCS), e.g.
        google.cloud.aiplatform.v1.PredictionService.GenerateContent; None if not listed."""
        segments = request.url.path.strip("/").removeprefix("upload/").split("/")
        last = segments[-1]
        if ":" in last:  # a model method
            route = last.rpartition(":")[2]
        elif last in _MEMBERS:  # a collection
            route = f"{request.method} {last}"
        else:  # one member of a collection
            route = f"{request.method} {_MEMBERS.get(segments[-2], '')}"
        rpc = RPCS.get(self.name, {}).get(route)
        package = RPC_PACKAGES.get(self.name)
        if rpc is None or package is None:
            return None
        return f"{package.format(version=segments[0])}.{rpc}"

    def method_paths(self, method: Method) -> tuple[str, ...]:
        return tuple(f"{path}:{method.value}" for path in self.model_paths)


# Seed 001 documents generateContent only; streaming is the same Vertex-compatible endpoint's
# stream twin (issue 16). What else the gateway serves is not published: one row to change.
GATEWAY = Surface(
    name="gateway",
    model_paths=("/api/v1/publishers/googleVertexAI/models/{model}",),
    methods=(Method.GENERATE, Method.STREAM),
    path_prefixes=("/api/v1/publishers/",),
    key_sources=(KeySource.BEARER,),
    render_error=render_gateway_error,
    error_schema="error-gateway",
    vertex_fields=True,
)

# The Gemini API has no computeTokens (generative_service.proto of v1beta).
GEMINI_API = Surface(
    name="gemini",
    model_paths=("/v1beta/models/{model}", "/v1/models/{model}"),
    methods=(Method.GENERATE, Method.STREAM, Method.COUNT_TOKENS),
    path_prefixes=(
        "/v1beta/models",
        "/v1/models",
        "/v1beta/files",
        "/v1/files",
        "/upload/",
    ),
    key_sources=(KeySource.GOOG_HEADER, KeySource.QUERY, KeySource.BEARER),
    render_error=render_gemini_error,
    error_schema="error-google",
    vertex_fields=False,
    # model_service.proto (v1beta and v1): ListModels and GetModel.
    model_list_paths=("/v1beta/models", "/v1/models"),
    model_get_paths=("/v1beta/models/{model}", "/v1/models/{model}"),
    serves_files=True,  # file_service.proto: the Files API is the Gemini API's
    # generative_service.proto's GenerationConfig and ImageConfig, without Vertex AI's fields.
    request_schema="request-gemini",
)

VERTEX_AI = Surface(
    name="vertex",
    model_paths=(
        "/v1beta1/publishers/google/models/{model}",
        "/v1/publishers/google/models/{model}",
        "/v1beta1/projects/{project}/locations/{location}/publishers/google/models/{model}",
        "/v1/projects/{project}/locations/{location}/publishers/google/models/{model}",
    ),
    methods=(Method.GENERATE, Method.STREAM, Method.COUNT_TOKENS, Method.COMPUTE_TOKENS),
    path_prefixes=("/v1beta1/", "/v1/publishers/", "/v1/projects/"),
    # Bearer (an access token); express mode sends an API key in the header or the query.
    key_sources=(KeySource.BEARER, KeySource.GOOG_HEADER, KeySource.QUERY),
    render_error=render_vertex_error,
    error_schema="error-google",
    vertex_fields=True,
    # model_garden_service.proto: GetPublisherModel in v1beta1 and v1, ListPublisherModels in
    # v1beta1 only, and neither under projects/{p}/locations/{l}.
    model_list_paths=("/v1beta1/publishers/google/models",),
    model_resource="publishers/google/models/{model}",
    model_get_paths=(
        "/v1beta1/publishers/google/models/{model}",
        "/v1/publishers/google/models/{model}",
    ),
)

SURFACES = (GATEWAY, GEMINI_API, VERTEX_AI)
