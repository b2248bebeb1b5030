"""Over real sockets: a uvicorn server on 127.0.0.1 and an ephemeral port."""

from __future__ import annotations

import httpx

from tests.conftest import AUTH, LiveServer


def test_submit_poll_download_over_a_socket(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.base_url, headers=AUTH) as client:
        created = client.post("/api/v1/models/z-image-turbo/generate", json={"prompt": "socket"})
        assert created.status_code == 200
        assert created.json()["statusUrl"].startswith(live_server.base_url)
        client.post("/_emulator/clock/advance", json={"seconds": 5})
        done = client.get(created.json()["statusUrl"]).json()
        download = client.get(done["outputs"][0])
        assert download.headers["content-type"] == "image/jpeg"
        assert download.content[:3] == b"\xff\xd8\xff"


def test_urls_follow_the_scheme_and_host_a_proxy_forwards(live_server: LiveServer) -> None:
    headers = {**AUTH, "Host": "images.example.test", "X-Forwarded-Proto": "https"}
    created = httpx.post(
        f"{live_server.base_url}/api/v1/models/z-image-turbo/generate",
        json={"prompt": "proxied"},
        headers=headers,
    )
    assert created.json()["statusUrl"].startswith("https://images.example.test/api/v1/predictions/")
