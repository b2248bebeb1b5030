"""Schemathesis against the emulator's own /openapi.json, in-process (ASGI): every operation,
schema-valid (positive) and schema-breaking (negative) data, every response checked.

Two runs of the same test, positive and negative cases drawn alike, seeded and derandomized
(a run replays exactly): a bounded one in the default suite (25 examples per operation, 8 on
the seven generateContent paths, which share one large schema; about 10 s on two cores), and a
long one behind the `slow` marker (500 per operation, plus Schemathesis's coverage phase:
boundary values, missing fields, methods the document does not list; about 12,000 cases, 5
minutes on two cores):

    .venv/bin/pytest -q -n 2 -m slow tests/test_fuzz_schemathesis.py

The checks are Schemathesis's default set (no 5xx, responses conform to their schema, their
status codes and their content types are declared, negative data is refused, a missing key is
refused, ...) except `positive_data_acceptance`: a schema-valid request is not always a valid
one here, since schema-valid base64 is rarely a real image and the emulator, like the
providers, rightly answers 400 to an image it cannot read.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from starlette.applications import Starlette
from starlette.types import Message, Receive, Scope, Send

from emulator import create_app
from tests.conftest import emulator_config
from tests.images import encoded

KEY = "fuzz-key-7c1e"
OPENAPI = "/openapi.json"
PNG = encoded("PNG", size=(40, 30))
PNG_URI = "data:image/png;base64," + base64.b64encode(PNG).decode()


def fuzzed_app() -> Starlette:
    # Instant jobs, no faults, no rate limit, wallets that never run dry: every refusal the
    # fuzzer sees is the request's own fault. Only KEY is accepted, so a wrong key is a 401.
    return create_app(emulator_config(profile="instant", api_keys=[KEY]))


def fuzz_config(
    max_examples: int, *, coverage: bool, generate_content_examples: int | None = None
) -> schemathesis.Config:
    """`generate_content_examples`: fewer for the seven generateContent paths, which share one
    large request schema (drawing one body costs Hypothesis about 70 ms)."""
    # Google answers a method a path does not serve with 404 NOT_FOUND (it has no 405, see
    # emulator/providers/vertex/exceptions.py); Schemathesis expects 405 there, and checks it
    # on the paths without parameters: the model lists and the Files API's paths.
    operations: list[dict[str, object]] = [
        {
            "include-path-regex": (
                "^/v1(beta1?)?/(publishers/google/)?models$|^/(upload/)?v1(beta)?/files"
            ),
            "checks": {"unsupported_method": {"enabled": False}},
        },
        # Google answers a bad API key with 400 INVALID_ARGUMENT (ErrorInfo API_KEY_INVALID,
        # issue 17), not the 401/403 Schemathesis's ignored_auth expects; every refused key
        # on these paths is checked body and status in tests/test_vertex_keys_and_quotas.py.
        {
            "include-path-regex": "^/v1(beta1?)?/(models|files|publishers/google|projects/)",
            "checks": {"ignored_auth": {"enabled": False}},
        },
    ]
    if generate_content_examples is not None:
        operations.append(
            {
                "include-path-regex": ":generateContent$",
                "generation": {"max-examples": generate_content_examples},
            }
        )
    return schemathesis.Config.from_dict(
        {
            "operations": operations,
            "seed": 20260801,
            "generation": {
                "mode": "all",  # positive and negative data
                "max-examples": max_examples,
                "deterministic": True,
                "database": "none",
            },
            "phases": {"coverage": {"enabled": coverage}},
            # The key for every security scheme the document declares.
            "auth": {
                "openapi": {
                    "bearer": {"bearer": KEY},
                    "googApiKey": {"api_key": KEY},
                    "googApiKeyQuery": {"api_key": KEY},
                }
            },
            # See the module docstring: schema-valid is not image-valid.
            "checks": {"positive_data_acceptance": {"enabled": False}},
        }
    )


BOUNDED = schemathesis.openapi.from_asgi(
    OPENAPI, fuzzed_app(), config=fuzz_config(25, coverage=False, generate_content_examples=8)
)
LONG = schemathesis.openapi.from_asgi(OPENAPI, fuzzed_app(), config=fuzz_config(500, coverage=True))


def with_real_images(case: schemathesis.Case, *, inline: bool) -> None:
    """In positive cases, input images become a real PNG, so the fuzzer also drives what comes
    after the image check: 3D AI Studio's edits, and with `inline` the generateContent inline
    images (each answer then draws a picture from its input: the long run only)."""
    meta = case.meta
    if meta is None or meta.generation.mode is not GenerationMode.POSITIVE:
        return  # a negative case's body must stay as generated, invalid
    body = case.body
    if not isinstance(body, dict):
        return
    if case.path.startswith("/v1/images/") and isinstance(body.get("images"), list):
        body["images"] = [PNG_URI for _ in body["images"]]
    for content in (body.get("contents") or ()) if inline else ():
        for part in content.get("parts") or ():
            if isinstance(part.get("inlineData"), dict):
                part["inlineData"].update(mimeType="image/png", data=base64.b64encode(PNG).decode())


def fuzz(case: schemathesis.Case, *, inline_images: bool) -> None:
    with_real_images(case, inline=inline_images)
    case.call_and_validate(excluded_checks=[positive_data_acceptance])


@BOUNDED.parametrize()
def test_every_operation_bounded(case: schemathesis.Case) -> None:
    fuzz(case, inline_images=False)


@pytest.mark.slow
@LONG.parametrize()
def test_every_operation_long(case: schemathesis.Case) -> None:
    fuzz(case, inline_images=True)


def test_every_operation_of_the_document_is_fuzzed() -> None:
    operations = [result.ok() for result in BOUNDED.get_all_operations()]
    labels = {operation.label for operation in operations}
    assert len(labels) == len(operations) >= 15
    assert {"GET /api/v1/predictions/{id}", "POST /v1/images/gemini/3/pro/edit/"} <= labels
    assert any(label.endswith(":generateContent") for label in labels)


# ---------------------------------------------------------------------- the checks can fail


def sabotaged(app: Starlette, path: str, change: Callable[[Message], None]) -> Starlette:
    """The app, with `change` applied to every message of the answers on `path`."""

    async def wrapper(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_changed(message: Message) -> None:
            if scope.get("path") == path:
                change(message)
            await send(message)

        await app(scope, receive, send_changed)

    return wrapper  # type: ignore[return-value]


def status(code: int) -> Callable[[Message], None]:
    def change(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["status"] = code

    return change


def content_type(value: bytes) -> Callable[[Message], None]:
    def change(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [(k, v) for k, v in message["headers"] if k.lower() != b"content-type"]
            message["headers"] = [*headers, (b"content-type", value)]

    return change


def body(replacement: bytes) -> Callable[[Message], None]:
    def change(message: Message) -> None:
        if message["type"] == "http.response.start":
            message["headers"] = [(k, v) for k, v in message["headers"] if k != b"content-length"]
        elif message["type"] == "http.response.body":
            message["body"] = replacement

    return change


TURBO = "/api/v1/models/z-image-turbo/generate"


@pytest.mark.parametrize(
    ("change", "failure"),
    [
        (status(500), "Server error"),
        (status(201), "Undocumented status code"),
        (content_type(b"text/html"), "Undocumented Content-Type"),
        (body(b'{"id": 5}'), "Response violates schema"),
    ],
)
def test_the_checks_catch_a_planted_defect(change: Callable[[Message], None], failure: str) -> None:
    # The harness above proves something only if a broken answer fails it.
    app = sabotaged(fuzzed_app(), TURBO, change)
    schema = schemathesis.openapi.from_asgi(OPENAPI, app, config=fuzz_config(1, coverage=False))
    case = schema[TURBO]["POST"].Case(
        body={"prompt": "a lighthouse"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    # One failed check is a Failure (an AssertionError), several a FailureGroup.
    with pytest.raises((AssertionError, BaseExceptionGroup)) as caught:
        case.call_and_validate(excluded_checks=[positive_data_acceptance])
    failures = getattr(caught.value, "exceptions", (caught.value,))
    assert any(failure in f"{getattr(error, 'title', '')} {error}" for error in failures), failures


def test_a_sound_answer_passes_the_same_checks() -> None:
    schema = schemathesis.openapi.from_asgi(
        OPENAPI, fuzzed_app(), config=fuzz_config(1, coverage=False)
    )
    case = schema[TURBO]["POST"].Case(
        body={"prompt": "a lighthouse"}, headers={"Authorization": f"Bearer {KEY}"}
    )
    response = case.call_and_validate(excluded_checks=[positive_data_acceptance])
    assert response.status_code == 200
