"""Mockoon CLI serving vibedream's submit and poll from the emulator's OpenAPI document.

`@mockoon/cli` from the npm registry, run as `mockoon-cli start --data <document>`: it imports
the OpenAPI document itself and answers each route with a body templated from its schema. Its
defaults otherwise, including a log line per request on stdout and in a file under
$HOME/.mockoon-cli/logs, which is pointed at the peer's temporary folder so nothing is left
behind.
"""

from __future__ import annotations

from pathlib import Path

from bench._servers import HOST, free_port
from bench.peers import NpmPackage, Peer, PeerProcess, node_script

PACKAGE = NpmPackage("@mockoon/cli", "9.9.0")


class Mockoon(Peer):
    name = "Mockoon"
    package = PACKAGE

    def install(self) -> None:
        self.package.install()

    def process(self, workdir: Path, openapi: Path) -> PeerProcess:
        port = free_port()
        args = [*node_script(self.package, "bin/run.js"), "start", "--data", str(openapi)]
        args += ["--port", str(port), "--hostname", HOST]
        return PeerProcess(
            self.name, args, port, workdir / "mockoon.log", env={"HOME": str(workdir)}
        )
