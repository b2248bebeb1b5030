"""The Gemini API's Files API: the resumable upload the SDK uses, get, list and delete, and
the lookup that turns a `fileData` part into the bytes of an uploaded file.

Google's facts this follows (sources in the module's tests and the issue-16 report):
- `google/ai/generativelanguage/v1beta/file_service.proto`: `GET /v1beta/files` (pageSize
  default 10, at most 100; pageToken / nextPageToken), `GET` and `DELETE /v1beta/{name=files/*}`
  (Empty: `{}`). The proto is v1beta's, but google-genai 3.x calls v1 by default
  (`_api_client.GOOGLE_AI_API_DEFAULT_VERSION = 'v1'`): both versions are served.
- `file.proto`: `name` is `files/<id>`, the id up to 40 lowercase alphanumerics or dashes, not
  starting or ending with a dash, generated when not given; `sizeBytes` is an int64 (a JSON
  string); `state` ACTIVE; `source` UPLOADED; `downloadUri` only for generated files.
- A real answer (googleapis/js-genai#381): 12-character ids, `uri`
  `https://generativelanguage.googleapis.com/v1beta/files/<id>` (on a v1 call, .../v1/files/),
  `sha256Hash` the base64 of the
  hex digest, no `displayName` when none was given, expiry 48 h after creation.
- An unknown, expired or other project's file: 403 PERMISSION_DENIED "You do not have
  permission to access the File <id> or it may not exist." (python-genai#1218,
  deprecated-generative-ai-python#365 for a file in a prompt).
- The upload protocol (google-genai `files.py` `upload`, `_api_client.py` `_upload_fd`;
  google-api-core `resumable_transfer`): `start` answers X-Goog-Upload-URL and
  X-Goog-Upload-Status: active; chunks are `upload` / `upload, finalize` with
  X-Goog-Upload-Offset, carry no API key (the upload URL is the credential) and are answered
  with a status (active, final, cancelled); `query` answers X-Goog-Upload-Size-Received.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from emulator.core.clock import iso8601
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.http import JSONResponse, header, public_base_url, read_body
from emulator.core.runtime import Runtime, runtime
from emulator.core.uploads import SessionStatus, StoredFile, UploadError, UploadSession
from emulator.core.validation import check
from emulator.providers.vertex.fileparts import GOOGLE_HOST, no_access
from emulator.providers.vertex.request import normalise_names
from emulator.providers.vertex.responses import PROVIDER_ID, authenticate
from emulator.providers.vertex.surfaces import Surface

# The SDK (google-genai 3.x) calls v1 by default (_api_client.GOOGLE_AI_API_DEFAULT_VERSION);
# file_service.proto is v1beta's. Both are served, and a File's uri names the version asked.
VERSIONS = ("v1beta", "v1")
UPLOAD_PATH = "/upload/{version}/files"
FILES_PATH = "/{version}/files"
FILE_PATH = "/{version}/files/{{file}}"
VERSION_IN_PATH = re.compile(r"/(v1beta|v1)/files(?:/|$)")
FILE_ID = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?")
ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ID_LENGTH = 12
MAX_DISPLAY_NAME = 512
MAX_METADATA_BYTES = 64 * 1024
CHUNK_GRANULARITY = 8 * 1024 * 1024  # the SDK's chunk size (CHUNK_SIZE in _api_client.py)
DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 10, 100
DEFAULT_MIME_TYPE = "application/octet-stream"
MAX_INT64_DIGITS = 19

# X-Goog-Upload-Command on the upload URL: the steps it asks for.
CONTINUE_COMMANDS: dict[frozenset[str], str] = {
    frozenset({"upload"}): "upload",
    frozenset({"upload", "finalize"}): "upload",
    frozenset({"finalize"}): "finalize",
    frozenset({"query"}): "query",
    frozenset({"cancel"}): "cancel",
}


def api_version(request: Request) -> str:
    found = VERSION_IN_PATH.search(request.scope["path"])
    return found.group(1) if found else VERSIONS[0]


def file_view(stored: StoredFile, version: str) -> dict[str, Any]:
    """A File as Google answers it (lowerCamelCase, proto3 JSON: unset fields left out)."""
    view: dict[str, Any] = {"name": f"files/{stored.id}"}
    if stored.display_name:
        view["displayName"] = stored.display_name
    created = iso8601(stored.created_at, "microseconds")
    view.update(
        mimeType=stored.mime_type,
        sizeBytes=str(stored.size),
        createTime=created,
        updateTime=created,
        expirationTime=iso8601(stored.expires_at, "microseconds"),
        sha256Hash=base64.b64encode(stored.sha256.encode()).decode(),
        uri=f"{GOOGLE_HOST}/{version}/files/{stored.id}",
        state="ACTIVE",
        source="UPLOADED",
    )
    return view


# --------------------------------------------------------------------------- upload


async def upload(request: Request, surface: Surface) -> Response:
    """`POST /upload/v1beta/files`: `start` without an upload_id; every later step (upload,
    finalize, query, cancel) at the upload URL the start answered, which carries one."""
    session_id = request.query_params.get("upload_id")
    if session_id is None:
        return await _start(request, surface)
    return await _continue(request, session_id)


async def _start(request: Request, surface: Surface) -> Response:
    rt = runtime(request)
    owner = authenticate(request, rt, surface)
    rt.admit(request, provider=PROVIDER_ID, route="files.upload", model=None, owner=owner)
    protocol = (header(request, b"x-goog-upload-protocol") or "").strip().lower()
    if protocol != "resumable":
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            "The emulator serves the resumable upload protocol only: send"
            " 'X-Goog-Upload-Protocol: resumable' and 'X-Goog-Upload-Command: start'"
            f" (got X-Goog-Upload-Protocol {protocol or 'missing'}).",
        )
    commands = _commands(request)
    if commands != frozenset({"start"}):
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            "X-Goog-Upload-Command must be 'start' to begin an upload (a later step goes to"
            f" the X-Goog-Upload-URL the start answered), got {_shown_commands(request)}.",
        )
    body = normalise_names(await _metadata(request))
    check(PROVIDER_ID, "upload-start-request", body)
    file = body.get("file", {})
    declared = _whole_number(
        header(request, b"x-goog-upload-header-content-length"),
        "X-Goog-Upload-Header-Content-Length",
    )
    if declared is None and "sizeBytes" in file:
        declared = _whole_number(str(file["sizeBytes"]), "file.sizeBytes")
    mime_type = (
        (header(request, b"x-goog-upload-header-content-type") or "").strip()
        or file.get("mimeType")
        or DEFAULT_MIME_TYPE
    )
    session = rt.uploads.start(
        session_id=secrets.token_urlsafe(32),
        owner=owner,
        file_id=_file_id(rt, file.get("name")),
        display_name=file.get("displayName") or None,
        mime_type=mime_type,
        declared_size=declared,
    )
    path = UPLOAD_PATH.format(version=api_version(request))
    url = f"{public_base_url(request)}{path}?upload_id={session.id}&upload_protocol=resumable"
    return Response(
        status_code=200,
        headers={
            "X-Goog-Upload-URL": url,
            "X-Goog-Upload-Status": session.status.value,
            "X-Goog-Upload-Chunk-Granularity": str(CHUNK_GRANULARITY),
        },
    )


async def _continue(request: Request, session_id: str) -> Response:
    rt = runtime(request)
    session = rt.uploads.session(session_id)
    owner = session.owner if session is not None else None
    # Before the step: a fault is the server failing, and says nothing of the upload.
    rt.admit(request, provider=PROVIDER_ID, route="files.upload", model=None, owner=owner)
    try:
        if session is None:
            raise UploadError(
                ErrorKind.NOT_FOUND, "No such upload: it never started, expired or was reset."
            )
        commands = _commands(request)
        step = CONTINUE_COMMANDS.get(commands)
        if step is None:
            raise ApiError(
                ErrorKind.INVALID_REQUEST,
                "X-Goog-Upload-Command at an upload URL must be 'upload', 'upload, finalize',"
                f" 'finalize', 'query' or 'cancel', got {_shown_commands(request)}.",
            )
        return await STEPS[step](request, rt, session, "finalize" in commands)
    except ApiError as error:
        if isinstance(error, UploadError) and error.session is not None:
            session = error.session  # as the store saw it (a shared store's may be newer)
        if session is not None:
            # The session's state after the refusal: the client knows whether to go on.
            error.headers.setdefault("X-Goog-Upload-Status", session.status.value)
        raise


async def _upload_step(
    request: Request, rt: Runtime, session: UploadSession, finalize: bool
) -> Response:
    offset = _whole_number(header(request, b"x-goog-upload-offset"), "X-Goog-Upload-Offset")
    if offset is None:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            "X-Goog-Upload-Offset is missing: send the number of bytes uploaded before this chunk.",
        )
    declared = session.declared_size
    room = rt.uploads.max_bytes if declared is None else max(declared - session.received, 0)
    try:
        chunk = await read_body(request, room)
    except ApiError as error:
        if error.kind is not ErrorKind.PAYLOAD_TOO_LARGE:
            raise
        if declared is None:  # more than the whole store holds
            raise UploadError(
                ErrorKind.RATE_LIMITED,
                f"The emulator's file storage is full ({room} bytes in all); delete files"
                " or reset the emulator.",
                session,
            ) from None
        raise UploadError(
            ErrorKind.INVALID_REQUEST,
            f"The chunk holds more than the {room} bytes left of the {declared} declared"
            " when the upload started.",
            session,
        ) from None
    session = rt.uploads.append(session.id, offset, chunk)
    if finalize:
        return await _finalize_step(request, rt, session, True)
    return Response(status_code=200, headers={"X-Goog-Upload-Status": session.status.value})


async def _finalize_step(
    request: Request, rt: Runtime, session: UploadSession, finalize: bool
) -> Response:
    stored = rt.uploads.finalize(session.id)
    return JSONResponse(
        {"file": file_view(stored, api_version(request))},
        headers={"X-Goog-Upload-Status": SessionStatus.FINAL.value},
    )


async def _query_step(
    request: Request, rt: Runtime, session: UploadSession, finalize: bool
) -> Response:
    headers = {
        "X-Goog-Upload-Status": session.status.value,
        "X-Goog-Upload-Size-Received": str(session.received),
    }
    if session.status is SessionStatus.FINAL:
        stored = rt.uploads.get_file(session.owner, session.file_id)
        if stored is not None:
            headers["X-Goog-Upload-Size-Received"] = str(stored.size)
            return JSONResponse({"file": file_view(stored, api_version(request))}, headers=headers)
    return Response(status_code=200, headers=headers)


async def _cancel_step(
    request: Request, rt: Runtime, session: UploadSession, finalize: bool
) -> Response:
    session = rt.uploads.cancel(session.id)  # its state now (a shared store's is a copy)
    return Response(status_code=200, headers={"X-Goog-Upload-Status": session.status.value})


Step = Callable[[Request, Runtime, UploadSession, bool], Awaitable[Response]]
STEPS: dict[str, Step] = {
    "upload": _upload_step,
    "finalize": _finalize_step,
    "query": _query_step,
    "cancel": _cancel_step,
}


def _commands(request: Request) -> frozenset[str]:
    raw = header(request, b"x-goog-upload-command") or ""
    return frozenset(part.strip().lower() for part in raw.split(",") if part.strip())


def _shown_commands(request: Request) -> str:
    raw = (header(request, b"x-goog-upload-command") or "").strip()
    return repr(raw[:60]) if raw else "none"


async def _metadata(request: Request) -> Any:
    """The start's JSON body ({"file": {...}}); an empty body is no metadata, as at Google."""
    raw = await read_body(request, MAX_METADATA_BYTES)
    if not raw.strip():
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            ErrorKind.INVALID_REQUEST, f"The request body is not valid JSON: {exc.msg}."
        ) from None


