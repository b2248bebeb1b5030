"""A recorded job's poll timeline: what its polls answered, and when, after its submit.

In a recording, a submit's answer names the job (vibedream ``id``, 3D AI Studio ``task_id``);
the polls of that id after it are its timeline: the answers of the job still running
(``processing``, ``PENDING``, ``IN_PROGRESS`` with its progress; repeated ones collapsed by the
recorder), then the final one (``completed``, ``FINISHED``, ``failed``, a moderated job). The
submit-to-completion time is from the submit's start to the final poll's start: when the client
saw it finished.

Replayed on the emulator's clock: a poll ``t`` seconds after the replayed submit gets the
latest running answer recorded at or before ``t`` (the first one before any), and the final
answer once ``t`` reaches the recorded duration. Poll answers that were errors (a 429 on a
poll) are not part of the timeline. A job recorded without any running answer answers its
final one at once; one recorded without a final answer stays at its last running answer.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from emulator.recording.har import Entry
from emulator.recording.protocols import job_protocol
from emulator.recording.sanitise import poll_signature

__all__ = ["RecordedJob", "recorded_jobs"]


@dataclass(frozen=True)
class RecordedJob:
    """Entry indices and seconds only: what a replayed job keeps of its recording is data."""

    submit: int  # the submit's entry index
    recorded_id: str
    offsets: tuple[float, ...]  # seconds after the submit of each running answer, ascending
    running: tuple[int, ...]  # the running answers' entry indices, in the same order
    final: int | None  # the final answer's entry index
    duration: float  # submit to completion, seconds (0 without a final answer)

    def answer_at(self, elapsed: float) -> int | None:
        """The entry index a poll ``elapsed`` seconds after the submit gets (None: nothing
        was recorded to answer it)."""
        if self.final is not None and (elapsed >= self.duration or not self.running):
            return self.final
        if not self.running:
            return None
        step = bisect.bisect_right(self.offsets, elapsed) - 1
        return self.running[max(0, step)]


def started(entry: Entry) -> float:
    return datetime.fromisoformat(entry.started.replace("Z", "+00:00")).timestamp()


def recorded_jobs(entries: Sequence[Entry]) -> dict[int, RecordedJob]:
    """Every 2xx submit that names a job, by its entry index, with that job's timeline."""
    polls: dict[tuple[str, str], list[int]] = {}  # (provider, job id) -> poll entry indices
    for index, entry in enumerate(entries):
        protocol = job_protocol(entry.provider)
        if protocol is not None and entry.operation == protocol.poll and 200 <= entry.status < 300:
            job_id = entry.path_params().get(protocol.poll_param)
            if job_id:
                polls.setdefault((entry.provider or "", job_id), []).append(index)
    jobs: dict[int, RecordedJob] = {}
    for index, entry in enumerate(entries):
        protocol = job_protocol(entry.provider)
        if protocol is None or protocol.job_id is None or entry.operation not in protocol.starts:
            continue
        if not 200 <= entry.status < 300:
            continue
        named = protocol.job_id.values(entry.response_json())
        if not named or not isinstance(named[0], str):
            continue
        job_id = named[0]
        after = [i for i in polls.get((entry.provider or "", job_id), []) if i > index]
        jobs[index] = _timeline(entries, index, job_id, after)
    return jobs


def _timeline(entries: Sequence[Entry], submit: int, job_id: str, polls: list[int]) -> RecordedJob:
    start = started(entries[submit])
    running: list[tuple[float, int]] = []
    final: int | None = None
    for index in polls:
        poll = entries[index]
        still_running = (
            poll_signature(poll.method, poll.url, poll.status, poll.response_text) is not None
        )
        if still_running:
            running.append((max(0.0, started(poll) - start), index))
        else:
            final = index
            break
    running.sort()
    duration = 0.0 if final is None else max(0.0, started(entries[final]) - start)
    return RecordedJob(
        submit=submit,
        recorded_id=job_id,
        offsets=tuple(offset for offset, _ in running),
        running=tuple(index for _, index in running),
        final=final,
        duration=duration,
    )
