"""Where jobs and asset descriptions live.

In memory by default. Everything goes through this small interface so that a shared backend
(several workers or hosts) can replace it without touching providers or core services.

The store is bounded, so a long run's memory levels off: a job is dropped `job_retention`
seconds (on the emulator's clock) after it finished, and beyond `max_jobs` the oldest jobs go
first, finished or not. A job's assets go with it, and so do their renderings in the image
cache. Dropping happens whenever the store is used (a job put or looked up, the counts read,
the jobs listed: any poll, or GET /_emulator/health), so memory comes back as soon as anything
touches the store once the clock is past a retention, and a job past its retention is never
found, whatever the traffic since. Retention bounds memory; what a provider answers for an old
job is its own rule (3D AI Studio's results expire after `asset_ttl`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Protocol

from emulator.core.errors import ApiError

if TYPE_CHECKING:
    from emulator.core.assets import Asset
    from emulator.core.clock import Clock
    from emulator.core.jobs import Job
    from emulator.core.wallets import Charge, Wallets

DEFAULT_MAX_JOBS = 50_000
DEFAULT_JOB_RETENTION = 24 * 3600.0  # seconds after a job finished
# A dict keeps its table when entries go; past this many jobs, a store down to a quarter of
# its peak copies its dicts into tables of the right size, so the memory comes back.
SHRINK_FROM = 4096


class Store(Protocol):
    max_jobs: int
    job_retention: float

    def put_job(self, job: Job, charge: Charge | None = None) -> None:
        """Store `job` with the assets put for it, taking `charge` in the same step: a 402
        ApiError, and nothing stored, when the balance cannot pay."""
        ...

    def get_job(self, job_id: str) -> Job | None: ...

    def newest_jobs(self) -> Iterator[Job]:
        """Every job, newest first (GET /_emulator/jobs, the dashboard)."""
        ...

    def put_asset(self, asset: Asset, job: Job) -> None: ...

    def get_asset(self, asset_id: str) -> Asset | None: ...

    def counts(self) -> dict[str, int]: ...

    def clear(self) -> None: ...


class MemoryStore:
    def __init__(
        self,
        clock: Clock,
        max_jobs: int = DEFAULT_MAX_JOBS,
        job_retention: float = DEFAULT_JOB_RETENTION,
        wallets: Wallets | None = None,
    ) -> None:
        self.clock = clock
        self.wallets = wallets  # where a charged job's credits are taken
        self.max_jobs = max_jobs
        self.job_retention = job_retention
        self._jobs: dict[str, Job] = {}
        # Job ids oldest first: a deque, as popping the front of a dict again and again makes
        # each next(iter(dict)) skip ever more deleted slots.
        self._order: deque[str] = deque()
        self._assets: dict[str, Asset] = {}
        # job id -> its asset ids: a tuple, which takes half a list's memory for one or two.
        self._assets_of: dict[str, tuple[str, ...]] = {}
        self._peak = 0  # most jobs held since the dicts were last sized

    def put_job(self, job: Job, charge: Charge | None = None) -> None:
        if charge is not None:
            assert self.wallets is not None, "a store that takes charges is given the wallets"
            try:
                self.wallets.charge(
                    charge.provider,
                    charge.owner,
                    charge.amount,
                    default=charge.default,
                    now=self.clock.now(),
                    refund_at=charge.refund_at,
                )
            except ApiError:
                for asset_id in self._assets_of.pop(job.id, ()):  # nothing of it is kept
                    self._assets.pop(asset_id, None)
                raise
        if job.id not in self._jobs:
            self._order.append(job.id)
        self._jobs[job.id] = job
        self._peak = max(self._peak, len(self._jobs))
        self._evict()

    def get_job(self, job_id: str) -> Job | None:
        self._evict()
        return self._jobs.get(job_id)

    def newest_jobs(self) -> Iterator[Job]:
        self._evict()
        return (self._jobs[job_id] for job_id in reversed(self._order))

    def put_asset(self, asset: Asset, job: Job) -> None:
        """`asset`, kept as long as `job` is."""
        self._assets[asset.id] = asset
        self._assets_of[job.id] = (*self._assets_of.get(job.id, ()), asset.id)

    def get_asset(self, asset_id: str) -> Asset | None:
        # No eviction here: a handler reads a job's assets right after the job itself, and on
        # the real clock a retention could end in between (the asset's own expiry still holds).
        return self._assets.get(asset_id)

    def counts(self) -> dict[str, int]:
        self._evict()
        return {"jobs": len(self._jobs), "assets": len(self._assets)}

    def clear(self) -> None:
        self._jobs.clear()
        self._order.clear()
        self._assets.clear()
        self._assets_of.clear()
        self._peak = 0

    def _evict(self) -> None:
        """Drop the oldest jobs while there are too many or the oldest is past its retention
        (creation order: a long job ahead holds back shorter ones behind it, which the count
        bound still limits). On every use of the store: with nothing to drop it costs one
        look at the oldest job."""
        now = self.clock.now()
        while self._order:
            oldest = self._jobs[self._order[0]]
            if len(self._jobs) <= self.max_jobs and now < oldest.finishes_at + self.job_retention:
                return
            self._order.popleft()
            del self._jobs[oldest.id]
            for asset_id in self._assets_of.pop(oldest.id, ()):
                asset = self._assets.pop(asset_id, None)
                if asset is not None:
                    asset.forget()  # and its rendering, if it was downloaded
            if self._peak >= SHRINK_FROM and len(self._jobs) <= self._peak // 4:
                self._shrink()

    def _shrink(self) -> None:
        """Copy the dicts into tables sized for what they hold now (amortised: it takes three
        quarters of the jobs going before it happens again)."""
        self._jobs, self._assets = dict(self._jobs), dict(self._assets)
        self._assets_of = dict(self._assets_of)
        self._peak = len(self._jobs)

