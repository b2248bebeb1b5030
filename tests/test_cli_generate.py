"""`imagegen-emulator generate` against a real uvicorn emulator on 127.0.0.1: the images it saves,
its progress on stderr, and every failure as one line with its own exit status."""

from __future__ import annotations

import io
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from PIL import Image as PILImage

from clients import Progress
from emulator import Config, create_app
from emulator.cli import main
from emulator.commands.generate import ExitCode, ProgressDisplay, parse_params
from tests.conftest import run_server

PILLOW_FORMATS = {"PNG": "png", "JPEG": "jpeg", "WEBP": "webp"}
KEY_ENVS = ("VIBEDREAM_API_KEY", "VERTEX_GATEWAY_API_KEY", "THREEDAI_API_KEY")


@contextmanager
def serve(**settings: object) -> Iterator[str]:
    """A real emulator with the real clock (the CLI polls in real time); jobs end at once
    unless ``settings`` say otherwise."""
    config = Config(**{"clock": "real", "seed": 5, "profile": "instant", **settings})  # type: ignore[arg-type]
    server, thread, base_url = run_server(create_app(config))
    try:
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def base_url() -> Iterator[str]:
    with serve() as url:
        yield url


@pytest.fixture(autouse=True)
def no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_ENVS:
        monkeypatch.delenv(name, raising=False)


def generate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["generate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def saved(out: str) -> list[tuple[Path, str, tuple[int, int]]]:
    """The files generate printed, each opened with Pillow: (path, format, size)."""
    files = []
    for line in out.splitlines():
        path = Path(line.split("  ")[0])
        with PILImage.open(path) as image:
            files.append((path, PILLOW_FORMATS[image.format or ""], image.size))
    return files


def assert_one_error_line(err: str, start: str) -> str:
    errors = [line for line in err.splitlines() if line.startswith("imagegen-emulator: error:")]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"imagegen-emulator: error: generate: {start}"), err
    assert "Traceback" not in err
    return errors[0]


# ------------------------------------------------------------------------------ the images


@pytest.mark.live
@pytest.mark.parametrize(
    ("provider", "params", "expected"),
    [
        (
            "vibedream",
            ["size=1024*768", "output_format=webp", "seed=7"],
            [("webp", (1024, 768))],
        ),
        (
            "vertex",
            ["aspect_ratio=16:9", 'imageConfig={"outputMimeType": "image/jpeg"}'],
            [("jpeg", (1376, 768))],
        ),
        (
            "3daistudio",
            ["num_images=2", "output_format=jpeg", "aspect_ratio=3:2"],
            [("jpeg", (1264, 848)), ("jpeg", (1264, 848))],
        ),
    ],
)
def test_generate_saves_the_images_asked_for(
    capsys: pytest.CaptureFixture[str],
    base_url: str,
    tmp_path: Path,
    provider: str,
    params: list[str],
    expected: list[tuple[str, tuple[int, int]]],
) -> None:
    out_dir = tmp_path / "out" / "nested"  # created by the command
    options = [opt for param in params for opt in ("--param", param)]
    code, out, err = generate(
        capsys,
        *("--provider", provider, "--prompt", "a red fox", "--out", str(out_dir)),
        *("--base-url", base_url, *options),
    )
    assert code == ExitCode.OK, err
    files = saved(out)
    assert [(fmt, size) for _, fmt, size in files] == expected
    for number, (path, fmt, (width, height)) in enumerate(files, start=1):
        assert path.parent == out_dir
        assert path.name.startswith(f"{provider}-") and path.name.endswith(f"-{number}.{fmt}")
        assert f"{path}  {width}x{height}  {fmt}  {path.stat().st_size} bytes" in out
    assert f"{provider}: done in" in err


@pytest.mark.live
@pytest.mark.parametrize(
    ("provider", "size", "route", "model"),
    [
        # nano-banana-pro-edit: 1:1 unless told
        ("vibedream", (1024, 1024), "submit", "nano-banana-pro-edit"),
        # the first input image's ratio, 4:3
        ("vertex", (1200, 896), "generateContent", "gemini-3-pro-image"),
        # aspect_ratio auto: the input image's
        ("3daistudio", (1200, 896), "edit", "gemini-3-pro"),
    ],
)
def test_image_makes_it_an_edit(
    capsys: pytest.CaptureFixture[str],
    base_url: str,
    tmp_path: Path,
    provider: str,
    size: tuple[int, int],
    route: str,
    model: str,
) -> None:
    source = tmp_path / "room.png"
    PILImage.new("RGB", (640, 480), "teal").save(source)
    code, out, err = generate(
        capsys,
        *("--provider", provider, "--prompt", "add a plant", "--image", str(source)),
        *("--out", str(tmp_path), "--base-url", base_url),
    )
    assert code == ExitCode.OK, err
    assert [image_size for _, _, image_size in saved(out)] == [size]
    assert f"{provider}: edit at {base_url}" in err
    (first,) = [entry for entry in journal(base_url, provider) if entry["method"] == "POST"]
    assert (first["route"], first["model"]) == (route, model)


