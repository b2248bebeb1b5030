"""The pytest plugin (emulator/testing/): its fixtures, markers and options, run the way a user
runs them, through pytester on small test files (in-process: only xdist's workers are
processes of their own)."""

from __future__ import annotations

import json
from importlib.metadata import entry_points

import pytest

# Imported here, not only by the inner runs: pytester forgets the modules an in-process run
# imported, and re-importing the emulator for each run would cost more than the runs.
import emulator.testing.pytest_plugin
from emulator.testing.settings import SettingsError, deep_merge, resolve

pytest_plugins = ["pytester"]

FIXTURES = ["imagegen_emulator", "imagegen_server"]
# The inner runs find this package's modules already imported by this one, so pytest cannot
# assertion-rewrite them (as it does for any plugin's package) and says so; nothing else is let
# through. Hypothesis's plugin is left out: it imports hypothesis at the end of every run, and
# pytester forgets what a run imported, so each run would pay for the import again.
INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest
filterwarnings =
    error
    ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning
"""
# Shared by the inner test files: the providers' paths, a vibedream submit and poll as a user's
# test would send them, and a record of what a test saw for the outer test to check.
HELPERS = """
import json
from pathlib import Path

AUTH = {"Authorization": "Bearer k"}
VIBEDREAM = "/api/v1/models/z-image-turbo/generate"
VERTEX = "/api/v1/publishers/googleVertexAI/models/gemini-3-pro-image:generateContent"
STUDIO = "/v1/images/gemini/3/pro/generate/"
VERTEX_BODY = {"contents": [{"role": "user", "parts": [{"text": "a cat"}]}]}


def submit(emulator, prompt="a red fox"):
    answer = emulator.client.post(VIBEDREAM, json={"prompt": prompt}, headers=AUTH)
    assert answer.status_code == 200, answer.text
    return answer.json()["id"]


def poll(emulator, prediction_id):
    return emulator.client.get(f"/api/v1/predictions/{prediction_id}", headers=AUTH).json()


def record(name, **values):
    with Path("records.jsonl").open("a") as out:
        out.write(json.dumps({"test": name, **values}) + "\\n")
