"""Jobs and their files on Redis, with the memory store's rules (emulator/core/store.py).

A job is one hash holding it as JSON with its files' descriptions (recipes: data any worker
renders into the same bytes); each file id points at its job. Retention and `max_jobs` are
enforced in Redis (lua/jobs.lua): keys expire with their job (wall time, never later than the
emulator's clock would drop them), and each store puts evicts what the emulator's clock says
is past its retention, then the oldest past max_jobs. A job and its charge are written by one
script: never a charge without its job, nor a job without its files.

A poll reads its job in the request's first round trip (with the epoch); the files' URLs come
from that same read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson

from emulator.core.assets import Asset
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.jobs import Job
from emulator.core.recipes import from_data, to_data
from emulator.core.redis.link import RedisLink
from emulator.core.redis.wallets import charge_args, from_cents
from emulator.core.store import DEFAULT_JOB_RETENTION, DEFAULT_MAX_JOBS
from emulator.core.wallets import Charge, money, short_of

if TYPE_CHECKING:
    from emulator.core.clock import Clock

JOBS = ("jobs",)
PUT = ("wallet", "jobs")
BATCH = 200  # jobs fetched per round trip when listing
MIN_TTL_MS = 1000
MAX_TTL_MS = 400 * 24 * 3600 * 1000  # a key's wall-time life is bounded, whatever the settings


def job_to_data(job: Job, assets: list[Asset]) -> bytes:
    return orjson.dumps(
        {
            "id": job.id,
            "provider": job.provider,
            "model": job.model,
            "owner": job.owner,
            "created_at": job.created_at,
            "queue_seconds": job.queue_seconds,
            "run_seconds": job.run_seconds,
            "params": job.params,
            "failure": job.failure,
            "outputs": job.outputs,
            "assets": [
                {
                    "id": asset.id,
                    "filename": asset.filename,
                    "recipe": to_data(asset.recipe),
                    "available_at": asset.available_at,
                    "expires_at": asset.expires_at,
                }
                for asset in assets
            ],
        }
    )


def job_from_data(raw: bytes) -> tuple[Job, dict[str, Asset]]:
    data: dict[str, Any] = orjson.loads(raw)
    assets = {
        item["id"]: Asset(
            id=item["id"],
            filename=item["filename"],
            recipe=from_data(item["recipe"]),
            available_at=item["available_at"],
            expires_at=item["expires_at"],
        )
        for item in data.pop("assets")
    }
    return Job(**data), assets


class RedisStore:
    def __init__(
        self,
        link: RedisLink,
        clock: Clock,
        max_jobs: int = DEFAULT_MAX_JOBS,
        job_retention: float = DEFAULT_JOB_RETENTION,
    ) -> None:
        self.link = link
        self.clock = clock
        self.max_jobs = max_jobs
        self.job_retention = job_retention
        # Files described by put_asset, written with their job by put_job.
        self._staged: dict[str, list[Asset]] = {}

    # ------------------------------------------------------------------ writes

    def put_asset(self, asset: Asset, job: Job) -> None:
        self._staged.setdefault(job.id, []).append(asset)

    def put_job(self, job: Job, charge: Charge | None = None) -> None:
        """Store `job` with the files staged for it, taking `charge` in the same step (a 402
        ApiError, nothing stored, when the balance is short). An id another worker already
        used (two workers with one seed draw the same ids) gets a random one instead."""
        assets = self._staged.pop(job.id, [])
        now = self.clock.now()
        ttl = (job.finishes_at + self.job_retention - now) * 1000
        for _attempt in range(3):
            args = [
                job.id,
                job_to_data(job, assets),
                " ".join(asset.id for asset in assets),
                repr(job.finishes_at),
                repr(now - self.job_retention),
                self.max_jobs,
                int(min(max(ttl, MIN_TTL_MS), MAX_TTL_MS)),
            ]
            if charge is None:
                args += ["", "", "", "", "", ""]
            else:
                args += charge_args(
                    charge.provider, charge.owner, charge.amount, charge.default, now,
                    charge.refund_at,
                )
            outcome = self.link.run("put_job", args, PUT)
            if outcome[0] == 1:
                self._remember(job, assets)
                return
            if outcome[0] == -1:
                assert charge is not None
                raise short_of(money(charge.amount), from_cents(outcome[1]))
            job.id = str(uuid.uuid4())
        raise ApiError(ErrorKind.INTERNAL, "Could not find a free job id.")

    def _remember(self, job: Job, assets: list[Asset]) -> None:
        view = self.link.view()
        if view is not None:
            view.cache[job.id] = job
            view.cache.update((asset.id, asset) for asset in assets)

    # ------------------------------------------------------------------ reads

    def prefetch(self, job_ids: list[str]) -> None:
        """Read these jobs (with their files) into the request's view, in the round trip
        that reads the epoch: a poll's one round trip. A job not found is remembered as such."""
        view = self.link.view()
        keys = [self.link.key("job", job_id) for job_id in job_ids]
        found = self.link.read(lambda pipe: [pipe.hget(key, "data") for key in keys])
        if view is not None and keys:
            for job_id, raw in zip(job_ids, found, strict=True):
                self._cache(view.cache, job_id, raw)

    def get_job(self, job_id: str) -> Job | None:
        view = self.link.view()
        if view is not None and job_id in view.cache:
            found = view.cache[job_id]
        else:
            (raw,) = self.link.read(lambda pipe: pipe.hget(self.link.key("job", job_id), "data"))
            found = self._cache({} if view is None else view.cache, job_id, raw)
        if not isinstance(found, Job) or self.clock.now() >= found.finishes_at + self.job_retention:
            return None  # none, or past its retention on the emulator's clock: as if dropped
        return found

    @staticmethod
    def _cache(cache: dict[str, Any], job_id: str, raw: bytes | None) -> Job | None:
        if raw is None:
            cache[job_id] = None
            return None
        job, assets = job_from_data(raw)
        cache[job_id] = job
        cache.update(assets)
        return job

    def get_asset(self, asset_id: str) -> Asset | None:
        view = self.link.view()
        if view is not None and asset_id in view.cache:
            found = view.cache[asset_id]
            return found if isinstance(found, Asset) else None
        (raw,) = self.link.read(lambda pipe: self.link.queue(pipe, "get_asset", [asset_id]))
        if raw is None:
            return None
        job, assets = job_from_data(raw)
        if view is not None:
            self._cache(view.cache, job.id, raw)
        return assets.get(asset_id)

    def newest_jobs(self) -> Iterator[Job]:
        now = self.clock.now()
        with self.link.guard():
            ids = self.link.client.zrevrange(self.link.key("jobs"), 0, -1)
        for start in range(0, len(ids), BATCH):
            keys = [self.link.key("job", job_id.decode()) for job_id in ids[start : start + BATCH]]
            pipe = self.link.client.pipeline(transaction=False)
            for key in keys:
                pipe.hget(key, "data")
            for raw in self.link.execute(pipe):
                if raw is not None:
                    job, _ = job_from_data(raw)
                    if now < job.finishes_at + self.job_retention:
                        yield job

    def counts(self) -> dict[str, int]:
        finished_by = repr(self.clock.now() - self.job_retention)
        jobs, assets = self.link.run("count_jobs", [finished_by, self.max_jobs], JOBS)
        return {"jobs": int(jobs), "assets": int(assets)}

    def clear(self) -> None:
        """Done by the reset script, with everything else; this worker's staging goes too."""
        self._staged.clear()
