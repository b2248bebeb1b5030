"""Vertex-AI-compatible generateContent: the gateway's path (seed 001) and Google's own paths
(Gemini API and Vertex AI), synchronous, for the Gemini image models."""

from emulator.providers.base import ErrorShape, Provider
from emulator.providers.vertex import urls
from emulator.providers.vertex.catalog import models
from emulator.providers.vertex.responses import PROVIDER_ID
from emulator.providers.vertex.surfaces import SURFACES


def example_curl(base_url: str) -> str:
    return (
        f'curl -X POST "{base_url}/api/v1/publishers/googleVertexAI/models/'
        'gemini-3-pro-image:generateContent" \\\n'
        '  -H "Content-Type: application/json" -H "Authorization: Bearer test-key" \\\n'
        '  -d \'{"contents": [{"role": "user", "parts": [{"text": "A lighthouse at dusk"}]}],'
        ' "generationConfig": {"responseModalities": ["TEXT", "IMAGE"]}}\''
    )


PROVIDER = Provider(
    id=PROVIDER_ID,
    title="Vertex-AI-compatible gateway (and Google's own generateContent paths)",
    routes=urls.routes,
    error_shapes=tuple(
        ErrorShape(surface.path_prefixes, surface.render_error, surface.error_schema)
        for surface in SURFACES
    ),
    example_curl=example_curl,
    model_ids=lambda: models().keys(),
    real_hosts=urls.REAL_HOSTS,
)
