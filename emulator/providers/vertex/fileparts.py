"""fileData parts on a surface with a Files API: the file a `fileUri` names, as the bytes of
an input image. Nothing is ever fetched: a URI that names no file uploaded here is refused.

Accepted forms: the `uri` the Files API answers (`https://generativelanguage.googleapis.com/
{v1beta|v1}/files/<id>`, what the SDK sends for a File in `contents`) and the resource name
`files/<id>`.
"""

from __future__ import annotations

import re
from typing import Any

from emulator.core.errors import ApiError, ErrorKind
from emulator.core.runtime import Runtime
from emulator.providers.vertex.request import FileImage, FileResolver
from emulator.providers.vertex.surfaces import Surface

GOOGLE_HOST = "https://generativelanguage.googleapis.com"
FILE_URI = re.compile(
    r"(?:https://generativelanguage\.googleapis\.com/v1(?:beta)?/)?files/([^/?#]+)"
)


def no_access(file_id: str) -> ApiError:
    return ApiError(
        ErrorKind.PERMISSION_DENIED,
        f"You do not have permission to access the File {file_id} or it may not exist.",
    )


def file_resolver(rt: Runtime, surface: Surface, owner: str) -> FileResolver | None:
    """What a fileData part names on `surface`, as bytes: None on a surface without a Files
    API (the part is then refused: nothing is ever fetched)."""
    if not surface.serves_files:
        return None

    def resolve(field: str, file_data: dict[str, Any]) -> FileImage:
        uri = file_data["fileUri"]
        found = FILE_URI.fullmatch(uri.strip())
        if found is None:
            shown = uri if len(uri) <= 200 else uri[:197] + "..."
            raise ApiError(
                ErrorKind.INVALID_REQUEST,
                f"{field}.fileUri: {shown!r} is not a file uploaded to this emulator; the"
                " emulator is offline and never fetches a URI. Upload the image with the"
                f" Files API and send its uri ({GOOGLE_HOST}/v1beta/files/<id>), or send it inline"
                " as inlineData.",
                field=f"{field}.fileUri",
            )
        stored = rt.uploads.get_file(owner, found.group(1))
        if stored is None:
            raise no_access(found.group(1))
        return FileImage(file_data.get("mimeType") or stored.mime_type, stored.data)

    return resolve
