"""`imagegen-emulator contract-check --recordings DIR`: recorded traffic checked against the
contracts offline. HAR files written here from the emulator's own answers (every provider, a
vertex stream in both framings, a moderated answer, refusals) exit 0; the same files made to
drift exit 1 naming each path and the contract file to change, in text and in JSON; a folder
that cannot be checked exits 2 with one line."""

from __future__ import annotations

import base64
import copy
import hashlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from starlette.testclient import TestClient

import contracts

# After issue 18's merge read_har and read_recordings come from emulator.recording.har.
from contracts.recorded import IMAGE_KEY, with_placeholders
from contracts.recorded import sessions as by_file
from contracts.streams import SSE_MEDIA_TYPE, parsed_chunks, stream_chunks
from emulator import create_app
from emulator.cli import main
from emulator.recording.har import read_har, read_recordings
from tests.conftest import AUTH, contract_client, emulator_config
from tests.images import data_uri, encoded

VERTEX_KEY = {"x-goog-api-key": "test-key"}
GATEWAY = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:{}"
GEMINI = "/v1beta/models/gemini-2.5-flash-image:{}"
MODERATED = {"X-Emulator-Fault": "moderation; stage=output; category=no_image"}
# Where the recorder put each provider's session (one HAR file per session).
FILES = {"vibedream": "vibedream.har", "vertex": "vertex.har", "3daistudio": "3daistudio.har"}


# --------------------------------------------------------------------------- writing HAR files


def descriptor(data: bytes) -> dict[str, Any]:
    with Image.open(io.BytesIO(data)) as image:
        fmt, (width, height) = (image.format or "").lower(), image.size
    return {
        IMAGE_KEY: {
            "format": fmt,
            "width": width,
            "height": height,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "thumbnail": None,
        }
    }


def described(body: Any) -> Any:
    """``body`` with every inline image (a data: URI, or inlineData's base64) a descriptor, as
    the recorder writes it."""
    if isinstance(body, dict):
        inline = body.get("mimeType", "").startswith("image/") and isinstance(body.get("data"), str)
        return {
            key: descriptor(base64.b64decode(value))
            if inline and key == "data"
            else described(value)
            for key, value in body.items()
        }
    if isinstance(body, list):
        return [described(value) for value in body]
    if isinstance(body, str) and body.startswith("data:image/"):
        return descriptor(base64.b64decode(body.split(",", 1)[1]))
    return body


def har_entry(response: httpx.Response, *, with_operation: bool = True) -> dict[str, Any]:
    """One HAR 1.2 entry with its ``_imagegen`` block; ``with_operation`` False leaves the
    operation to be found from the path."""
    request = response.request
    path = request.url.path
    found = contracts.find_operation(request.method, path) or contracts.find_operation(
        request.method, path + "/"
    )
    content_type = response.headers.get("content-type", "")
    if found and found[1].streamed and response.is_success:
        chunks = [described(chunk) for chunk in stream_chunks(response) or []]
        if content_type.startswith(SSE_MEDIA_TYPE):
            text = "".join(f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in chunks)
        else:
            text = json.dumps(chunks)
    else:
        text = json.dumps(described(response.json())) if response.content else ""
    entry: dict[str, Any] = {
        "startedDateTime": "2025-01-15T12:00:00.000Z",
        "time": 12,
        "request": {
            "method": request.method,
            "url": str(request.url),
            "httpVersion": "HTTP/1.1",
            "headers": [],  # the recorder drops credentials; the check reads none
            "queryString": [{"name": k, "value": v} for k, v in request.url.params.items()],
            "headersSize": -1,
            "bodySize": len(request.content),
        },
        "response": {
            "status": response.status_code,
            "statusText": response.reason_phrase,
            "httpVersion": "HTTP/1.1",
            "headers": [{"name": "content-type", "value": content_type}],
            "content": {"size": len(response.content), "mimeType": content_type, "text": text},
            "redirectURL": "",
            "headersSize": -1,
            "bodySize": len(response.content),
        },
        "cache": {},
        "timings": {"send": 0, "wait": 12, "receive": 0},
        "_imagegen": {
            "provider": found[0] if found else None,
            "operation": found[1].operation_id if found and with_operation else None,
            "contracts": {
                "request": found[1].request_schema(found[2]) if found else None,
                "response": found[1].response_schema(response.status_code) if found else None,
            },
            "elapsed_ms": 12,
            "first_byte_ms": 3,
            "collapsed": None,
        },
    }
    if request.content:
        entry["request"]["postData"] = {
            "mimeType": request.headers.get("content-type", ""),
            "text": body_text(request.content),
        }
    return entry


