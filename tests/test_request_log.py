"""The request log (emulator/request_log.py): one line per request with the journal's fields,
as text or JSON, admin requests at DEBUG only, nothing formatted when it is off, and never a
key; and `imagegen-emulator serve` writing it (uvicorn's access log off)."""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

import emulator.app
from emulator import create_app
from emulator.request_log import FIELDS, LOGGER_NAME, RECORD_ATTRIBUTE, JsonFormatter
from emulator.request_log import logger as request_logger
from tests.conftest import contract_client, emulator_config
from tests.test_cli import read_banner, start

SUBMIT = "/api/v1/models/z-image-turbo/generate"
SECRET = "sk-log-canary-5f3a9c1e7b"  # a key no log line may contain
JSON_KEYS = ["time", "level", "logger", "message", *FIELDS]


@pytest.fixture
def client() -> Iterator[TestClient]:
    with contract_client(create_app(emulator_config(profile="instant"))) as test_client:
        yield test_client


class Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A handler on the request log; the log at INFO (tests change it with set_level)."""
    handler, level = Collector(), request_logger.level
    request_logger.addHandler(handler)
    request_logger.setLevel(logging.INFO)
    try:
        yield handler
    finally:
        request_logger.removeHandler(handler)
        request_logger.setLevel(level)


@pytest.fixture
def logged(collector: Collector) -> list[logging.LogRecord]:
    """The request log's records, from INFO up."""
    return collector.records


def fields(record: logging.LogRecord) -> dict[str, object]:
    return getattr(record, RECORD_ATTRIBUTE)


def submit(client: TestClient, key: str = SECRET, **headers: str) -> httpx.Response:
    return client.post(
        SUBMIT,
        json={"prompt": "a fox", "size": "512*512"},
        headers={"Authorization": f"Bearer {key}", **headers},
    )


def test_one_line_per_request_with_the_journals_fields(
    client: TestClient, logged: list[logging.LogRecord]
) -> None:
    prediction = submit(client).json()
    client.get(f"/api/v1/predictions/{prediction['id']}", headers={"Authorization": "Bearer k"})
    assert [record.levelno for record in logged] == [logging.INFO, logging.INFO]
    line = fields(logged[0])
    assert list(line) == list(FIELDS)
    assert line == {
        "method": "POST",
        "path": SUBMIT,
        "status": 200,
        "provider": "vibedream",
        "route": "submit",
        "model": "z-image-turbo",
        "fault": None,
        "fault_source": None,
        "latency_ms": 0.0,
        "elapsed_ms": line["elapsed_ms"],
    }
    assert isinstance(line["elapsed_ms"], float) and line["elapsed_ms"] > 0
    # Another key's poll: the prediction is private, so 404, with the same route.
    poll = fields(logged[1])
    assert (poll["route"], poll["status"]) == ("poll", 404)
    assert logged[0].getMessage() == (
        f"POST {SUBMIT} status=200 provider=vibedream route=submit model=z-image-turbo"
        f" fault=- fault_source=- latency_ms=0.0 elapsed_ms={line['elapsed_ms']}"
    )


def test_the_journal_and_the_log_agree(client: TestClient, logged: list[logging.LogRecord]) -> None:
    submit(client, **{"X-Emulator-Fault": "503", "X-Emulator-Latency": "2"})
    client.get("/no/such/path")
    journal = client.get("/_emulator/requests").json()["requests"]
    for record, entry in zip(logged, reversed(journal), strict=True):
        assert fields(record) == {name: entry[name] for name in FIELDS}


@pytest.mark.parametrize(
    ("script", "fault", "source"),
    [
        ({"X-Emulator-Fault": "429"}, "429", "header"),
        ({"X-Emulator-Fault": "moderation"}, "moderation", "header"),
        ("scenario", "402", "scenario"),
    ],
)
def test_a_fault_and_its_source_are_in_the_line(
    client: TestClient,
    logged: list[logging.LogRecord],
    script: dict[str, str] | str,
    fault: str,
    source: str,
) -> None:
    if script == "scenario":
        client.post("/_emulator/faults", json={"provider": "vibedream", "error": "402"})
        submit(client)
    else:
        assert isinstance(script, dict)
        submit(client, **script)
    (record,) = logged
    assert (fields(record)["fault"], fields(record)["fault_source"]) == (fault, source)
    assert f" fault={fault} fault_source={source} " in record.getMessage()


def test_a_dropped_connection_has_no_status(
    client: TestClient, logged: list[logging.LogRecord]
) -> None:
    with pytest.raises(Exception, match="without"):  # in-process stand-in for the closed socket
        submit(client, **{"X-Emulator-Fault": "drop"})
    (record,) = logged
    assert (fields(record)["status"], fields(record)["fault"]) == (None, "drop")
    assert f"POST {SUBMIT} status=- " in record.getMessage()
    assert json.loads(JsonFormatter().format(record))["status"] is None


def test_json_lines_have_stable_keys(client: TestClient, logged: list[logging.LogRecord]) -> None:
    submit(client, **{"X-Emulator-Fault": "429", "X-Emulator-Latency": "1.5"})
    (record,) = logged
    text = JsonFormatter().format(record)
    assert "\n" not in text
    line = json.loads(text)
    assert list(line) == JSON_KEYS
    assert line["time"].endswith("Z") and line["time"][10] == "T"
    assert (line["level"], line["logger"]) == ("INFO", LOGGER_NAME)
    assert line["message"] == record.getMessage()
    assert (line["status"], line["fault"], line["fault_source"]) == (429, "429", "header")
    assert line["latency_ms"] == 1500.0  # the virtual clock held the answer 1.5 s


