"""The Gemini API's Files API, in-process over raw HTTP: the resumable upload protocol header
by header, get / list / delete, expiry on the emulator's clock, key isolation, reset, bounds,
faults, and fileData parts naming an uploaded file in generateContent.

Every answer is checked against the contracts by the client fixture (a bodyless upload step
must carry X-Goog-Upload-Status)."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import httpx
import pytest
from starlette.testclient import TestClient

from emulator.core.auth import fingerprint
from tests.conftest import EPOCH, KEY
from tests.images import encoded

UPLOAD = "/upload/v1beta/files"
GENERATE = "/v1beta/models/gemini-3-pro-image-preview:generateContent"
OTHER_KEY = "other-key"
PNG = encoded("PNG", size=(64, 48), color="blue")
FORTY_EIGHT_HOURS = 48 * 3600


def key_headers(key: str = KEY) -> dict[str, str]:
    return {"x-goog-api-key": key}


def start(
    client: TestClient,
    *,
    size: int | None = len(PNG),
    mime: str = "image/png",
    body: dict | None = None,
    key: str = KEY,
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    headers = {
        **key_headers(key),
        "X-Goog-Upload-Protocol": "resumable",
        "X-Goog-Upload-Command": "start",
        "X-Goog-Upload-Header-Content-Type": mime,
        **(extra or {}),
    }
    if size is not None:
        headers["X-Goog-Upload-Header-Content-Length"] = str(size)
    return client.post(UPLOAD, headers=headers, json={"file": {}} if body is None else body)


def upload_url(client: TestClient, **kwargs: object) -> str:
    response = start(client, **kwargs)  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    return response.headers["x-goog-upload-url"]


def step(
    client: TestClient, url: str, command: str, data: bytes = b"", offset: int | None = 0
) -> httpx.Response:
    # As the SDK's _upload_fd: no API key, and the start's Content-Type header again.
    headers = {"X-Goog-Upload-Command": command, "Content-Type": "application/json"}
    if offset is not None:
        headers["X-Goog-Upload-Offset"] = str(offset)
    return client.post(url, headers=headers, content=data)


def uploaded(client: TestClient, data: bytes = PNG, **kwargs: object) -> dict:
    url = upload_url(client, size=len(data), **kwargs)
    response = step(client, url, "upload, finalize", data)
    assert response.status_code == 200, response.text
    assert response.headers["x-goog-upload-status"] == "final"
    return response.json()["file"]


def google_error(response: httpx.Response, status: int, canonical: str) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (status, canonical)
    return error["message"]


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock/advance", json={"seconds": seconds}).status_code == 200


def no_access(file_id: str) -> str:
    return f"You do not have permission to access the File {file_id} or it may not exist."


def generate(
    client: TestClient, part: dict, key: str = KEY, path: str = GENERATE
) -> httpx.Response:
    body = {
        "contents": [{"role": "user", "parts": [part, {"text": "make it a watercolour"}]}],
        "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "seed": 7},
    }
    google = path.startswith(("/v1beta/", "/v1/models/"))
    headers = key_headers(key) if google else {"Authorization": f"Bearer {key}"}
    return client.post(path, headers=headers, json=body)


def image_of(response: httpx.Response) -> bytes:
    parts = response.json()["candidates"][0]["content"]["parts"]
    return base64.b64decode(next(p["inlineData"]["data"] for p in parts if "inlineData" in p))


# --------------------------------------------------------------------------- the protocol


def test_start_answers_an_upload_url_on_this_emulator(client: TestClient) -> None:
    response = start(client)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-goog-upload-status"] == "active"
    assert response.headers["x-goog-upload-chunk-granularity"] == str(8 * 1024 * 1024)
    url = httpx.URL(response.headers["x-goog-upload-url"])
    assert (url.scheme, url.host, url.path) == ("http", "testserver", UPLOAD)
    assert url.params["upload_protocol"] == "resumable"
    assert len(url.params["upload_id"]) >= 40  # unguessable: the URL is the chunks' credential


def test_the_upload_url_keeps_the_root_path(app: object) -> None:
    with TestClient(app, base_url="http://emulator.test:9000", root_path="/root") as client:
        response = start(client)
    assert response.status_code == 200, response.text
    url = response.headers["x-goog-upload-url"]
    assert url.startswith("http://emulator.test:9000/root/upload/v1beta/files?upload_id=")


def test_upload_finalize_answers_the_file_as_google_does(client: TestClient) -> None:
    file = uploaded(client, body={"file": {"displayName": "blue square"}})
    file_id = file["name"].removeprefix("files/")
    assert re.fullmatch(r"[a-z0-9]{12}", file_id), file["name"]
    assert file == {
        "name": f"files/{file_id}",
        "displayName": "blue square",
        "mimeType": "image/png",
        "sizeBytes": str(len(PNG)),
        "createTime": "2025-01-15T12:00:00.000000Z",
        "updateTime": "2025-01-15T12:00:00.000000Z",
        "expirationTime": "2025-01-17T12:00:00.000000Z",
        # The base64 of the hex digest, as a real answer (googleapis/js-genai#381) shows.
        "sha256Hash": base64.b64encode(hashlib.sha256(PNG).hexdigest().encode()).decode(),
        "uri": f"https://generativelanguage.googleapis.com/v1beta/files/{file_id}",
        "state": "ACTIVE",
        "source": "UPLOADED",
    }
    assert "displayName" not in uploaded(client)  # none given: none answered


def test_chunks_then_query_then_finalize(client: TestClient) -> None:
    url = upload_url(client)
    first, rest = PNG[:100], PNG[100:]
    answer = step(client, url, "upload", first, 0)
    assert (answer.status_code, answer.content) == (200, b"")
    assert answer.headers["x-goog-upload-status"] == "active"
    query = step(client, url, "query", offset=None)
    assert query.headers["x-goog-upload-status"] == "active"
    assert query.headers["x-goog-upload-size-received"] == "100"
    assert step(client, url, "upload", rest, 100).headers["x-goog-upload-status"] == "active"
    final = step(client, url, "finalize", offset=None)
    assert final.headers["x-goog-upload-status"] == "final"
    file = final.json()["file"]
    assert file["sizeBytes"] == str(len(PNG))
    assert base64.b64decode(file["sha256Hash"]).decode() == hashlib.sha256(PNG).hexdigest()
    # Finalizing again (a retry after a lost answer) answers the same file; query says final.
    assert step(client, url, "finalize", offset=None).json() == final.json()
    again = step(client, url, "query", offset=None)
    assert again.headers["x-goog-upload-status"] == "final"
    assert again.json()["file"] == file


def test_a_wrong_offset_is_refused_and_the_upload_resumes(client: TestClient) -> None:
    url = upload_url(client)
    assert step(client, url, "upload", PNG[:50], 0).status_code == 200
    refused = step(client, url, "upload", PNG[50:], 10)
    assert "offset 10" in google_error(refused, 400, "INVALID_ARGUMENT")
    assert refused.headers["x-goog-upload-status"] == "active"
    received = int(step(client, url, "query", offset=None).headers["x-goog-upload-size-received"])
    assert received == 50  # the refused chunk was not kept
    final = step(client, url, "upload, finalize", PNG[received:], received)
    assert final.json()["file"]["sizeBytes"] == str(len(PNG))


def test_a_size_that_disagrees_with_the_declared_length(client: TestClient) -> None:
    url = upload_url(client, size=len(PNG))
    short = step(client, url, "upload, finalize", PNG[:-1])
    message = google_error(short, 400, "INVALID_ARGUMENT")
    assert f"received {len(PNG) - 1} bytes but declared {len(PNG)}" in message
    assert short.headers["x-goog-upload-status"] == "active"
    url = upload_url(client, size=10)
    long = step(client, url, "upload", PNG)
    assert "10" in google_error(long, 400, "INVALID_ARGUMENT")
    assert long.headers["x-goog-upload-status"] == "active"
    assert step(client, url, "query", offset=None).headers["x-goog-upload-size-received"] == "0"


def test_without_a_declared_length_the_size_is_what_arrived(client: TestClient) -> None:
    url = upload_url(client, size=None)
    assert step(client, url, "upload", PNG).status_code == 200
    assert step(client, url, "finalize", offset=None).json()["file"]["sizeBytes"] == str(len(PNG))


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"X-Goog-Upload-Command": "start"}, "resumable"),
        ({"X-Goog-Upload-Protocol": "multipart", "X-Goog-Upload-Command": "start"}, "multipart"),
        ({"X-Goog-Upload-Protocol": "resumable"}, "start"),
        ({"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "upload"}, "start"),
        (
            {
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": "12 bytes",
            },
            "X-Goog-Upload-Header-Content-Length",
        ),
    ],
)
def test_a_start_missing_its_headers_is_refused(
    client: TestClient, headers: dict[str, str], fragment: str
) -> None:
    response = client.post(UPLOAD, headers={**key_headers(), **headers}, json={"file": {}})
    assert fragment in google_error(response, 400, "INVALID_ARGUMENT")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"file": {"displayName": "x", "colour": "blue"}}, "file.colour"),
        ({"files": {}}, "files"),
        ({"file": {"displayName": "x" * 513}}, "file.displayName"),
        ({"file": {"name": "files/Not_Valid"}}, "file.name"),
        ({"file": {"name": "files/-dash"}}, "file.name"),
    ],
)
def test_bad_start_metadata_is_refused_naming_the_field(
    client: TestClient, body: dict, fragment: str
) -> None:
    assert google_error(start(client, body=body), 400, "INVALID_ARGUMENT").startswith(fragment)


def test_start_takes_snake_case_metadata_and_no_body(client: TestClient) -> None:
    assert uploaded(client, body={"file": {"display_name": "snake"}})["displayName"] == "snake"
    response = client.post(
        UPLOAD,
        headers={
            **key_headers(),
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(PNG)),
            "X-Goog-Upload-Header-Content-Type": "image/png",
        },
    )
    assert response.status_code == 200, response.text


def test_a_chosen_name_is_kept_and_cannot_be_taken_twice(client: TestClient) -> None:
    assert uploaded(client, body={"file": {"name": "files/my-cat-1"}})["name"] == "files/my-cat-1"
    again = start(client, body={"file": {"name": "my-cat-1"}})
    assert "files/my-cat-1" in google_error(again, 409, "ALREADY_EXISTS")
    # Names are per key: another key may use it.
    other = uploaded(client, key=OTHER_KEY, body={"file": {"name": "files/my-cat-1"}})
    assert other["name"] == "files/my-cat-1"


@pytest.mark.parametrize(
    ("command", "offset", "fragment"),
    [
        (None, 0, "X-Goog-Upload-Command"),
        ("start", 0, "X-Goog-Upload-Command"),
        ("upload, query", 0, "X-Goog-Upload-Command"),
        ("upload", None, "X-Goog-Upload-Offset"),
        ("upload", -1, "X-Goog-Upload-Offset"),
    ],
)
def test_a_step_missing_its_headers_is_refused_with_the_upload_status(
    client: TestClient, command: str | None, offset: int | None, fragment: str
) -> None:
    url = upload_url(client)
    headers = {} if command is None else {"X-Goog-Upload-Command": command}
    if offset is not None:
        headers["X-Goog-Upload-Offset"] = str(offset)
    response = client.post(url, headers=headers, content=PNG)
    assert fragment in google_error(response, 400, "INVALID_ARGUMENT")
    assert response.headers["x-goog-upload-status"] == "active"


def test_an_unknown_upload_is_not_found(client: TestClient) -> None:
    response = step(client, f"{UPLOAD}?upload_id=nope&upload_protocol=resumable", "query")
    assert "No such upload" in google_error(response, 404, "NOT_FOUND")


def test_after_finalize_or_cancel_an_upload_takes_no_bytes(client: TestClient) -> None:
    url = upload_url(client)
    assert step(client, url, "upload, finalize", PNG).status_code == 200
    late = step(client, url, "upload", PNG, len(PNG))
    assert "final" in google_error(late, 400, "INVALID_ARGUMENT")
    assert late.headers["x-goog-upload-status"] == "final"
    url = upload_url(client)
    assert step(client, url, "upload", PNG[:10]).status_code == 200
    cancelled = step(client, url, "cancel", offset=None)
    assert cancelled.headers["x-goog-upload-status"] == "cancelled"
    refused = step(client, url, "upload, finalize", PNG[10:], 10)
    assert "cancelled" in google_error(refused, 400, "INVALID_ARGUMENT")
    assert refused.headers["x-goog-upload-status"] == "cancelled"
    assert step(client, url, "query", offset=None).headers["x-goog-upload-status"] == "cancelled"


def test_the_start_needs_a_key_and_the_chunks_do_not(client: TestClient) -> None:
    response = client.post(
        UPLOAD,
        headers={"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
        json={"file": {}},
    )
    assert response.status_code in (401, 403), response.text
    url = upload_url(client, key=OTHER_KEY)
    file = step(client, url, "upload, finalize", PNG).json()["file"]
    # The file is the starting key's: it sees the file, another key does not.
    starter = client.get(f"/v1beta/{file['name']}", headers=key_headers(OTHER_KEY))
    assert starter.status_code == 200
    other = client.get(f"/v1beta/{file['name']}", headers=key_headers())
    assert google_error(other, 403, "PERMISSION_DENIED") == no_access(file["name"][6:])


# --------------------------------------------------------------------------- get, list, delete


def test_v1_serves_the_same_files_with_v1_uris(client: TestClient) -> None:
    # google-genai 3.x calls v1 by default: /upload/v1/files, /v1/files.
    response = client.post(
        "/upload/v1/files",
        headers={
            **key_headers(),
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(len(PNG)),
        },
        json={"file": {"mimeType": "image/png", "sizeBytes": len(PNG)}},
    )
    url = response.headers["x-goog-upload-url"]
    assert httpx.URL(url).path == "/upload/v1/files"
    file = step(client, url, "upload, finalize", PNG).json()["file"]
    assert file["mimeType"] == "image/png"  # from the body, with no upload header for it
    file_id = file["name"].removeprefix("files/")
    assert file["uri"] == f"https://generativelanguage.googleapis.com/v1/files/{file_id}"
    v1beta = client.get(f"/v1beta/{file['name']}", headers=key_headers()).json()
    assert v1beta == {**file, "uri": file["uri"].replace("/v1/", "/v1beta/")}
    assert client.get("/v1/files", headers=key_headers()).json() == {"files": [file]}
    v1_generate = "/v1/models/gemini-3-pro-image-preview:generateContent"
    for uri in (file["uri"], v1beta["uri"]):
        assert generate(client, {"fileData": {"fileUri": uri}}).status_code == 200
        assert generate(client, {"fileData": {"fileUri": uri}}, path=v1_generate).status_code == 200
    assert client.delete(f"/v1/{file['name']}", headers=key_headers()).json() == {}
    assert client.get(f"/v1beta/{file['name']}", headers=key_headers()).status_code == 403


def test_get_list_and_delete(client: TestClient) -> None:
    file = uploaded(client)
    assert client.get(f"/v1beta/{file['name']}", headers=key_headers()).json() == file
    assert client.get(f"/v1beta/{file['name']}", params={"key": KEY}).json() == file
    assert client.get("/v1beta/files", headers=key_headers()).json() == {"files": [file]}
    deleted = client.delete(f"/v1beta/{file['name']}", headers=key_headers())
    assert (deleted.status_code, deleted.json()) == (200, {})
    file_id = file["name"].removeprefix("files/")
    gone = client.get(f"/v1beta/{file['name']}", headers=key_headers())
    assert google_error(gone, 403, "PERMISSION_DENIED") == no_access(file_id)
    again = client.delete(f"/v1beta/{file['name']}", headers=key_headers())
    assert google_error(again, 403, "PERMISSION_DENIED") == no_access(file_id)
    assert client.get("/v1beta/files", headers=key_headers()).json() == {}


def test_unknown_and_other_keys_files_are_permission_denied(client: TestClient) -> None:
    unknown = client.get("/v1beta/files/abc123def456", headers=key_headers())
    assert google_error(unknown, 403, "PERMISSION_DENIED") == no_access("abc123def456")
    file = uploaded(client)
    for method in ("GET", "DELETE"):
        other = client.request(method, f"/v1beta/{file['name']}", headers=key_headers(OTHER_KEY))
        assert google_error(other, 403, "PERMISSION_DENIED") == no_access(file["name"][6:])
    assert client.get("/v1beta/files", headers=key_headers(OTHER_KEY)).json() == {}
    assert client.get(f"/v1beta/{file['name']}", headers=key_headers()).status_code == 200


def test_list_pages_newest_first(client: TestClient) -> None:
    names = [uploaded(client)["name"] for _ in range(12)]
    newest_first = names[::-1]
    first = client.get("/v1beta/files", headers=key_headers()).json()
    assert [f["name"] for f in first["files"]] == newest_first[:10]  # default pageSize 10
    second = client.get(
        "/v1beta/files", headers=key_headers(), params={"pageToken": first["nextPageToken"]}
    ).json()
    assert [f["name"] for f in second["files"]] == newest_first[10:]
    assert "nextPageToken" not in second
    seen, token = [], None
    while True:
        params = {"pageSize": 5, **({"pageToken": token} if token else {})}
        page = client.get("/v1beta/files", headers=key_headers(), params=params).json()
        seen += [f["name"] for f in page["files"]]
        token = page.get("nextPageToken")
        if token is None:
            break
    assert seen == newest_first
    capped = client.get("/v1beta/files", headers=key_headers(), params={"pageSize": 1000})
    assert len(capped.json()["files"]) == 12  # above 100 is taken as 100


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"pageSize": "-1"}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"pageToken": "x!"}, "pageToken"),
    ],
)
def test_bad_list_parameters_are_refused(client: TestClient, params: dict, fragment: str) -> None:
    response = client.get("/v1beta/files", headers=key_headers(), params=params)
    assert fragment in google_error(response, 400, "INVALID_ARGUMENT")


def test_files_expire_48_hours_after_creation(client: TestClient) -> None:
    file = uploaded(client)
    advance(client, FORTY_EIGHT_HOURS - 1)
    assert client.get(f"/v1beta/{file['name']}", headers=key_headers()).status_code == 200
    assert generate(client, {"fileData": {"fileUri": file["uri"]}}).status_code == 200
    advance(client, 1)
    expired = client.get(f"/v1beta/{file['name']}", headers=key_headers())
    assert google_error(expired, 403, "PERMISSION_DENIED") == no_access(file["name"][6:])
    assert client.get("/v1beta/files", headers=key_headers()).json() == {}
    refused = generate(client, {"fileData": {"fileUri": file["uri"]}})
    assert google_error(refused, 403, "PERMISSION_DENIED") == no_access(file["name"][6:])
    uploads = client.get("/_emulator/health").json()["uploads"]
    assert uploads == {"files": 0, "file_bytes": 0, "upload_sessions": 1}


def test_reset_clears_files_and_uploads_and_health_counts_them(client: TestClient) -> None:
    file = uploaded(client)
    url = upload_url(client)
    assert client.get("/_emulator/health").json()["uploads"] == {
        "files": 1,
        "file_bytes": len(PNG),
        "upload_sessions": 2,
    }
    assert client.post("/_emulator/reset").status_code == 200
    gone = client.get(f"/v1beta/{file['name']}", headers=key_headers())
    assert gone.status_code == 403
    assert step(client, url, "query", offset=None).status_code == 404
    assert client.get("/_emulator/health").json()["uploads"] == {
        "files": 0,
        "file_bytes": 0,
        "upload_sessions": 0,
    }


def test_the_store_is_bounded_and_keeps_what_it_holds(app: object, client: TestClient) -> None:
    uploads = app.state.runtime.uploads  # type: ignore[attr-defined]
    file = uploaded(client)
    uploads.max_bytes = len(PNG) * 2
    refused = start(client, size=len(PNG) + 1)
    assert "full" in google_error(refused, 429, "RESOURCE_EXHAUSTED")
    # Without a declared length the bound applies to the bytes as they arrive.
    url = upload_url(client, size=None)
    too_much = step(client, url, "upload", PNG + b"\x00")
    assert "full" in google_error(too_much, 429, "RESOURCE_EXHAUSTED")
    assert too_much.headers["x-goog-upload-status"] == "active"
    uploads.max_entries = 2
    assert start(client).status_code == 429
    assert client.get(f"/v1beta/{file['name']}", headers=key_headers()).json() == file


def test_files_calls_go_through_faults_and_the_journal(client: TestClient) -> None:
    fault = start(client, extra={"X-Emulator-Fault": "503"})
    google_error(fault, 503, "UNAVAILABLE")
    assert "x-goog-upload-status" not in fault.headers  # a server failure, not a refusal
    file = uploaded(client)
    client.get(f"/v1beta/{file['name']}", headers=key_headers())
    client.get("/v1beta/files", headers=key_headers())
    client.delete(f"/v1beta/{file['name']}", headers=key_headers())
    entries = client.get("/_emulator/requests", params={"provider": "vertex"}).json()["requests"]
    routes = [(e["route"], e["status"], e["key_fingerprint"]) for e in reversed(entries)]
    owner = fingerprint(KEY)
    assert routes == [
        ("files.upload", 503, owner),
        ("files.upload", 200, owner),
        ("files.upload", 200, owner),  # the chunk, owned by the key that started it
        ("files.get", 200, owner),
        ("files.list", 200, owner),
        ("files.delete", 200, owner),
    ]
    wallets = client.get("/_emulator/wallets").json()
    assert owner not in str(wallets)  # nothing charged: no wallet was opened


# --------------------------------------------------------------------------- fileData parts


def test_a_file_is_an_input_image_exactly_like_inline_data(client: TestClient) -> None:
    file = uploaded(client)
    inline = generate(
        client, {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    )
    by_uri = generate(client, {"fileData": {"mimeType": "image/png", "fileUri": file["uri"]}})
    by_name = generate(client, {"file_data": {"file_uri": file["name"]}})  # mimeType: the file's
    assert inline.status_code == by_uri.status_code == by_name.status_code == 200, by_uri.text
    assert image_of(by_uri) == image_of(inline) == image_of(by_name)
    usage = by_uri.json()["usageMetadata"]
    assert {"modality": "IMAGE", "tokenCount": 560} in usage["promptTokensDetails"]
    assert "edited" in by_uri.json()["candidates"][0]["content"]["parts"][0]["text"]
    # The edit derives from the upload: another upload gives another picture.
    red = uploaded(client, encoded("PNG", size=(64, 48), color="red"))
    assert image_of(generate(client, {"fileData": {"fileUri": red["uri"]}})) != image_of(by_uri)


def test_a_file_of_another_key_or_unknown_is_permission_denied(client: TestClient) -> None:
    file = uploaded(client, key=OTHER_KEY)
    mine = generate(client, {"fileData": {"fileUri": file["uri"]}})
    assert google_error(mine, 403, "PERMISSION_DENIED") == no_access(file["name"][6:])
    unknown = generate(
        client,
        {"fileData": {"fileUri": "https://generativelanguage.googleapis.com/v1beta/files/zz"}},
    )
    assert google_error(unknown, 403, "PERMISSION_DENIED") == no_access("zz")


@pytest.mark.parametrize(
    "uri",
    ["gs://bucket/cat.png", "https://example.com/cat.png", "http://testserver/v1beta/files/x"],
)
def test_a_uri_naming_no_uploaded_file_is_refused_offline(client: TestClient, uri: str) -> None:
    message = google_error(
        generate(client, {"fileData": {"fileUri": uri}}), 400, "INVALID_ARGUMENT"
    )
    assert message.startswith("contents[0].parts[0].fileData.fileUri")
    assert "never fetches" in message


def test_a_file_that_is_not_an_accepted_image_is_refused(client: TestClient) -> None:
    text = uploaded(client, b"hello", mime="text/plain")
    message = google_error(
        generate(client, {"fileData": {"fileUri": text["uri"]}}), 400, "INVALID_ARGUMENT"
    )
    assert message.startswith("contents[0].parts[0].fileData.mimeType")
    lying = uploaded(client, b"hello", mime="image/png")
    message = google_error(
        generate(client, {"fileData": {"fileUri": lying["uri"]}}), 400, "INVALID_ARGUMENT"
    )
    assert message.startswith("contents[0].parts[0].fileData ")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent",
        "/v1beta1/publishers/google/models/gemini-3-pro-image:generateContent",
    ],
)
def test_surfaces_without_a_files_api_still_refuse_file_data(client: TestClient, path: str) -> None:
    file = uploaded(client)
    response = generate(client, {"fileData": {"fileUri": file["uri"]}}, path=path)
    assert response.status_code == 400, response.text
    assert "never fetches files; send the image inline" in response.json()["error"]["message"]


def test_the_clock_the_file_times_follow_is_the_emulators(client: TestClient) -> None:
    advance(client, 3600)
    file = uploaded(client)
    assert file["createTime"] == "2025-01-15T13:00:00.000000Z"
    assert EPOCH + 3600 + FORTY_EIGHT_HOURS == 1737118800.0
    assert file["expirationTime"] == "2025-01-17T13:00:00.000000Z"


# --------------------------------------------------------------------------- the other methods


def test_a_file_part_streams_and_counts_as_an_inline_image_does(client: TestClient) -> None:
    file = uploaded(client)
    part = {"fileData": {"fileUri": file["uri"], "mimeType": "image/png"}}
    inline = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    body = {"contents": [{"role": "user", "parts": [part, {"text": "make it a watercolour"}]}]}
    stream = "/v1beta/models/gemini-3-pro-image-preview:streamGenerateContent?alt=sse"
    streamed = client.post(stream, headers=key_headers(), json=body)
    assert streamed.status_code == 200, streamed.text
    events = [
        json.loads(e.removeprefix(b"data: ")) for e in streamed.content.split(b"\r\n\r\n")[:-1]
    ]
    assert events[-1]["usageMetadata"]["promptTokensDetails"][1] == {
        "modality": "IMAGE",
        "tokenCount": 560,
    }
    count = "/v1beta/models/gemini-3-pro-image-preview:countTokens"
    with_file = client.post(count, headers=key_headers(), json={"contents": body["contents"]})
    inline_contents = [{"role": "user", "parts": [inline, {"text": "make it a watercolour"}]}]
    with_inline = client.post(count, headers=key_headers(), json={"contents": inline_contents})
    assert with_file.status_code == 200, with_file.text
    assert with_file.json() == with_inline.json()
    assert with_file.json()["totalTokens"] == events[-1]["usageMetadata"]["promptTokenCount"]
