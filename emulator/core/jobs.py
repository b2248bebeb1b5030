"""Asynchronous jobs whose state is a pure function of the clock.

Nothing runs in the background: a job records when it was created, how long it waits and runs,
and how it ends; asking for its state at time t computes it. Advancing the clock is therefore
instant and deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class JobState(NamedTuple):
    """A job's state at one instant; a tuple, as every poll makes one."""

    status: JobStatus
    progress: float  # 0..100
    finished_at: float | None

    @property
    def done(self) -> bool:
        return self.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)


@dataclass(slots=True)
class Job:
    id: str
    provider: str
    model: str
    owner: str  # fingerprint of the API key that made it; jobs are private to their owner
    created_at: float
    queue_seconds: float
    run_seconds: float
    params: dict[str, Any]  # the provider's normalised request, for its own responses
    failure: str | None = None  # when set, the job ends FAILED with this reason
    outputs: list[str] = field(default_factory=list)  # asset ids, visible once succeeded

    @property
    def started_at(self) -> float:
        return self.created_at + self.queue_seconds

    @property
    def finishes_at(self) -> float:
        return self.started_at + self.run_seconds

    def state_at(self, now: float) -> JobState:
        if now >= self.finishes_at:
            status = JobStatus.FAILED if self.failure is not None else JobStatus.SUCCEEDED
            return JobState(status, 100.0, self.finishes_at)
        if now < self.started_at:
            return JobState(JobStatus.QUEUED, 0.0, None)
        progress = 100.0 * (now - self.started_at) / self.run_seconds
        return JobState(JobStatus.RUNNING, min(progress, 99.0), None)
