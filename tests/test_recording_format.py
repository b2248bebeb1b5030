"""The recording format (emulator/recording/): HAR 1.2 files that hold no credential, images as
small descriptors, repeated polls collapsed, written atomically and read back as written."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

import contracts
from contracts.recorded import with_placeholders
from emulator.recording import (
    Entry,
    RecordingError,
    Session,
    Timings,
    build_entry,
    read_recordings,
    write_har,
)
from emulator.recording.sanitise import REDACTED, describe_image
from tests.conftest import AUTH
from tests.conftest import KEY as TEST_KEY
from tests.images import data_uri, encoded

# Distinctive, with characters that URL-encoding and JSON escaping change.
KEY = "sk-Zq9/recording+KEY=7741"
QUERY_KEY = "AIzaRecordingQueryKey0042"
COOKIE = "session-cookie-value-5150"
START = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
JSON = [("Content-Type", "application/json")]
BEARER = [("Authorization", f"Bearer {KEY}"), *JSON]


def at(seconds: float, elapsed_ms: float = 100.0) -> Timings:
    return Timings(START + timedelta(seconds=seconds), elapsed_ms, elapsed_ms / 2)


def body(value: object) -> bytes:
    return json.dumps(value).encode()


def noise_png(width: int, height: int, seed: int = 7) -> bytes:
    """Random grey pixels: a PNG that cannot compress away."""
    pixels = random.Random(seed).randbytes(width * height)
    buffer = io.BytesIO()
    Image.frombytes("L", (width, height), pixels).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def har_entries(path: Path) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = json.loads(path.read_text())["log"]["entries"]
    return entries


# --------------------------------------------------------------------------- secrets


def test_a_key_appears_nowhere_in_the_written_file(tmp_path: Path) -> None:
    session = Session()
    # Seen first in a body only: masked once a later request carries it as a credential.
    session.add(
        "POST",
        "https://api.vibedream.example/api/v1/models/z-image-turbo/generate",
        JSON,
        body({"prompt": f"my key is {KEY}"}),
        200,
        JSON,
        body({"id": "p1", "status": "processing"}),
        at(0),
    )
    session.add(
        "POST",
        "https://api.vibedream.example/api/v1/models/z-image-turbo/generate",
        [*BEARER, ("Cookie", f"sid={COOKIE}"), ("X-Emulator-Admin-Token", "admin-token-31337")],
        body({"prompt": "a cat"}),
        401,
        [*JSON, ("Set-Cookie", f"sid={COOKIE}; Path=/")],
        body({"error": {"message": f"Invalid API key {KEY}."}}),
        at(1),
    )
    quoted = "sk-Zq9%2Frecording%2BKEY%3D7741"
    session.add(
        "POST",
        f"https://generativelanguage.example/v1beta/models/m:generateContent?key={QUERY_KEY}&alt=x",
        [("x-goog-api-key", QUERY_KEY), *JSON],
        body({"contents": [{"parts": [{"text": f"{quoted} and {QUERY_KEY}"}]}]}),
        400,
        [*JSON, ("X-Goog-Upload-URL", f"https://up.example/u?upload_id=9&key={QUERY_KEY}")],
        body({"error": {"message": f"API key not valid: {QUERY_KEY}"}}),
        at(2),
    )
    path = session.write(tmp_path / "session.har")
    text = path.read_text()

    for secret in (KEY, QUERY_KEY, quoted, COOKIE, "admin-token-31337", json.dumps(KEY)[1:-1]):
        assert secret not in text
    assert text.count(REDACTED) >= 5
    entries = har_entries(path)
    assert [h["name"] for h in entries[1]["request"]["headers"]] == ["Content-Type"]
    assert entries[2]["request"]["url"].endswith(":generateContent?alt=x")
    assert entries[2]["request"]["queryString"] == [{"name": "alt", "value": "x"}]
    assert entries[2]["response"]["headers"][1] == {
        "name": "X-Goog-Upload-URL",
        "value": "https://up.example/u?upload_id=9",
    }
    first_prompt = json.loads(entries[0]["request"]["postData"]["text"])["prompt"]
    assert first_prompt == f"my key is {REDACTED}"


def test_extra_redact_patterns_mask_what_they_match(tmp_path: Path) -> None:
    session = Session(redact=[r"user-\d+@example\.com"])
    session.add(
        "GET",
        "https://x.example/v1/generation-request/t1/status/",
        BEARER,
        None,
        200,
        JSON,
        body({"status": "FAILED", "failure_reason": "owner user-42@example.com"}),
        at(0),
    )
    text = session.write(tmp_path / "s.har").read_text()
    assert "user-42@example.com" not in text
    assert f"owner {REDACTED}" in text


def test_headers_are_allow_listed() -> None:
    entry = build_entry(
        "GET",
        "https://x.example/unknown",
        [("User-Agent", "sdk/1"), ("Content-Length", "9"), ("X-Custom", "v"), *BEARER],
        None,
        429,
        [("Retry-After", "7"), ("X-Goog-Upload-Status", "active"), ("Server", "gws"), *JSON],
        b"{}",
        at(0),
    )
    assert entry.request_headers == (("User-Agent", "sdk/1"), ("Content-Type", "application/json"))
    assert entry.response_headers == (
        ("Retry-After", "7"),
        ("X-Goog-Upload-Status", "active"),
        ("Content-Type", "application/json"),
    )


# --------------------------------------------------------------------------- images


def test_a_4k_png_answer_is_written_under_16_kb(tmp_path: Path) -> None:
    png = noise_png(4096, 4096)
    assert len(png) > 16_000_000  # the noise did not compress away
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "image/png",
                                "data": base64.b64encode(png).decode(),
                            }
                        }
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    session = Session()
    session.add(
        "POST",
        "https://gw.example/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent",
        BEARER,
        body({"contents": [{"role": "user", "parts": [{"text": "noise"}]}]}),
        200,
        JSON,
        body(answer),
        at(0, 30_000),
    )
    path = session.write(tmp_path / "4k.har")
    assert path.stat().st_size < 16 * 1024

    [entry] = read_recordings(path)
    part = entry.response_json()["candidates"][0]["content"]["parts"][0]["inlineData"]
    image = part["data"]["_imagegen_image"]
    assert part["mimeType"] == "image/png"
    assert list(image) == ["format", "width", "height", "bytes", "sha256", "thumbnail"]
    assert (image["format"], image["width"], image["height"]) == ("png", 4096, 4096)
    assert image["bytes"] == len(png)
    assert image["sha256"] == hashlib.sha256(png).hexdigest()
    assert len(image["thumbnail"]) <= 4096
    prefix, _, payload = image["thumbnail"].partition(",")
    assert prefix == "data:image/jpeg;base64"
    with Image.open(io.BytesIO(base64.b64decode(payload))) as thumbnail:
        assert thumbnail.format == "JPEG"
        assert max(thumbnail.size) <= 128
        assert thumbnail.size[0] == thumbnail.size[1]
    assert entry.response_size == len(body(answer))


@pytest.mark.parametrize(
    ("path", "request_body", "where"),
    [
        (
            "/v1/images/gemini/3/pro/edit/",
            {"prompt": "p", "images": [data_uri("JPEG", size=(40, 30))]},
            lambda b: b["images"][0],
        ),
        (
            "/api/v1/models/nano-banana-pro-edit/generate",
            {"prompt": "p", "images": data_uri("WEBP", size=(40, 30))},
            lambda b: b["images"],
        ),
        (
            "/v1beta/models/m:generateContent",
            {
                "contents": [
                    {
                        "parts": [
                            {
                                "inline_data": {
                                    "mime_type": "image/jpeg",
                                    "data": base64.urlsafe_b64encode(
                                        encoded("JPEG", size=(40, 30))
                                    ).decode(),
                                }
                            }
                        ]
                    }
                ]
            },
            lambda b: b["contents"][0]["parts"][0]["inline_data"]["data"],
        ),
    ],
    ids=["3daistudio-data-uri-list", "vibedream-data-uri", "gemini-snake-case-urlsafe"],
)
def test_request_images_become_descriptors(
    path: str, request_body: dict[str, Any], where: Callable[[Any], Any]
) -> None:
    entry = build_entry(
        "POST", f"https://x.example{path}", BEARER, body(request_body), 200, JSON, b"{}", at(0)
    )
    image = where(entry.request_json())["_imagegen_image"]
    assert (image["width"], image["height"]) == (40, 30)
    assert image["format"] in {"jpeg", "webp"}
    assert image["thumbnail"].startswith("data:image/jpeg;base64,")


def test_placeholders_restore_a_string_of_the_kind_each_descriptor_replaced() -> None:
    request = {"prompt": "p", "images": [data_uri("PNG", size=(8, 8)), data_uri("JPEG")]}
    entry = build_entry(
        "POST",
        "https://x.example/v1/images/gemini/3/pro/edit/",
        BEARER,
        body(request),
        200,
        JSON,
        b"{}",
        at(0),
    )
    restored = with_placeholders("3daistudio", str(entry.request_contract), entry.request_json())
    assert [uri.partition(";")[0] for uri in restored["images"]] == [
        "data:image/png",
        "data:image/jpeg",
    ]
    assert entry.request_contract is not None
    contracts.validate("3daistudio", entry.request_contract, restored)


def test_undecodable_image_data_is_described_by_size_and_hash() -> None:
    junk = b"not an image at all" * 10
    request = {
        "contents": [
            {
                "parts": [
                    {
                        "inlineData": {
                            "mimeType": "image/png",
                            "data": base64.b64encode(junk).decode(),
                        }
                    }
                ]
            }
        ]
    }
    entry = build_entry(
        "POST",
        "https://x.example/v1/models/m:generateContent",
        BEARER,
        body(request),
        200,
        JSON,
        b"{}",
        at(0),
    )
    data = entry.request_json()["contents"][0]["parts"][0]["inlineData"]["data"]
    assert data == {
        "_imagegen_image": {
            "format": None,
            "bytes": len(junk),
            "sha256": hashlib.sha256(junk).hexdigest(),
        }
    }
    assert describe_image(b"")["_imagegen_image"]["bytes"] == 0


def test_a_heif_image_is_named_but_not_measured() -> None:
    heic = b"\x00\x00\x00\x18ftypheic" + bytes(64)
    image = describe_image(heic)["_imagegen_image"]
    assert image == {
        "format": "heic",
        "width": None,
        "height": None,
        "bytes": len(heic),
        "sha256": hashlib.sha256(heic).hexdigest(),
    }


def test_cookie_attributes_and_urls_without_keys_are_left_alone() -> None:
    url = "https://x.example/v1beta/files?pageSize=10&pageToken=a%20b"
    entry = build_entry(
        "GET",
        url,
        BEARER,
        None,
        200,
        [("Set-Cookie", f"sid={COOKIE}; Domain=x.example; Path=/"), *JSON],
        body({"note": "served by x.example"}),
        at(0),
    )
    assert entry.url == url
    assert entry.response_json() == {"note": "served by x.example"}


def test_a_data_uri_inside_a_text_is_summarised() -> None:
    uri = data_uri("PNG", size=(20, 10))
    entry = build_entry(
        "GET",
        "https://x.example/unknown",
        BEARER,
        None,
        200,
        JSON,
        body({"note": f"see ![x]({uri}) here"}),
        at(0),
    )
    note = entry.response_json()["note"]
    assert "base64" not in note
    assert note.startswith("see ![x]([_imagegen_image png 20x10 ")
    assert note.endswith(") here")


def test_a_streamed_answer_keeps_its_events_with_images_described() -> None:
    png = encoded("PNG", size=(32, 32))
    chunk = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "image/png",
                                "data": base64.b64encode(png).decode(),
                            }
                        }
                    ]
                }
            }
        ]
    }
    stream = (
        f"data: {json.dumps({'candidates': []})}\r\n\r\ndata: {json.dumps(chunk)}\r\n\r\n".encode()
    )
    entry = build_entry(
        "POST",
        "https://gw.example/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:streamGenerateContent?alt=sse",
        BEARER,
        b"{}",
        200,
        [("Content-Type", "text/event-stream")],
        stream,
        at(0),
    )
    assert entry.response_json() is None
    events = [e for e in entry.response_text.split("\n\n") if e]
    assert len(events) == 2
    second = json.loads(events[1].removeprefix("data: "))
    assert (
        second["candidates"][0]["content"]["parts"][0]["inlineData"]["data"]["_imagegen_image"][
            "width"
        ]
        == 32
    )
    assert entry.operation == "streamGenerateContentGateway"


def test_a_raw_image_upload_body_is_its_descriptor() -> None:
    png = encoded("PNG", size=(8, 8))
    entry = build_entry(
        "POST",
        "https://x.example/upload/v1beta/files",
        [("Content-Type", "image/png"), ("X-Goog-Upload-Command", "upload, finalize")],
        png,
        200,
        JSON,
        b"{}",
        at(0),
    )
    assert entry.request_mime == "image/png"
    assert entry.request_json()["_imagegen_image"]["sha256"] == hashlib.sha256(png).hexdigest()
    assert entry.provider == "vertex"


# --------------------------------------------------------------------------- recognition


def test_operations_and_contracts_are_recognised_and_unknown_paths_are_null() -> None:
    submit = build_entry(
        "POST",
        "https://api.example/api/v1/models/z-image-turbo/generate",
        BEARER,
        body({"prompt": "a cat"}),
        200,
        JSON,
        b"{}",
        at(0),
    )
    assert (submit.provider, submit.operation) == ("vibedream", "submitPrediction")
    assert (submit.request_contract, submit.response_contract) == (
        "request.z-image-turbo",
        "submit-response",
    )
    for name in (submit.request_contract, submit.response_contract):
        assert name in contracts.schema_names("vibedream")

    unknown = build_entry(
        "GET", "https://api.example/nothing/here", BEARER, None, 404, JSON, b"{}", at(0)
    )
    assert (unknown.provider, unknown.operation) == (None, None)
    assert (unknown.request_contract, unknown.response_contract) == (None, None)
    raw = unknown.to_har()["_imagegen"]
    assert raw["provider"] is None and raw["contracts"] == {"request": None, "response": None}


def test_a_prefix_in_front_of_the_provider_paths_is_stripped() -> None:
    entry = build_entry(
        "GET",
        "https://gw.example/ai/v1/generation-request/t1/status/",
        BEARER,
        None,
        200,
        JSON,
        b"{}",
        at(0),
        prefix="/ai",
    )
    assert (entry.provider, entry.operation) == ("3daistudio", "getTaskStatus")


# --------------------------------------------------------------------------- files


def test_round_trip_write_then_read(tmp_path: Path) -> None:
    session = Session()
    session.add(
        "POST",
        "https://api.example/api/v1/models/z-image-turbo/generate",
        BEARER,
        body({"prompt": "a cat"}),
        200,
        JSON,
        body({"id": "p1", "status": "processing"}),
        Timings(START, 250.25, None),
    )
    session.add("GET", "https://api.example/nowhere", [], None, 204, [], b"", at(3))
    path = session.write(tmp_path / "s.har")
    read = read_recordings(path)
    assert read == session.entries()
    assert read[0].first_byte_ms is None and read[0].elapsed_ms == 250.25
    assert read[1].request_text is None and read[1].response_text == ""

    document = json.loads(path.read_text())
    assert document["log"]["version"] == "1.2"
    assert document["log"]["creator"]["name"] == "imagegen-emulator"
    har = document["log"]["entries"][0]
    assert har["startedDateTime"] == "2025-01-15T12:00:00.000+00:00"
    assert har["time"] == 250.25
    assert har["request"]["postData"]["mimeType"] == "application/json"
    assert set(har["timings"]) >= {"send", "wait", "receive"}
    assert har["_imagegen"]["collapsed"] is None

    # A folder reads every .har file in it, by name.
    write_har(tmp_path / "a.har", read[1:])
    assert [e.url for e in read_recordings(tmp_path)] == [read[1].url, *(e.url for e in read)]


def test_a_browser_har_without_imagegen_data_is_recognised(tmp_path: Path) -> None:
    har = build_entry(
        "GET", "https://api.example/api/v1/predictions/p1", BEARER, None, 200, JSON, b"{}", at(0)
    ).to_har()
    del har["_imagegen"]
    path = tmp_path / "browser.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": [har]}}))
    [entry] = read_recordings(path)
    assert (entry.provider, entry.operation, entry.response_contract) == (
        "vibedream",
        "getPrediction",
        "prediction",
    )


@pytest.mark.parametrize("existing", [False, True], ids=["no-file", "old-file"])
def test_a_failed_write_leaves_no_file_or_the_old_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, existing: bool
) -> None:
    target = tmp_path / "s.har"
    if existing:
        target.write_text("old")
    entry = build_entry("GET", "https://x.example/a", [], None, 200, JSON, b"{}", at(0))

    def broken_fsync(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(RecordingError, match=r"s\.har: cannot be written: disk full"):
        write_har(target, [entry])
    assert list(tmp_path.iterdir()) == ([target] if existing else [])
    if existing:
        assert target.read_text() == "old"
    monkeypatch.undo()
    write_har(target, [entry])
    assert read_recordings(target) == [entry]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("corrupt.har", '{"log": {"entries": [', "not a HAR file: invalid JSON at line 1"),
        ("foreign.har", '{"openapi": "3.1.0"}', "not a HAR file: no log.entries list"),
        ("list.har", "[1, 2]", "not a HAR file: no log.entries list"),
        (
            "bad-entry.har",
            '{"log": {"entries": [{"request": {}}]}}',
            "entry 0 is malformed: missing",
        ),
        ("binary.har", b"\xff\xfe\x00garbage", "not a HAR file: not UTF-8 text"),
    ],
)
def test_unreadable_files_raise_a_one_line_recording_error(
    tmp_path: Path, name: str, content: str | bytes, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(RecordingError) as raised:
        read_recordings(path)
    text = str(raised.value)
    assert text.startswith(f"{path}: ")
    assert message in text
    assert "\n" not in text


def test_missing_paths_and_empty_folders_raise_recording_errors(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="no such file or folder"):
        read_recordings(tmp_path / "absent")
    with pytest.raises(RecordingError, match=r"no \.har files in this folder"):
        read_recordings(tmp_path)


# --------------------------------------------------------------------------- polls


def poll(session: Session, url: str, answer: dict[str, Any], seconds: float) -> None:
    session.add("GET", url, BEARER, None, 200, JSON, body(answer), at(seconds))


def test_repeated_poll_answers_collapse_into_their_first() -> None:
    session = Session()
    session.add(
        "POST",
        "https://api.example/api/v1/models/z-image-turbo/generate",
        BEARER,
        body({"prompt": "a cat"}),
        200,
        JSON,
        body({"id": "p1", "status": "processing"}),
        at(0),
    )
    url = "https://api.example/api/v1/predictions/p1"
    for second in range(1, 6):
        # Same answer but for the timestamps: still the same answer.
        poll(session, url, {"id": "p1", "status": "processing", "createdAt": f"t{second}"}, second)
    poll(session, url, {"id": "p1", "status": "completed", "outputs": ["u"]}, 6)
    poll(session, url, {"id": "p1", "status": "completed", "outputs": ["u"]}, 7)

    entries = session.entries()
    assert [e.collapsed.count if e.collapsed else None for e in entries] == [None, 5, None, None]
    folded = entries[1].collapsed
    assert folded is not None
    assert (folded.first, folded.last) == (
        "2025-01-15T12:00:01.000+00:00",
        "2025-01-15T12:00:05.000+00:00",
    )
    assert entries[1].started == folded.first
    assert entries[1].to_har()["_imagegen"]["collapsed"] == {
        "count": 5,
        "first": folded.first,
        "last": folded.last,
    }


def test_each_new_state_or_progress_of_a_job_is_kept_and_jobs_do_not_mix() -> None:
    session = Session()
    status = "https://x.example/v1/generation-request/{}/status/"
    states = [
        ("PENDING", 0),
        ("PENDING", 0),
        ("PENDING", 0),
        ("IN_PROGRESS", 10),
        ("IN_PROGRESS", 10),
        ("IN_PROGRESS", 20),
        ("FINISHED", 100),
    ]
    for second, (state, progress) in enumerate(states):
        for task in ("a", "b"):  # two jobs polled in turn
            poll(session, status.format(task), {"status": state, "progress": progress}, second)
    entries = session.entries()
    counts = [(e.url.split("/")[-3], e.collapsed.count if e.collapsed else 1) for e in entries]
    assert counts == [(t, n) for n in (3, 2, 1, 1) for t in ("a", "b")]
    assert [e.response_json()["status"] for e in entries[::2]] == [
        "PENDING",
        "IN_PROGRESS",
        "IN_PROGRESS",
        "FINISHED",
    ]


def test_a_different_answer_between_polls_breaks_the_run() -> None:
    session = Session()
    url = "https://api.example/api/v1/predictions/p1"
    poll(session, url, {"id": "p1", "status": "processing"}, 0)
    session.add("GET", url, BEARER, None, 429, JSON, body({"status": "processing"}), at(1))
    poll(session, url, {"id": "p1", "status": "processing"}, 2)
    assert [e.status for e in session.entries()] == [200, 429, 200]


def test_entries_compare_by_value() -> None:
    one = build_entry("GET", "https://x.example/a", [], None, 200, JSON, b"{}", at(0))
    assert Entry.from_har(one.to_har()) == one


# ------------------------------------------------------------ the emulator's own traffic


def record(session: Session, response: httpx.Response, seconds: float) -> None:
    request = response.request
    session.add(
        request.method,
        str(request.url),
        list(request.headers.items()),
        request.content or None,
        response.status_code,
        list(response.headers.items()),
        response.content,
        at(seconds, response.elapsed.total_seconds() * 1000),
    )


def test_the_emulators_traffic_records_and_its_answers_still_match_their_contracts(
    client: TestClient, tmp_path: Path
) -> None:
    session = Session()
    created = client.post(
        "/api/v1/models/z-image-turbo/generate", json={"prompt": "a red fox"}, headers=AUTH
    )
    record(session, created, 0)
    poll_url = f"/api/v1/predictions/{created.json()['id']}"
    for second in (1, 1.5):
        record(session, client.get(poll_url, headers=AUTH), second)
    assert client.post("/_emulator/clock/advance", json={"seconds": 5}).status_code == 200
    record(session, client.get(poll_url, headers=AUTH), 6)
    generated = client.post(
        f"/v1beta/models/gemini-3-pro-image-preview:generateContent?key={TEST_KEY}",
        json={"contents": [{"role": "user", "parts": [{"text": "a lighthouse"}]}]},
    )
    assert generated.status_code == 200
    record(session, generated, 7)
    path = session.write(tmp_path / "emulator.har")

    assert TEST_KEY not in path.read_text()
    entries = read_recordings(path)
    assert [(e.operation, e.collapsed.count if e.collapsed else 1) for e in entries] == [
        ("submitPrediction", 1),
        ("getPrediction", 2),
        ("getPrediction", 1),
        ("generateContentGeminiV1beta", 1),
    ]
    for entry in entries[:3]:
        assert entry.provider is not None and entry.response_contract is not None
        contracts.validate(entry.provider, entry.response_contract, entry.response_json())
    parts = entries[3].response_json()["candidates"][0]["content"]["parts"]
    image = next(p for p in parts if "inlineData" in p)["inlineData"]["data"]["_imagegen_image"]
    assert (image["width"], image["height"]) == (1024, 1024)
    assert entries[3].response_size > path.stat().st_size
    # With its images back as placeholders, the answer matches its contract again.
    answer = with_placeholders("vertex", "response-gemini", entries[3].response_json())
    assert entries[3].response_contract == "response-gemini"
    contracts.validate("vertex", entries[3].response_contract, answer)
    placeholder = next(p for p in answer["candidates"][0]["content"]["parts"] if "inlineData" in p)
    assert base64.b64decode(placeholder["inlineData"]["data"])  # a base64 stand-in
