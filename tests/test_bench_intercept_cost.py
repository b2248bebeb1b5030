"""bench/intercept_cost.py with tiny counts: both ways of a test run (each asserts its own
download), and the figure is printed. The ratio itself is the bench's to judge, on full counts."""

from __future__ import annotations

import pytest

from bench.intercept_cost import main, measure


@pytest.mark.parametrize("client", ["httpx", "requests"])
def test_both_ways_run_and_are_timed(client: str) -> None:
    fixture_times, intercept_times = measure(tests=2, warmup=0, client=client)
    assert len(fixture_times) == len(intercept_times) == 2
    assert all(seconds > 0 for seconds in [*fixture_times, *intercept_times])


def test_the_figure_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    main(["--tests", "1", "--warmup", "0", "--client", "requests"])
    out = capsys.readouterr().out
    assert "imagegen_emulator fixture" in out and "intercept() (requests)" in out
    assert "ratio " in out and "(target <= 2.0)" in out