"""


@pytest.fixture
def tester(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini(INI)
    pytester.makepyfile(helpers=HELPERS)
    pytester.syspathinsert()
    return pytester


def run(tester: pytest.Pytester, *args: str, passed: int) -> pytest.RunResult:
    result = tester.runpytest(*args)
    outcomes = result.parseoutcomes()
    assert (result.ret, outcomes.get("passed"), outcomes.get("failed"), outcomes.get("errors")) == (
        0,
        passed,
        None,
        None,
    ), result.stdout.str()
    return result


def records(tester: pytest.Pytester) -> dict[str, dict[str, object]]:
    lines = (tester.path / "records.jsonl").read_text().splitlines()
    return {entry["test"]: entry for entry in map(json.loads, lines)}


def test_the_entry_point_registers_the_plugin_and_its_marker(tester: pytest.Pytester) -> None:
    (plugin,) = [e for e in entry_points(group="pytest11") if e.name == "imagegen_emulator"]
    assert plugin.load() is emulator.testing.pytest_plugin
    result = tester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        ["@pytest.mark.imagegen(profile=None, seed=None, config=None, replay=None,*"]
    )
    tester.runpytest("--help").stdout.fnmatch_lines(["*--imagegen-profile=NAME*"])


@pytest.mark.parametrize("fixture", FIXTURES)
def test_each_test_starts_from_a_fresh_emulator(tester: pytest.Pytester, fixture: str) -> None:
    tester.makepyfile(
        f"""
        from helpers import *

        def test_first_leaves_a_mess({fixture}):
            emulator = {fixture}
            record("first", now=emulator.now(), base_url=emulator.base_url)
            submit(emulator)
            emulator.set_balance("vibedream", "k", 5)
            emulator.fail_next("vertex", "503")
            emulator.advance(3600)
            emulator.configure({{"providers": {{"vibedream": {{"job_duration": 50}}}}}})

        def test_second_sees_none_of_it({fixture}):
            emulator = {fixture}
            record("second", now=emulator.now(), base_url=emulator.base_url)
            assert emulator.requests() == []
            assert emulator.balance("vibedream", "k") == 1_000_000  # the instant profile's
            assert emulator.client.get("/_emulator/scenarios").json()["scenarios"] == []
            assert "vibedream" not in emulator.config["providers"]
            assert poll(emulator, submit(emulator))["status"] == "completed"
        """
    )
    run(tester, passed=2)
    first, second = records(tester)["first"], records(tester)["second"]
    assert float(second["now"]) < float(first["now"]) + 3600  # the advance did not last
    # imagegen_server: the same server both times, reset in between.
    assert first["base_url"] == second["base_url"]


@pytest.mark.parametrize("fixture", FIXTURES)
def test_the_helper_api(tester: pytest.Pytester, fixture: str) -> None:
    tester.makepyfile(
        f"""
        import asyncio
        from decimal import Decimal

        import httpx
        import pytest
        from clients import InsufficientCreditsError
        from emulator.testing import EmulatorAdminError
        from helpers import *

        @pytest.mark.imagegen(profile="realistic")
        def test_advance_moves_a_job({fixture}):
            prediction_id = submit({fixture})
            assert poll({fixture}, prediction_id)["status"] == "processing"
            before = {fixture}.now()
            assert {fixture}.advance(3) == before + 3  # z-image-turbo takes 1-3 s
            assert poll({fixture}, prediction_id)["status"] == "completed"

        def test_fail_next_then_success({fixture}):
            {fixture}.fail_next("vertex", "503", count=2, retry_after=4)
            statuses = []
            for _ in range(3):
                answer = {fixture}.client.post(VERTEX, json=VERTEX_BODY, headers=AUTH)
                statuses.append((answer.status_code, answer.headers.get("retry-after")))
            assert statuses == [(503, "4"), (503, "4"), (200, None)]
            assert [r["fault"] for r in {fixture}.requests("vertex")] == ["503", "503", None]

        def test_fail_next_narrowed_to_a_route_and_a_job_fault({fixture}):
            {fixture}.fail_next("vibedream", "429", route="poll")
            {fixture}.fail_next("vibedream", "moderation")
            prediction_id = submit({fixture})  # not a poll: answered
            assert {fixture}.client.get(
                f"/api/v1/predictions/{{prediction_id}}", headers=AUTH
            ).status_code == 429
            assert poll({fixture}, prediction_id)["error"].startswith(
                "Your request was flagged by content moderation"
            )
            with {fixture}.client_for("vibedream") as client:
                assert client.generate("a red fox").image.width == 1024  # all used up

        def test_a_fault_name_the_emulator_does_not_know({fixture}):
            with pytest.raises(EmulatorAdminError, match="unknown fault 'teapot'"):
                {fixture}.fail_next("vibedream", "teapot")

        def test_a_scripted_scenario({fixture}):
            added = {fixture}.scenario(
                {{"match": {{"provider": "vibedream", "route": "submit"}},
                  "steps": [{{"times": 1}}, {{"fault": "402"}}]}}
            )
            assert added["remaining"] == [{{}}, {{"fault": "402"}}]
            submit({fixture})
            answer = {fixture}.client.post(VIBEDREAM, json={{"prompt": "x"}}, headers=AUTH)
            assert answer.status_code == 402

        def test_set_balance_then_402({fixture}):
            assert {fixture}.set_balance("3daistudio", "k", 10) == Decimal("10.00")
            answer = {fixture}.client.post(STUDIO, json={{"prompt": "a cat"}}, headers=AUTH)
            assert answer.status_code == 402
            with pytest.raises(InsufficientCreditsError):
                {fixture}.client_for("3daistudio", api_key="k").generate("a cat")
            assert {fixture}.balance("3daistudio", "k") == Decimal("10.00")

        def test_the_journal_and_its_filters({fixture}):
            submit({fixture})
            {fixture}.client.post(VERTEX, json=VERTEX_BODY, headers=AUTH)
            {fixture}.client.get("/api/v1/predictions/nope", headers=AUTH)
            assert [(r["provider"], r["route"], r["status"]) for r in {fixture}.requests()] == [
                ("vibedream", "submit", 200),
                ("vertex", "generateContent", 200),
                ("vibedream", "poll", 404),
            ]
            assert [r["route"] for r in {fixture}.requests("vibedream")] == ["submit", "poll"]
            assert [r["route"] for r in {fixture}.requests(status=404)] == ["poll"]
            with pytest.raises(EmulatorAdminError, match="Unknown parameter"):
                {fixture}.requests(colour="red")

        def test_config_read_and_changed_at_run_time({fixture}):
            assert {fixture}.config["profile"] == {fixture}.profile == "instant"
            changed = {fixture}.configure({{"providers": {{"vibedream": {{"job_duration": 100}}}}}})
            assert changed["providers"]["vibedream"] == {{"job_duration": 100}}
            prediction_id = submit({fixture})
            {fixture}.advance(99)
            assert poll({fixture}, prediction_id)["status"] == "processing"
            {fixture}.advance(1)
            assert poll({fixture}, prediction_id)["status"] == "completed"
            with pytest.raises(EmulatorAdminError, match="no profile named 'nope'"):
                {fixture}.configure({{"profile": "nope"}})
            assert {fixture}.profile == "instant"
            {fixture}.config = {{"profile": "realistic"}}
            assert {fixture}.config["providers"] == {{}}
            assert {fixture}.profile == "realistic"

        def test_clients({fixture}):
            assert isinstance({fixture}.client, httpx.Client)
            assert str({fixture}.client.base_url) == {fixture}.base_url

            async def health():
                assert isinstance({fixture}.async_client, httpx.AsyncClient)
                return (await {fixture}.async_client.get("/_emulator/health")).json()

            assert asyncio.run(health())["seed"] == 0
            assert asyncio.run(health())["status"] == "ok"  # a second loop, the same client

        @pytest.mark.imagegen(profile="realistic")
        def test_reference_clients_wait_in_virtual_time({fixture}):
            started = {fixture}.now()
            with {fixture}.client_for("3daistudio", strict=True) as client:
                assert client.generate("a cat").image.size == (1024, 1024)

            async def generate():
                async with {fixture}.async_client_for("vibedream") as client:
                    return await client.generate("a dog", size="768*1024")

            assert asyncio.run(generate()).image.size == (768, 1024)
            assert {fixture}.now() - started >= 41  # 3D AI Studio: 1-5 s queued, 40-90 s

        @pytest.mark.anyio  # anyio's pytest plugin: an async test on a running loop
        async def test_an_async_test({fixture}):
            {fixture}.fail_next("vertex", "429")  # the sync controls work on a running loop
            async with {fixture}.async_client_for("vertex") as client:
                assert (await client.generate("a cat")).image.format == "png"
            assert [r["status"] for r in {fixture}.requests("vertex")] == [429, 200]
        """
    )
    run(tester, passed=11)


def test_markers_and_options_choose_the_profile_and_the_seed(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        """
        import pytest
        from helpers import *

        pytestmark = pytest.mark.imagegen(config={"providers": {"vertex": {"latency": 2}}})

        def note(name, emulator):
            record(name, id=submit(emulator), profile=emulator.profile, seed=emulator.seed,
                   vertex=emulator.config["providers"].get("vertex"))

        @pytest.mark.imagegen(seed=7)
        def test_seven(imagegen_emulator):
            note("seven", imagegen_emulator)

        @pytest.mark.imagegen(seed=7)
        def test_seven_on_the_server(imagegen_server):
            note("seven_server", imagegen_server)

        @pytest.mark.imagegen(seed=8)
        def test_eight(imagegen_emulator):
            note("eight", imagegen_emulator)

        @pytest.mark.imagegen(profile="instant", config={"providers": {"vertex": {"latency": 0}}})
        def test_marker_wins(imagegen_emulator):
            note("marker", imagegen_emulator)

        def test_options(imagegen_emulator):
            note("options", imagegen_emulator)
        """
    )
    result = run(tester, "--imagegen-profile", "realistic", "--imagegen-seed", "7", passed=5)
    result.stdout.fnmatch_lines(["imagegen-emulator: profile realistic, seed 7"])
    seen = records(tester)
    assert seen["seven"]["id"] == seen["seven_server"]["id"] == seen["options"]["id"]
    assert seen["eight"]["id"] != seen["seven"]["id"]
    assert (seen["eight"]["seed"], seen["options"]["seed"]) == (8, 7)
    assert (seen["options"]["profile"], seen["marker"]["profile"]) == ("realistic", "instant")
    # The module's marker config applies to every test; a closer one overrides it.
    assert (seen["options"]["vertex"], seen["marker"]["vertex"]) == ({"latency": 2}, {"latency": 0})


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        ('profile="nope"', "no profile named 'nope'"),
        ('"realistic"', "unexpected argument(s) 'realistic'"),
        ('config={"providers": {"vibedream": {"job_duration": -1}}}', "job_duration"),
    ],
)
def test_a_bad_marker_is_one_clear_error(
    tester: pytest.Pytester, marker: str, message: str
) -> None:
    tester.makepyfile(
        f"""
        import pytest

        @pytest.mark.imagegen({marker})
        def test_it(imagegen_emulator):
            pass
        """
    )
    result = tester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*imagegen emulator: *{message}*"])
    assert "Traceback" not in result.stdout.str()
    assert "During handling" not in result.stdout.str()


def test_imagegen_server_is_a_real_server_shared_by_the_session(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        """
        import httpx
        import pytest
        from helpers import *

        def test_one(imagegen_server):
            # A plain httpx call, a socket of its own: what an SDK given base_url does.
            answer = httpx.post(imagegen_server.base_url + VIBEDREAM, json={"prompt": "x"},
                                headers=AUTH)
            assert answer.status_code == 200
            assert answer.json()["statusUrl"].startswith(imagegen_server.base_url + "/")
            record("one", base_url=imagegen_server.base_url)

        def test_two(imagegen_server):
            assert imagegen_server.requests() == []
            record("two", base_url=imagegen_server.base_url)

        @pytest.mark.imagegen(seed=5)
        def test_another_seed_another_server(imagegen_server):
            assert imagegen_server.client.get("/_emulator/health").json()["seed"] == 5
            record("seed5", base_url=imagegen_server.base_url)

        @pytest.mark.imagegen(config={"admin": {"token": "a-long-token"}})
        def test_a_guarded_server(imagegen_server):
            assert httpx.get(imagegen_server.base_url + "/_emulator/clock").status_code == 401
            imagegen_server.advance(10)  # the helper sends the token
            assert imagegen_server.client_for("3daistudio").generate("a cat").images
        """
    )
    run(tester, passed=4)
    seen = records(tester)
    assert seen["one"]["base_url"] == seen["two"]["base_url"] != seen["seed5"]["base_url"]
    assert str(seen["one"]["base_url"]).startswith("http://127.0.0.1:")


def test_imagegen_server_under_xdist_one_server_per_worker(tester: pytest.Pytester) -> None:
    tester.makepyfile(
        """
        import os

        import pytest
        from helpers import *

        @pytest.mark.parametrize("n", range(6))
        def test_it(imagegen_server, n):
            assert imagegen_server.requests() == []
            submit(imagegen_server, prompt=f"picture {n}")
            assert len(imagegen_server.requests()) == 1
            record(f"test{n}", worker=os.environ["PYTEST_XDIST_WORKER"],
                   base_url=imagegen_server.base_url)
        """
    )
    result = tester.runpytest("-n", "2", "--assert=plain")
    result.assert_outcomes(passed=6)
    servers = {(entry["worker"], entry["base_url"]) for entry in records(tester).values()}
    workers = {worker for worker, _ in servers}
    assert len(workers) == len(servers) == len({url for _, url in servers}) == 2


def test_settings_precedence() -> None:
    markers = [
        ((), {"seed": 3}),  # the closest: the test's own
        ((), {"profile": "chaos", "seed": 2, "config": {"defaults": {"latency": 1}}}),
    ]
    settings = resolve("realistic", 9, markers)
    assert (settings.profile, settings.seed) == ("chaos", 3)
    assert settings.mapping["defaults"] == {"latency": 1}
    assert (resolve(None, None, []).profile, resolve(None, None, []).seed) == ("instant", 0)
    with pytest.raises(SettingsError, match="config= is a mapping"):
        resolve(None, None, [((), {"config": "realistic"})])


def test_deep_merge_merges_tables_and_replaces_the_rest() -> None:
    base = {"providers": {"vibedream": {"job_duration": 1, "latency": 2}}, "profile": "dev"}
    changes = {"providers": {"vibedream": {"latency": 5}, "vertex": {}}, "profile": "chaos"}
    assert deep_merge(base, changes) == {
        "providers": {"vibedream": {"job_duration": 1, "latency": 5}, "vertex": {}},
        "profile": "chaos",
    }
    assert base["providers"]["vibedream"]["latency"] == 2  # not modified
