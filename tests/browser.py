"""The system's Chromium driven by Playwright, for the browser tests: where it is, and the
marks that skip a module without it (the `browser` fixture is in tests/conftest.py)."""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("DASHBOARD_TEST_CHROMIUM", "/usr/bin/chromium"))

BROWSER_MARKS = [
    pytest.mark.live,
    pytest.mark.skipif(
        find_spec("playwright") is None,
        reason="Playwright is not installed: pip install -e '.[test]' brings it",
    ),
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"no Chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run does it as root)",
    ),
]