def test_json_lines_of_other_loggers_and_exceptions() -> None:
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "x %s", ("y",), None
        )
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert list(line) == ["time", "level", "logger", "message", "exception"]
    assert line["message"] == "x y"
    assert "ValueError: boom\nsecond line" in line["exception"]


def test_admin_requests_are_logged_at_debug_only(client: TestClient, collector: Collector) -> None:
    request_logger.setLevel(logging.INFO)
    client.get("/_emulator/health")
    assert collector.records == []
    request_logger.setLevel(logging.DEBUG)
    client.post("/_emulator/clock/advance", json={"seconds": 5})
    (record,) = collector.records
    assert record.levelno == logging.DEBUG
    line = fields(record)
    assert (line["method"], line["path"], line["status"]) == (
        "POST",
        "/_emulator/clock/advance",
        200,
    )
    assert line["provider"] is None


def test_an_admin_refusal_is_logged_with_its_status(collector: Collector) -> None:
    request_logger.setLevel(logging.DEBUG)
    app = create_app(emulator_config(admin_token="admin-token-" + SECRET))
    with TestClient(app) as guarded:
        guarded.get("/_emulator/health", headers={"Authorization": f"Bearer {SECRET}"})
    (record,) = collector.records
    assert fields(record)["status"] == 401
    assert SECRET not in JsonFormatter().format(record)


def test_nothing_is_formatted_when_the_log_is_off(
    client: TestClient, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []
    monkeypatch.setattr(emulator.app, "log_request", lambda *args: calls.append(args))
    request_logger.setLevel(logging.WARNING)
    submit(client)
    client.get("/_emulator/health")
    assert calls == []
    request_logger.setLevel(logging.INFO)
    submit(client)
    assert len(calls) == 1


def test_no_key_is_ever_logged(collector: Collector) -> None:
    request_logger.setLevel(logging.DEBUG)
    app = create_app(emulator_config(profile="instant"))
    body = {"contents": [{"parts": [{"text": "a fox"}]}]}
    with TestClient(app) as client:
        submit(client)
        submit(client, **{"X-Emulator-Fault": "401"})
        client.post(f"/v1beta/models/gemini-3-pro-image:generateContent?key={SECRET}", json=body)
        client.post(
            "/v1beta/models/gemini-3-pro-image:generateContent",
            json=body,
            headers={"x-goog-api-key": SECRET},
        )
        client.get("/account/user/wallet/", headers={"Authorization": f"Bearer {SECRET}"})
        client.get("/_emulator/requests", headers={"Authorization": f"Bearer {SECRET}"})
    assert len(collector.records) == 6
    text = logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    for record in collector.records:
        for shown in (text.format(record), JsonFormatter().format(record), repr(vars(record))):
            assert SECRET not in shown
    assert (
        fields(collector.records[2])["path"] == "/v1beta/models/gemini-3-pro-image:generateContent"
    )


# ------------------------------------------------------------------- serve writes the log


def serve_and_stop(*args: str) -> tuple[str, list[str]]:
    """Runs serve, sends a few requests (one with a fault, all with SECRET), stops it with
    Ctrl-C; returns its base URL and its stderr lines."""
    process = start("--port", "0", "--seed", "3", "--profile", "instant", *args)
    try:
        base_url, _ = read_banner(process)
        with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {SECRET}"}) as http:
            body = {"prompt": "a fox", "size": "512*512"}
            assert http.post(SUBMIT, json=body).status_code == 200
            faulted = http.post(SUBMIT, json=body, headers={"X-Emulator-Fault": "503"})
            assert faulted.status_code == 503
            assert http.get("/_emulator/health").status_code == 200
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=15)
    assert process.returncode == 0
    assert SECRET not in stderr
    return base_url, stderr.splitlines()


@pytest.mark.live
def test_serve_logs_json_lines() -> None:
    _, lines = serve_and_stop("--log-format", "json")
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    requests = [entry for entry in entries if entry["logger"] == LOGGER_NAME]
    assert [(entry["status"], entry["fault"]) for entry in requests] == [(200, None), (503, "503")]
    assert all(list(entry) == JSON_KEYS for entry in requests)
    assert requests[1]["fault_source"] == "header"
    others = {entry["logger"] for entry in entries} - {LOGGER_NAME}
    assert others == {"uvicorn.error"}  # startup and shutdown; no access log
    assert any(entry["message"].startswith("Started server process") for entry in entries)


@pytest.mark.live
def test_serve_logs_text_lines_instead_of_uvicorns_access_log() -> None:
    _, lines = serve_and_stop()
    requests = [line for line in lines if f"POST {SUBMIT}" in line]
    assert len(requests) == 2
    assert requests[1].split(" ", 2)[2] == (  # after the date and time
        f"INFO POST {SUBMIT} status=503 provider=vibedream route=submit model=z-image-turbo"
        f" fault=503 fault_source=header latency_ms=0.0 elapsed_ms=" + requests[1].rsplit("=", 1)[1]
    )
    assert not any('HTTP/1.1"' in line for line in lines)  # uvicorn's access log format
    assert not any("/_emulator/health" in line for line in lines)  # admin: DEBUG only


@pytest.mark.live
@pytest.mark.parametrize(("level", "count"), [("warning", 0), ("debug", 3)])
def test_serve_log_level_controls_the_request_lines(level: str, count: int) -> None:
    _, lines = serve_and_stop("--log-level", level, "--log-format", "json")
    requests = [json.loads(line) for line in lines if LOGGER_NAME in line]
    assert len(requests) == count
    if count:
        assert requests[-1]["path"] == "/_emulator/health"
        assert requests[-1]["level"] == "DEBUG"
