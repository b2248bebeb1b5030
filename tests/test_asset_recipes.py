"""Every stored file is a recipe that is plain data (emulator/core/recipes.py): written to JSON
and read back, it builds the same picture (the same cache key, so the same bytes and ETag) as
the original. A shared store (issue 19) keeps files this way, for any worker to render."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from emulator import create_app
from emulator.core.assets import Asset
from emulator.core.images import source_stand_in
from emulator.core.recipes import Recipe, build, dumps, loads, register
from emulator.core.runtime import Runtime
from tests.conftest import AUTH, contract_client, emulator_config
from tests.images import data_uri, encoded
from tests.test_replay import FOX, VIBEDREAM_SUBMIT, Recorder, record_vibedream_job

INPUT = data_uri("PNG", size=(64, 48), color="skyblue")
INPUT_BYTES = encoded("PNG", size=(64, 48), color="skyblue")
AISTUDIO_GENERATE = "/v1/images/gemini/3/pro/generate/"
AISTUDIO_EDIT = "/v1/images/gemini/3/pro/edit/"


def stored_assets(client: TestClient, job_id: str) -> list[Asset]:
    """A job's files in the store: its outputs, then its thumbnails (3D AI Studio's)."""
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    job = rt.store.get_job(job_id)
    assert job is not None
    ids = [*job.outputs, *job.params.get("thumbnails", [])]
    assets = [rt.store.get_asset(asset_id) for asset_id in ids]
    assert all(asset is not None for asset in assets)
    return assets  # type: ignore[return-value]


def assert_round_trips(assets: list[Asset]) -> None:
    assert assets
    for asset in assets:
        text = dumps(asset.recipe)
        json.loads(text)  # plain JSON, nothing a process holds
        again = loads(text)
        assert again == asset.recipe
        assert build(again).cache_key() == asset.spec.cache_key()


def assert_holds_the_stand_in(asset: Asset) -> None:
    """The input's stand-in for the picture's size is in the recipe, not the input."""
    spec = asset.spec
    assert asset.recipe.params["source"] == source_stand_in(INPUT_BYTES, spec.width, spec.height)


def test_a_vibedream_jobs_files_round_trip_as_data() -> None:
    with contract_client(create_app(emulator_config())) as client:
        plain = client.post(VIBEDREAM_SUBMIT, json=FOX, headers=AUTH)
        edit = client.post(
            "/api/v1/models/nano-banana-pro-edit/generate",
            json={"prompt": "paint it", "images": [INPUT, "https://example.com/a.png"]},
            headers=AUTH,
        )
        assert plain.status_code == edit.status_code == 200, edit.text
        edited = stored_assets(client, edit.json()["id"])
        assert_holds_the_stand_in(edited[0])
        assert_round_trips(stored_assets(client, plain.json()["id"]) + edited)


def test_a_3daistudio_tasks_images_and_thumbnails_round_trip_as_data() -> None:
    with contract_client(create_app(emulator_config())) as client:
        made = client.post(
            AISTUDIO_GENERATE, json={"prompt": "a city", "num_images": 2}, headers=AUTH
        )
        edit = client.post(AISTUDIO_EDIT, json={"prompt": "blue", "images": [INPUT]}, headers=AUTH)
        assert made.status_code == edit.status_code == 200, edit.text
        generated = stored_assets(client, made.json()["task_id"])
        edited = stored_assets(client, edit.json()["task_id"])
    assert len(generated) == 4 and len(edited) == 2  # full images, then thumbnails
    full, thumbnail = edited
    # A thumbnail holds the full picture's recipe and its size, not the full Asset.
    assert (thumbnail.recipe.kind, thumbnail.recipe.params) == (
        full.recipe.kind,
        full.recipe.params,
    )
    assert thumbnail.recipe.max_side == 256 and full.recipe.max_side is None
    assert_holds_the_stand_in(full)
    assert generated[0].spec.cache_key() != generated[1].spec.cache_key()  # num_images 2 differ
    assert_round_trips(generated + edited)


def test_a_replayed_jobs_files_round_trip_as_data(tmp_path: Path) -> None:
    app = create_app(emulator_config(seed=1234))
    recorder = Recorder(app)
    with contract_client(app) as client:
        client.event_hooks["response"].append(recorder)
        record_vibedream_job(client)
    folder = recorder.write(tmp_path / "recordings")
    replaying = create_app(emulator_config(profile="instant", replay_folder=str(folder)))
    with contract_client(replaying) as replay:
        created = replay.post(VIBEDREAM_SUBMIT, json=FOX, headers=AUTH)
        assert created.status_code == 200
        assets = stored_assets(replay, created.json()["id"])
    [output] = assets
    assert output.recipe.params["image"]["format"] == "webp"  # the recorded download's
    assert_round_trips(assets)


# --------------------------------------------------------------------------- the recipe format


def _echo_spec(params: Any) -> Any:
    return params


register("tests.echo", _echo_spec)


def test_bytes_and_dicts_that_look_like_tags_read_back_as_themselves() -> None:
    params = {
        "source": b"\x00\xffpng",
        "nested": [{"$bytes": "not bytes"}, {"$dict": {"x": 1}}, None, 1.5, True],
        "plain": {"a": [1, "b"]},
    }
    recipe = Recipe("tests.echo", params, max_side=None)
    assert loads(dumps(recipe)) == recipe
    assert loads(dumps(recipe)).params["source"] == b"\x00\xffpng"


def test_a_recipe_refuses_what_is_not_data_and_unknown_kinds() -> None:
    with pytest.raises(TypeError, match="data only"):
        dumps(Recipe("tests.echo", {"make": print}))
    with pytest.raises(LookupError, match="no builder registered"):
        build(Recipe("tests.unknown", {}))
    with pytest.raises(ValueError, match="registered twice"):
        register("tests.echo", lambda params: params)  # type: ignore[arg-type,return-value]
    for text in ("", "[]", '{"kind": 1, "params": {}, "max_side": null}', '{"kind": "k"}'):
        with pytest.raises(ValueError, match="not a recipe"):
            loads(text)
