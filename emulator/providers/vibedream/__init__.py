"""vibedream: async submit, then poll (nano-banana-pro-edit, z-image-turbo, ...)."""

from emulator.providers.base import ErrorShape, Provider
from emulator.providers.vibedream import urls
from emulator.providers.vibedream.catalog import models
from emulator.providers.vibedream.exceptions import render_error
from emulator.providers.vibedream.responses import PROVIDER_ID


def example_curl(base_url: str) -> str:
    return (
        f'curl -X POST "{base_url}/api/v1/models/z-image-turbo/generate" \\\n'
        '  -H "Content-Type: application/json" -H "Authorization: Bearer test-key" \\\n'
        '  -d \'{"prompt": "A beautiful sunset over mountains", "size": "1024*768"}\'\n'
        f'curl "{base_url}/api/v1/predictions/<id>" -H "Authorization: Bearer test-key"'
    )


PROVIDER = Provider(
    id=PROVIDER_ID,
    title="vibedream",
    routes=urls.routes,
    error_shapes=(ErrorShape(urls.PATH_PREFIXES, render_error, schema="error"),),
    example_curl=example_curl,
    model_ids=lambda: models().keys(),
    real_hosts=urls.REAL_HOSTS,
    real_asset_base_url=urls.REAL_ASSET_BASE_URL,
    job_id_params=("prediction_id",),
)
