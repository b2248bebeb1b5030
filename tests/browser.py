"""The system's Chromium driven by Playwright, for the browser tests: where it is, and the
marks that skip a module without it (the `browser` fixture is in tests/conftest.py), and a
static page server on another origin than the emulator's."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.util import find_spec
from pathlib import Path
from typing import Any, ClassVar

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


class PageFiles(SimpleHTTPRequestHandler):
    """The page's origin: static files, JavaScript modules with their MIME type, no log."""

    extensions_map: ClassVar[dict[str, str]] = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def page_origin(root: Path) -> Iterator[str]:
    """`root` served on 127.0.0.1 and an ephemeral port: another origin than the emulator's."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(PageFiles, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
