"""The dashboard in a real headless browser: Debian's Chromium driven by Playwright, against a
real uvicorn emulator on 127.0.0.1. The page loads without console errors, shows a job made
here with its thumbnail loaded, and its advance button moves the emulator's clock; a page of
another origin that posts to the admin API (a fetch, a form) moves nothing (issue 22).

Playwright is told to use the system's browser, so nothing is downloaded. Without Chromium or
Playwright these tests skip, saying which is missing (.ci/run installs Chromium). The page's
Content-Security-Policy stays on: a violation would be a console error, and fail the test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from emulator import create_app
from tests.browser import BROWSER_MARKS, page_origin
from tests.conftest import AUTH, emulator_config, run_server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page

# Debian's package; another path (another distribution's, a developer's own) through the env.
TURBO = "/api/v1/models/z-image-turbo/generate"
TOKEN = "browser-admin-token"

pytestmark = BROWSER_MARKS


@contextmanager
def emulator(admin_token: str | None = None) -> Iterator[httpx.Client]:
    """A real emulator (virtual clock) on 127.0.0.1 and an ephemeral port; yields a client on
    it that sends the admin token, if there is one."""
    server, thread, base_url = run_server(create_app(emulator_config(admin_token=admin_token)))
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    try:
        with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
            yield client
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def make_finished_job(client: httpx.Client) -> str:
    submitted = client.post(TURBO, json={"prompt": "a red fox in the snow"}, headers=AUTH)
    assert submitted.status_code == 200, submitted.text
    advance = client.post("/_emulator/clock/advance", json={"seconds": 3})  # turbo: 1-3 s
    assert advance.status_code == 200, advance.text
    return submitted.json()["id"]


def wait_until(check: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    """Polls from Python: the page's CSP forbids the eval that Playwright's wait_for_function
    would need (a test must not loosen the policy it checks)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@contextmanager
def page_of(browser: Browser) -> Iterator[tuple[Page, list[str]]]:
    """A fresh page (own storage), and the problems it reports: console errors and uncaught
    exceptions."""
    context = browser.new_context()
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"uncaught: {error}"))
    try:
        yield page, problems
    finally:
        context.close()


def thumbnail_width(page: Page, job_id: str) -> int:
    images = page.locator(f'tr[data-job-id="{job_id}"] img.thumb')
    if images.count() != 1:
        return 0
    return images.evaluate("img => img.complete ? img.naturalWidth : 0")


def test_the_page_shows_the_job_with_its_thumbnail_and_advances_the_clock(
    browser: Browser,
) -> None:
    with emulator() as client, page_of(browser) as (page, problems):
        job_id = make_finished_job(client)
        thumbnail_requests: list[str] = []
        page.on(
            "request",
            lambda request: (
                thumbnail_requests.append(request.url)
                if "/_emulator/thumbnails/" in request.url
                else None
            ),
        )
        page.goto(f"{client.base_url}/_emulator/ui")

        row = page.locator(f'tr[data-job-id="{job_id}"]')
        row.wait_for()
        assert "succeeded" in row.inner_text()
        assert wait_until(lambda: thumbnail_width(page, job_id), "the thumbnail to load") > 0
        assert TURBO in page.locator("#requests-body").inner_text()
        assert page.locator("#profile").inner_text() == "realistic"

        def shown_clock() -> str:
            return page.locator("#clock-now").inner_text()

        def emulator_clock() -> dict[str, Any]:
            return client.get("/_emulator/clock").json()

        assert shown_clock() == emulator_clock()["now"]
        before = shown_clock()
        page.fill("#advance-seconds", "60")
        with page.expect_response(lambda response: "/_emulator/jobs" in response.url):
            page.click("#advance-button")  # then the page refreshes everything
        wait_until(lambda: shown_clock() != before, "the shown clock to move")
        clock = emulator_clock()
        assert clock["offset"] == 63
        assert shown_clock() == clock["now"]
        assert page.locator("#clock-offset").inner_text() == "+1 min 3 s"

        page.click("#advance-form button[data-seconds='10']")
        # The shown clock equals the emulator's before the click lands too (a virtual clock
        # stands still): wait for the advance itself, then for the page to show it.
        wait_until(lambda: emulator_clock()["offset"] == 73, "the +10 s button's advance")
        wait_until(lambda: shown_clock() == emulator_clock()["now"], "the page to show it")

        # Refreshes keep the thumbnail already shown: it was downloaded once.
        assert thumbnail_width(page, job_id) > 0
        assert len(thumbnail_requests) == 1, thumbnail_requests
        assert problems == []


