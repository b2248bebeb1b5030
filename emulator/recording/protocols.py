"""How each provider's traffic reads in a recording, as data: the one table the recorder
(which URLs to pass through with ``--record-downloads``), the replayer (which answers start a
job, how it is polled, which fields name it) and the calibrator (which states are terminal,
where the model is named, what a moderated answer looks like) all read.

A provider with a submit-then-poll protocol fills the job fields; a synchronous one (vertex)
names its ``generations``. Adding a provider is one row here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import contracts
from emulator.providers.aistudio3d.catalog import models as aistudio3d_models
from emulator.recording.fieldpaths import FieldPath, parse

__all__ = ["PROTOCOLS", "FieldTest", "JobProtocol", "ModelLocator", "job_protocol"]

# (path parameters, path) -> the model a request names, None when it names none.
ModelLocator = Callable[[Mapping[str, str], str], str | None]


@dataclass(frozen=True)
class FieldTest:
    """Whether an answer says something: a string at ``path`` is one of ``values`` (any string
    when None) or contains ``contains`` (case-insensitive). ``stage`` is the moderation stage
    such an answer shows (core/moderation.py Stage)."""

    path: FieldPath
    values: frozenset[str] | None = None
    contains: str | None = None
    stage: str = "prompt"

    def matches(self, body: Any) -> bool:
        return any(self._says(value) for value in self.path.values(body))

    def _says(self, value: Any) -> bool:
        if not isinstance(value, str):
            return False
        if self.contains is not None:
            return self.contains.lower() in value.lower()
        return self.values is None or value in self.values


def path_parameter(name: str) -> ModelLocator:
    """The model named by a path parameter."""

    def model(params: Mapping[str, str], path: str) -> str | None:
        return params.get(name)

    return model


def aistudio3d_model(params: Mapping[str, str], path: str) -> str | None:
    """3D AI Studio names the model in fixed path segments (/v1/images/gemini/3/pro/...)."""
    return next(
        (model.id for model in aistudio3d_models().values() if f"/v1/images/{model.path}/" in path),
        None,
    )


STATUS = parse("status")  # where a poll answer says the job's state, unless a row says otherwise


@dataclass(frozen=True)
class JobProtocol:
    """One provider's row.

    Asynchronous: a 2xx answer to one of ``starts`` names a job in ``job_id``; ``poll`` names
    it in the path parameter ``poll_param`` and answers its state in ``status``.
    Synchronous: ``generations`` carry the work in their own answer.
    """

    model_of: ModelLocator
    starts: frozenset[str] = frozenset()
    poll: str | None = None
    poll_param: str = ""
    job_id: FieldPath | None = None
    status: FieldPath = STATUS
    queued: frozenset[str] = frozenset()  # states before the job runs (queue_duration)
    succeeded: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()
    # Fields holding a URL of the job itself (vibedream's statusUrl).
    links: tuple[FieldPath, ...] = ()
    # Fields holding output file URLs.
    outputs: tuple[FieldPath, ...] = ()
    failure: FieldPath | None = None  # the final answer's failure reason
    images_field: str | None = None  # the request's image count; job_duration is per image
    generations: frozenset[str] = frozenset()
    moderated: tuple[FieldTest, ...] = ()

    @property
    def terminal(self) -> frozenset[str]:
        return self.succeeded | self.failed

    @property
    def url_fields(self) -> tuple[FieldPath, ...]:
        """Every field holding a URL the client fetches next (a poll, a download)."""
        return self.links + self.outputs


def _aistudio3d_submits() -> frozenset[str]:
    """Every model's generate and edit operation (/v1/images/{model path}/...) starts a task."""
    return frozenset(
        operation.operation_id
        for operation in contracts.operations("3daistudio")
        if operation.path.startswith("/v1/images/")
    )


def _vertex_generations() -> frozenset[str]:
    return frozenset(
        operation.operation_id
        for operation in contracts.operations("vertex")
        if operation.operation_id.startswith(("generateContent", "streamGenerateContent"))
    )


WITHHELD_IMAGE = frozenset(
    {"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_OTHER", "IMAGE_RECITATION", "NO_IMAGE"}
)

PROTOCOLS: dict[str, JobProtocol] = {
    "vibedream": JobProtocol(
        model_of=path_parameter("model"),
        starts=frozenset({"submitPrediction"}),
        poll="getPrediction",
        poll_param="id",
        job_id=parse("id"),
        succeeded=frozenset({"completed"}),
        failed=frozenset({"failed"}),
        links=(parse("statusUrl"),),
        outputs=(parse("outputs[*]"),),
        failure=parse("error"),
        moderated=(FieldTest(parse("error"), contains="moderation"),),
    ),
    "3daistudio": JobProtocol(
        model_of=aistudio3d_model,
        starts=_aistudio3d_submits(),
        poll="getTaskStatus",
        poll_param="task_id",
        job_id=parse("task_id"),
        queued=frozenset({"PENDING"}),
        succeeded=frozenset({"FINISHED"}),
        failed=frozenset({"FAILED"}),
        outputs=(
            parse("results[*].asset_url"),
            parse("results[*].asset"),
            parse("results[*].thumbnail"),
        ),
        failure=parse("failure_reason"),
        images_field="num_images",
        moderated=(FieldTest(parse("failure_reason"), contains="moderation"),),
    ),
    "vertex": JobProtocol(
        model_of=path_parameter("model"),
        generations=_vertex_generations(),
        moderated=(
            FieldTest(parse("promptFeedback.blockReason")),
            FieldTest(parse("candidates[0].finishReason"), WITHHELD_IMAGE, stage="output"),
        ),
    ),
}


def job_protocol(provider: str | None) -> JobProtocol | None:
    """The provider's row when its jobs are polled (vibedream, 3daistudio), else None."""
    protocol = PROTOCOLS.get(provider or "")
    return protocol if protocol is not None and protocol.poll is not None else None
