"""Where jobs and asset descriptions live.

In memory by default. Everything goes through this small interface so that a shared backend
(several workers or hosts) can replace it without touching providers or core services.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from emulator.core.assets import Asset
    from emulator.core.jobs import Job


class Store(Protocol):
    def put_job(self, job: Job) -> None: ...

    def get_job(self, job_id: str) -> Job | None: ...

    def put_asset(self, asset: Asset) -> None: ...

    def get_asset(self, asset_id: str) -> Asset | None: ...

    def counts(self) -> dict[str, int]: ...

    def clear(self) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self._jobs: dict[str, Job] = {}
        self._assets: dict[str, Asset] = {}

    def put_job(self, job: Job) -> None:
        self._jobs[job.id] = job

    def get_job(self, job_id: str) -> Job | None:
        return self._jobs.get(job_id)

    def put_asset(self, asset: Asset) -> None:
        self._assets[asset.id] = asset

    def get_asset(self, asset_id: str) -> Asset | None:
        return self._assets.get(asset_id)

    def counts(self) -> dict[str, int]:
        return {"jobs": len(self._jobs), "assets": len(self._assets)}

    def clear(self) -> None:
        self._jobs.clear()
        self._assets.clear()


STORES: dict[str, type[MemoryStore]] = {"memory": MemoryStore}
