"""Reading a streamed answer (streamGenerateContent): its chunks, and what they add up to.

A stream is a ``text/event-stream`` of ``data: <chunk>`` events, or one JSON array of chunks.
Each chunk is a piece of one generateContent answer; joined, they are that answer: the parts in
order under one candidate that carries the last chunk's finishReason, and the last chunk's
usageMetadata, ids and promptFeedback.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

SSE_MEDIA_TYPE = "text/event-stream"


def stream_chunks(response: httpx.Response) -> list[Any] | None:
    """The chunks of a streamed answer: each SSE event's data (text/event-stream), or the
    elements of one JSON array; None when the body is neither."""
    return parsed_chunks(response.headers.get("content-type", ""), response.content)


def parsed_chunks(content_type: str, body: bytes) -> list[Any] | None:
    """The chunks of a streamed answer given its media type and bytes (a recorded one, say):
    each SSE event's data when ``content_type`` is text/event-stream, else the elements of one
    JSON array; None when the body is neither."""
    try:
        if content_type.startswith(SSE_MEDIA_TYPE):
            events = body.replace(b"\r\n", b"\n").split(b"\n\n")
            if events[-1].strip():
                return None  # a stream ends with a whole event
            return [json.loads(event.removeprefix(b"data: ")) for event in events[:-1]]
        chunks = json.loads(body)
    except ValueError:
        return None
    return chunks if isinstance(chunks, list) else None


def joined(chunks: Sequence[Any]) -> dict[str, Any]:
    """The one answer a stream's chunks add up to (see the module docstring)."""
    last = chunks[-1] if chunks and isinstance(chunks[-1], dict) else {}
    answer: dict[str, Any] = {key: value for key, value in last.items() if key != "candidates"}
    parts = [
        part
        for chunk in chunks
        if isinstance(chunk, dict)
        for candidate in chunk.get("candidates") or []
        if isinstance(candidate, dict)
        for part in (candidate.get("content") or {}).get("parts") or []
    ]
    if parts or last.get("candidates"):
        final = dict((last.get("candidates") or [{}])[0])
        final["content"] = {"role": "model", "parts": parts}
        answer = {"candidates": [final], **answer}
    return answer
