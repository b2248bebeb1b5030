"""Tests of the thumbnailer with the emulator's pytest fixtures (the plugin is active wherever
imagegen-emulator is installed; nothing to import or configure).

``imagegen_emulator`` is a fresh emulator per test, in-process, on a virtual clock: the
client's waits (retries, polling) advance that clock, so no test waits in real time.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image as PILImage

from emulator.testing import ImagegenEmulator
from thumbnailer.app import Outcome, main, make_product_image, open_client

# Strict: a test fails at teardown if a fault it queued was never met (the app made fewer
# requests than the test thinks) or the app called an unknown endpoint or model.
pytestmark = pytest.mark.imagegen(strict=True)

PRODUCT = "a red running shoe"


def make(emulator: ImagegenEmulator, out_dir: Path) -> Outcome:
    """What the app does, with its client pointed at the emulator."""
    with open_client(**emulator.client_options()) as client:
        return make_product_image(client, PRODUCT, out_dir)


def test_saves_the_image_and_its_thumbnail(imagegen_emulator: ImagegenEmulator, tmp_path: Path):
    outcome = make(imagegen_emulator, tmp_path)

    assert outcome.status == "saved"
    with PILImage.open(outcome.image) as image:
        assert (image.format, image.size) == ("PNG", (1024, 1024))
    with PILImage.open(outcome.thumbnail) as thumbnail:
        assert (thumbnail.format, thumbnail.size) == ("JPEG", (256, 256))


def test_retries_a_429(imagegen_emulator: ImagegenEmulator, tmp_path: Path):
    imagegen_emulator.fail_next("vibedream", "429")

    outcome = make(imagegen_emulator, tmp_path)

    assert outcome.status == "saved"
    submits = imagegen_emulator.requests("vibedream", route="submit")
    assert [r["status"] for r in submits] == [429, 200]


def test_reports_busy_when_the_429s_go_on(imagegen_emulator: ImagegenEmulator, tmp_path: Path):
    imagegen_emulator.fail_next("vibedream", "429", count=4, retry_after=5)

    outcome = make(imagegen_emulator, tmp_path)

    assert (outcome.status, outcome.message) == (
        "busy",
        "vibedream is rate limiting us; try again in 5 s",
    )
    assert len(imagegen_emulator.requests("vibedream", status=429)) == 4  # 1 + 3 retries
    assert not list(tmp_path.iterdir())


def test_reports_a_moderation_refusal(imagegen_emulator: ImagegenEmulator, tmp_path: Path):
    imagegen_emulator.fail_next("vibedream", "moderation")

    outcome = make(imagegen_emulator, tmp_path)

    assert outcome.status == "rejected"
    assert "content moderation" in outcome.message
    assert len(imagegen_emulator.requests("vibedream", route="submit")) == 1  # not retried
    assert not list(tmp_path.iterdir())


def test_reports_an_empty_wallet(imagegen_emulator: ImagegenEmulator, tmp_path: Path):
    imagegen_emulator.set_balance("vibedream", imagegen_emulator.api_key, 0)

    assert make(imagegen_emulator, tmp_path).status == "no_credits"


@pytest.mark.imagegen(profile="realistic")  # jobs take their documented time
def test_waits_for_a_realistic_job_in_virtual_time(
    imagegen_emulator: ImagegenEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(time, "sleep", lambda seconds: pytest.fail("waited in real time"))
    started = imagegen_emulator.now()

    assert make(imagegen_emulator, tmp_path).status == "saved"

    assert imagegen_emulator.now() - started >= 1  # z-image-turbo's documented 1-3 s


def test_the_command_line_against_a_real_server(
    imagegen_server: ImagegenEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """``imagegen_server`` is a real HTTP server: the app is given its base URL, as it would
    be given the real API's."""
    args = [PRODUCT, "--out", str(tmp_path), "--base-url", imagegen_server.base_url]

    assert main([*args, "--api-key", "any"]) == 0

    assert capsys.readouterr().out.startswith("saved ")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "a-red-running-shoe.png",
        "a-red-running-shoe.thumb.jpg",
    ]
    assert [r["route"] for r in imagegen_server.requests("vibedream")] == ["submit", "poll"]
