"""`imagegen-emulator serve` as a user runs it: a real process on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from emulator.cli import main
from emulator.commands.common import ADMIN_TOKEN_ENV

SERVE = [sys.executable, "-m", "emulator", "serve", "--host", "127.0.0.1"]


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*SERVE, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def stop(process: subprocess.Popen[str]) -> str:
    """Kill if still running, reap, close the pipes; return what it wrote to stderr."""
    if process.poll() is None:
        process.kill()
    _, stderr = process.communicate(timeout=15)
    return stderr


def wait_for_base_url(process: subprocess.Popen[str]) -> tuple[str, list[str]]:
    assert process.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = re.search(r"listening on (http://\S+)", line)
        if match:
            return match.group(1), lines
    raise AssertionError("no base URL printed: " + "".join(lines) + stop(process))


@pytest.fixture
def server() -> Iterator[tuple[subprocess.Popen[str], str, str]]:
    process = start("--port", "0", "--seed", "7")
    try:
        base_url, lines = wait_for_base_url(process)
        # The banner is printed in one piece; read the rest of it.
        banner = "".join(lines)
        while "/api/v1/predictions/<id>" not in banner:
            banner += process.stdout.readline()  # type: ignore[union-attr]
        yield process, base_url, banner
    finally:
        stop(process)


def test_serve_prints_base_url_seed_and_a_curl_per_provider(server) -> None:
    _, base_url, banner = server
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
    assert "seed: 7" in banner
    assert "accepts any non-empty key" in banner
    assert f'curl -X POST "{base_url}/api/v1/models/z-image-turbo/generate"' in banner


def test_the_printed_curl_command_works(server) -> None:
    _, _, banner = server
    command = banner[banner.index("curl -X POST") :].split("\ncurl ")[0]
    result = subprocess.run(
        ["bash", "-c", command + " --silent"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert '"status":"processing"' in result.stdout, result.stdout + result.stderr


def test_ctrl_c_stops_cleanly(server) -> None:
    process, base_url, _ = server
    assert httpx.get(f"{base_url}/_emulator/health").json()["status"] == "ok"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    assert "Traceback" not in stop(process)


def test_a_busy_port_is_refused_with_one_clear_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [*SERVE, "--port", str(port)], capture_output=True, text=True, timeout=30, check=False
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read config file"),
        ("seed = [", "is not valid TOML"),
        ("sed = 1", "Additional properties are not allowed ('sed' was unexpected)"),
        ("[providers.vibedream]\njob_duration = [5, 1]", "job_duration: a duration needs"),
        ("[providers.nosuch]\njob_duration = 1", "providers"),
    ],
)
def test_a_bad_config_is_refused_with_one_clear_line(
    tmp_path: Path, content: str | None, message: str
) -> None:
    path = tmp_path / "emulator.toml"
    if content is not None:
        path.write_text(content)
    result = subprocess.run(
        [*SERVE, "--port", "0", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_config_file_is_applied(tmp_path: Path) -> None:
    path = tmp_path / "emulator.toml"
    path.write_text('seed = 11\nclock = "virtual"\n[auth]\nkeys = ["only-this"]\n')
    process = start("--port", "0", "--config", str(path))
    try:
        base_url, _ = wait_for_base_url(process)
        health = httpx.get(f"{base_url}/_emulator/health").json()
        assert (health["seed"], health["clock"]["mode"]) == (11, "virtual")
        denied = httpx.post(
            f"{base_url}/api/v1/models/z-image-turbo/generate",
            json={"prompt": "x"},
            headers={"Authorization": "Bearer other"},
        )
        assert denied.status_code == 401
    finally:
        stop(process)


def test_help_lists_the_options() -> None:
    result = subprocess.run(
        [*SERVE[:3], "serve", "--help"], capture_output=True, text=True, timeout=30, check=True
    )
    for option in ("--host", "--port", "--config", "--seed"):
        assert option in result.stdout


# ---------------------------------------------------------------------- profiles, admin token


def read_banner(process: subprocess.Popen[str]) -> tuple[str, str]:
    base_url, lines = wait_for_base_url(process)
    banner = "".join(lines)
    while "/api/v1/predictions/<id>" not in banner:
        banner += process.stdout.readline()  # type: ignore[union-attr]
    return base_url, banner


def without_token_env() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if name != ADMIN_TOKEN_ENV}


def test_serve_defaults_to_the_dev_profile(server) -> None:
    _, _, banner = server
    assert "profile: dev" in banner
    assert "admin token required" not in banner


def test_serve_profile_is_shown_in_the_banner_and_applied() -> None:
    process = start("--port", "0", "--profile", "chaos", "--clock", "virtual")
    try:
        base_url, banner = read_banner(process)
        assert "profile: chaos" in banner
        assert "clock: virtual" in banner
        config = httpx.get(f"{base_url}/_emulator/config").json()["config"]
        assert config["profile"] == "chaos"
    finally:
        stop(process)


def test_serve_profile_may_name_a_profile_of_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "emulator.toml"
    path.write_text('profile = "realistic"\n[profiles.mine]\nextends = "dev"\n')
    process = start("--port", "0", "--config", str(path), "--profile", "mine")
    try:
        _, banner = read_banner(process)
        assert "profile: mine" in banner  # --profile wins over the file's
    finally:
        stop(process)


def test_serve_with_an_admin_token_guards_the_admin_api() -> None:
    process = start("--port", "0", "--admin-token", "long-enough-token")
    try:
        base_url, banner = read_banner(process)
        assert "(admin token required)" in banner
        assert "long-enough-token" not in banner
        refused = httpx.get(f"{base_url}/_emulator/health")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthenticated"
        allowed = httpx.get(
            f"{base_url}/_emulator/health", headers={"Authorization": "Bearer long-enough-token"}
        )
        assert allowed.status_code == 200
    finally:
        stop(process)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--host", "0.0.0.0"],
            "listening on 0.0.0.0 exposes the admin API beyond this machine:"
            f" give --admin-token (or {ADMIN_TOKEN_ENV})",
        ),
        (
            ["--host", "0.0.0.0", "--admin-token", "short"],
            "the admin token must be at least 8 characters",
        ),
        (["--admin-token", "1234567"], "the admin token must be at least 8 characters"),
        (
            ["--profile", "nope"],
            "profile: no profile named 'nope'; known: chaos, dev, instant, realistic",
        ),
    ],
)
def test_unsafe_or_unknown_serve_options_are_refused_with_one_clear_line(
    args: list[str], message: str
) -> None:
    result = subprocess.run(
        [*SERVE, "--port", "0", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env=without_token_env(),
    )
    assert result.returncode == 2
    assert result.stderr == f"imagegen-emulator: error: {message}\n"
    assert result.stdout == ""  # refused before listening: no banner


# ------------------------------------------------------------------------- help and usage


@pytest.mark.parametrize("command", ["serve", "generate", "contract-check"])
def test_help_of_each_command_shows_examples(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0
    help_text = capsys.readouterr().out
    examples = help_text[help_text.index("\nexamples:\n") :].split("\n\n")[0].splitlines()
    shown = [line for line in examples if f"imagegen-emulator {command} " in line]
    assert len(shown) >= 3, help_text


def test_no_command_prints_the_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("usage: imagegen-emulator [-h] COMMAND ...")
    for command in ("serve", "generate", "contract-check"):
        assert f"\n    {command}" in captured.err
    assert "examples:" in captured.err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["nosuch"], "imagegen-emulator: error: argument COMMAND: invalid choice: 'nosuch'"),
        (["serve", "--port", "x"], "imagegen-emulator serve: error: argument --port: invalid int"),
        (
            ["generate", "--provider", "vibedream"],
            "imagegen-emulator generate: error: the following arguments are required:"
            " --prompt, --out",
        ),
        (["serve", "--log-format", "xml"], "imagegen-emulator serve: error: argument --log-format"),
    ],
)
def test_a_usage_error_is_one_line(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    prog = message.split(": error:")[0]  # the parser that reports it: the command's own
    assert err.endswith(f" (see {prog} --help)\n")
    assert err.count("\n") == 1
