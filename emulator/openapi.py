"""GET /openapi.json: the contracts' OpenAPI 3.1 document, naming this emulator as its server.

No key is asked for: the document describes the APIs, it is not one of them. The server URL
is the base URL the client used (root path included, as for asset URLs), so a code generator
or Prism pointed at a proxied emulator gets working URLs.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.routing import Route

import contracts
from emulator.core.http import JSONResponse, public_base_url

OPENAPI_PATH = "/openapi.json"


async def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(contracts.openapi_document(public_base_url(request)))


routes = [Route(OPENAPI_PATH, openapi_json, methods=["GET"])]