def journal(base_url: str, provider: str) -> list[dict[str, object]]:
    answer = httpx.get(f"{base_url}/_emulator/requests", params={"provider": provider})
    return answer.json()["requests"]


@pytest.mark.live
def test_progress_is_shown_while_the_job_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with serve(providers={"vibedream": {"job_duration": 0.3}}) as url:
        code, _, err = generate(
            capsys,
            *("--provider", "vibedream", "--prompt", "a fox", "--out", str(tmp_path)),
            *("--base-url", url),
        )
    assert code == ExitCode.OK, err
    lines = err.splitlines()
    assert lines[0] == f"vibedream: generate at {url}"
    assert lines[1].startswith("vibedream: submitting (")
    assert "vibedream: processing (0.0s)" in lines
    assert any(line.startswith("vibedream: completed (") for line in lines)
    assert lines[-1].startswith("vibedream: done in ")


def test_on_a_terminal_progress_is_one_line_redrawn_in_place() -> None:
    stream, now = io.StringIO(), [0.0]
    display = ProgressDisplay("3daistudio", stream, interactive=True, clock=lambda: now[0])
    display.started, display.status = 0.0, "submitting"
    display.show()
    now[0] = 0.35  # no percentage yet: the block has swept 3 steps (one a tick)
    display.update(Progress("PENDING", None, 0.35))
    now[0] = 2.55  # 25 ticks: it bounced off the right end (18 steps) and came back 7
    display.update(Progress("IN_PROGRESS", 50.0, 2.55))
    display.percent = None
    display.show()
    display.stop(done=True)
    frames = stream.getvalue().split("\r")[1:]
    assert frames == [
        "3daistudio [======" + " " * 18 + "]      submitting 0.0s\x1b[K",
        "3daistudio [   ======" + " " * 15 + "]      PENDING 0.3s\x1b[K",
        "3daistudio [" + "#" * 12 + "-" * 12 + "]  50% IN_PROGRESS 2.5s\x1b[K",
        "3daistudio [" + " " * 11 + "======" + " " * 7 + "]      IN_PROGRESS 2.5s\x1b[K",
        "3daistudio [" + "#" * 24 + "] 100% done 2.5s\n\x1b[K",
    ]


# ------------------------------------------------------------------------------- failures


