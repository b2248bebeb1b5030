"""Every generateContent request rule, accepted and refused. Refusals are 400s whose message
names the field, in the gateway's error shape on its path and in Google's on Google's paths
(the client fixture also checks each body against the contracts)."""

from __future__ import annotations

import base64

import httpx
import pytest
from starlette.testclient import TestClient

from tests.conftest import AUTH, KEY
from tests.images import encoded

MODEL = "gemini-3-pro-image"
GATEWAY = f"/api/v1/publishers/googleVertexAI/models/{MODEL}:generateContent"
GEMINI = f"/v1beta/models/{MODEL}:generateContent"
VERTEX = f"/v1/projects/p/locations/us-central1/publishers/google/models/{MODEL}:generateContent"
SURFACES = {
    "gateway": (GATEWAY, AUTH),
    "gemini": (GEMINI, {"x-goog-api-key": KEY}),
    "vertex": (VERTEX, AUTH),
}
MAX_IMAGE_BYTES = 7 * 1024 * 1024
PNG = encoded("PNG", (64, 48))
HEIC = b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64  # an ISO-BMFF ftyp box, brand heic
HEIF = b"\x00\x00\x00\x18ftypmif1" + b"\x00" * 64  # brand mif1: plain HEIF


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def inline(data: bytes | str = PNG, mime: str = "image/png") -> dict:
    return {"inlineData": {"mimeType": mime, "data": data if isinstance(data, str) else b64(data)}}


def body_with(*parts: dict, **top: object) -> dict:
    return {"contents": [{"role": "user", "parts": [{"text": "make it blue"}, *parts]}], **top}


def config(**generation_config: object) -> dict:
    return body_with(generationConfig=generation_config)


def post(client: TestClient, surface: str, body: dict) -> httpx.Response:
    path, headers = SURFACES[surface]
    return client.post(path, json=body, headers=headers)


def refusal(response: httpx.Response, surface: str) -> str:
    """The message of a 400, after checking the error shape of the surface."""
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    if surface == "gateway":
        assert set(error) == {"message", "type", "code"}
        assert (error["type"], error["code"]) == ("invalid_request_error", "invalid_parameter")
    else:
        assert error == {"code": 400, "message": error["message"], "status": "INVALID_ARGUMENT"}
    return error["message"]


PART = "contents[0].parts[1]"
INLINE = f"{PART}.inlineData"

