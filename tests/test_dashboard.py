"""The dashboard, in-process: its page (self-contained, open), GET /_emulator/jobs (what the
page lists) and GET /_emulator/thumbnails/{id} (what it shows). The page in a real browser is
tests/test_dashboard_browser.py."""

from __future__ import annotations

import io
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from starlette.testclient import TestClient

from emulator import Config
from emulator.dashboard import THUMBNAIL_SIDE
from tests.conftest import AUTH, emulator_config

UI = "/_emulator/ui"
JOBS = "/_emulator/jobs"
TURBO = "/api/v1/models/z-image-turbo/generate"
STUDIO = "/v1/images/gemini/3/pro/generate/"
TOKEN = "dashboard-admin-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}


# Tests take conftest's `client` (the default config) or `open_client` (their own): both run
# on the memory store and on Redis, as this module is in SHARED_STATE_SUITES.
OpenClient = Callable[[Config], TestClient]


def submit_turbo(client: TestClient, prompt: str = "a red fox", **headers: str) -> str:
    response = client.post(TURBO, json={"prompt": prompt}, headers={**AUTH, **headers})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def advance(client: TestClient, seconds: float, headers: dict[str, str] | None = None) -> None:
    response = client.post("/_emulator/clock/advance", json={"seconds": seconds}, headers=headers)
    assert response.status_code == 200, response.text