def body_text(content: bytes) -> str:
    """A request body as the recorder writes it: JSON with its images described, or an
    uploaded image's descriptor."""
    try:
        return json.dumps(described(json.loads(content)))
    except ValueError:
        return json.dumps(descriptor(content))


def write_har(path: Path, entries: list[dict[str, Any]]) -> Path:
    log = {"version": "1.2", "creator": {"name": "imagegen-emulator", "version": "test"}}
    path.write_text(json.dumps({"log": {**log, "entries": entries}}), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the sessions


def advance(client: TestClient, seconds: float) -> None:
    assert client.post("/_emulator/clock/advance", json={"seconds": seconds}).status_code == 200


def vibedream_session(client: TestClient) -> Iterator[httpx.Response]:
    turbo = client.post(
        "/api/v1/models/z-image-turbo/generate", json={"prompt": "a cat"}, headers=AUTH
    )
    yield turbo
    yield client.post(
        "/api/v1/models/nano-banana-pro-edit/generate",
        json={"prompt": "make it blue", "images": [data_uri()]},
        headers=AUTH,
    )
    yield client.get(f"/api/v1/predictions/{turbo.json()['id']}", headers=AUTH)  # processing
    advance(client, 600)
    yield client.get(f"/api/v1/predictions/{turbo.json()['id']}", headers=AUTH)  # completed
    yield client.get("/api/v1/predictions/550e8400-e29b-41d4-a716-446655440000", headers=AUTH)
    yield client.post("/api/v1/models/z-image-turbo/generate", json={"prompt": ""}, headers=AUTH)


def vertex_session(client: TestClient) -> Iterator[httpx.Response]:
    contents = [{"role": "user", "parts": [{"text": "a red square"}]}]
    with_image = [
        {
            "role": "user",
            "parts": [
                {"text": "make it blue"},
                {"inlineData": {"mimeType": "image/png", "data": data_uri().split(",", 1)[1]}},
            ],
        }
    ]
    yield client.post(GATEWAY.format("generateContent"), json={"contents": contents}, headers=AUTH)
    yield client.post(
        GATEWAY.format("generateContent"), json={"contents": with_image}, headers=AUTH
    )
    yield client.post(
        GEMINI.format("generateContent"), json={"contents": contents}, headers=VERTEX_KEY
    )
    yield client.post(
        GEMINI.format("streamGenerateContent") + "?alt=sse",
        json={"contents": contents},
        headers=VERTEX_KEY,
    )
    yield client.post(  # no alt=sse: one JSON array of chunks
        GATEWAY.format("streamGenerateContent"), json={"contents": contents}, headers=AUTH
    )
    yield client.post(
        GATEWAY.format("generateContent"),
        json={"contents": contents},
        headers={**AUTH, **MODERATED},
    )
    yield client.post(GATEWAY.format("generateContent"), json={"contents": []}, headers=AUTH)
    png = base64.b64decode(data_uri().split(",", 1)[1])
    start = client.post(  # a resumable upload, as the SDK sends it: a bodyless start...
        "/upload/v1beta/files",
        json={"file": {"displayName": "a square"}},
        headers={
            **VERTEX_KEY,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Type": "image/png",
            "X-Goog-Upload-Header-Content-Length": str(len(png)),
        },
    )
    yield start
    yield client.post(  # ... then the bytes, labelled JSON by the SDK
        start.headers["x-goog-upload-url"],
        content=png,
        headers={
            "X-Goog-Upload-Command": "upload, finalize",
            "X-Goog-Upload-Offset": "0",
            "Content-Type": "application/json",
        },
    )


def threedai_session(client: TestClient) -> Iterator[httpx.Response]:
    generate = client.post(
        "/v1/images/gemini/3/pro/generate/", json={"prompt": "a city"}, headers=AUTH
    )
    yield generate
    yield client.post(
        "/v1/images/gemini/3/pro/edit/",
        json={"prompt": "make it blue", "images": [data_uri(), data_uri("JPEG")]},
        headers=AUTH,
    )
    task = generate.json()["task_id"]
    yield client.get(f"/v1/generation-request/{task}/status/", headers=AUTH)
    advance(client, 3600)
    yield client.get(f"/v1/generation-request/{task}/status/", headers=AUTH)
    yield client.get("/account/user/wallet/", headers=AUTH)


SESSIONS: dict[str, Callable[[TestClient], Iterator[httpx.Response]]] = {
    "vibedream": vibedream_session,
    "vertex": vertex_session,
    "3daistudio": threedai_session,
}


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Each provider's session, as HAR entries (every other one without its operation)."""
    sessions = {}
    with contract_client(create_app(emulator_config())) as client:
        for provider, session in SESSIONS.items():
            responses = list(session(client))
            sessions[provider] = [
                har_entry(response, with_operation=index % 2 == 0)
                for index, response in enumerate(responses)
            ]
    return sessions


def write_sessions(folder: Path, sessions: dict[str, list[dict[str, Any]]]) -> Path:
    folder.mkdir(exist_ok=True)
    for provider, entries in sessions.items():
        write_har(folder / FILES[provider], entries)
    return folder


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["contract-check", *args])
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- conforming traffic


