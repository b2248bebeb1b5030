"""vibedream's routing table."""

from starlette.routing import Route

from emulator.providers.vibedream import responses

PATH_PREFIXES = ("/api/v1/models/", "/api/v1/predictions")
# Seeds 000 and 003: the API, and "direct download URLs hosted on assets.vibedream.ai".
REAL_HOSTS = (r"api\.vibedream\.ai", r"assets\.vibedream\.ai")
REAL_ASSET_BASE_URL = "https://assets.vibedream.ai"

routes = [
    Route("/api/v1/models/{model}/generate", responses.submit, methods=["POST"]),
    Route("/api/v1/predictions/{prediction_id}", responses.get_prediction, methods=["GET"]),
]
