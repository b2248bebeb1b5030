"""The example probes of contracts/conformance.py on every target: a valid request for the
cheapest model followed to its image, invalid variants and bad keys refused in the provider's
error shape, every answer checked against its schema."""

from __future__ import annotations

import pytest

from contracts import conformance
from tests.contract.targets import Target


@pytest.mark.parametrize("provider", conformance.PROVIDERS)
def test_the_example_probes_conform(target: Target, provider: str) -> None:
    with target.client(provider) as client:
        report = conformance.check(
            provider,
            client,
            target.api_key(provider),
            clock=target.clock(),
            budget=target.budget,
        )
    print(report.render())  # shown with -s or -rP: on a real API, what it found and spent
    skipped = [probe for probe in report.probes if probe.outcome == "skipped"]
    assert report.conforms, report.render()
    if target.is_emulator:
        assert not skipped, report.render()  # the emulated targets refuse a wrong key