def test_the_recorded_sessions_are_what_they_claim(recorded) -> None:
    """What the next tests rely on: every provider, a stream in each framing, a moderated
    answer, refusals, and images only as descriptors (in requests and answers)."""
    text = json.dumps(recorded)
    statuses = {entry["response"]["status"] for entries in recorded.values() for entry in entries}
    assert {200, 400, 404} <= statuses
    vertex = [entry["response"]["content"] for entry in recorded["vertex"]]
    assert any(c["mimeType"].startswith(SSE_MEDIA_TYPE) for c in vertex)
    assert any(c["text"].startswith("[") for c in vertex)
    assert "NO_IMAGE" in text
    assert ";base64," not in text and "iVBOR" not in text  # no image left inline
    requests = json.dumps([e["request"] for entries in recorded.values() for e in entries])
    assert requests.count(IMAGE_KEY) == 5  # vibedream 1, vertex 2 (one uploaded), 3daistudio 2
    assert any(not e["response"]["content"]["text"] for e in recorded["vertex"])  # the start
    answers = json.dumps([e["response"] for e in recorded["vertex"]])
    assert answers.count(IMAGE_KEY) >= 4


def test_recorded_emulator_traffic_conforms(recorded, tmp_path: Path, capsys) -> None:
    folder = write_sessions(tmp_path / "recordings", recorded)
    code, out, err = check(capsys, "--recordings", str(folder))
    assert code == 0, out
    assert err == ""
    assert f"contract check: recorded traffic in {folder}" in out
    for provider, name in FILES.items():
        assert f"ok  {name}: {len(recorded[provider])} entries" in out
    assert "result: CONFORMS (3 files, no field differs)" in out


