"""streamGenerateContent: the generateContent answer, sent as a stream of chunks.

The answer is the unary one (responses.answer_request: same request and seed, same content,
tokens and image bytes), cut into the chunks an image model streams: each part in its own
chunk, in order (thought summary and interim images when includeThoughts, the text, then the
image with its thoughtSignature); the last chunk carries finishReason and the full
usageMetadata. Every chunk repeats responseId and modelVersion (and on Vertex createTime).

The wire format is Google's, as recorded in public captures:
- `?alt=sse`: `text/event-stream`, each chunk one `data: <json>` event ended by CRLF CRLF, the
  JSON on one line with `", "`-less separators (`{"a": 1,"b": 2}`), `<` and `>` escaped as
  \\u003c and \\u003e; no closing event.
- no `alt` (or `alt=json`): one JSON array streamed element by element, each element
  pretty-printed with two-space indents, `[{` to open, `\\n,\\r\\n` between elements,
  `\\n]` to close.
- Interim chunks: on the Gemini API a running usageMetadata (prompt counts, the candidates'
  tokens so far, thoughts); on Vertex AI `{"trafficType": ...}` only (the answer's). The
  Gemini API's candidates carry `index: 0` (copied from the unary candidate into every
  chunk) and put `parts` before `role`; Vertex puts `role` first. A grounded answer's
  groundingMetadata rides on the last chunk, with finishReason. A candidate with no parts (a
  withheld image, `"content": {}`) is one chunk: the unary answer.
Sources are named in docs/providers.md (Streaming).
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import StreamingResponse

from contracts.streams import SSE_MEDIA_TYPE
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.runtime import runtime
from emulator.core.streams import Framing, paced_events
from emulator.providers.vertex.request import text_tokens
from emulator.providers.vertex.responses import answer_request
from emulator.providers.vertex.surfaces import Method, Surface

JSON_MEDIA_TYPE = "application/json; charset=UTF-8"
# What the last chunk's candidate carries besides its part, in the unary candidate's order.
LAST_CHUNK_FIELDS = ("finishReason", "finishMessage", "index", "groundingMetadata")


def _google_escapes(text: str) -> str:
    return text.replace("<", "\\u003c").replace(">", "\\u003e")


def _sse_text(payload: Any) -> str:
    return _google_escapes(json.dumps(payload, ensure_ascii=False, separators=(",", ": ")))


def _array_text(payload: Any) -> str:
    return _google_escapes(json.dumps(payload, ensure_ascii=False, indent=2))


FRAMINGS: dict[str, Framing] = {
    "sse": Framing(
        media_type=SSE_MEDIA_TYPE,
        serialise=_sse_text,
        frame=lambda text, _index: b"data: " + text.encode() + b"\r\n\r\n",
    ),
    "json": Framing(
        media_type=JSON_MEDIA_TYPE,
        serialise=_array_text,
        frame=lambda text, index: (b"\n,\r\n" if index else b"") + text.encode(),
        opening=b"[",
        closing=b"\n]",
    ),
}
DEFAULT_ALT = "json"


def framing_for(request: Request) -> Framing:
    alt = request.query_params.get("alt", DEFAULT_ALT)
    framing = FRAMINGS.get(alt.lower())
    if framing is None:
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"Invalid value at 'alt' ({alt!r}): streamGenerateContent answers alt=sse"
            " (server-sent events) or alt=json (a JSON array, the default).",
            field="alt",
        )
    return framing


async def stream_generate_content(request: Request, surface: Surface) -> StreamingResponse:
    framing = framing_for(request)
    answer, decision = await answer_request(request, surface, Method.STREAM)
    decision.streamed = True
    events = paced_events(chunks_of(answer, surface), framing, runtime(request).clock, decision)
    return StreamingResponse(events, headers={"content-type": framing.media_type})


def chunks_of(answer: dict[str, Any], surface: Surface) -> list[dict[str, Any]]:
    """The unary answer as the chunks of its stream (see the module docstring)."""
    if "candidates" not in answer or not answer["candidates"][0]["content"].get("parts"):
        return [answer]  # a blocked prompt, or nothing to show: one chunk, the whole answer
    candidate = answer["candidates"][0]
    parts = candidate["content"]["parts"]
    usage = answer["usageMetadata"]
    envelope = {
        key: answer[key] for key in ("modelVersion", "createTime", "responseId") if key in answer
    }
    image_tokens = sum(
        detail["tokenCount"]
        for detail in usage.get("candidatesTokensDetails", ())
        if detail["modality"] == "IMAGE"
    )
    chunks: list[dict[str, Any]] = []
    answered_tokens = 0
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if not part.get("thought"):
            answered_tokens += text_tokens(part["text"]) if "text" in part else image_tokens
        streamed = _candidate(surface, part)
        fields = LAST_CHUNK_FIELDS if last else ("index",)
        streamed.update({k: candidate[k] for k in fields if k in candidate})
        chunks.append(
            {
                "candidates": [streamed],
                "usageMetadata": usage if last else _interim_usage(surface, usage, answered_tokens),
                **envelope,
            }
        )
    return chunks


def _candidate(surface: Surface, part: dict[str, Any]) -> dict[str, Any]:
    if surface.vertex_fields:
        return {"content": {"role": "model", "parts": [part]}}
    return {"content": {"parts": [part], "role": "model"}}


def _interim_usage(surface: Surface, usage: dict[str, Any], answered: int) -> dict[str, Any]:
    if surface.vertex_fields:
        return {"trafficType": usage["trafficType"]}
    prompt, thoughts = usage["promptTokenCount"], usage.get("thoughtsTokenCount", 0)
    interim: dict[str, Any] = {"promptTokenCount": prompt}
    if answered:
        interim["candidatesTokenCount"] = answered
    interim["totalTokenCount"] = prompt + answered + thoughts
    interim["promptTokensDetails"] = usage["promptTokensDetails"]
    if thoughts:
        interim["thoughtsTokenCount"] = thoughts
    return interim
