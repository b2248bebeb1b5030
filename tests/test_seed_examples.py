"""The providers' own curl examples, with only the host swapped, run unchanged against a real
emulator server (the commands are copied verbatim from the seed documents into fixtures/curl;
the poll example's line break, lost in the page's text, is restored)."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from PIL import Image

import contracts
from tests.conftest import LiveServer
from tests.images import encoded

CURL_DIR = Path(__file__).parent / "fixtures" / "curl"
VIBEDREAM_HOST = "https://api.vibedream.ai"

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs the curl command")


def run_curl(command: str, curl_home: Path, **env: str) -> str:
    """Run a documented curl command in bash; output options come from a .curlrc in
    curl_home, so the command itself stays as documented. Returns its stdout."""
    result = subprocess.run(
        ["bash", "-c", command],
        env={"PATH": "/usr/bin:/bin", "CURL_HOME": str(curl_home), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def run_example(name: str, base_url: str, curl_home: Path, **substitutions: str) -> dict:
    command = (CURL_DIR / name).read_text().replace(VIBEDREAM_HOST, base_url)
    for placeholder, value in substitutions.items():
        command = command.replace(placeholder, value)
    return json.loads(run_curl(command, curl_home, VIBEDREAM_API_KEY="seed-example-key"))


@pytest.mark.parametrize("model", ["nano-banana-pro-edit", "z-image-turbo"])
def test_documented_curl_examples_succeed_unchanged(
    live_server: LiveServer, model: str, tmp_path: Path
) -> None:
    (tmp_path / ".curlrc").write_text("silent\nshow-error\nfail-with-body\n")
    submitted = run_example(f"vibedream.{model}.submit.sh", live_server.base_url, tmp_path)
    contracts.validate("vibedream", "submit-response", submitted)
    assert submitted["statusUrl"].startswith(live_server.base_url + "/api/v1/predictions/")

    polled = run_example(
        f"vibedream.{model}.poll.sh",
        live_server.base_url,
        tmp_path,
        YOUR_PREDICTION_ID=submitted["id"],
    )
    contracts.validate("vibedream", "prediction", polled)
    assert (polled["status"], polled["modelId"]) == ("processing", model)

    httpx.post(f"{live_server.base_url}/_emulator/clock/advance", json={"seconds": 60})
    done = run_example(
        f"vibedream.{model}.poll.sh",
        live_server.base_url,
        tmp_path,
        YOUR_PREDICTION_ID=submitted["id"],
    )
    assert done["status"] == "completed"
    download = httpx.get(done["outputs"][0])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("image/")


def test_vertex_gateway_curl_example_succeeds_with_a_real_image(
    live_server: LiveServer, tmp_path: Path
) -> None:
    # Seed 001's example reads BASE_URL and API_KEY from the environment, so the command runs
    # as documented. Its "<base64 image>" is a placeholder for data, not something that can be
    # sent as-is: replacing it with the base64 of a real PNG is the one substitution.
    command = (CURL_DIR / "vertex.gemini-3-pro-image.generateContent.sh").read_text()
    assert command.count("<base64 image>") == 1
    png = encoded("PNG", size=(64, 48), color="skyblue")  # 4:3
    command = command.replace("<base64 image>", base64.b64encode(png).decode())
    # The status code comes from a .curlrc so the command itself stays as documented.
    (tmp_path / ".curlrc").write_text('write-out = "\\n%{http_code}"\n')
    output = run_curl(command, tmp_path, BASE_URL=live_server.base_url, API_KEY="seed-example-key")
    body, _, status = output.rpartition("\n")
    assert status == "200", output
    answer = json.loads(body)
    contracts.validate("vertex", "response", answer)
    [candidate] = answer["candidates"]
    assert candidate["finishReason"] == "STOP"
    parts = candidate["content"]["parts"]
    assert any(part.get("text") for part in parts)
    [image] = [part["inlineData"] for part in parts if "inlineData" in part]
    assert image["mimeType"] == "image/png"
    picture = Image.open(io.BytesIO(base64.b64decode(image["data"])))
    # No aspectRatio in the example: the output follows the input's 4:3 at the default 1K.
    assert (picture.format, picture.size) == ("PNG", (1200, 896))
    details = answer["usageMetadata"]["promptTokensDetails"]
    assert {d["modality"]: d["tokenCount"] for d in details}["IMAGE"] == 560