def test_the_json_report_of_conforming_traffic(recorded, tmp_path: Path, capsys) -> None:
    folder = write_sessions(tmp_path / "recordings", recorded)
    code, out, _ = check(capsys, "--recordings", str(folder), "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert report["conforms"] is True
    assert report["findings"] == []
    assert [probe["name"] for probe in report["probes"]] == sorted(FILES.values())
    assert {probe["outcome"] for probe in report["probes"]} == {"ok"}


# --------------------------------------------------------------------------- descriptors


def test_a_descriptor_becomes_the_placeholder_its_place_accepts(recorded) -> None:
    """A data: URI where the contract wants one, base64 where it wants base64; checked raw,
    the same bodies would drift, so the substitution is what makes them conform."""
    edit = next(e for e in recorded["3daistudio"] if e["request"]["url"].endswith("/edit/"))
    body = json.loads(edit["request"]["postData"]["text"])
    assert not contracts.is_valid("3daistudio", "request.edit", body)
    filled = with_placeholders("3daistudio", "request.edit", body)
    assert [image.split(",")[0] for image in filled["images"]] == [
        "data:image/png;base64",
        "data:image/jpeg;base64",
    ]
    contracts.validate("3daistudio", "request.edit", filled)
    answer = json.loads(recorded["vertex"][0]["response"]["content"]["text"])
    assert not contracts.is_valid("vertex", "response", answer)
    filled = with_placeholders("vertex", "response", answer)
    data = [p["inlineData"]["data"] for p in filled["candidates"][0]["content"]["parts"]
            if "inlineData" in p]  # fmt: skip
    assert data and all(base64.b64decode(value, validate=True) for value in data)
    contracts.validate("vertex", "response", filled)


def test_stream_chunks_from_a_media_type_and_bytes() -> None:
    sse = b'data: {"a": 1}\r\n\r\ndata: {"a": 2}\r\n\r\n'
    assert parsed_chunks("text/event-stream", sse) == [{"a": 1}, {"a": 2}]
    assert parsed_chunks("application/json", b'[{"a": 1}]') == [{"a": 1}]
    assert parsed_chunks("text/event-stream", b'data: {"a": 1}\r\n\r\ndata: {"a"') is None
    assert parsed_chunks("application/json", b'{"a": 1}') is None


# --------------------------------------------------------------------------- drift


def entry(sessions: dict[str, list[dict[str, Any]]], provider: str, ends: str, status: int = 200):
    """The first entry of a provider whose URL path ends with ``ends`` and answered ``status``."""
    return next(
        e
        for e in sessions[provider]
        if httpx.URL(e["request"]["url"]).path.endswith(ends) and e["response"]["status"] == status
    )


def edit_answer(item: dict[str, Any], change: Callable[[Any], None]) -> None:
    content = item["response"]["content"]
    body = json.loads(content["text"])
    change(body)
    content["text"] = json.dumps(body)


def edit_request(item: dict[str, Any], change: Callable[[Any], None]) -> None:
    post = item["request"]["postData"]
    body = json.loads(post["text"])
    assert IMAGE_KEY in post["text"]  # its image stays a descriptor
    change(body)
    post["text"] = json.dumps(body)


def edit_stream(item: dict[str, Any], change: Callable[[list[Any]], None]) -> None:
    content = item["response"]["content"]
    chunks = parsed_chunks(content["mimeType"], content["text"].encode())
    assert chunks
    change(chunks)
    content["text"] = "".join(f"data: {json.dumps(chunk)}\r\n\r\n" for chunk in chunks)


def completed(sessions, provider: str, key: str, value: str) -> dict[str, Any]:
    return next(
        e
        for e in sessions[provider]
        if json.loads(e["response"]["content"]["text"] or "{}").get(key) == value
    )


# (what drifted, how, the report's line for it, the contract file to change)
DRIFTS: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    (
        "a new field where the contract is closed",
        lambda s: edit_answer(
            completed(s, "vibedream", "status", "completed"), lambda b: b.update(seed=7)
        ),
        "200 $.seed: expected no such property (the contract allows no others); got 7 (integer)",
        "contracts/vibedream/prediction.json",
    ),
    (
        "an enum value the contract does not list",
        lambda s: edit_answer(
            entry(s, "vertex", ":generateContent"),
            lambda b: b["candidates"][0].update(finishReason="IMAGE_NEWLY_INVENTED"),
        ),
        "200 $.candidates[0].finishReason: expected one of",
        "contracts/vertex/response.json",
    ),
    (
        "a missing required field",
        lambda s: edit_answer(
            completed(s, "3daistudio", "status", "FINISHED"), lambda b: b.pop("progress")
        ),
        "200 $.progress: expected the property, which is required; got nothing (missing)",
        "contracts/3daistudio/status.json",
    ),
    (
        "a missing field in one chunk of a stream",
        lambda s: edit_stream(
            entry(s, "vertex", ":streamGenerateContent"), lambda c: c[1].pop("responseId")
        ),
        "200 $[1].responseId: expected the property, which is required; got nothing (missing)",
        "contracts/vertex/stream-chunk-gemini.json",
    ),
    (
        "a status the contract does not declare",
        lambda s: entry(s, "vibedream", "/z-image-turbo/generate")["response"].update(status=201),
        "201 (status): expected a declared status (200, 4XX, 5XX); got 201",
        "contracts/vibedream/operations.json",
    ),
    (
        "a request field the API accepted and the contract does not know",
        lambda s: edit_request(s["vertex"][1], lambda b: b.update(mediaResolution="HIGH")),
        "request $.mediaResolution: expected no such property (the contract allows no others);"
        " got 'HIGH' (string)",
        "contracts/vertex/request.json",
    ),
]


