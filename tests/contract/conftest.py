"""The contract suite's fixtures: the target (in-process, uvicorn, real API) and the live
budget, shared by every worker of a run (``CONTRACT_BUDGET_CENTS``, default 75;
``CONTRACT_BUDGET_CREDITS``, default 150)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.contract.targets import (
    Target,
    in_process_target,
    real_api_target,
    uvicorn_target,
)
from tests.contract.wire import Wire

EMULATED = ("in-process", "uvicorn")
TARGETS = (*EMULATED, "real-api")


def run_id(config: pytest.Config) -> str:
    """Shared by every xdist worker of one run, different from the next run."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput["testrunuid"])
    return uuid.uuid4().hex


@pytest.fixture(scope="session")
def ledger_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.getbasetemp()
    # xdist workers' base temps are folders of the controller's: share its folder.
    root = base.parent if hasattr(request.config, "workerinput") else base
    path = root / f"contract-live-budget-{run_id(request.config)}.json"
    return path


@pytest.fixture(scope="session", params=TARGETS)
def target(request: pytest.FixtureRequest, ledger_path: Path) -> Iterator[Target]:
    yield from open_target(request.param, ledger_path)


@pytest.fixture(scope="session", params=EMULATED)
def emulator_target(request: pytest.FixtureRequest, ledger_path: Path) -> Iterator[Target]:
    yield from open_target(request.param, ledger_path)


def open_target(name: str, ledger_path: Path) -> Iterator[Target]:
    if name == "real-api":
        yield real_api_target(ledger_path)
        return
    with (in_process_target if name == "in-process" else uvicorn_target)() as opened:
        yield opened


@pytest.fixture
def wire(target: Target, provider: str) -> Iterator[Wire]:
    with target.client(provider) as client:
        yield Wire(target, provider, client)


@pytest.fixture
def emulator_wire(emulator_target: Target, provider: str) -> Iterator[Wire]:
    with emulator_target.client(provider) as client:
        yield Wire(emulator_target, provider, client)
