"""The generateContent routing table: every path of every surface, one handler."""

from starlette.routing import Route

from emulator.providers.vertex.responses import endpoint
from emulator.providers.vertex.surfaces import SURFACES

routes = [
    Route(path, endpoint(surface), methods=["POST"])
    for surface in SURFACES
    for path in surface.paths
]
