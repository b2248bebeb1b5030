"""Stoplight Prism mocking vibedream's submit and poll from the emulator's OpenAPI document.

`@stoplight/prism-cli` from the npm registry, run as `prism mock` with its defaults (static
answers from the document's examples, request validation, a log line per step of each request)
on `contracts.openapi_document()` written to a file. 5.14.2 is the last version that runs on
Node 18 and 20 (later ones want Node 24).
"""

from __future__ import annotations

from pathlib import Path

from bench._servers import HOST, free_port
from bench.peers import NpmPackage, Peer, PeerProcess, node_script

PACKAGE = NpmPackage("@stoplight/prism-cli", "5.14.2")


class Prism(Peer):
    name = "Prism"
    package = PACKAGE

    def install(self) -> None:
        self.package.install()

    def process(self, workdir: Path, openapi: Path) -> PeerProcess:
        port = free_port()
        args = [*node_script(self.package, "dist/index.js"), "mock", str(openapi)]
        args += ["--host", HOST, "--port", str(port)]
        return PeerProcess(self.name, args, port, workdir / "prism.log")
