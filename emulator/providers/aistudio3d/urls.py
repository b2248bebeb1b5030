"""3D AI Studio's routing table. The documented paths end in a slash; the same paths without
it are served too, answering exactly as the documented ones (no redirect: a redirected POST
loses its body in many clients)."""

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.providers.aistudio3d import responses
from emulator.providers.aistudio3d.catalog import OPERATIONS, models

PATH_PREFIXES = ("/v1/images/", "/v1/generation-request/", "/account/user/wallet", "/user/wallet")
# Seed 002's example results: asset_url on cdn.3daistudio.com, asset and thumbnail on
# storage.3daistudio.com. The emulator gives one URL for all three (asset_url == asset), on
# the CDN, the URL the documentation tells clients to download.
REAL_HOSTS = (r"api\.3daistudio\.com", r"cdn\.3daistudio\.com", r"storage\.3daistudio\.com")
REAL_ASSET_BASE_URL = "https://cdn.3daistudio.com"


def with_and_without_slash(
    path: str, endpoint: Callable[[Request], Awaitable[Response]], methods: list[str]
) -> list[Route]:
    return [
        Route(path, endpoint, methods=methods),
        Route(path.rstrip("/"), endpoint, methods=methods),
    ]


routes = [
    route
    for model in models().values()
    for operation in OPERATIONS
    for route in with_and_without_slash(
        f"/v1/images/{model.path}/{operation}/",
        responses.submit_endpoint(model, operation),
        ["POST"],
    )
]
routes += with_and_without_slash(
    "/v1/generation-request/{task_id}/status/", responses.get_status, ["GET"]
)
for wallet_path in ("/account/user/wallet/", "/user/wallet/"):
    routes += with_and_without_slash(wallet_path, responses.get_wallet, ["GET"])