def drifted(recorded: dict[str, list[dict[str, Any]]]) -> dict[str, list[dict[str, Any]]]:
    sessions = copy.deepcopy(recorded)
    for _, change, _, _ in DRIFTS:
        change(sessions)
    unknown = copy.deepcopy(recorded["vibedream"][0])
    unknown["request"].update(method="GET", url="https://api.vibedream.ai/api/v2/jobs/abc")
    unknown["request"].pop("postData")
    unknown["_imagegen"].update(operation=None)
    sessions["vibedream"].append(unknown)
    return sessions


UNKNOWN = "GET /api/v2/jobs/abc"


def test_drifted_traffic_exits_1_naming_each_path_and_contract(
    recorded, tmp_path: Path, capsys
) -> None:
    folder = write_sessions(tmp_path / "drifted", drifted(recorded))
    code, out, _ = check(capsys, "--recordings", str(folder))
    assert code == 1, out
    lines = out.splitlines()
    for what, _, line, contract in DRIFTS:
        assert any(line in text and text.endswith(f"-> {contract}") for text in lines), (what, out)
    assert f"  {UNKNOWN}" in lines
    assert any(
        "200 (status): expected a path of the contract; got a path no operation declares" in text
        and text.endswith("-> contracts/vibedream/operations.json")
        for text in lines
    )
    assert "$[" in out  # the stream's finding names its chunk
    assert "drift  vertex.har" in out and "drift  3daistudio.har" in out
    assert "result: DRIFT (7 field(s) differ; 3 files)" in out


def test_the_json_report_lists_the_same_drift(recorded, tmp_path: Path, capsys) -> None:
    folder = write_sessions(tmp_path / "drifted", drifted(recorded))
    code, out, _ = check(capsys, "--format", "json", "--recordings", str(folder))
    assert code == 1
    report = json.loads(out)
    assert report["conforms"] is False
    findings = report["findings"]
    assert len(findings) == len(DRIFTS) + 1
    for what, _, line, contract in DRIFTS:
        assert any(f["contract"] == contract and f"{f['path']}: " in line for f in findings), what
    assert {f["message"] for f in findings} == {"request", "response"}
    assert all(f["probe"].split(" entry ")[0] in FILES.values() for f in findings)
    assert any(f["operation"] == UNKNOWN for f in findings)


def test_a_refused_request_outside_the_contract_is_no_drift(recorded, tmp_path: Path, capsys):
    """The vibedream and vertex sessions hold refused requests (a blank prompt, no contents)
    the contract refuses too; the same body answered 200 is drift."""
    sessions = copy.deepcopy(recorded)
    refused = entry(sessions, "vibedream", "/z-image-turbo/generate", 400)
    assert refused["request"]["postData"]["text"] == '{"prompt": ""}'
    folder = write_sessions(tmp_path / "refused", sessions)
    assert check(capsys, "--recordings", str(folder))[0] == 0
    accepted = copy.deepcopy(entry(sessions, "vibedream", "/z-image-turbo/generate"))
    accepted["request"]["postData"]["text"] = '{"prompt": ""}'
    sessions["vibedream"].append(accepted)
    write_sessions(folder, sessions)
    code, out, _ = check(capsys, "--recordings", str(folder))
    assert code == 1
    assert "request $.prompt: expected" in out


# --------------------------------------------------------------------------- what cannot be read


def bad_inputs(tmp_path: Path) -> Iterator[tuple[str, str]]:
    yield str(tmp_path / "nowhere"), "nowhere: no such file or folder"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a recording")
    yield str(empty), "empty: no .har files in this folder"
    cut = tmp_path / "cut"
    cut.mkdir()
    (cut / "a.har").write_text('{"log": {"version": "1.2", "entries": [{"requ')
    yield str(cut), "a.har: not a HAR file: invalid JSON at line 1"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "b.har").write_text('{"openapi": "3.1.0"}')
    yield str(foreign), "b.har: not a HAR file: no log.entries list"
    yield str(foreign / "b.har"), "b.har: not a HAR file: no log.entries list"  # one file
    broken = tmp_path / "broken"
    broken.mkdir()
    write_har(broken / "d.har", [{"request": {"method": "GET"}, "response": {"status": 200}}])
    yield str(broken), "d.har: entry 0 is malformed: missing 'url'"