ACCEPTED = [
    ("no image", body_with()),
    # JSON Schema counts 5.0 as an integer; it once reached `seed & mask` as a float (a 500).
    ("integral float seed", config(seed=5.0)),
    ("one image", body_with(inline())),
    ("14 images", body_with(*[inline()] * 14)),
    (
        "14 images over two turns",
        {
            "contents": [
                {"role": "user", "parts": [inline()] * 7},
                {"role": "model", "parts": [{"text": "ok"}]},
                {"role": "user", "parts": [{"text": "again"}, *[inline()] * 7]},
            ]
        },
    ),
    ("jpeg", body_with(inline(encoded("JPEG"), "image/jpeg"))),
    ("webp", body_with(inline(encoded("WEBP"), "image/webp"))),
    ("heic", body_with(inline(HEIC, "image/heic"))),
    ("heif (brand mif1)", body_with(inline(HEIF, "image/heif"))),
    ("upper-case MIME type", body_with(inline(PNG, "IMAGE/PNG"))),
    ("image only, no text", {"contents": [{"parts": [inline()]}]}),
    ("role omitted", {"contents": [{"parts": [{"text": "a cat"}]}]}),
    ("system instruction", body_with(systemInstruction={"parts": [{"text": "be brief"}]})),
    *[(f"imageSize {size}", config(imageConfig={"imageSize": size})) for size in ("1K", "2K")],
    *[
        (f"aspectRatio {ratio}", config(imageConfig={"aspectRatio": ratio}))
        for ratio in ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
    ],
    ("candidateCount 1", config(candidateCount=1)),
    ("maxOutputTokens 8192", config(maxOutputTokens=8192)),
    ("seed", config(seed=-5)),
    ("temperature", config(temperature=1.0, topP=0.95)),
    (
        "safety settings",
        body_with(
            safetySettings=[{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]
        ),
    ),
]


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize(("name", "body"), ACCEPTED, ids=[name for name, _ in ACCEPTED])
def test_valid_requests_are_accepted(
    client: TestClient, surface: str, name: str, body: dict
) -> None:
    response = post(client, surface, body)
    assert response.status_code == 200, response.text
    assert response.json()["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize("mime", ["image/heic", "image/heif"])
def test_heic_and_heif_are_accepted_by_mime_type(client: TestClient, mime: str) -> None:
    # HEIC is a kind of HEIF: phones' .heic files are often sent as image/heif.
    response = post(client, "gateway", body_with(inline(HEIC, mime)))
    assert response.status_code == 200, response.text


def both_text_and_image() -> dict:
    return body_with({"text": "x", **inline()})


def with_part(part: dict) -> dict:
    return body_with(part)


REFUSED = [
    # (name, body, field the message starts with, a fragment of the message)
    ("15 images", body_with(*[inline()] * 15), "contents", "14"),
    (
        "15 images over two turns",
        {
            "contents": [
                {"role": "user", "parts": [inline()] * 8},
                {"role": "model", "parts": [{"text": "ok"}]},
                {"role": "user", "parts": [inline()] * 7},
            ]
        },
        "contents",
        "14",
    ),
    (
        "mimeType image/gif",
        body_with(inline(encoded("GIF"), "image/gif")),
        f"{INLINE}.mimeType",
        "image/gif",
    ),
    (
        "mimeType image/bmp",
        body_with(inline(encoded("BMP"), "image/bmp")),
        f"{INLINE}.mimeType",
        "image/bmp",
    ),
    (
        "mimeType text/plain",
        body_with(inline(b"hello", "text/plain")),
        f"{INLINE}.mimeType",
        "text/plain",
    ),
    (
        "mimeType missing",
        with_part({"inlineData": {"data": b64(PNG)}}),
        f"{INLINE}.mimeType",
        "required",
    ),
    (
        "data missing",
        with_part({"inlineData": {"mimeType": "image/png"}}),
        f"{INLINE}.data",
        "required",
    ),
    ("data empty", body_with(inline("")), f"{INLINE}.data", ""),
    (
        "data not a string",
        with_part({"inlineData": {"mimeType": "image/png", "data": 5}}),
        f"{INLINE}.data",
        "string",
    ),
    ("data not base64", body_with(inline("not base64 !!")), f"{INLINE}.data", "base64"),
    ("data not base64 (padding only)", body_with(inline("====")), f"{INLINE}.data", "base64"),
    (
        "PNG labelled image/jpeg",
        body_with(inline(PNG, "image/jpeg")),
        f"{INLINE}.data",
        "image/jpeg",
    ),
    (
        "JPEG labelled image/png",
        body_with(inline(encoded("JPEG"), "image/png")),
        f"{INLINE}.data",
        "image/png",
    ),
    (
        "WebP labelled image/png",
        body_with(inline(encoded("WEBP"), "image/png")),
        f"{INLINE}.data",
        "image/png",
    ),
    (
        "GIF bytes labelled image/png",
        body_with(inline(encoded("GIF"), "image/png")),
        f"{INLINE}.data",
        "",
    ),
    ("HEIC labelled image/png", body_with(inline(HEIC, "image/png")), f"{INLINE}.data", ""),
    ("text labelled image/png", body_with(inline(b"just some text")), f"{INLINE}.data", "image"),
    ("truncated PNG", body_with(inline(PNG[:60])), f"{INLINE}.data", "truncated"),
    ("PNG without its end", body_with(inline(PNG[:-20])), f"{INLINE}.data", "truncated"),
    (
        "second image bad",
        body_with(inline(), inline(PNG[:60])),
        "contents[0].parts[2].inlineData.data",
        "truncated",
    ),
    (
        "imageSize 2k",
        config(imageConfig={"imageSize": "2k"}),
        "generationConfig.imageConfig.imageSize",
        "2K",
    ),
    (
        "imageSize 1k",
        config(imageConfig={"imageSize": "1k"}),
        "generationConfig.imageConfig.imageSize",
        "1K",
    ),
    (
        "imageSize 8K",
        config(imageConfig={"imageSize": "8K"}),
        "generationConfig.imageConfig.imageSize",
        "4K",
    ),
    (
        "aspectRatio 5:3",
        config(imageConfig={"aspectRatio": "5:3"}),
        "generationConfig.imageConfig.aspectRatio",
        "5:3",
    ),
    (
        "aspectRatio 16x9",
        config(imageConfig={"aspectRatio": "16x9"}),
        "generationConfig.imageConfig.aspectRatio",
        "16x9",
    ),
    ("maxOutputTokens 0", config(maxOutputTokens=0), "generationConfig.maxOutputTokens", "1"),
    # Unknown names, enums in any case, candidateCount and Vertex AI's own imageConfig fields:
    # tests/test_vertex_request_parity.py (Google's wording and details).
    (
        "responseModalities empty",
        config(responseModalities=[]),
        "generationConfig.responseModalities",
        "",
    ),
    ("empty contents", {"contents": []}, "contents", ""),
    ("no contents", {"generationConfig": {}}, "contents", "required"),
    ("contents not an array", {"contents": {"parts": [{"text": "x"}]}}, "contents", "array"),
    ("empty parts", {"contents": [{"role": "user", "parts": []}]}, "contents[0].parts", ""),
    (
        "role assistant",
        {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
        "contents[0].role",
        "assistant",
    ),
    ("text and inlineData in one part", both_text_and_image(), PART, "exactly one"),
    ("empty part", with_part({}), PART, "exactly one"),
    (
        "fileData (offline)",
        with_part({"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/cat.png"}}),
        f"{PART}.fileData",
        "inline",
    ),
    (
        "inlineData and inline_data in one part",
        with_part({**inline(), "inline_data": inline()["inlineData"]}),
        INLINE,
        "twice",
    ),
    (
        "mimeType and mime_type in one blob",
        with_part(
            {"inlineData": {"mimeType": "image/png", "mime_type": "image/png", "data": b64(PNG)}}
        ),
        f"{INLINE}.mimeType",
        "twice",
    ),
]


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize(
    ("name", "body", "field", "fragment"), REFUSED, ids=[name for name, *_ in REFUSED]
)
def test_invalid_requests_are_refused_naming_the_field(
    client: TestClient, surface: str, name: str, body: dict, field: str, fragment: str
) -> None:
    message = refusal(post(client, surface, body), surface)
    assert message.startswith(field), message
    assert fragment in message


@pytest.mark.parametrize("surface", list(SURFACES))
def test_an_image_over_7_mb_decoded_is_refused(client: TestClient, surface: str) -> None:
    # A PNG signature and padding: only the size is at stake, it is checked before the bytes.
    data = b"\x89PNG\r\n\x1a\n" + b"\x00" * (MAX_IMAGE_BYTES + 1 - 8)
    message = refusal(post(client, surface, body_with(inline(data))), surface)
    assert message.startswith(f"{INLINE}.data"), message
    assert "7 MB" in message


@pytest.mark.parametrize("surface", list(SURFACES))
@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b'{"contents": [', "not valid JSON"),
        (b"{'contents': []}", "not valid JSON"),
        (b"", "empty"),
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe{}", "UTF-8"),
    ],
)
def test_malformed_bodies_get_a_400(
    client: TestClient, surface: str, content: bytes, fragment: str
) -> None:
    path, headers = SURFACES[surface]
    response = client.post(
        path, content=content, headers={**headers, "Content-Type": "application/json"}
    )
    assert fragment in refusal(response, surface)


