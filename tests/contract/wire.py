"""Requests of the property tests: sent with the target's key, noted as a replayable curl line
(hypothesis prints the notes of the failing example), charged to the live budget, and
checked against the contract, every one."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from hypothesis import note

import contracts
from contracts.budget import actual, estimate
from contracts.conformance import JOBS, KEY_ENV
from contracts.findings import response_findings
from tests.contract.targets import Target

GOOGLE_KEY_HEADER = "x-goog-api-key"
REPLAY_BASE = "${BASE:-http://127.0.0.1:8000}"
ADVANCE_PATH = "/_emulator/clock/advance"


@dataclass(frozen=True)
class Call:
    """One request of a property: what hypothesis generated, ready to send."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    fault: str | None = None  # X-Emulator-Fault, emulator only

    @property
    def model(self) -> str:
        found = contracts.find_operation(self.method, self.path)
        return found[2].get("model", "") if found else ""


def auth_for(method: str, path: str, key: str) -> dict[str, str]:
    """The key where the operation wants it: Bearer, or Google's x-goog-api-key."""
    found = contracts.find_operation(method, path) or contracts.find_operation(method, path + "/")
    if found is not None and found[1].security == "googApiKey":
        return {GOOGLE_KEY_HEADER: key}
    return {"Authorization": f"Bearer {key}"}


def replay_line(
    target: Target, provider: str, method: str, path: str, headers: dict[str, str], body: object
) -> str:
    """A curl command that sends the same request (the key as its environment variable). An
    emulated target is gone once the test ends: its lines go to ``$BASE``, an emulator started
    with the same profile (docs/contracts.md: the contract suite)."""
    base = REPLAY_BASE if target.is_emulator else target.base_url(provider)
    words = ["curl", "-sS", "-X", method, f'"{base}{path}"']
    for name, value in headers.items():
        if name.lower() == "authorization":
            words += ["-H", f'"Authorization: Bearer ${KEY_ENV[provider]}"']
        elif name.lower() == GOOGLE_KEY_HEADER:
            words += ["-H", f'"{GOOGLE_KEY_HEADER}: ${KEY_ENV[provider]}"']
        else:
            words += ["-H", shlex.quote(f"{name}: {value}")]
    if body is not None:
        words += ["-H", "'Content-Type: application/json'", "-d", shlex.quote(json.dumps(body))]
    return " ".join(words)


@dataclass(repr=False)
class Wire:
    """One provider on one target, through one open client."""

    target: Target
    provider: str
    client: httpx.Client
    log: list[str] = field(default_factory=list)

    def __repr__(self) -> str:  # short: it shows in assertion messages
        return f"Wire({self.provider} on {self.target.name})"

    @property
    def key(self) -> str:
        return self.target.api_key(self.provider)

    def send(self, call: Call) -> httpx.Response:
        """Send ``call`` with the target's key; its answer must match its contract."""
        headers = auth_for(call.method, call.path, self.key)
        if call.fault:
            headers["X-Emulator-Fault"] = call.fault
        self.note(
            replay_line(
                self.target,
                self.provider,
                call.method,
                call.path,
                headers,
                call.body,
            )
        )
        reservation = self._reserve(call)
        response = self.client.request(call.method, call.path, json=call.body, headers=headers)
        if reservation is not None and self.target.budget is not None:
            self.target.budget.settle(reservation, actual(self.provider, response))
        self.note(f"  -> {response.status_code} {response.text[:300]}")
        assert_conforms(response)
        return response

    def _reserve(self, call: Call) -> Any:
        budget = self.target.budget
        if budget is None:
            return None
        cost = estimate(self.provider, call.method, call.path, call.body)
        if cost is None:
            return None
        reservation = budget.reserve(f"{call.method} {call.path}", cost)
        if reservation is None:
            pytest.skip(f"the live budget cannot pay {cost} more ({budget.summary()})")
        return reservation

    def get(self, path: str) -> dict[str, Any]:
        """A GET that must answer 200 with a JSON object."""
        response = self.send(Call("GET", path))
        assert response.status_code == 200, response.text
        body = response.json()
        assert isinstance(body, dict)
        return body

    def download(self, url: str) -> bytes:
        where = url
        if self.target.is_emulator:  # the output's path on $BASE
            where = REPLAY_BASE + httpx.URL(url).raw_path.decode()
        self.note(f'curl -sS -o output "{where}"')
        response = self.client.get(url)
        assert response.status_code == 200, f"GET {url}: {response.status_code}"
        return response.content

    def advance(self, seconds: float) -> None:
        if self.target.is_emulator:
            self.note(
                f'curl -sS -X POST "{REPLAY_BASE}{ADVANCE_PATH}"'
                f" -H 'Content-Type: application/json' -d '{{\"seconds\": {seconds}}}'"
            )
        self.target.advance(seconds)

    def note(self, line: str) -> None:
        self.log.append(line)
        note(line)

    def poll(self, job_id: str) -> dict[str, Any]:
        return self.get(JOBS[self.provider].poll_path.format(id=job_id))

    def follow(self, job_id: str, waits: Iterable[float]) -> list[dict]:
        """Poll after each wait, then wait on until the job ends. Returns every answer seen,
        in order."""
        protocol = JOBS[self.provider]
        seen = [self.poll(job_id)]
        for wait in waits:
            self.advance(wait)
            seen.append(self.poll(job_id))
        for wait in settle_waits(self.target):
            if seen[-1].get("status") in protocol.terminal:
                break
            self.advance(wait)
            seen.append(self.poll(job_id))
        assert seen[-1].get("status") in protocol.terminal, f"never finished: {seen[-1]}"
        return seen


def settle_waits(target: Target) -> list[float]:
    """Waits long enough for any job: emulated time is free, real time is not."""
    if target.is_emulator:
        return [60.0, 300.0, 3600.0]  # 3D AI Studio: up to 5 s queued + 4 x 90 s
    return [2.0] * 5 + [5.0] * 60  # a real job: poll every 2-5 s for up to ~5 minutes


def assert_conforms(response: httpx.Response) -> None:
    findings = response_findings(response)
    if findings:
        lines = [finding.line() for finding in findings]
        raise AssertionError(
            f"{response.request.method} {response.request.url.path} answered outside its"
            " contract:\n  " + "\n  ".join(lines)
        )