def test_with_an_admin_token_the_page_takes_it_once_and_asks_for_it_when_refused(
    browser: Browser,
) -> None:
    with emulator(admin_token=TOKEN) as client, page_of(browser) as (page, problems):
        job_id = make_finished_job(client)
        page.goto(f"{client.base_url}/_emulator/ui#token={TOKEN}")
        wait_until(lambda: thumbnail_width(page, job_id), "the thumbnail, fetched with the token")
        assert TOKEN not in page.url  # the fragment is dropped from the address bar
        assert problems == []

        page.click("#forget-token")
        page.locator("#token-panel").wait_for()
        assert page.locator("#status").inner_text() == "admin token needed"
        page.fill("#token-input", TOKEN)
        page.click("#token-form button[type=submit]")
        page.locator("#token-panel").wait_for(state="hidden")
        wait_until(lambda: "live" in page.locator("#status").inner_text(), "the page to go live")
        # The one refused poll is reported by the browser as a failed load, and nothing else.
        assert problems and all("status of 401" in problem for problem in problems), problems


# A page elsewhere: a form a script submits into a frame, as a hostile page would, with a
# text/plain body that reads as JSON ({"seconds": 3600, "pad": "="}): no preflight needed.
ATTACK_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>elsewhere</title></head>
<body><iframe name="sink"></iframe>
<form id="attack" method="POST" enctype="text/plain" target="sink" action="{action}">
<input type="hidden" name='{{"seconds": 3600, "pad": "' value='"}}'></form></body></html>"""
# Simple requests (text/plain body): sent without asking; the answer is the browser's to hide.
FETCH_POSTS = """async (url) => {
  const body = JSON.stringify({seconds: 3600});
  const sent = [];
  for (const mode of ["cors", "no-cors"]) {
    try {
      await fetch(url, {method: "POST", mode, body});
      sent.push(mode + ": answered");
    } catch (error) {
      sent.push(mode + ": " + error.name);
    }
  }
  return sent;
}"""


def test_a_page_of_another_origin_cannot_move_the_clock_by_fetch_or_form(
    browser: Browser, tmp_path: Path
) -> None:
    with emulator() as client, page_of(browser) as (page, _):
        advance = f"{client.base_url}/_emulator/clock/advance"
        (tmp_path / "index.html").write_text(ATTACK_PAGE.format(action=advance))
        with page_origin(tmp_path) as origin:
            assert origin != str(client.base_url).rstrip("/")  # another port: another origin
            page.goto(f"{origin}/index.html")
            statuses: list[int] = []
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.method) if r.url == advance else None)
            page.on(
                "response",
                lambda response: (
                    statuses.append(response.status) if response.url == advance else None
                ),
            )
            # The fetch with mode "cors" fails in the page (no CORS grant), the "no-cors" one
            # gets an opaque answer: either way the request reached the emulator.
            sent = page.evaluate(FETCH_POSTS, advance)
            assert sent == ["cors: TypeError", "no-cors: answered"], sent
            with page.expect_response(advance):
                page.evaluate("document.getElementById('attack').submit()")
        assert requests == ["POST", "POST", "POST"], requests  # all three were sent
        # Playwright reports the answers but the one a CORS failure hides from the page.
        assert statuses == [403, 403], statuses
        assert client.get("/_emulator/clock").json()["offset"] == 0