def jobs(client: TestClient, query: str = "", headers: dict[str, str] | None = None) -> list:
    response = client.get(f"{JOBS}{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["jobs"]


# ------------------------------------------------------------------------------------ the page


class Links(HTMLParser):
    """Every URL the markup loads or links to."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.urls += [value or "" for name, value in attrs if name in ("src", "href", "action")]


def test_the_page_is_self_contained_html(client: TestClient) -> None:
    response = client.get(UI)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    links = Links()
    links.feed(response.text)
    assert {"script", "style", "table"} <= links.tags  # CSS and JS inline, in the page
    assert links.urls  # the parser saw the page's own links (its favicon is a data: URL)
    for url in links.urls:
        assert not url.lower().startswith(("http:", "https:", "//")), url
    for external in ("http://", "https://", "//cdn", "@import"):
        assert external not in response.text.lower()
    # The browser is told so too: only same-origin requests, only the page's own script.
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "script-src 'sha256-" in policy and "unsafe" not in policy


def test_the_page_is_open_when_an_admin_token_guards_the_api(open_client: OpenClient) -> None:
    client = open_client(emulator_config(admin_token=TOKEN))
    assert client.get(UI).status_code == 200
    assert client.head(UI).status_code == 200
    # ... and nothing else is: the page reads the admin API with the token.
    assert client.post(UI).status_code == 401
    for path in (JOBS, "/_emulator/thumbnails/anything", "/_emulator/health"):
        refused = client.get(path)
        assert refused.status_code == 401, path
        assert refused.json()["error"]["code"] == "unauthenticated"
        assert TOKEN not in refused.text
    assert client.get(JOBS, headers=ADMIN).json() == {"jobs": []}
    assert client.get(JOBS, headers={"X-Emulator-Admin-Token": TOKEN}).status_code == 200
    assert client.get(JOBS, headers={"Authorization": "Bearer wrong"}).status_code == 401


# ------------------------------------------------------------------------------------ the jobs


def test_a_job_is_listed_while_it_runs_then_with_its_output(client: TestClient) -> None:
    job_id = submit_turbo(client)
    [running] = jobs(client)
    assert running["id"] == job_id
    assert (running["provider"], running["model"]) == ("vibedream", "z-image-turbo")
    assert running["status"] in ("queued", "running")
    assert running["created_at"] == "2025-01-15T12:00:00.000Z"
    assert running["finished_at"] is None and running["outputs"] == []
    assert running["key_fingerprint"] != AUTH["Authorization"].split()[1]  # never the key
    assert len(running["key_fingerprint"]) == 12

    advance(client, 3)  # z-image-turbo takes 1-3 s
    [done] = jobs(client)
    poll = client.get(f"/api/v1/predictions/{job_id}", headers=AUTH).json()
    assert (done["status"], done["progress"]) == ("succeeded", 100.0)
    assert done["finished_at"] == done["finishes_at"] == poll["completedAt"]
    [output] = done["outputs"]
    assert [output["url"]] == poll["outputs"]  # the provider's own download URL
    assert output["available"] is True and output["expires_at"] is None
    assert output["thumbnail_url"] == f"http://testserver/_emulator/thumbnails/{output['id']}"


def test_a_job_runs_from_its_start_instant_and_reads_99_until_its_end(
    open_client: OpenClient,
) -> None:
    """The two edges of "running" (issue 23): at exactly its start instant a job is running at
    0 (no longer queued); a hundredth of a second before its end it still reads 99, never 100
    while not done (3D AI Studio documents IN_PROGRESS as 0-99)."""
    studio = {"3daistudio": {"queue_duration": 2, "job_duration": 10}}  # vibedream never queues
    client = open_client(emulator_config(providers=studio))
    assert client.post(STUDIO, json={"prompt": "a city"}, headers=AUTH).status_code == 200
    assert [(job["status"], job["progress"]) for job in jobs(client)] == [("queued", 0.0)]
    advance(client, 2)  # its start instant
    assert [(job["status"], job["progress"]) for job in jobs(client)] == [("running", 0.0)]
    advance(client, 9.99)  # 0.01 s before it ends: 99.9 % of its run
    [late] = jobs(client)
    assert (late["status"], late["progress"], late["outputs"]) == ("running", 99.0, [])
    advance(client, 0.01)
    assert [(job["status"], job["progress"]) for job in jobs(client)] == [("succeeded", 100.0)]


def test_output_and_thumbnail_urls_keep_the_root_path_behind_a_proxy(app: object) -> None:
    public = "https://imagegen.example.test/emu"
    with TestClient(app, base_url="https://imagegen.example.test", root_path="/emu") as client:
        submit_turbo(client)
        advance(client, 3)
        [output] = jobs(client)[0]["outputs"]
        assert output["url"].startswith(f"{public}/assets/"), output["url"]
        assert output["thumbnail_url"] == f"{public}/_emulator/thumbnails/{output['id']}"
        assert client.get(output["url"]).status_code == 200
        assert client.get(output["thumbnail_url"]).status_code == 200


def test_the_thumbnail_is_the_output_scaled_down_and_cacheable(client: TestClient) -> None:
    job_id = submit_turbo(client)
    [listed] = jobs(client)
    assert listed["id"] == job_id
    asset_id = client.app.state.runtime.store.get_job(job_id).outputs[0]  # type: ignore[attr-defined]
    early = client.get(f"/_emulator/thumbnails/{asset_id}")
    assert early.status_code == 404  # not before the job has finished, as its download
    assert early.json()["error"]["code"] == "not_found"

    advance(client, 3)
    [output] = jobs(client)[0]["outputs"]
    full = Image.open(io.BytesIO(client.get(output["url"]).content))
    response = client.get(output["thumbnail_url"])
    assert response.status_code == 200
    assert response.headers["content-type"] == f"image/{full.format.lower()}"
    small = Image.open(io.BytesIO(response.content))
    assert max(small.size) == THUMBNAIL_SIDE < max(full.size)
    assert abs(small.width / small.height - full.width / full.height) < 0.02
    assert "immutable" in response.headers["cache-control"]
    again = client.get(output["thumbnail_url"], headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and not again.content


def test_unknown_thumbnails_are_admin_404s(client: TestClient) -> None:
    response = client.get("/_emulator/thumbnails/no-such-asset")
    assert response.status_code == 404
    assert set(response.json()["error"]) == {"code", "message"}


def test_a_failed_job_shows_why_and_no_output(client: TestClient) -> None:
    submit_turbo(client, **{"X-Emulator-Fault": "job:500"})
    advance(client, 3)
    [failed] = jobs(client)
    assert failed["status"] == "failed"
    assert failed["failure"] and failed["outputs"] == []


def test_newest_first_within_the_limit_and_filters(open_client: OpenClient) -> None:
    studio = {"3daistudio": {"queue_duration": 0, "job_duration": 0}}
    client = open_client(emulator_config(providers=studio))
    turbo_ids = [submit_turbo(client, f"fox {n}") for n in range(3)]
    studio_job = client.post(STUDIO, json={"prompt": "a city", "num_images": 2}, headers=AUTH)
    studio_id = studio_job.json()["task_id"]

    assert [job["id"] for job in jobs(client)] == [studio_id, *reversed(turbo_ids)]
    assert [job["id"] for job in jobs(client, "?limit=2")] == [studio_id, turbo_ids[2]]
    assert [job["id"] for job in jobs(client, "?provider=vibedream&limit=1")] == [turbo_ids[2]]
    [studio_view] = jobs(client, "?status=succeeded")  # the turbo jobs still run
    assert studio_view["id"] == studio_id and len(studio_view["outputs"]) == 2
    assert jobs(client, "?model=gemini-3-pro") == [studio_view]
    assert jobs(client, "?provider=vertex") == []


def test_the_default_limit_is_20(client: TestClient) -> None:
    for n in range(21):
        submit_turbo(client, f"fox {n}")
    assert len(jobs(client)) == 20


@pytest.mark.parametrize(
    "query",
    [
        "?limit=0",
        "?limit=-1",
        "?limit=abc",
        "?limit=",
        "?limit=1.5",
        "?limit=201",
        "?limit=%C2%B2",  # "²": a digit to str.isdigit(), not to int()
        "?provider=nope",
        "?status=done",
        "?status=SUCCEEDED",
        "?page=2",
    ],
)
def test_bad_query_parameters_are_400s_in_the_admin_shape(client: TestClient, query: str) -> None:
    response = client.get(f"{JOBS}{query}")
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["message"]


def test_the_journal_limit_refuses_unicode_digits_too(client: TestClient) -> None:
    assert client.get("/_emulator/requests?limit=%C2%B2").status_code == 400


@pytest.mark.parametrize("path", [JOBS, "/_emulator/requests"])
def test_a_limit_of_thousands_of_digits_is_a_400_not_a_500(client: TestClient, path: str) -> None:
    """int() refuses strings of more than 4300 digits with a ValueError."""
    assert client.get(path, params={"limit": "9" * 5000}).status_code == 400


def test_a_journal_limit_beyond_its_size_gives_all_of_it(client: TestClient) -> None:
    client.get("/api/v1/predictions/nope", headers=AUTH)
    answer = client.get("/_emulator/requests", params={"limit": 10**6})
    assert answer.status_code == 200
    assert len(answer.json()["requests"]) == 1


def test_any_query_value_is_answered_200_or_400(client: TestClient) -> None:
    @settings(max_examples=80, deadline=None)
    @given(name=st.sampled_from(["limit", "provider", "model", "status"]), value=st.text())
    def check(name: str, value: str) -> None:
        response = client.get(JOBS, params={name: value})
        assert response.status_code in (200, 400), response.text
        body = response.json()
        assert "jobs" in body or body["error"]["code"] == "invalid_request"

    submit_turbo(client)
    check()
