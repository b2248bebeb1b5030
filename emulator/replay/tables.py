"""The provider facts the replay needs, as data: which operations start a job, how it is
polled, which answer fields name it and which hold URLs to rewrite. A provider with a
submit-then-poll protocol is one row here; one without (vertex) needs none."""

from __future__ import annotations

from dataclasses import dataclass, field

from contracts.streams import SSE_MEDIA_TYPE
from emulator.core.streams import Framing
from emulator.providers.vertex.streaming import FRAMINGS
from emulator.replay.fieldpaths import FieldPath, parse

__all__ = ["JOB_PROTOCOLS", "REPLAYED_HEADERS", "STREAM_FRAMINGS", "JobProtocol"]


@dataclass(frozen=True)
class JobProtocol:
    starts: frozenset[str]  # operationIds whose 2xx answer starts a job
    poll: str  # the operationId that polls it
    poll_param: str  # the poll path's parameter holding the job id
    job_id: FieldPath  # the field of the submit and poll answers naming the job: a fresh id
    # Fields holding a URL of the job itself (vibedream's statusUrl): the emulator's base URL,
    # the recorded id in its path replaced by the fresh one.
    links: tuple[FieldPath, ...] = ()
    # Fields holding output file URLs: served by the emulator (emulator/core/assets.py).
    outputs: tuple[FieldPath, ...] = field(default=())
    # The final answer's failure reason, for the job's view (GET /_emulator/jobs, dashboard).
    failure: FieldPath | None = None


JOB_PROTOCOLS: dict[str, JobProtocol] = {
    "vibedream": JobProtocol(
        starts=frozenset({"submitPrediction"}),
        poll="getPrediction",
        poll_param="id",
        job_id=parse("id"),
        links=(parse("statusUrl"),),
        outputs=(parse("outputs[*]"),),
        failure=parse("error"),
    ),
    "3daistudio": JobProtocol(
        starts=frozenset({"generateImage", "editImage"}),
        poll="getTaskStatus",
        poll_param="task_id",
        job_id=parse("task_id"),
        outputs=(
            parse("results[*].asset_url"),
            parse("results[*].asset"),
            parse("results[*].thumbnail"),
        ),
        failure=parse("failure_reason"),
    ),
}

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
    return frozenset(protocol.poll_param for protocol in JOB_PROTOCOLS.values())