@pytest.mark.parametrize(
    ("surface", "status"), [("gateway", 400), ("gemini", 400), ("vertex", 400)]
)
@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_a_body_that_is_not_json_by_content_type_is_refused(
    client: TestClient, surface: str, status: int, content_type: str
) -> None:
    # Every invalid request is a 400 on these paths (issue 3), a non-JSON body included.
    path, headers = SURFACES[surface]
    response = client.post(
        path, content=b'{"contents": []}', headers={**headers, "Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert "Content-Type" in error["message"] and content_type in error["message"]
    if surface == "gateway":
        assert error["code"] == "unsupported_media_type"
    else:
        assert error["status"] == "INVALID_ARGUMENT"


def test_a_refused_request_is_not_answered_with_a_partial_image(client: TestClient) -> None:
    # The first image is fine, the second is not: the whole request is refused.
    response = post(client, "gateway", body_with(inline(), inline(PNG, "image/jpeg")))
    assert response.status_code == 400
    assert "candidates" not in response.json()


@pytest.mark.parametrize("depth", [980, 5000])
@pytest.mark.parametrize("surface", list(SURFACES))
def test_deeply_nested_bodies_are_a_400_not_a_crash(
    client: TestClient, surface: str, depth: int
) -> None:
    # json.loads accepts nesting a recursive walk of the body cannot follow.
    path, headers = SURFACES[surface]
    content = '{"contents": ' + "[" * depth + "]" * depth + "}"
    response = client.post(
        path, content=content, headers={**headers, "Content-Type": "application/json"}
    )
    assert "nested too deeply" in refusal(response, surface)
