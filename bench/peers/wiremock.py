"""WireMock standalone serving a static stub of vibedream's submit and poll.

From the npm registry's `wiremock` package, which bundles the standalone jar; the jar is run
with `java -jar` directly (the package's own `wiremock` command is a Node wrapper that does the
same but does not pass on a stop signal). The stubs are wiremock_stubs/mappings/: method, path
pattern and an `Authorization: Bearer ...` header match, a constant JSON answer copied from the
emulator. Measured twice: with WireMock's default request journal (it keeps every request in
memory, unbounded) and with `--no-request-journal`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from bench._servers import HOST, free_port
from bench.peers import NpmPackage, Peer, PeerProcess, PeerUnavailable, require

PACKAGE = NpmPackage("wiremock", "3.13.2")
STUBS = Path(__file__).resolve().parent / "wiremock_stubs"
MIN_JAVA = 11  # WireMock 3 needs Java 11 or later


def java_major(java: str) -> int:
    """The major version of `java`: `java -version` says e.g. 'openjdk version "17.0.15"', and
    'version "1.8.0_392"' for Java 8."""
    out = subprocess.run(
        [java, "-version"], capture_output=True, text=True, timeout=30, check=False
    )
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if found is None:
        raise PeerUnavailable(f"cannot tell the Java version from: {out.stderr.strip()[:200]}")
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


class WireMock(Peer):
    warmup = 24

    def __init__(self, journal: bool) -> None:
        self.journal = journal
        self.name = "WireMock" + (" (journal)" if journal else " (no journal)")
        self.package = PACKAGE
        self._command: list[str] = []

    def install(self) -> None:
        java = require("java", "apt-get install -y openjdk-17-jre-headless")
        major = java_major(java)
        if major < MIN_JAVA:
            raise PeerUnavailable(f"WireMock 3 needs Java {MIN_JAVA}+, found Java {major}")
        directory = self.package.install()
        jars = sorted((directory / "build").glob("wiremock-standalone-*.jar"))
        if not jars:
            raise PeerUnavailable(f"no wiremock-standalone jar in {directory / 'build'}")
        self._command = [java, "-jar", str(jars[-1])]

    def process(self, workdir: Path, openapi: Path) -> PeerProcess:
        # A copy: WireMock may create folders (__files) in its root directory.
        root = workdir / "root"
        shutil.copytree(STUBS, root, dirs_exist_ok=True)
        port = free_port()
        args = [*self._command, "--port", str(port), "--bind-address", HOST]
        args += ["--root-dir", str(root), "--disable-banner"]
        if not self.journal:
            args.append("--no-request-journal")
        return PeerProcess(self.name, args, port, workdir / "wiremock.log")
