"""What adding a 3D AI Studio model costs (issue 21, point 5): one row of models.json.

A byte-for-byte copy of the `emulator` package goes to a temporary folder; its models.json alone
gains a throw-away model (its own path, price and time, an existing contract and size table).
A real `serve` of that copy then takes the model's generate and edit through the task's
lifecycle on the virtual clock, with its credits, its sizes and its files: no code changed."""

from __future__ import annotations

import filecmp
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

import emulator
from tests.images import data_uri
from tests.serve_process import Served, serving

AUTH = {"Authorization": "Bearer one-row-key"}
ROW = {
    "name": "Throwaway Image 0",
    "path": "throwaway/0/test",
    "schemas": {
        "generate": "request.gemini-3.1-flash.generate",
        "edit": "request.gemini-3.1-flash.edit",
    },
    "size_table": "gemini-3.1-flash-image",
    "size": {
        "kind": "ratio_resolution",
        "ratio_param": "aspect_ratio",
        "resolution_param": "resolution",
        "resolutions": {"512px": "512", "1K": "1K", "2K": "2K", "4K": "4K"},
    },
    "format": {"param": "output_format"},
    "credits": {"by": "resolution", "per_image": {"512px": 3, "1K": 4, "2K": 6, "4K": 9}},
    "seconds_per_image": [7, 7],
    "images_params": ["images"],
    "assumed": [],
}


def copy_with_row(target: Path) -> Path:
    """The emulator package copied under `target`, its 3D AI Studio table one row longer;
    every other file identical (checked)."""
    source = Path(emulator.__file__).parent
    copied = target / "emulator"
    shutil.copytree(source, copied, ignore=shutil.ignore_patterns("__pycache__"))
    table = copied / "providers" / "aistudio3d" / "models.json"
    rows = json.loads(table.read_text())
    assert "throwaway-0" not in rows
    table.write_text(json.dumps({**rows, "throwaway-0": ROW}, indent=2))
    differing = filecmp.dircmp(source, copied, ignore=["__pycache__"])
    assert not differing.diff_files and not differing.left_only and not differing.right_only
    changed = [
        path.relative_to(copied)
        for path in copied.rglob("*")
        if path.is_file() and path.read_bytes() != (source / path.relative_to(copied)).read_bytes()
    ]
    assert changed == [Path("providers/aistudio3d/models.json")]
    return target


@pytest.fixture
def served_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    root = copy_with_row(tmp_path / "copy")
    # The copy comes first on the path (run from its folder); `contracts` is the installed one.
    monkeypatch.chdir(root)
    monkeypatch.setenv("PYTHONPATH", str(root))
    # The documented timings (so the row's own time per image), without the rate limit.
    config = root / "emulator.toml"
    config.write_text(
        'profile = "realistic"\n[providers.3daistudio]\nrate_limit = false\nwallet_balance = 1000\n'
    )
    with serving("--clock", "virtual", "--config", str(config), "--seed", "1") as served:
        yield served


def test_a_new_row_is_served_end_to_end_with_no_code_change(served_copy: Served) -> None:
    with httpx.Client(base_url=served_copy.base_url, headers=AUTH, timeout=30) as client:
        # The copy is what answers: only its table has this path (405 to a GET, not 404).
        assert client.get("/v1/images/throwaway/0/test/generate/").status_code == 405
        refused = client.post("/v1/images/throwaway/0/test/generate/", json={"prompt": ""})
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "validation_failed"

        generated = client.post(
            "/v1/images/throwaway/0/test/generate/",
            json={
                "prompt": "a throwaway",
                "aspect_ratio": "8:1",
                "resolution": "512px",
                "num_images": 2,
            },
        )
        assert generated.status_code == 200, generated.text
        edited = client.post(
            "/v1/images/throwaway/0/test/edit/",
            json={
                "prompt": "x",
                "images": [data_uri("PNG", size=(64, 48))],
                "output_format": "jpeg",
            },
        )
        assert edited.status_code == 200, edited.text
        assert client.get("/account/user/wallet/").json() == {
            "balance": str(1000 - 2 * 3 - 4) + ".00"
        }

        task = generated.json()["task_id"]
        status = client.get(f"/v1/generation-request/{task}/status/").json()
        assert status["status"] in ("PENDING", "IN_PROGRESS")
        client.post("/_emulator/clock/advance", json={"seconds": 5 + 2 * 7 + 1})
        status = client.get(f"/v1/generation-request/{task}/status/").json()
        assert (status["status"], len(status["results"])) == ("FINISHED", 2)
        for result in status["results"]:
            image = Image.open(io.BytesIO(client.get(result["asset_url"]).content))
            assert (image.format, image.size) == ("PNG", (1536, 192))

        edit_status = client.get(f"/v1/generation-request/{edited.json()['task_id']}/status/")
        [result] = edit_status.json()["results"]
        image = Image.open(io.BytesIO(client.get(result["asset_url"]).content))
        assert (image.format, image.size) == ("JPEG", (1200, 896))  # 4:3 at 1K, from the input

        # Short of credits: 402 in the provider's shape, as for every model.
        admin = {"provider": "3daistudio", "key": "one-row-key", "balance": 8}
        assert client.post("/_emulator/wallets", json=admin).status_code == 200
        short = client.post(
            "/v1/images/throwaway/0/test/generate/", json={"prompt": "x", "resolution": "4K"}
        )
        assert short.status_code == 402
        assert short.json()["error"]["code"] == "insufficient_credits"
