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


THREEDAI_HOST = "https://api.3daistudio.com"
# The edit example's image, "data:image/png;base64,iVBOR...", is the document's own shortening
# of a real data URI (the first bytes of any PNG's base64, then "..."): it cannot decode, so the
# emulator rightly refuses it. Like YOUR_API_KEY and YOUR_TASK_ID it is a placeholder, and the
# one substitution in the command besides those is a real small PNG in its place.
THREEDAI_IMAGE_PLACEHOLDER = "data:image/png;base64,iVBOR..."


def run_3daistudio_example(
    name: str, base_url: str, curl_home: Path, task_id: str = "", image: str = ""
) -> str:
    command = (CURL_DIR / name).read_text()
    assert command.count(THREEDAI_HOST) == 1 and command.count("YOUR_API_KEY") == 1
    command = command.replace(THREEDAI_HOST, base_url).replace("YOUR_API_KEY", "seed-example-key")
    if task_id:
        assert command.count("YOUR_TASK_ID") == 1
        command = command.replace("YOUR_TASK_ID", task_id)
    if image:
        assert command.count(THREEDAI_IMAGE_PLACEHOLDER) == 1
        command = command.replace(THREEDAI_IMAGE_PLACEHOLDER, image)
    return run_curl(command, curl_home)


def test_3daistudio_curl_examples_succeed_with_only_the_host_swapped(
    live_server: LiveServer, tmp_path: Path
) -> None:
    (tmp_path / ".curlrc").write_text("silent\nshow-error\nfail-with-body\n")
    base_url = live_server.base_url

    def poll(task_id: str) -> dict:
        output = run_3daistudio_example("3daistudio.status.sh", base_url, tmp_path, task_id)
        answer = json.loads(output)
        contracts.validate("3daistudio", "status", answer)
        return answer

    generated = json.loads(run_3daistudio_example("3daistudio.generate.sh", base_url, tmp_path))
    contracts.validate("3daistudio", "submit-response", generated)
    png = encoded("PNG", size=(64, 48), color="skyblue")  # 4:3
    image = "data:image/png;base64," + base64.b64encode(png).decode()
    edited = json.loads(
        run_3daistudio_example("3daistudio.edit.sh", base_url, tmp_path, image=image)
    )
    contracts.validate("3daistudio", "submit-response", edited)
    for task in (generated, edited):
        assert poll(task["task_id"]) == {"status": "PENDING", "progress": 0, "results": []}

    # 40-90 s per image after at most 5 s queued: the generate example asks for 2 images.
    httpx.post(f"{base_url}/_emulator/clock/advance", json={"seconds": 185})
    wallet = httpx.get(
        f"{base_url}/account/user/wallet/", headers={"Authorization": "Bearer seed-example-key"}
    )
    assert wallet.json() == {"balance": "850.00"}  # 2 x 50 (2K) + 50 (1K, the default)

    # generate: 16:9 at 2K in PNG, two images; edit: the default auto follows the input's 4:3.
    for task, count, size in ((generated, 2, (2752, 1536)), (edited, 1, (1200, 896))):
        done = poll(task["task_id"])
        assert (done["status"], done["progress"], len(done["results"])) == ("FINISHED", 100, count)
        for result in done["results"]:
            assert result["asset_url"].startswith(base_url + "/")
            download = httpx.get(result["asset_url"])
            assert download.headers["content-type"] == "image/png"
            picture = Image.open(io.BytesIO(download.content))
            assert (picture.format, picture.size) == ("PNG", size)
            thumbnail = Image.open(io.BytesIO(httpx.get(result["thumbnail"]).content))
            assert (thumbnail.format, max(thumbnail.size)) == ("PNG", 256)


def test_3daistudio_edit_example_as_printed_is_refused_for_its_placeholder_image(
    live_server: LiveServer, tmp_path: Path
) -> None:
    # Why the edit example needs its image substituted: "iVBOR..." is not a PNG.
    (tmp_path / ".curlrc").write_text('write-out = "\\n%{http_code}"\n')
    output = run_3daistudio_example("3daistudio.edit.sh", live_server.base_url, tmp_path)
    body, _, status = output.rpartition("\n")
    assert status == "400", output
    answer = json.loads(body)
    contracts.validate("3daistudio", "error", answer)
    assert (answer["error"]["code"], answer["error"]["field"]) == ("validation_failed", "images[0]")
