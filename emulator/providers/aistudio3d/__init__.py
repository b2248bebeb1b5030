"""3D AI Studio: Gemini 3 Pro generate and edit, then poll the task; credits and a wallet."""

from emulator.providers.aistudio3d import urls
from emulator.providers.aistudio3d.catalog import models
from emulator.providers.aistudio3d.exceptions import render_error
from emulator.providers.aistudio3d.responses import PROVIDER_ID
from emulator.providers.base import ErrorShape, Provider


def example_curl(base_url: str) -> str:
    return (
        f'curl -X POST "{base_url}/v1/images/gemini/3/pro/generate/" \\\n'
        '  -H "Authorization: Bearer test-key" -H "Content-Type: application/json" \\\n'
        '  -d \'{"prompt": "a futuristic cityscape at night, neon lights", "resolution": "2K"}\'\n'
        f'curl "{base_url}/v1/generation-request/<task_id>/status/"'
        ' -H "Authorization: Bearer test-key"'
    )


PROVIDER = Provider(
    id=PROVIDER_ID,
    title="3D AI Studio",
    routes=urls.routes,
    error_shapes=(ErrorShape(urls.PATH_PREFIXES, render_error, schema="error"),),
    example_curl=example_curl,
    model_ids=lambda: models().keys(),
    real_hosts=urls.REAL_HOSTS,
    real_asset_base_url=urls.REAL_ASSET_BASE_URL,
    job_id_params=("task_id",),
)
