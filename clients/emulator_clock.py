"""A client's sleep and clock hooks bound to the emulator's virtual clock: every wait the client
would make advances the emulator's clock instead (``POST /_emulator/clock/advance``), so a
90-second job completes without wall time passing. For tests against the emulator::

    clock = EmulatorClock(admin)      # an httpx.Client on the emulator (a TestClient in tests)
    client = AIStudio3DClient(api_key="k", http_client=http, sleep=clock.sleep, clock=clock.now)

``now()`` counts the seconds slept, which is what the client's timeout and progress read.
"""

from __future__ import annotations

import httpx

ADVANCE = "/_emulator/clock/advance"


def _headers(admin_token: str | None) -> dict[str, str]:
    return {"X-Emulator-Admin-Token": admin_token} if admin_token else {}


class EmulatorClock:
    def __init__(self, admin: httpx.Client, admin_token: str | None = None) -> None:
        self.admin = admin
        self._headers = _headers(admin_token)
        self.elapsed = 0.0
        self.sleeps: list[float] = []  # every wait asked for, in order

    def sleep(self, seconds: float) -> None:
        self.admin.post(
            ADVANCE, json={"seconds": seconds}, headers=self._headers
        ).raise_for_status()
        self.elapsed += seconds
        self.sleeps.append(seconds)

    def now(self) -> float:
        return self.elapsed


class AsyncEmulatorClock:
    def __init__(self, admin: httpx.AsyncClient, admin_token: str | None = None) -> None:
        self.admin = admin
        self._headers = _headers(admin_token)
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    async def sleep(self, seconds: float) -> None:
        answer = await self.admin.post(ADVANCE, json={"seconds": seconds}, headers=self._headers)
        answer.raise_for_status()
        self.elapsed += seconds
        self.sleeps.append(seconds)

    def now(self) -> float:
        return self.elapsed