def _whole_number(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > MAX_INT64_DIGITS:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"{name} must be a whole number of bytes, got {text[:40]!r}.",
        )
    return int(text)


def _file_id(rt: Runtime, name: str | None) -> str:
    """The id a new file gets: the one asked for (files/<id>), else a generated one."""
    if not name:
        value = int.from_bytes(rt.rng.randbytes(8), "big")
        chars = []
        for _ in range(ID_LENGTH):
            value, digit = divmod(value, len(ID_ALPHABET))
            chars.append(ID_ALPHABET[digit])
        return "".join(chars)
    file_id = name.removeprefix("files/")
    if FILE_ID.fullmatch(file_id) is None:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"file.name: {name[:60]!r} is not a valid File name: files/<id>, the id up to 40"
            " lowercase letters, digits or dashes, not starting or ending with a dash.",
            field="file.name",
        )
    return file_id


# --------------------------------------------------------------------------- get, list, delete


async def list_files(request: Request, surface: Surface) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt, surface)
    rt.admit(request, provider=PROVIDER_ID, route="files.list", model=None, owner=owner)
    params = request.query_params
    size = _whole_number(params.get("pageSize"), "pageSize") or DEFAULT_PAGE_SIZE
    size = min(size, MAX_PAGE_SIZE)  # a larger page is coerced to the maximum (AIP-158)
    before = _page_token(params.get("pageToken"))
    page: list[StoredFile] = []
    more = False
    for stored in rt.uploads.files_of(owner):
        if before is not None and stored.seq >= before:
            continue
        if len(page) == size:
            more = True
            break
        page.append(stored)
    body: dict[str, Any] = {}
    if page:
        body["files"] = [file_view(stored, api_version(request)) for stored in page]
    if more:
        body["nextPageToken"] = base64.urlsafe_b64encode(f"{page[-1].seq}".encode()).decode()
    return JSONResponse(body)


