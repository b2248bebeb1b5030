"""Scripted sequences for the next matching requests.

A scenario matches requests by provider, route, model and API key (each optional) and plays its
steps in order, one request per use: "the next 2 submits with key K get 429, then normal", or
"the 3rd submit's job stays in progress until T, then fails with moderation". When its steps
are used up it is done and requests are answered normally again. Scenarios come from the config
file (`[[scenarios]]`, restored on reset) and from the admin API at run time. The body of either:

    {"name": "two 429s", "match": {"provider": "vibedream", "route": "submit", "key": "K"},
     "steps": [{"fault": "429", "times": 2}]}

A step: `fault` (any fault name), `latency` (seconds), `times` (default 1), and for a request
that starts a job, `job` = {"finish_at": <epoch seconds or ISO 8601> | "finish_after": <s>,
"outcome": "success" | "moderation" | "job:500" ...}. A step with neither answers normally.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.core.auth import fingerprint
from emulator.core.faults import Fault, canonical_name

MATCH_KEYS = ("provider", "route", "model", "key")
STEP_KEYS = ("fault", "latency", "times", "job")
JOB_KEYS = ("finish_at", "finish_after", "outcome")
MAX_TIMES = 1_000_000


class ScenarioError(ValueError):
    pass


@dataclass(frozen=True)
class Step:
    fault: Fault | None = None
    latency: float | None = None
    finish_at_time: float | None = None
    finish_after: float | None = None

    def finish_at(self, request_time: float) -> float | None:
        if self.finish_after is not None:
            return request_time + self.finish_after
        return self.finish_at_time

    @property
    def needs_job(self) -> bool:
        return (self.fault is not None and self.fault.fails_job) or (
            self.finish_at_time is not None or self.finish_after is not None
        )

    def describe(self) -> dict[str, Any]:
        """The step as the admin API shows it: the fault by its name alone."""
        out = self.to_data()
        if self.fault is not None:
            out["fault"] = self.fault.name
        return out

    def to_data(self) -> dict[str, Any]:
        """The step as JSON data (a shared store keeps it so); `from_data` reads it back equal.
        Unlike `describe`, the fault keeps its options (retry-after, stage, category)."""
        out: dict[str, Any] = {}
        if self.fault is not None:
            out["fault"] = fault_spec(self.fault)
        if self.latency is not None:
            out["latency"] = self.latency
        if self.finish_at_time is not None:
            out["finish_at"] = self.finish_at_time
        if self.finish_after is not None:
            out["finish_after"] = self.finish_after
        return out

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Step:
        fault = data.get("fault")
        return cls(
            fault=None if fault is None else Fault.parse(fault),
            latency=data.get("latency"),
            finish_at_time=data.get("finish_at"),
            finish_after=data.get("finish_after"),
        )


def fault_spec(fault: Fault) -> str:
    """The fault in the form Fault.parse reads back to an equal Fault."""
    spec = f"{fault.name}; retry-after={fault.retry_after}"
    if fault.stage is not None:
        spec += f"; stage={fault.stage}"
    if fault.category is not None:
        spec += f"; category={fault.category}"
    return spec


@dataclass
class Scenario:
    id: str
    name: str
    provider: str | None
    route: str | None
    model: str | None
    owner: str | None  # the key's fingerprint: keys are never kept
    steps: deque[Step] = field(default_factory=deque)
    used: int = 0

    def matches(self, provider: str, route: str, model: str | None, owner: str | None) -> bool:
        return (
            (self.provider is None or self.provider == provider)
            and (self.route is None or self.route == route)
            and (self.model is None or self.model == model)
            and (self.owner is None or self.owner == owner)
        )

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "match": {
                "provider": self.provider,
                "route": self.route,
                "model": self.model,
                "key_fingerprint": self.owner,
            },
            "used": self.used,
            "remaining": [step.describe() for step in self.steps],
        }


class Scenarios:
    def __init__(self) -> None:
        self._active: list[Scenario] = []
        self._ids = itertools.count(1)

    @property
    def pending(self) -> bool:
        """Whether any scenario has steps left to play (read on every request)."""
        return bool(self._active)

    def load(
        self, entries: Sequence[Any], provider_ids: Sequence[str], where: str
    ) -> list[Scenario]:
        """Add scenarios in their JSON / TOML form, all or none: a bad one is named by its
        place (`where[index]`, or just its error when `where` is empty) and nothing is added."""
        parsed = parse_scenarios(entries, provider_ids, where)
        for scenario in parsed:
            scenario.id = f"s{next(self._ids)}"
            scenario.name = scenario.name or scenario.id
            self._active.append(scenario)
        return parsed

    def queue(self, provider: str, fault: Fault, count: int) -> None:
        """The short form: the provider's next `count` requests get `fault`."""
        steps = deque([Step(fault)] * count)
        scenario = Scenario(
            f"s{next(self._ids)}", f"{count} x {fault.name}", provider, None, None, None, steps
        )
        self._active.append(scenario)

    def pending_per_provider(self) -> dict[str, list[str]]:
        """Faults still to come from scenarios that match a whole provider: the queue view."""
        pending: dict[str, list[str]] = {}
        for scenario in self._provider_wide():
            names = [step.fault.name for step in scenario.steps if step.fault]
            if names:
                pending.setdefault(scenario.provider or "", []).extend(names)
        return pending

    def clear_provider_wide(self) -> None:
        wide = self._provider_wide()
        self._active = [s for s in self._active if s not in wide]

    def _provider_wide(self) -> list[Scenario]:
        return [s for s in self._active if s.provider and not (s.route or s.model or s.owner)]

    def next_step(
        self, provider: str, route: str, model: str | None, owner: str | None, starts_job: bool
    ) -> Step | None:
        """The step this request plays, taken from the first matching scenario; a step that
        needs a job waits for a request that starts one."""
        for scenario in self._active:
            if not scenario.matches(provider, route, model, owner):
                continue
            step = scenario.steps[0]
            if step.needs_job and not starts_job:
                continue
            scenario.steps.popleft()
            scenario.used += 1
            if not scenario.steps:
                self._active.remove(scenario)
            return step
        return None

    def list(self) -> list[dict[str, Any]]:
        return [scenario.view() for scenario in self._active]

    def remove(self, scenario_id: str) -> bool:
        before = len(self._active)
        self._active = [s for s in self._active if s.id != scenario_id]
        return len(self._active) < before

    def clear(self) -> None:
        self._active.clear()
        self._ids = itertools.count(1)


