"""Scenarios on Redis (the twin of emulator/core/scenarios.py): one list of scenarios in
matching order for every worker, so a step is played once whichever worker answers
(lua/scenario.lua has the key layout). Steps are kept run-length encoded: a step with
`times` = 1,000,000 is one entry and a count.

`pending` is read on every request and costs nothing of its own: the scripts keep the number
of scenarios in the epoch hash, which the request reads anyway."""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from emulator.core.faults import Fault
from emulator.core.redis.link import RedisLink
from emulator.core.scenarios import Scenario, Step, parse_scenarios

SCENARIO = ("scenario",)


def encode_runs(steps: Iterable[Step]) -> list[str]:
    """Consecutive equal steps as runs "<left> <needs_job 0|1> <step JSON>" (lua/scenario.lua)."""
    runs = []
    for step, same in itertools.groupby(steps):
        left = sum(1 for _ in same)
        data = orjson.dumps(step.to_data()).decode()
        runs.append(f"{left} {int(step.needs_job)} {data}")
    return runs


def decode_run(run: bytes) -> tuple[Step, int]:
    left, _needs_job, data = run.split(b" ", 2)
    return Step.from_data(orjson.loads(data)), int(left)


def _text(value: bytes) -> str | None:
    """A match field as stored: '' matches any (None)."""
    return value.decode() or None


class RedisScenarios:
    def __init__(self, link: RedisLink) -> None:
        self.link = link

    @property
    def pending(self) -> bool:
        """Whether any scenario has steps left to play (read on every request: the epoch)."""
        return self.link.epoch().scenarios > 0

    def load(
        self, entries: Sequence[Any], provider_ids: Sequence[str], where: str
    ) -> list[Scenario]:
        """Add scenarios in their JSON / TOML form, all or none (one script adds them all)."""
        parsed = parse_scenarios(entries, provider_ids, where)
        self._add(parsed)
        return parsed

    def queue(self, provider: str, fault: Fault, count: int) -> None:
        """The short form: the provider's next `count` requests get `fault`."""
        if count < 1:  # nothing to play (the admin route never asks for it)
            return
        steps = deque([Step(fault)] * count)
        name = f"{count} x {fault.name}"
        self._add([Scenario("", name, provider, None, None, None, steps)])

    def _add(self, scenarios: list[Scenario]) -> None:
        """Store the scenarios and give them their ids (and names, when they have none)."""
        if not scenarios:
            return
        payload = [
            {
                "name": scenario.name,
                "provider": scenario.provider or "",
                "route": scenario.route or "",
                "model": scenario.model or "",
                "owner": scenario.owner or "",
                "runs": encode_runs(scenario.steps),
            }
            for scenario in scenarios
        ]
        ids = self.link.run("scenarios_add", [orjson.dumps(payload).decode()], SCENARIO)
        self.link.forget_epoch()
        for scenario, raw_id in zip(scenarios, ids, strict=True):
            scenario.id = raw_id.decode()
            scenario.name = scenario.name or scenario.id

    def _scenarios(self) -> list[tuple[Scenario, list[tuple[Step, int]]]]:
        """Every scenario with its runs (a Scenario's steps are left empty: expand on use)."""
        rows = self.link.run("scenarios_list", [], SCENARIO)
        out = []
        for raw_id, name, provider, route, model, owner, used, runs in rows:
            scenario = Scenario(
                id=raw_id.decode(),
                name=name.decode(),
                provider=_text(provider),
                route=_text(route),
                model=_text(model),
                owner=_text(owner),
                used=int(used),
            )
            out.append((scenario, [decode_run(run) for run in runs]))
        return out

    def pending_per_provider(self) -> dict[str, list[str]]:
        """Faults still to come from scenarios that match a whole provider: the queue view."""
        pending: dict[str, list[str]] = {}
        for scenario, runs in self._scenarios():
            if not _provider_wide(scenario):
                continue
            names = [step.fault.name for step, left in runs if step.fault for _ in range(left)]
            if names:
                pending.setdefault(scenario.provider or "", []).extend(names)
        return pending

    def clear_provider_wide(self) -> None:
        self.link.run("scenarios_remove", ["wide"], SCENARIO)
        self.link.forget_epoch()

    def next_step(
        self, provider: str, route: str, model: str | None, owner: str | None, starts_job: bool
    ) -> Step | None:
        """The step this request plays, taken from the first matching scenario; a step that
        needs a job waits for a request that starts one. One script: a step is played once."""
        args = [provider, route, model or "", owner or "", "1" if starts_job else "0"]
        found = self.link.run("scenario_next", args, SCENARIO)
        if found is None:
            return None
        data, used_up = found
        if used_up:
            self.link.forget_epoch()
        return Step.from_data(orjson.loads(data))

    def list(self) -> list[dict[str, Any]]:
        views = []
        for scenario, runs in self._scenarios():
            scenario.steps = deque(step for step, left in runs for _ in range(left))
            views.append(scenario.view())
        return views

    def remove(self, scenario_id: str) -> bool:
        removed = self.link.run("scenarios_remove", ["id", scenario_id], SCENARIO)
        self.link.forget_epoch()
        return int(removed) > 0

    def clear(self) -> None:
        """Every scenario goes and ids start over (a reset's script removed them already)."""
        self.link.run("scenarios_remove", ["all"], SCENARIO)
        self.link.forget_epoch()


def _provider_wide(scenario: Scenario) -> bool:
    return bool(scenario.provider) and not (scenario.route or scenario.model or scenario.owner)