def _page_token(token: str | None) -> int | None:
    if not token:
        return None
    try:
        text = base64.urlsafe_b64decode(token.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    if not (text.isdigit() and len(text) <= MAX_INT64_DIGITS):
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            "pageToken is not a token a previous ListFiles call answered.",
        )
    return int(text)


async def get_file(request: Request, surface: Surface) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt, surface)
    rt.admit(request, provider=PROVIDER_ID, route="files.get", model=None, owner=owner)
    file_id = request.path_params["file"]
    stored = rt.uploads.get_file(owner, file_id)
    if stored is None:
        raise no_access(file_id)
    return JSONResponse(file_view(stored, api_version(request)))


async def delete_file(request: Request, surface: Surface) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt, surface)
    rt.admit(request, provider=PROVIDER_ID, route="files.delete", model=None, owner=owner)
    file_id = request.path_params["file"]
    if not rt.uploads.delete_file(owner, file_id):
        raise no_access(file_id)
    return JSONResponse({})


FILE_METHODS: dict[str, Callable[[Request, Surface], Awaitable[JSONResponse]]] = {
    "GET": get_file,
    "HEAD": get_file,
    "DELETE": delete_file,
}


async def file_resource(request: Request, surface: Surface) -> Response:
    """`/v1beta/files/{file}`: one route for its methods, so the fast router takes both."""
    return await FILE_METHODS[request.method](request, surface)
