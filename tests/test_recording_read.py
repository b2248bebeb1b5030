"""Reading recordings back (emulator/recording/har.py ``read_har``, ``Entry.from_har``): a file
that is huge, not UTF-8, JSON but not HAR, or holds an entry with a field of the wrong type is
a one-line RecordingError naming the file, the entry and the field, never a traceback or a
silently wrong entry; and every entry reads back exactly as it was written."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emulator.cli import main
from emulator.recording import (
    Collapsed,
    Entry,
    RecordingError,
    Timings,
    build_entry,
    har,
    write_har,
)
from emulator.recording.har import read_har

START = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
JSON = [("Content-Type", "application/json")]


def entry_har() -> dict[str, Any]:
    entry = build_entry(
        "POST",
        "https://api.example/api/v1/models/z-image-turbo/generate",
        JSON,
        b'{"prompt": "a fox"}',
        200,
        JSON,
        b'{"id": "p1", "status": "processing"}',
        Timings(START, 120.0, 80.0),
    )
    return entry.to_har()


def document(*entries: dict[str, Any]) -> str:
    return json.dumps({"log": {"version": "1.2", "entries": list(entries)}})


def read_error(path: Path) -> str:
    with pytest.raises(RecordingError) as raised:
        read_har(path)
    text = str(raised.value)
    assert text.startswith(f"{path}: ")
    assert "\n" not in text
    return text


def set_at(raw: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of the entry with the field at ``a.b.0.c`` set (or removed, for ...)."""
    changed = copy.deepcopy(raw)
    *parents, last = [int(key) if key.isdigit() else key for key in dotted.split(".")]
    target: Any = changed
    for key in parents:
        target = target[key]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return changed


# --------------------------------------------------------------------------- the file


def test_a_file_larger_than_a_recording_may_be_is_refused_before_it_is_read(
    tmp_path: Path,
) -> None:
    path = tmp_path / "huge.har"
    with path.open("wb") as handle:  # sparse: no disk, no memory, only a size
        handle.truncate(har.MAX_HAR_BYTES + 1)
    assert f"{har.MAX_HAR_BYTES + 1} bytes, more than a recording may hold" in read_error(path)


def test_the_size_limit_is_the_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "session.har"
    path.write_text(document(entry_har()))
    assert len(read_har(path)) == 1
    monkeypatch.setattr(har, "MAX_HAR_BYTES", path.stat().st_size - 1)
    assert "more than a recording may hold" in read_error(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00garbage", "not a HAR file: not UTF-8 text (byte 0)"),
        ('{"log": {"entries": [], "comment": "café"}}'.encode("latin-1"), "(byte 39)"),
    ],
)
def test_a_file_that_is_not_utf8_says_so_and_where(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "binary.har"
    path.write_bytes(content)
    assert message in read_error(path)


def test_a_byte_order_mark_is_read_past(tmp_path: Path) -> None:
    path = tmp_path / "bom.har"
    path.write_bytes(b"\xef\xbb\xbf" + document(entry_har()).encode())
    (entry,) = read_har(path)
    assert entry.operation == "submitPrediction"


def test_json_nested_too_deep_is_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "deep.har"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert "not a HAR file: JSON nested too deep" in read_error(path)


def test_an_unreadable_file_names_the_reason(tmp_path: Path) -> None:
    folder = tmp_path / "folder.har"  # a folder where a file should be
    folder.mkdir()
    assert "cannot be read: Is a directory" in read_error(folder)


# --------------------------------------------------------------------------- one entry


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: 1, "the entry is not an object"),
        (lambda raw: [raw], "the entry is not an object"),
        (lambda raw: set_at(raw, "request", "GET /"), "request is not an object"),
        (lambda raw: set_at(raw, "request.url", 5), "request.url is not a string"),
        (lambda raw: set_at(raw, "request.method", None), "request.method is not a string"),
        (lambda raw: set_at(raw, "response.status", True), "response.status is not an integer"),
        (lambda raw: set_at(raw, "response.status", "200"), "response.status is not an integer"),
        (lambda raw: set_at(raw, "response.status", 2000), "response.status 2000 is not an HTTP"),
        (
            lambda raw: set_at(raw, "request.headers.0.name", 5),
            "request.headers[0].name is not a string",
        ),
        (
            lambda raw: set_at(raw, "response.headers.0.value", ["a"]),
            "response.headers[0].value is not a string",
        ),
        (
            lambda raw: set_at(raw, "request.headers.0.value", ...),
            "missing 'value' in request.headers[0]",
        ),
        (
            lambda raw: set_at(raw, "response.headers", {"a": "b"}),
            "response.headers is not a list",
        ),
        (lambda raw: set_at(raw, "request.headers.0", "a: b"), "request.headers[0] is not an"),
        (lambda raw: set_at(raw, "_imagegen.elapsed_ms", "12"), "_imagegen.elapsed_ms is not a"),
        (lambda raw: set_at(raw, "_imagegen.elapsed_ms", float("nan")), "not a finite number"),
        (lambda raw: set_at(raw, "_imagegen.elapsed_ms", -5), "not a finite number >= 0"),
        (lambda raw: set_at(raw, "_imagegen.first_byte_ms", "soon"), "first_byte_ms is not a"),
        (lambda raw: set_at(set_at(raw, "_imagegen", ...), "time", "abc"), "time is not a number"),
        (lambda raw: set_at(raw, "startedDateTime", "yesterday"), "startedDateTime is not an ISO"),
        (lambda raw: set_at(raw, "startedDateTime", 1736942400), "startedDateTime is not a string"),
        (lambda raw: set_at(raw, "request.bodySize", "19"), "request.bodySize is not an integer"),
        (lambda raw: set_at(raw, "response.content.text", {}), "content.text is not a string"),
        (lambda raw: set_at(raw, "request.postData", "x"), "request.postData is not an object"),
        (lambda raw: set_at(raw, "_imagegen", "vibedream"), "_imagegen is not an object"),
        (lambda raw: set_at(raw, "_imagegen.provider", ...), "missing 'provider' in _imagegen"),
        (lambda raw: set_at(raw, "_imagegen.operation", ...), "missing 'operation' in _imagegen"),
        (lambda raw: set_at(raw, "_imagegen.elapsed_ms", ...), "missing 'elapsed_ms' in _imagegen"),
        (lambda raw: set_at(raw, "_imagegen.contracts", ...), "missing 'contracts' in _imagegen"),
        (
            lambda raw: set_at(raw, "_imagegen.contracts.request", ...),
            "missing 'request' in _imagegen.contracts",
        ),
        (lambda raw: set_at(raw, "_imagegen.provider", 3), "provider is not a string"),
        (
            lambda raw: set_at(raw, "_imagegen.collapsed", {"count": "7"}),
            "_imagegen.collapsed.count is not an integer",
        ),
        (
            lambda raw: set_at(raw, "_imagegen.collapsed", {"count": 2, "first": "x"}),
            "missing 'last' in _imagegen.collapsed",
        ),
        (
            lambda raw: set_at(raw, "_imagegen.collapsed", {"count": 0, "first": "", "last": ""}),
            "_imagegen.collapsed.count is not >= 1",
        ),
    ],
)
def test_a_malformed_entry_names_the_file_the_entry_and_the_field(
    tmp_path: Path, change: Callable[[dict[str, Any]], Any], message: str
) -> None:
    path = tmp_path / "session.har"
    path.write_text(document(entry_har(), change(entry_har())))
    text = read_error(path)
    assert text.startswith(f"{path}: entry 1 is malformed: ")
    assert message in text


