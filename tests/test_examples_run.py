"""The example apps' own tests (examples/**/test_*.py) pass. They are run from here, with
pytester, because the default suite collects tests/ only (testpaths); in a run of their own,
``pytest examples/``, they need nothing from tests/."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXPECTED = {"passed": 7}  # examples/thumbnailer/test_app.py


def test_the_examples_tests_pass(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest(
        str(EXAMPLES),
        "-p",
        "no:cacheprovider",
        # Its end-of-run summary imports hypothesis, which pytester then forgets again.
        "-p",
        "no:hypothesispytest",
        # Run in this process, which has imported the emulator already: pytest cannot
        # assertion-rewrite it for the plugin and says so; on its own the run has no such warning.
        "-W",
        "ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning",
    )
    assert result.parseoutcomes() == EXPECTED, result.stdout.str()
    assert result.ret == pytest.ExitCode.OK
