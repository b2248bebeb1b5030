"""Grounding with Google Search (`tools: [{googleSearch: {}}]`), offline: the candidate's
groundingMetadata cites the emulator's own placeholder pages, served here.

Field names: GroundingMetadata, GroundingChunk.Web, GroundingSupport, Segment and
SearchEntryPoint of googleapis/googleapis `google/ai/generativelanguage/v1beta/content.proto`
and `generative_service.proto` (Gemini API) and `google/cloud/aiplatform/v1beta1/content.proto`
(Vertex AI). Where they differ: Vertex AI's web chunk also names its `domain` ("This field is
not supported in Gemini API", google-genai types.GroundingChunkWeb). Google cites pages through
`https://vertexaisearch.cloud.google.com/grounding-api-redirect/<token>` and titles each chunk
with the page's domain; the emulator keeps that shape under its own base URL. Zero integers
(a segment's startIndex and partIndex of 0) are left out, as proto3 JSON leaves them out.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse

from emulator.providers.vertex.surfaces import Surface

# Under the emulator's /assets/ (CORS-open, as its images are), Google's redirect path kept in it;
# one segment more than an asset's /assets/{id}/{filename}, so the two never collide.
REDIRECT_PATH = "/assets/grounding-api-redirect/{token}/source.html"


@dataclass(frozen=True)
class Source:
    title: str  # Google titles a web chunk with the cited page's domain
    domain: str


# The placeholder pages every grounded answer cites, in order.
SOURCES: tuple[Source, ...] = (
    Source(title="example.com", domain="example.com"),
    Source(title="example.org", domain="example.org"),
)
MAX_QUERY_CHARS = 100

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1>
<p>A placeholder page of imagegen-emulator: an answer grounded with Google Search cites it
where Google would cite a real web page. Token: <code>{token}</code>.</p></body></html>
"""


def wants_search(body: dict[str, Any]) -> bool:
    """The request offers the model Google Search (`{googleSearch: {}}` among its tools)."""
    return any("googleSearch" in tool for tool in body.get("tools", ()) if isinstance(tool, dict))


def _token(seed: str, index: int) -> str:
    return hashlib.sha256(f"{seed}\n{index}".encode()).hexdigest()[:40]


def grounding_metadata(
    surface: Surface, prompt: str, base_url: str, parts: list[dict[str, Any]]
) -> dict[str, Any]:
    """What a grounded candidate carries: the searches, the pages cited (the emulator's own),
    which answer text each supports, and the search suggestions' HTML."""
    query = " ".join(prompt.split())[:MAX_QUERY_CHARS] or "image"
    root = base_url.rstrip("/")
    chunks = []
    for index, source in enumerate(SOURCES):
        web: dict[str, Any] = {
            "uri": root + REDIRECT_PATH.format(token=_token(query, index)),
            "title": source.title,
        }
        if surface.vertex_fields:
            web["domain"] = source.domain
        chunks.append({"web": web})
    metadata: dict[str, Any] = {
        "searchEntryPoint": {"renderedContent": rendered_content(query, root)},
        "groundingChunks": chunks,
    }
    supports = [
        {
            "segment": _segment(index, part["text"]),
            "groundingChunkIndices": list(range(len(SOURCES))),
        }
        for index, part in enumerate(parts)
        if "text" in part and not part.get("thought")
    ]
    if supports:
        metadata["groundingSupports"] = supports
    metadata["webSearchQueries"] = [query]
    return metadata


def _segment(part_index: int, text: str) -> dict[str, Any]:
    segment: dict[str, Any] = {}
    if part_index:
        segment["partIndex"] = part_index
    segment["endIndex"] = len(text.encode())  # indices count bytes of UTF-8
    segment["text"] = text
    return segment


def rendered_content(query: str, root: str) -> str:
    """searchEntryPoint.renderedContent: an HTML snippet of search suggestion chips (Google's
    links to its search page; the emulator's to a placeholder page)."""
    link = html.escape(root + REDIRECT_PATH.format(token=_token(query, -1)), quote=True)
    return (
        "<style>.container{display:flex;gap:8px;font-family:sans-serif}"
        ".chip{border:1px solid #dadce0;border-radius:16px;padding:4px 12px}</style>"
        '<div class="container"><div class="headline">Search suggestions</div>'
        f'<a class="chip" href="{link}">{html.escape(query)}</a></div>'
    )


async def redirect_page(request: Request) -> HTMLResponse:
    """The placeholder page a grounding chunk's uri names (any token: nothing is stored)."""
    token = html.escape(request.path_params["token"])
    return HTMLResponse(PAGE.format(title="Placeholder source page", token=token))