def test_a_browser_har_without_our_block_is_recognised_from_its_url(tmp_path: Path) -> None:
    raw = set_at(set_at(entry_har(), "_imagegen", ...), "time", 250.5)
    path = tmp_path / "browser.har"
    path.write_text(document(raw))
    (entry,) = read_har(path)
    assert (entry.provider, entry.operation, entry.elapsed_ms) == (
        "vibedream",
        "submitPrediction",
        250.5,
    )


def test_calibrate_reports_a_malformed_entry_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "session.har").write_text(
        document(set_at(entry_har(), "startedDateTime", "yesterday"))
    )
    assert main(["calibrate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "session.har: entry 0 is malformed: startedDateTime is not an ISO 8601" in err


# --------------------------------------------------------------------------- round trip

TEXT = st.text(max_size=40)
TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
).map(lambda moment: moment.isoformat(timespec="milliseconds"))
MILLISECONDS = st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False)
HEADERS = st.lists(st.tuples(TEXT, TEXT), max_size=4).map(tuple)


@st.composite
def entries(draw: st.DrawFn) -> Entry:
    request_text = draw(st.none() | TEXT)
    return Entry(
        started=draw(TIMES),
        method=draw(st.sampled_from(["GET", "POST", "DELETE", "PATCH"])),
        url=draw(TEXT),
        request_headers=draw(HEADERS),
        request_mime="" if request_text is None else draw(TEXT),
        request_text=request_text,
        status=draw(st.sampled_from([0, 100, 599]) | st.integers(100, 599)),
        response_headers=draw(HEADERS),
        response_mime=draw(TEXT),
        response_text=draw(TEXT),
        response_size=draw(st.integers(-1, 2**40)),
        elapsed_ms=draw(MILLISECONDS),
        first_byte_ms=draw(st.none() | MILLISECONDS),
        provider=draw(st.none() | TEXT),
        operation=draw(st.none() | TEXT),
        request_contract=draw(st.none() | TEXT),
        response_contract=draw(st.none() | TEXT),
        status_text=draw(TEXT),
        request_size=draw(st.integers(-1, 2**40)),
        collapsed=draw(st.none() | st.builds(Collapsed, st.integers(1, 10_000), TIMES, TIMES)),
        http_version=draw(st.sampled_from(["HTTP/1.1", "HTTP/2", "h3"])),
    )


@settings(max_examples=60, deadline=None)
@given(entries())
def test_every_entry_reads_back_as_it_was_written(entry: Entry) -> None:
    assert Entry.from_har(json.loads(json.dumps(entry.to_har()))) == entry


@settings(max_examples=10, deadline=None)
@given(st.lists(entries(), max_size=5))
def test_every_file_reads_back_as_it_was_written(
    tmp_path_factory: pytest.TempPathFactory, written: list[Entry]
) -> None:
    path = write_har(tmp_path_factory.mktemp("round-trip") / "session.har", written)
    assert read_har(path) == written


def test_a_timestamp_with_another_offset_is_kept_as_written(tmp_path: Path) -> None:
    moment = (START + timedelta(hours=1)).astimezone().isoformat()
    raw = set_at(entry_har(), "startedDateTime", moment)
    path = tmp_path / "offset.har"
    path.write_text(document(raw))
    assert read_har(path)[0].started == moment
