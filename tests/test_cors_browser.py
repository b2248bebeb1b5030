"""CORS in a real browser: Debian's Chromium driven by Playwright (as in
tests/test_dashboard_browser.py) loads a page from one origin, a small static server on its own
127.0.0.1 port, whose script calls a live emulator on another port. The browser preflights the
Gemini call (it sends x-goog-api-key), the emulator grants it and the page reads the image; the
same page gets nothing from the admin API. Then Google's own browser SDK, @google/genai's web
build, does the same from the page (when npm could install it, tests/js_sdk.py).

Without Chromium or Playwright these tests skip, saying which is missing.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from PIL import Image

from tests.browser import BROWSER_MARKS, page_origin
from tests.conftest import KEY, LiveServer
from tests.js_sdk import installed_sdk

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = BROWSER_MARKS

MODEL = "gemini-3-pro-image-preview"
GEMINI = f"/v1beta/models/{MODEL}:generateContent"
PROMPT = "A lighthouse at dusk"

# The page's script: a plain fetch with the API key header, which makes the browser preflight.
FETCH_GENERATE = """async ([base, path, key, prompt]) => {
  const response = await fetch(base + path, {
    method: "POST",
    headers: {"Content-Type": "application/json", "x-goog-api-key": key},
    body: JSON.stringify({
      contents: [{role: "user", parts: [{text: prompt}]}],
      generationConfig: {imageConfig: {aspectRatio: "16:9", imageSize: "1K"}},
    }),
  });
  const body = await response.json();
  const image = body.candidates[0].content.parts.find((part) => part.inlineData).inlineData;
  return {status: response.status, mimeType: image.mimeType, data: image.data};
}"""

# What a page gets from an admin call: the answer, or the browser's refusal.
FETCH_ADMIN = """async ([url, init]) => {
  try {
    const response = await fetch(url, init);
    return {read: true, status: response.status, body: await response.text()};
  } catch (error) {
    return {read: false, error: String(error)};
  }
}"""

# @google/genai's browser build, imported by the page (its one import, p-retry, is mapped to
# a stand-in: the SDK calls it only when retry options are set, and none are).
SDK_PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script type="importmap">{"imports": {"p-retry": "/p-retry.mjs"}}</script>
<title>genai page</title></head><body></body></html>"""
P_RETRY_STAND_IN = (
    "export default function pRetry() { throw new Error('no retries in this test'); }\n"
)
SDK_GENERATE = """async ([base, key, model, prompt]) => {
  const {GoogleGenAI} = await import("/genai/index.mjs");
  const ai = new GoogleGenAI({apiKey: key, httpOptions: {baseUrl: base}});
  const response = await ai.models.generateContent({
    model, contents: prompt,
    config: {responseModalities: ["TEXT", "IMAGE"], imageConfig: {aspectRatio: "16:9"}},
  });
  const image = response.candidates[0].content.parts.find((part) => part.inlineData).inlineData;
  return {mimeType: image.mimeType, data: image.data};
}"""


@contextmanager
def page_at(browser: Browser, url: str) -> Iterator[Page]:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(url)
        yield page
    finally:
        context.close()


def check_image(answer: dict[str, Any], size: tuple[int, int]) -> None:
    picture = Image.open(io.BytesIO(base64.b64decode(answer["data"])))
    assert picture.size == size
    assert Image.MIME[picture.format] == answer["mimeType"]


def preflights(client: httpx.Client, path: str) -> list[int]:
    """The statuses of the OPTIONS requests the emulator's journal saw on `path`."""
    entries = client.get("/_emulator/requests").json()["requests"]
    return [e["status"] for e in entries if e["method"] == "OPTIONS" and e["path"] == path]


def test_a_page_of_another_origin_calls_generate_content_and_reads_the_image(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>an app</title>")
    with (
        page_origin(tmp_path) as origin,
        page_at(browser, f"{origin}/index.html") as page,
        httpx.Client(base_url=live_server.base_url) as client,
    ):
        assert origin != live_server.base_url
        answer = page.evaluate(FETCH_GENERATE, [live_server.base_url, GEMINI, KEY, PROMPT])
        assert answer["status"] == 200
        check_image(answer, (1376, 768))
        assert preflights(client, GEMINI) == [200]  # the browser asked first, and was granted


def test_the_same_page_cannot_reset_the_emulator_or_read_the_admin_api(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>an app</title>")
    with (
        page_origin(tmp_path) as origin,
        page_at(browser, f"{origin}/index.html") as page,
        httpx.Client(base_url=live_server.base_url) as client,
    ):
        assert client.post("/_emulator/clock/advance", json={"seconds": 60}).status_code == 200
        reset = page.evaluate(
            FETCH_ADMIN,
            [
                f"{live_server.base_url}/_emulator/reset",
                {"method": "POST", "headers": {"Content-Type": "application/json"}, "body": "{}"},
            ],
        )
        assert reset["read"] is False, reset  # the browser refused: the preflight was not granted
        # ... so the POST itself was never sent: the clock was not reset.
        assert client.get("/_emulator/clock").json()["offset"] == 60
        # A GET needs no preflight; the browser sends it but keeps the answer from the page.
        health = page.evaluate(FETCH_ADMIN, [f"{live_server.base_url}/_emulator/health", {}])
        assert health["read"] is False, health


def test_googles_browser_sdk_generates_an_image_from_a_page(
    browser: Browser, live_server: LiveServer, tmp_path: Path
) -> None:
    sdk = installed_sdk()
    (tmp_path / "sdk.html").write_text(SDK_PAGE)
    (tmp_path / "p-retry.mjs").write_text(P_RETRY_STAND_IN)
    (tmp_path / "genai").symlink_to(sdk / "dist" / "web", target_is_directory=True)
    with (
        page_origin(tmp_path) as origin,
        page_at(browser, f"{origin}/sdk.html") as page,
        httpx.Client(base_url=live_server.base_url) as client,
    ):
        answer = page.evaluate(SDK_GENERATE, [live_server.base_url, KEY, MODEL, PROMPT])
        check_image(answer, (1376, 768))
        assert preflights(client, GEMINI) == [200]
