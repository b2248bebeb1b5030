"""The official SDK's Files API (`client.files`, google-genai), unmodified, against the emulator
over a real socket: upload (a path, a BytesIO, two chunks, the async client), an uploaded file
in generate_content as an input image (the same output as the image sent inline), get, list
(paged), delete, and the SDK's ClientError with Google's code once the file is gone."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytest.importorskip("google.genai")

from google import genai
from google.genai import errors, types

from tests.conftest import LiveServer
from tests.images import encoded
from tests.test_vertex_sdk import GEMINI_MODEL, gemini_client

pytestmark = [pytest.mark.live, pytest.mark.usefixtures("no_google_environment")]

PNG = encoded("PNG", size=(64, 48), color="blue")
CONFIG = types.GenerateContentConfig(seed=7, response_modalities=["TEXT", "IMAGE"])


@pytest.fixture
def gemini(live_server: LiveServer) -> Iterator[genai.Client]:
    with gemini_client(live_server.base_url) as client:
        yield client


def output_image(response: types.GenerateContentResponse) -> bytes:
    assert response.candidates and response.candidates[0].content
    parts = response.candidates[0].content.parts or []
    found = [part.inline_data.data for part in parts if part.inline_data and part.inline_data.data]
    assert len(found) == 1, parts
    return found[0]


def test_upload_then_edit_get_list_delete(gemini: genai.Client, tmp_path: Path) -> None:
    path = tmp_path / "blue.png"
    path.write_bytes(PNG)
    file = gemini.files.upload(file=path, config={"mime_type": "image/png"})
    assert file.name and file.name.startswith("files/")
    # The SDK calls v1 by default, and the uri names the version called.
    assert file.uri == f"https://generativelanguage.googleapis.com/v1/{file.name}"
    assert (file.mime_type, file.size_bytes) == ("image/png", len(PNG))
    assert file.state == types.FileState.ACTIVE
    assert file.source == types.FileSource.UPLOADED
    assert file.sha256_hash == base64.b64encode(hashlib.sha256(PNG).hexdigest().encode()).decode()
    assert file.create_time and file.expiration_time
    assert (file.expiration_time - file.create_time).total_seconds() == 48 * 3600

    # The upload is the edit's input image, exactly as if it had been sent inline.
    by_file = gemini.models.generate_content(
        model=GEMINI_MODEL, contents=[file, "edit it"], config=CONFIG
    )
    inline = gemini.models.generate_content(
        model=GEMINI_MODEL,
        contents=[types.Part.from_bytes(data=PNG, mime_type="image/png"), "edit it"],
        config=CONFIG,
    )
    assert output_image(by_file) == output_image(inline)
    usage = by_file.usage_metadata
    assert usage and usage.prompt_tokens_details
    assert {d.modality: d.token_count for d in usage.prompt_tokens_details}[
        types.MediaModality.IMAGE
    ] == 560
    plain = gemini.models.generate_content(model=GEMINI_MODEL, contents=["edit it"], config=CONFIG)
    assert output_image(plain) != output_image(by_file)  # the edit derives from the upload

    second = gemini.files.upload(
        file=io.BytesIO(PNG), config={"mime_type": "image/png", "display_name": "from bytes"}
    )
    assert second.display_name == "from bytes"
    got = gemini.files.get(name=file.name)
    assert got.model_dump(exclude_none=True) == file.model_dump(exclude_none=True)
    assert [f.name for f in gemini.files.list()] == [second.name, file.name]  # newest first
    assert [f.name for f in gemini.files.list(config={"page_size": 1})] == [second.name, file.name]

    gemini.files.delete(name=file.name)
    with pytest.raises(errors.ClientError) as gone:
        gemini.files.get(name=file.name)
    file_id = file.name.removeprefix("files/")
    assert (gone.value.code, gone.value.status) == (403, "PERMISSION_DENIED")
    assert gone.value.message == (
        f"You do not have permission to access the File {file_id} or it may not exist."
    )
    with pytest.raises(errors.ClientError) as refused:
        gemini.models.generate_content(model=GEMINI_MODEL, contents=[file, "edit it"])
    assert (refused.value.code, refused.value.status) == (403, "PERMISSION_DENIED")
    assert [f.name for f in gemini.files.list()] == [second.name]


def test_a_file_larger_than_a_chunk_goes_up_in_two(
    gemini: genai.Client, live_server: LiveServer
) -> None:
    # The SDK sends 8 MiB chunks: `upload`, then `upload, finalize` with the offset.
    data = bytes(range(256)) * (9 * 4096)  # 9 MiB
    file = gemini.files.upload(file=io.BytesIO(data), config={"mime_type": "application/pdf"})
    assert file.size_bytes == len(data)
    assert file.sha256_hash == base64.b64encode(hashlib.sha256(data).hexdigest().encode()).decode()
    journal = httpx.get(
        f"{live_server.base_url}/_emulator/requests", params={"route": "files.upload"}
    ).json()["requests"]
    assert [entry["status"] for entry in journal] == [200, 200, 200]  # start and two chunks


def test_the_async_client_uploads_too(live_server: LiveServer) -> None:
    async def upload() -> types.File:
        client = gemini_client(live_server.base_url)
        try:
            file = await client.aio.files.upload(
                file=io.BytesIO(PNG), config={"mime_type": "image/png"}
            )
            assert [f.name async for f in await client.aio.files.list()] == [file.name]
            await client.aio.files.delete(name=file.name)
            return file
        finally:
            await client.aio.aclose()

    file = asyncio.run(upload())
    assert file.size_bytes == len(PNG)
