"""Properties over generated requests, derived from the contracts rather than hand-picked:
any schema-valid request is accepted and completes with an image of the right size; any value
a schema refuses is a 400 naming that field; no body whatsoever gets a 500."""

from __future__ import annotations

import io
import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from PIL import Image

import contracts
from emulator import create_app
from emulator.providers.vibedream.catalog import models
from tests.conftest import AUTH, contract_client, emulator_config

MODELS = sorted(models())
DOCUMENTED = sorted(m.id for m in models().values() if not m.documented_by_example)
BY_EXAMPLE = sorted(m.id for m in models().values() if m.documented_by_example)
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def request_strategy(model_id: str) -> st.SearchStrategy[dict]:
    return from_schema(contracts.schema("vibedream", models()[model_id].request_schema))


def refs(model_id: str, body: dict) -> list[str]:
    return models()[model_id].input_images(body)


@SETTINGS
@given(data=st.data(), model_id=st.sampled_from(DOCUMENTED))
def test_any_valid_request_is_accepted_and_completes_with_the_right_image(data, model_id) -> None:
    """The seed models: their contracts hold the provider's whole parameter table, so every
    request they allow is served."""
    body = data.draw(request_strategy(model_id))
    # A schema-valid data: URI is almost never a real image: those are checked elsewhere.
    assume(not any(ref.startswith("data:") for ref in refs(model_id, body)))
    with contract_client(create_app(emulator_config())) as client:
        created = client.post(f"/api/v1/models/{model_id}/generate", json=body, headers=AUTH)
        assert created.status_code == 200, created.text
        assert_right_image(client, model_id, created.json()["id"], body)


@SETTINGS
@given(data=st.data(), model_id=st.sampled_from(BY_EXAMPLE))
def test_a_by_example_model_serves_or_names_the_field_it_cannot_serve(data, model_id) -> None:
    """The models documented by example only: their contracts check types, so a typed value the
    emulator cannot turn into a picture (a size it cannot read) is a 400 naming that field,
    and everything else is served with the size and format the table's rules give."""
    body = data.draw(request_strategy(model_id))
    assume(not any(ref.startswith("data:") for ref in refs(model_id, body)))
    with contract_client(create_app(emulator_config())) as client:
        created = client.post(f"/api/v1/models/{model_id}/generate", json=body, headers=AUTH)
        if created.status_code == 400:
            assert created.json()["field"].split("[")[0] in body, created.text
            return
        assert created.status_code == 200, created.text
        assert_right_image(client, model_id, created.json()["id"], body)


def assert_right_image(client, model_id: str, prediction_id: str, body: dict) -> None:
    client.post("/_emulator/clock/advance", json={"seconds": 600})
    done = client.get(f"/api/v1/predictions/{prediction_id}", headers=AUTH).json()
    assert done["status"] == "completed"
    download = client.get(done["outputs"][0])
    image = Image.open(io.BytesIO(download.content))
    model = models()[model_id]
    params = {**model.defaults, **body}
    assert image.size == model.dimensions(params)
    assert image.format.lower() == model.output_format(params)


@SETTINGS
@given(data=st.data(), model_id=st.sampled_from(MODELS))
def test_a_value_the_schema_refuses_is_a_400_naming_the_field(data, model_id) -> None:
    name = models()[model_id].request_schema
    schema = contracts.schema("vibedream", name)
    body = data.draw(request_strategy(model_id))
    field = data.draw(st.sampled_from(sorted(schema["properties"])))
    body[field] = data.draw(json_values)
    assume(not contracts.validator("vibedream", name).is_valid(body))
    with contract_client(create_app(emulator_config())) as client:
        response = client.post(f"/api/v1/models/{model_id}/generate", json=body, headers=AUTH)
    assert response.status_code == 400, response.text
    assert response.json()["field"].split("[")[0] == field


@settings(max_examples=60, deadline=None)
@given(
    model_id=st.sampled_from([*MODELS, "unknown-model"]),
    body=json_values | st.binary(max_size=64),
)
def test_no_body_gets_a_server_error(model_id: str, body: object) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    with contract_client(create_app(emulator_config())) as client:
        response = client.post(
            f"/api/v1/models/{model_id}/generate",
            content=content,
            headers={**AUTH, "Content-Type": "application/json"},
        )
    assert response.status_code in (200, 400, 404), response.text


@settings(max_examples=150, deadline=None)
@given(data=st.data(), model_id=st.sampled_from(MODELS))
def test_the_fast_check_agrees_with_the_reference_validator(data, model_id) -> None:
    """The hot path's compiled check must accept exactly what jsonschema accepts."""
    name = models()[model_id].request_schema
    body = data.draw(request_strategy(model_id))
    if data.draw(st.booleans()):
        field = data.draw(
            st.sampled_from(sorted(contracts.schema("vibedream", name)["properties"]))
        )
        body[field] = data.draw(json_values)
    reference = contracts.validator("vibedream", name).is_valid(body)
    assert contracts.is_valid("vibedream", name, body) == reference
