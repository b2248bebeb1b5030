"""Google's JavaScript SDK, @google/genai, for the tests that drive the emulator with it
(tests/test_js_sdk.py in Node, tests/test_cors_browser.py in Chromium).

It comes from the npm registry on first use, as the benches' peers do (bench/peers), into
bench/.peers/google__genai/ (gitignored); later runs find it there. `python -m tests.js_sdk`
installs it ahead of a test run (.ci/run does), so two test workers never install at once; a
lock covers a run that starts without it. Where node or npm is missing or the install fails,
`installed_sdk()` skips the calling test with the reason.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.peers import NpmPackage, PeerUnavailable

# The newest release that runs on Node 20 (Debian 12's; 3.x needs Node 22): its package.json
# says engines.node >= 20.0.0.
SDK = NpmPackage("@google/genai", "2.32.0")
MIN_NODE_MAJOR = 20


def node_major() -> int | None:
    node = shutil.which("node")
    if node is None:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    try:
        return int(out.strip().lstrip("v").split(".")[0])
    except ValueError:
        return None


def install() -> Path:
    """The SDK's package folder, installed first if needed (PeerUnavailable if it cannot be)."""
    SDK.prefix.mkdir(parents=True, exist_ok=True)
    with (SDK.prefix / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another worker installing: wait for it
        return SDK.install()


def installed_sdk() -> Path:
    """The SDK's package folder for a test, or the test skipped with the reason."""
    major = node_major()
    if major is None:
        pytest.skip("node is not installed (apt-get install -y nodejs npm)")
    if major < MIN_NODE_MAJOR:
        pytest.skip(f"{SDK.name}@{SDK.version} needs Node >= {MIN_NODE_MAJOR}, found {major}")
    try:
        return install()
    except PeerUnavailable as exc:
        pytest.skip(f"{SDK.name}@{SDK.version} unavailable: {exc}")


def main() -> int:
    """Install ahead of a test run (.ci/run); 1, with the reason, when it cannot be."""
    major = node_major()
    if major is None or major < MIN_NODE_MAJOR:
        print(f"{SDK.name}@{SDK.version} needs Node >= {MIN_NODE_MAJOR}; found: {major}")
        return 1
    try:
        print(f"{SDK.name}@{SDK.version} in {install()}")
    except PeerUnavailable as exc:
        print(f"{SDK.name}@{SDK.version} unavailable: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
