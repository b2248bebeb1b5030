"""Strict teardown (issue 20): with ``@pytest.mark.imagegen(strict=True)`` or
``--imagegen-strict``, a test fails at teardown on an unused queued fault or scenario step, or
on a request that met an unknown endpoint or model; off by default."""

from __future__ import annotations

import pytest

from tests.test_pytest_plugin import FIXTURES, HELPERS, INI

pytest_plugins = ["pytester"]

STRICT = "@pytest.mark.imagegen(strict=True)"


@pytest.fixture
def tester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(helpers=HELPERS)
    pytester.syspathinsert()
    return pytester


def outcome(tester: pytest.Pytester, body: str, *args: str) -> tuple[dict[str, int], str]:
    tester.makepyfile(f"import pytest\nfrom helpers import *\n\n{body}")
    result = tester.runpytest(*args)
    return result.parseoutcomes(), result.stdout.str()


@pytest.mark.parametrize("fixture", FIXTURES)
def test_an_unused_fail_next_fails_at_teardown_naming_it(
    tester: pytest.Pytester, fixture: str
) -> None:
    outcomes, out = outcome(
        tester,
        f"""
{STRICT}
def test_it({fixture}):
    {fixture}.fail_next("vertex", "503", 2)
    {fixture}.fail_next("vibedream", "429")
    submit_answer = {fixture}.client.post(VIBEDREAM, json={{"prompt": "x"}}, headers=AUTH)
    assert submit_answer.status_code == 429
""",
    )
    assert outcomes.get("passed") == 1 and outcomes.get("errors") == 1, out
    assert "error at teardown" in out.lower() or "ERROR at teardown" in out, out
    assert "fail_next 503 x2" in out and "2 step(s) never played" in out, out
    assert "fail_next 429" not in out, out  # it was used


@pytest.mark.parametrize("fixture", FIXTURES)
def test_all_used_passes(tester: pytest.Pytester, fixture: str) -> None:
    outcomes, out = outcome(
        tester,
        f"""
{STRICT}
def test_it({fixture}):
    {fixture}.fail_next("vibedream", "429")
    {fixture}.scenario({{"match": {{"provider": "vibedream"}}, "steps": [{{"fault": "503"}}]}})
    for status in (429, 503):
        answer = {fixture}.client.post(VIBEDREAM, json={{"prompt": "x"}}, headers=AUTH)
        assert answer.status_code == status
    assert poll({fixture}, submit({fixture}))["status"] == "completed"
""",
    )
    assert outcomes == {"passed": 1}, out


def test_the_configs_own_scenarios_count_too(tester: pytest.Pytester) -> None:
    scenario = {"name": "from config", "match": {"provider": "vertex"}, "steps": [{"fault": "503"}]}
    outcomes, out = outcome(
        tester,
        f"""
@pytest.mark.imagegen(strict=True, config={{"scenarios": [{scenario!r}]}})
def test_it(imagegen_emulator):
    pass
""",
    )
    assert outcomes == {"passed": 1, "errors": 1}, out
    assert "'from config'" in out, out


UNEXPECTED = {
    "endpoint": ('client.get("/api/v1/no-such-thing", headers=AUTH)', "unknown endpoint"),
    "vibedream model": (
        'client.post("/api/v1/models/no-such-model/generate", json={"prompt": "x"}, headers=AUTH)',
        "unknown model",
    ),
    "vertex model": (
        'client.post(VERTEX.replace("gemini-3-pro-image", "no-such-model"), json=VERTEX_BODY,'
        " headers=AUTH)",
        "unknown model",
    ),
    # 3daistudio names its models in its paths: an unknown one is an unknown endpoint.
    "3daistudio model": (
        'client.post(STUDIO.replace("gemini/3/pro", "no/such/model"), json={}, headers=AUTH)',
        "unknown endpoint",
    ),
}


@pytest.mark.parametrize("fixture", FIXTURES)
@pytest.mark.parametrize("case", UNEXPECTED)
def test_an_unexpected_request_fails(tester: pytest.Pytester, fixture: str, case: str) -> None:
    call, kind = UNEXPECTED[case]
    outcomes, out = outcome(
        tester,
        f"""
{STRICT}
def test_it({fixture}):
    answer = {fixture}.{call}
    assert answer.status_code == 404, answer.text
""",
    )
    assert outcomes == {"passed": 1, "errors": 1}, out
    assert f"{kind}: " in out and " -> 404 (" in out, out


@pytest.mark.parametrize("fixture", FIXTURES)
def test_without_strict_nothing_fails(tester: pytest.Pytester, fixture: str) -> None:
    outcomes, out = outcome(
        tester,
        f"""
def test_it({fixture}):
    {fixture}.fail_next("vertex", "503")
    assert {fixture}.client.get("/api/v1/no-such-thing").status_code == 404
""",
    )
    assert outcomes == {"passed": 1}, out


BODY = """
def test_plain(imagegen_emulator):
    imagegen_emulator.fail_next("vertex", "503")

@pytest.mark.imagegen(strict=False)
def test_marked_off(imagegen_emulator):
    imagegen_emulator.fail_next("vertex", "503")

@pytest.mark.imagegen(strict=True)
def test_marked_on(imagegen_emulator):
    imagegen_emulator.fail_next("vertex", "503")
"""


def test_the_option_turns_it_on_and_the_marker_wins(tester: pytest.Pytester) -> None:
    outcomes, out = outcome(tester, BODY, "--imagegen-strict", "-rE")
    assert outcomes == {"passed": 3, "errors": 2}, out
    errored = {
        line.split("::")[1].split()[0] for line in out.splitlines() if line.startswith("ERROR ")
    }
    assert errored == {"test_plain", "test_marked_on"}, out
    outcomes, out = outcome(tester, BODY, "-rE")
    errored = {
        line.split("::")[1].split()[0] for line in out.splitlines() if line.startswith("ERROR ")
    }
    assert errored == {"test_marked_on"}, out


def test_a_shared_server_counts_only_this_tests_requests(tester: pytest.Pytester) -> None:
    outcomes, out = outcome(
        tester,
        """
def test_first_is_not_strict(imagegen_server):
    imagegen_server.fail_next("vertex", "503")
    assert imagegen_server.client.get("/api/v1/no-such-thing").status_code == 404

@pytest.mark.imagegen(strict=True)
def test_second_is_clean(imagegen_server):
    assert poll(imagegen_server, submit(imagegen_server))["status"] == "completed"
""",
    )
    assert outcomes == {"passed": 2}, out