def parse_scenarios(
    entries: Sequence[Any], provider_ids: Sequence[str], where: str
) -> list[Scenario]:
    """Every scenario of a list, or ScenarioError naming the first bad one by its place
    (`where[index]`, or just its error when `where` is empty)."""
    parsed = []
    for index, raw in enumerate(entries):
        try:
            parsed.append(parse_scenario(raw, "", provider_ids))
        except ScenarioError as exc:
            place = f"{where}[{index}]: " if where else ""
            raise ScenarioError(f"{place}{exc}") from None
    return parsed


def parse_scenario(raw: Any, scenario_id: str, provider_ids: Sequence[str]) -> Scenario:
    """A scenario from its JSON / TOML form; ScenarioError says what is wrong and where."""
    if not isinstance(raw, Mapping):
        raise ScenarioError("a scenario is an object with match and steps")
    _only(raw, ("name", "match", "steps"), "scenario")
    match = raw.get("match", {})
    if not isinstance(match, Mapping):
        raise ScenarioError("match is an object")
    _only(match, MATCH_KEYS, "match")
    for key in MATCH_KEYS:
        if key in match and (not isinstance(match[key], str) or not match[key]):
            raise ScenarioError(f"match.{key} is a non-empty string")
    provider = match.get("provider")
    if provider is not None and provider not in provider_ids:
        raise ScenarioError(f"match.provider must be one of {', '.join(provider_ids)}")
    raw_steps = raw.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise ScenarioError("steps is a non-empty list")
    steps: deque[Step] = deque()
    for index, raw_step in enumerate(raw_steps):
        step, times = _parse_step(raw_step, f"steps[{index}]")
        steps.extend([step] * times)
    name = raw.get("name", scenario_id)
    if not isinstance(name, str):
        raise ScenarioError("name is a string")
    return Scenario(
        id=scenario_id,
        name=name,
        provider=provider,
        route=match.get("route"),
        model=match.get("model"),
        owner=fingerprint(match["key"]) if "key" in match else None,
        steps=steps,
    )


def _parse_step(raw: Any, where: str) -> tuple[Step, int]:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"{where} is an object")
    _only(raw, STEP_KEYS, where)
    times = raw.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or not 1 <= times <= MAX_TIMES:
        raise ScenarioError(f"{where}.times is a whole number from 1 to {MAX_TIMES}")
    fault = None
    if raw.get("fault") is not None:
        try:
            fault = Fault.parse(str(raw["fault"]))
        except ValueError as exc:
            raise ScenarioError(f"{where}.fault: {exc}") from None
    latency = raw.get("latency")
    if latency is not None and not _seconds(latency):
        raise ScenarioError(f"{where}.latency is seconds (a number >= 0)")
    finish_at = finish_after = None
    job = raw.get("job")
    if job is not None:
        if not isinstance(job, Mapping):
            raise ScenarioError(f"{where}.job is an object")
        _only(job, JOB_KEYS, f"{where}.job")
        if "finish_at" in job and "finish_after" in job:
            raise ScenarioError(f"{where}.job takes finish_at or finish_after, not both")
        if "finish_after" in job:
            if not _seconds(job["finish_after"]):
                raise ScenarioError(f"{where}.job.finish_after is seconds (a number >= 0)")
            finish_after = float(job["finish_after"])
        if "finish_at" in job:
            finish_at = _instant(job["finish_at"], f"{where}.job.finish_at")
        outcome = job.get("outcome", "success")
        if outcome != "success":
            if fault is not None:
                raise ScenarioError(f"{where}: give the failure as fault or job.outcome, not both")
            try:
                fault = Fault(canonical_name(str(outcome)))
            except ValueError as exc:
                raise ScenarioError(f"{where}.job.outcome: {exc}") from None
            if not fault.fails_job:
                raise ScenarioError(
                    f"{where}.job.outcome is success, moderation or job:500 (502, 503, 504)"
                )
    return Step(fault, None if latency is None else float(latency), finish_at, finish_after), times


def _only(mapping: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise ScenarioError(
            f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}"
        )


def _seconds(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 1e9


def _instant(value: object, where: str) -> float:
    """Seconds since the epoch, or an ISO 8601 date-time (TOML date-times too)."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is not None:
                return parsed.timestamp()
    raise ScenarioError(f"{where} is seconds since the epoch or an ISO 8601 time with a zone")
