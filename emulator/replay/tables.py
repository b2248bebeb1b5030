"""What the replay sends again as recorded: which response headers, and how a recorded stream
is framed. How each provider's jobs read (which operations start one, how it is polled, which
fields name it and hold URLs) is the recording's table, emulator/recording/protocols.py."""

from __future__ import annotations

from contracts.streams import SSE_MEDIA_TYPE
from emulator.core.streams import Framing
from emulator.providers.vertex.streaming import FRAMINGS
from emulator.recording.protocols import PROTOCOLS

__all__ = ["REPLAYED_HEADERS", "STREAM_FRAMINGS", "job_id_params", "replayed_header"]


# Response headers a replayed answer carries as recorded: the body's type and the provider's
# retry and rate-limit signals. The rest (date, request ids) is the emulator's own.
REPLAYED_HEADERS = frozenset({"content-type", "retry-after"})
REPLAYED_HEADER_PREFIXES = ("x-ratelimit-", "ratelimit-")

# How a recorded stream is sent again, by the media type it was recorded with; any other
# (application/json) is a JSON array streamed element by element.
STREAM_FRAMINGS: dict[str, Framing] = {SSE_MEDIA_TYPE: FRAMINGS["sse"]}
DEFAULT_STREAM_FRAMING = FRAMINGS["json"]


def replayed_header(name: str) -> bool:
    lower = name.lower()
    return lower in REPLAYED_HEADERS or lower.startswith(REPLAYED_HEADER_PREFIXES)


def job_id_params() -> frozenset[str]:
    """Path parameters that hold job ids (never compared by the matcher)."""
    return frozenset(protocol.poll_param for protocol in PROTOCOLS.values() if protocol.poll)
