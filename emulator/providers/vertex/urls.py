"""The routing table of the Gemini surfaces: every model method of every surface, each with
its handler. A new method is one row of MODEL_METHODS and its surfaces' `methods`."""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.providers.vertex import files, grounding
from emulator.providers.vertex.model_info import get_model, list_models
from emulator.providers.vertex.responses import generate_content
from emulator.providers.vertex.streaming import stream_generate_content
from emulator.providers.vertex.surfaces import SURFACES, Method, Surface
from emulator.providers.vertex.tokens import compute_tokens, count_tokens

Handler = Callable[[Request, Surface], Awaitable[Response]]

# The Gemini API, and Vertex AI's global, regional and multi-regional hosts (the base URLs
# google-genai's _api_client.py builds). The gateway's host is the user's own
# (VERTEX_GATEWAY_BASE_URL): emulator.testing.intercept adds it.
REAL_HOSTS = (
    r"generativelanguage\.googleapis\.com",
    r"aiplatform\.googleapis\.com",
    r"[a-z0-9-]+-aiplatform\.googleapis\.com",
    r"aiplatform\.[a-z0-9-]+\.rep\.googleapis\.com",
)

MODEL_METHODS: dict[Method, Handler] = {
    Method.GENERATE: generate_content,
    Method.STREAM: stream_generate_content,
    Method.COUNT_TOKENS: count_tokens,
    Method.COMPUTE_TOKENS: compute_tokens,
}


def endpoint(handler: Handler, surface: Surface) -> Callable[[Request], Awaitable[Response]]:
    """A route handler bound to its surface (Starlette endpoints take the request only)."""

    async def on_surface(request: Request) -> Response:
        return await handler(request, surface)

    on_surface.__name__ = f"{handler.__name__}_{surface.name}"
    return on_surface


routes = [
    Route(path, endpoint(MODEL_METHODS[method], surface), methods=["POST"])
    for surface in SURFACES
    for method in surface.methods
    if method in MODEL_METHODS
    for path in surface.method_paths(method)
]
# The model listings, after the model methods: a GET route's `{model}` would also match the
# methods' paths, and the fast path (emulator/routing.py) leaves to Starlette a request whose
# first matching path is of another method.
routes += [
    Route(path, endpoint(handler, surface), methods=["GET"])
    for surface in SURFACES
    for handler, paths in (
        (list_models, surface.model_list_paths),
        (get_model, surface.model_get_paths),
    )
    for path in paths
]

# The Files API (files.py), on the surfaces that have one.
FILE_ROUTES: tuple[tuple[str, Handler, tuple[str, ...]], ...] = (
    (files.UPLOAD_PATH, files.upload, ("POST",)),
    (files.FILES_PATH, files.list_files, ("GET",)),
    (files.FILE_PATH, files.file_resource, ("GET", "DELETE")),
)
routes += [
    Route(path.format(version=version), endpoint(handler, surface), methods=list(methods))
    for surface in SURFACES
    if surface.serves_files
    for version in files.VERSIONS
    for path, handler, methods in FILE_ROUTES
]

# The placeholder pages grounded answers cite (grounding.py): Google's redirect path, here.
routes.append(Route(grounding.REDIRECT_PATH, grounding.redirect_page, methods=["GET"]))
