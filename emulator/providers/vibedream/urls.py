"""vibedream's routing table."""

from starlette.routing import Route

from emulator.providers.vibedream import responses

PATH_PREFIXES = ("/api/v1/models/", "/api/v1/predictions")

routes = [
    Route("/api/v1/models/{model}/generate", responses.submit, methods=["POST"]),
    Route("/api/v1/predictions/{prediction_id}", responses.get_prediction, methods=["GET"]),
]
