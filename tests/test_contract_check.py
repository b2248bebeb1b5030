"""`imagegen-emulator contract-check`: against the emulator on a real uvicorn server it exits
0 for every provider; against an emulator made to drift it exits 1 naming the field; bad
usage and an unreachable target exit 2 with one clear line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contracts.conformance import KEY_ENV, PROVIDERS
from emulator import Config, create_app
from emulator.cli import main
from emulator.commands.common import ADMIN_TOKEN_ENV
from tests.conftest import run_server

SECRET = "cli-secret-key-4f1c"  # must never appear in the output


@pytest.fixture(scope="module")
def dev_server() -> Iterator[str]:
    """An emulator as `serve` runs it (dev profile: jobs take 1-3 real seconds, real clock),
    with one accepted key so the wrong-key probe runs too."""
    server, thread, base_url = run_server(create_app(Config(profile="dev", api_keys=[SECRET])))
    yield base_url
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(autouse=True)
def no_keys_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*KEY_ENV.values(), "VERTEX_GATEWAY_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["contract-check", *args])
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    return code, out, err


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_emulator_conforms(dev_server: str, provider: str, capsys) -> None:
    code, out, _ = check(
        capsys, "--provider", provider, "--base-url", dev_server, "--api-key", SECRET
    )
    assert code == 0, out
    assert "result: CONFORMS" in out
    assert "skipped" not in out
    if provider != "vertex":  # a job to wait for: the check moved the emulator's clock
        assert "clock was advanced through its admin API" in out


def test_the_key_defaults_to_the_provider_environment_variable(
    dev_server: str, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("THREEDAI_API_KEY", SECRET)
    code, out, _ = check(capsys, "--provider", "3daistudio", "--base-url", dev_server)
    assert code == 0, out


def test_vertex_base_url_defaults_to_the_gateway_variable(
    dev_server: str, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VERTEX_GATEWAY_BASE_URL", dev_server)
    monkeypatch.setenv("VERTEX_GATEWAY_API_KEY", SECRET)
    code, out, _ = check(capsys, "--provider", "vertex")
    assert code == 0, out


def test_a_guarded_emulator_has_its_clock_advanced_with_the_admin_token(
    capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "admin-token-for-the-check"
    config = Config(profile="dev", api_keys=[SECRET], admin_token=token)
    server, thread, base_url = run_server(create_app(config))
    try:
        monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
        args = ["--provider", "vibedream", "--base-url", base_url, "--api-key", SECRET]
        code, out, _ = check(capsys, *args)  # no token: it waits in real time (1-3 s)
        assert code == 0, out
        assert "admin API needs a token, which was not given" in out
        monkeypatch.setenv(ADMIN_TOKEN_ENV, token)
        code, out, _ = check(capsys, *args)
        assert code == 0, out
        assert "clock was advanced through its admin API" in out
        assert token not in out
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_the_installed_command_exits_0_against_the_emulator(dev_server: str) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "emulator",
            "contract-check",
            "--provider",
            "vibedream",
            "--base-url",
            dev_server,
            "--api-key",
            SECRET,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert SECRET not in done.stdout + done.stderr


# --------------------------------------------------------------------------- drift

Edit = Callable[[str, Any], Any]


def drifting(edit: Edit) -> Starlette:
    """The emulator behind a proxy that rewrites its JSON answers with ``edit(path, body)``."""
    emulator = create_app(Config())

    async def proxy(request: Request) -> Response:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=emulator), base_url=str(request.base_url)
        ) as upstream:
            answer = await upstream.request(
                request.method,
                request.url.path,
                params=request.query_params,
                headers={k: v for k, v in request.headers.items() if k != "host"},
                content=await request.body(),
            )
        content = answer.content
        if answer.headers.get("content-type", "").startswith("application/json"):
            content = json.dumps(edit(request.url.path, answer.json())).encode()
        kept = {"content-type": answer.headers.get("content-type", "application/octet-stream")}
        return Response(content, status_code=answer.status_code, headers=kept)

    return Starlette(routes=[Route("/{path:path}", proxy, methods=["GET", "POST"])])


def cost_as_text(path: str, body: Any) -> Any:
    if path.endswith("/generate") and isinstance(body, dict) and "costCents" in body:
        body["costCents"] = str(body["costCents"])
    return body


def no_model_version(path: str, body: Any) -> Any:
    if path.endswith(":generateContent") and isinstance(body, dict):
        body.pop("modelVersion", None)
    return body


def finished_spelled_done(path: str, body: Any) -> Any:
    if path.endswith("/status/") and isinstance(body, dict) and body.get("status") == "FINISHED":
        body["status"] = "DONE"
    return body


@pytest.mark.parametrize(
    ("provider", "edit", "named"),
    [
        ("vibedream", cost_as_text, "$.costCents: expected type integer; got '1' (string)"),
        ("vertex", no_model_version, "$.modelVersion: expected the property, which is required"),
        ("3daistudio", finished_spelled_done, "$.status: expected one of ['PENDING',"),
    ],
)
def test_drift_exits_1_naming_the_field(
    provider: str, edit: Edit, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server, thread, base_url = run_server(drifting(edit))
    try:
        code, out, _ = check(
            capsys, "--provider", provider, "--base-url", base_url, "--api-key", SECRET
        )
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert code == 1, out
    assert named in out
    assert "result: DRIFT" in out


# --------------------------------------------------------------------------- usage


GIVEN = ["--base-url", "http://h", "--api-key", "k"]  # a base URL and a key, unused


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--provider", "vibedream", "--base-url", "http://127.0.0.1:9"], "VIBEDREAM_API_KEY"),
        (["--provider", "vertex", "--api-key", "k"], "VERTEX_GATEWAY_BASE_URL"),
        (["--provider", "vibedream", "--base-url", "ftp://x", "--api-key", "k"], "http(s)://"),
        (["--provider", "3daistudio", *GIVEN, "--budget-credits", "-1"], "budget"),
        (["--provider", "vibedream", *GIVEN, "--budget-cents", "nan"], "budget"),
        (["--provider", "vibedream", *GIVEN, "--timeout", "0"], "--timeout"),
    ],
)
def test_bad_usage_exits_2_with_one_clear_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = check(capsys, *args)
    assert code == 2
    assert message in err
    assert out == ""
    assert "Traceback" not in err


def test_an_unknown_provider_or_missing_option_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["contract-check", "--provider", "openai", "--base-url", "http://h"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "imagegen-emulator contract-check: error: argument --provider: invalid choice" in err
    # --provider is optional only because --recordings needs none.
    assert main(["contract-check", "--base-url", "http://h"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "imagegen-emulator: error: contract-check: give --provider with --base-url,"
        " or --recordings DIR\n"
    )


def test_an_unreachable_target_exits_2_without_a_traceback(capsys) -> None:
    sock_url = "http://127.0.0.1:9"  # discard port: nothing listens
    code, _, err = check(
        capsys, "--provider", "vibedream", "--base-url", sock_url, "--api-key", SECRET
    )
    assert code == 2
    assert "cannot complete the check against http://127.0.0.1:9" in err
    assert "Traceback" not in err