@pytest.mark.live
def test_a_moderated_job_is_one_line_and_its_exit_status(
    capsys: pytest.CaptureFixture[str], base_url: str, tmp_path: Path
) -> None:
    scripted = httpx.post(
        f"{base_url}/_emulator/faults",
        json={"provider": "vibedream", "error": "moderation", "count": 1},
    )
    assert scripted.json()["pending"] == {"vibedream": ["moderation"]}
    code, out, err = generate(
        capsys,
        *("--provider", "vibedream", "--prompt", "a fox", "--out", str(tmp_path)),
        *("--base-url", base_url),
    )
    assert code == ExitCode.MODERATION == 8
    line = assert_one_error_line(err, "refused by moderation: vibedream: prediction ")
    assert "flagged by content moderation" in line
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_connection_refused_is_one_line_and_its_exit_status(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = subprocess.run(
        [
            *(sys.executable, "-m", "emulator", "generate", "--provider", "vertex"),
            *("--prompt", "x", "--out", str(tmp_path), "--base-url", f"http://127.0.0.1:{port}"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == ExitCode.CONNECTION == 3
    assert result.stderr == (
        f"imagegen-emulator: error: generate: no connection: nothing listens at"
        f" http://127.0.0.1:{port} (start the emulator: imagegen-emulator serve)\n"
    )
    assert result.stdout == ""


@pytest.mark.live
@pytest.mark.parametrize(
    ("provider", "param", "field"),
    [
        ("vibedream", "size=7", "size"),
        ("3daistudio", "num_images=9", "num_images"),
        ("vertex", "image_size=2k", "generationConfig.imageConfig.imageSize"),
    ],
)
def test_an_invalid_parameter_names_the_field(
    capsys: pytest.CaptureFixture[str],
    base_url: str,
    tmp_path: Path,
    provider: str,
    param: str,
    field: str,
) -> None:
    code, _, err = generate(
        capsys,
        *("--provider", provider, "--prompt", "a fox", "--param", param),
        *("--out", str(tmp_path), "--base-url", base_url),
    )
    assert code == ExitCode.VALIDATION
    line = assert_one_error_line(err, f"invalid request: {provider}: HTTP 400 ")
    assert line.endswith(f"(field: {field})")


@pytest.mark.live
@pytest.mark.parametrize(
    ("fault", "code", "start"),
    [
        ("402", ExitCode.CREDITS, "insufficient credits: 3daistudio: HTTP 402"),
        ("429", ExitCode.RATE_LIMITED, "rate limited: 3daistudio: HTTP 429"),
        ("500", ExitCode.ANSWER_LOST, "answer lost: 3daistudio: the submit may have succeeded"),
    ],
)
def test_provider_errors_have_their_own_exit_status(
    capsys: pytest.CaptureFixture[str],
    base_url: str,
    tmp_path: Path,
    fault: str,
    code: ExitCode,
    start: str,
) -> None:
    # More than the client's 3 retries of a 429; Retry-After 0 keeps the test fast.
    httpx.post(
        f"{base_url}/_emulator/faults",
        json={"provider": "3daistudio", "error": fault, "count": 5, "retry_after": 0},
    )
    result = generate(
        capsys,
        *("--provider", "3daistudio", "--prompt", "a fox", "--out", str(tmp_path)),
        *("--base-url", base_url),
    )
    assert result[0] == code
    assert_one_error_line(result[2], start)


@pytest.mark.live
def test_a_job_past_the_timeout_is_its_own_exit_status(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with serve(providers={"3daistudio": {"job_duration": 30}}) as url:
        code, _, err = generate(
            capsys,
            *("--provider", "3daistudio", "--prompt", "a fox", "--out", str(tmp_path)),
            *("--base-url", url, "--timeout", "0.3"),
        )
    assert code == ExitCode.TIMEOUT
    line = assert_one_error_line(err, "timed out: 3daistudio: job ")
    assert "(timeout 0.3s); it may still finish" in line


@pytest.mark.live
def test_a_refused_key_is_one_line_and_no_key_is_ever_printed(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-distinctive-0123456789"
    with serve(api_keys=[secret]) as url:
        refused = generate(
            capsys,
            *("--provider", "vibedream", "--prompt", "a fox", "--out", str(tmp_path)),
            *("--base-url", url, "--api-key", "sk-wrong-key-9876543210"),
        )
        placeholder = generate(
            capsys,
            *("--provider", "vibedream", "--prompt", "a fox", "--out", str(tmp_path)),
            *("--base-url", url),
        )
        monkeypatch.setenv("VIBEDREAM_API_KEY", secret)  # the provider's own variable
        accepted = generate(
            capsys,
            *("--provider", "vibedream", "--prompt", "a fox", "--out", str(tmp_path)),
            *("--base-url", url),
        )
    assert refused[0] == placeholder[0] == ExitCode.AUTHENTICATION
    assert_one_error_line(refused[2], "key refused: vibedream: HTTP 401")
    line = assert_one_error_line(placeholder[2], "key refused: vibedream: HTTP 401")
    assert line.endswith("; no key was given: give --api-key or set VIBEDREAM_API_KEY")
    assert accepted[0] == ExitCode.OK
    for _, out, err in (refused, placeholder, accepted):
        assert "sk-wrong-key-9876543210" not in out + err
        assert secret not in out + err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "seed"], "--param takes KEY=VALUE, got 'seed'"),
        (["--param", "prompt=x"], "--param prompt: use --prompt"),
        (["--image", "missing.png"], "cannot read --image missing.png: No such file"),
        (["--image", "notes.txt"], "--image notes.txt is not a PNG, JPEG, WebP or GIF image"),
        (["--timeout", "0"], "--timeout must be a number of seconds > 0"),
        (["--base-url", "ftp://x"], "--base-url must be http(s)://host[:port][/prefix]"),
        (
            ["--base-url", "https://api.vibedream.ai"],
            "no API key: give --api-key or set VIBEDREAM_API_KEY",
        ),
    ],
)
def test_usage_errors_are_one_line_before_anything_is_sent(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("notes.txt").write_text("not an image")
    code, out, err = generate(
        capsys, "--provider", "vibedream", "--prompt", "a fox", "--out", "out", *args
    )
    assert code == ExitCode.USAGE
    assert err.startswith(f"imagegen-emulator: error: generate: {message}")
    assert err.count("\n") == 1
    assert out == ""


def test_params_are_json_when_they_parse_else_text() -> None:
    params = parse_params(
        [
            *("num_images=2", "seed=7", "strength=0.5", "aspect_ratio=16:9", "size=1024*768"),
            *("flag=true", 'imageConfig={"imageSize": "2K"}', "prompt_extra= spaced ", "empty="),
        ]
    )
    assert params == {
        "num_images": 2,
        "seed": 7,
        "strength": 0.5,
        "aspect_ratio": "16:9",
        "size": "1024*768",
        "flag": True,
        "imageConfig": {"imageSize": "2K"},
        "prompt_extra": " spaced ",
        "empty": "",
    }


def test_exit_statuses_are_distinct() -> None:
    values = [code.value for code in ExitCode.__members__.values()]
    assert len(values) == len(set(values))


# ------------------------------------------------------------------------------ --stream


@pytest.mark.live
def test_stream_shows_each_chunk_and_saves_the_final_image(
    capsys: pytest.CaptureFixture[str], base_url: str, tmp_path: Path
) -> None:
    code, out, err = generate(
        capsys,
        *("--provider", "vertex", "--prompt", "a fox", "--out", str(tmp_path), "--stream"),
        *("--base-url", base_url, "--param", "aspect_ratio=3:2"),
        *("--param", 'thinkingConfig={"includeThoughts": true}'),
    )
    assert code == ExitCode.OK, err
    shown = [line for line in err.splitlines() if line.startswith("vertex: chunk ")]
    assert [line.split(":")[1].strip() for line in shown] == [f"chunk {n}" for n in range(1, 6)]
    assert "thought text" in shown[0] and "thought image" in shown[1]
    assert "finishReason STOP" in shown[-1]
    assert [(fmt, size) for _, fmt, size in saved(out)] == [("png", (1264, 848))]  # no drafts


@pytest.mark.live
def test_a_blocked_stream_is_the_moderation_exit_status(
    capsys: pytest.CaptureFixture[str], base_url: str, tmp_path: Path
) -> None:
    code, _, err = generate(
        capsys,
        *("--provider", "vertex", "--prompt", "an nsfw cat", "--out", str(tmp_path)),
        *("--base-url", base_url, "--stream"),
    )
    assert code == ExitCode.MODERATION
    assert_one_error_line(err, "refused by moderation: vertex: prompt blocked (PROHIBITED_CONTENT)")


def test_stream_is_for_vertex_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = generate(
        capsys, "--provider", "vibedream", "--prompt", "x", "--out", str(tmp_path), "--stream"
    )
    assert code == ExitCode.USAGE
    assert_one_error_line(err, "--stream is for --provider vertex")


@pytest.mark.live
@pytest.mark.parametrize(
    ("model", "params", "image", "expected"),
    [
        # Models documented by example only (issue 21): any id of the table goes through.
        ("flux-dev", ["num_images=2", "size=640*480"], False, [("jpeg", (640, 480))] * 2),
        ("seedream-v4.5", ["size=1024*576"], False, [("jpeg", (1024, 576))]),
        # image-upscaler takes one `image` (not `images`): the client sends it so.
        (
            "image-upscaler",
            ["target_resolution=2k", "output_format=png"],
            True,
            [("png", (2048, 1024))],
        ),
    ],
)
def test_generate_takes_any_vibedream_model(
    capsys: pytest.CaptureFixture[str],
    base_url: str,
    tmp_path: Path,
    model: str,
    params: list[str],
    image: bool,
    expected: list[tuple[str, tuple[int, int]]],
) -> None:
    options = [opt for param in params for opt in ("--param", param)]
    if image:
        source = tmp_path / "wide.png"
        PILImage.new("RGB", (200, 100), (10, 120, 200)).save(source)
        options += ["--image", str(source)]
    code, out, err = generate(
        capsys,
        *("--provider", "vibedream", "--model", model, "--prompt", "a red fox"),
        *("--out", str(tmp_path / "out"), "--base-url", base_url, *options),
    )
    assert code == ExitCode.OK, err
    assert [(fmt, size) for _, fmt, size in saved(out)] == expected