def test_a_folder_that_cannot_be_checked_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    for folder, message in bad_inputs(tmp_path):
        code, out, err = check(capsys, "--recordings", folder)
        assert code == 2, folder
        assert out == ""
        assert err.startswith("imagegen-emulator: error: contract-check: "), err
        assert message in err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_recordings_and_a_live_target_are_exclusive(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["contract-check", "--recordings", str(tmp_path), "--base-url", "http://h"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --base-url: not allowed with argument --recordings" in err
    assert err.count("\n") == 1
    code, _, err = check(capsys, "--recordings", str(tmp_path), "--provider", "vertex")
    assert code == 2
    assert err == (
        "imagegen-emulator: error: contract-check: --provider cannot be used with --recordings\n"
    )


def test_the_reader_reads_a_folder_or_one_file(recorded, tmp_path: Path) -> None:
    folder = write_sessions(tmp_path / "recordings", recorded)
    everything = read_recordings(folder)
    assert len(everything) == sum(len(entries) for entries in recorded.values())
    one = read_recordings(folder / FILES["vertex"])
    assert [(e.method, e.url, e.status) for e in one] == [
        (e["request"]["method"], e["request"]["url"], e["response"]["status"])
        for e in recorded["vertex"]
    ]
    assert by_file(folder, read_har, read_recordings).keys() == set(FILES.values())


def test_one_file_can_be_checked(recorded, tmp_path: Path, capsys) -> None:
    folder = write_sessions(tmp_path / "recordings", recorded)
    code, out, _ = check(capsys, "--recordings", str(folder / FILES["vertex"]))
    assert code == 0, out
    assert "result: CONFORMS (1 files, no field differs)" in out


def test_collapsed_polls_and_unanswered_requests_are_counted(
    recorded, tmp_path: Path, capsys
) -> None:
    sessions = copy.deepcopy(recorded)
    polls = entry(sessions, "3daistudio", "/status/")
    polls["_imagegen"]["collapsed"] = {
        "count": 12,
        "first": "2025-01-15T12:00:01.000Z",
        "last": "2025-01-15T12:00:12.000Z",
    }
    lost = copy.deepcopy(sessions["3daistudio"][0])
    lost["response"] = {"status": 0, "headers": [], "content": {"size": 0, "mimeType": ""}}
    sessions["3daistudio"].append(lost)
    folder = write_sessions(tmp_path / "recordings", sessions)
    code, out, _ = check(capsys, "--recordings", str(folder))
    assert code == 0, out
    assert "ok  3daistudio.har: 6 entries (17 exchanges)" in out
    assert "note: 1 of the entries had no answer (status 0): they were not checked" in out


def test_a_recorded_download_conforms_and_a_text_answer_there_drifts(
    recorded, tmp_path: Path, capsys
) -> None:
    """`record --record-downloads` records output files at paths no operation declares (a
    CDN's): an image answer there is a download, not drift; anything else there still is."""
    sessions = copy.deepcopy(recorded)
    download = copy.deepcopy(recorded["vibedream"][0])
    download["request"].update(method="GET", url="https://cdn.example/outputs/fox.png")
    download["request"].pop("postData")
    download["_imagegen"].update(provider=None, operation=None)
    download["_imagegen"]["contracts"] = {"request": None, "response": None}
    download["response"]["content"].update(
        mimeType="image/png", text=json.dumps(descriptor(encoded()))
    )
    sessions["vibedream"].append(download)
    folder = write_sessions(tmp_path / "downloads", sessions)
    code, out, _ = check(capsys, "--recordings", str(folder))
    assert code == 0, out

    download["response"]["content"].update(mimeType="text/html", text="<html>expired</html>")
    folder = write_sessions(tmp_path / "not-a-file", sessions)
    code, out, _ = check(capsys, "--recordings", str(folder))
    assert code == 1 and "GET /outputs/fox.png" in out, out
