"""The tools users would pick instead of the emulator, as `python -m bench.compare` runs them.

One module per peer (wiremock, prism, mockoon). Each serves vibedream's submit
(``POST /api/v1/models/z-image-turbo/generate``) and poll (``GET /api/v1/predictions/{id}``) on
127.0.0.1: WireMock from a static stub (wiremock_stubs/), Prism and Mockoon from the emulator's
own OpenAPI document. A peer comes from the npm registry with `npm install --prefix` into
bench/.peers/<package>/ (gitignored), once: later runs find it there.

Whatever keeps a peer from running (no npm, no Java, a failed install, a server that exits or
never answers) raises :class:`PeerUnavailable` with the reason, which the bench prints in its
table in place of that peer's figures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench._servers import HOST, Managed, child_popen, stop_process, wait_http

PEERS_DIR = Path(__file__).resolve().parent.parent / ".peers"
INSTALL_TIMEOUT = 300.0  # seconds for one `npm install` (a first install takes ~20 s here)
START_TIMEOUT = 60.0  # seconds until a peer answers HTTP (the JVM and Node need a few)
LOG_TAIL = 200  # characters at most of what a failed install or peer said, as the reason


class PeerUnavailable(Exception):
    """The peer cannot be measured; str() is the reason, one line."""


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str  # exact: the figures are compared between runs

    @property
    def prefix(self) -> Path:
        """Where it is installed: its own folder, so one failed install spoils no other."""
        return PEERS_DIR / self.name.replace("/", "__").lstrip("@")

    @property
    def directory(self) -> Path:
        return self.prefix / "node_modules" / self.name

    def installed(self) -> bool:
        try:
            manifest = json.loads((self.directory / "package.json").read_text())
        except (OSError, ValueError):
            return False
        return bool(manifest.get("version") == self.version)

    def install(self) -> Path:
        """The package's folder, installed first if it is not there yet."""
        if self.installed():
            return self.directory
        npm = shutil.which("npm")
        if npm is None:
            raise PeerUnavailable("npm is not installed (apt-get install -y npm)")
        self.prefix.mkdir(parents=True, exist_ok=True)
        spec = f"{self.name}@{self.version}"
        print(f"installing {spec} into {self.prefix} (once) ...", flush=True)
        args = [npm, "install", "--prefix", str(self.prefix), "--save-exact"]
        args += ["--no-audit", "--no-fund", "--loglevel=error", spec]
        proc = child_popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            out, _ = proc.communicate(timeout=INSTALL_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise PeerUnavailable(f"npm install {spec} took over {INSTALL_TIMEOUT:.0f} s") from None
        finally:
            stop_process(proc)
        if proc.returncode != 0 or not self.installed():
            raise PeerUnavailable(f"npm install {spec} failed: {gist(out.decode())}")
        return self.directory


NOISE = ("Unknown user config", "A complete log of this run", "Log files were not written")


def gist(output: str) -> str:
    """What a failed command or server said, in one short line: its first two lines that
    mention an error (npm: "npm error code ETARGET; npm error notarget No matching version..."),
    else its last line; npm's config warnings and log-file notes left out."""
    lines = [
        line.strip()
        for line in output.splitlines()
        if line.strip() and not any(noise in line for noise in NOISE)
    ]
    errors = [line for line in lines if "error" in line.lower()]
    text = "; ".join(errors[:2]) if errors else (lines[-1] if lines else "(no output)")
    return text if len(text) <= LOG_TAIL else text[: LOG_TAIL - 3] + "..."


def require(program: str, hint: str) -> str:
    path = shutil.which(program)
    if path is None:
        raise PeerUnavailable(f"{program} is not installed ({hint})")
    return path


class PeerProcess(Managed):
    """A started peer on 127.0.0.1:`port`, output in `log`; stopped when the ``with`` ends.

    Starting raises PeerUnavailable when the process exits or does not answer HTTP in time,
    with the end of its log as the reason."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        port: int,
        log: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.port = port
        self.log = log
        self.env = dict(os.environ, **env) if env else None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as log:
            try:
                self._proc = child_popen(
                    self.args,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                )
            except OSError as exc:
                raise PeerUnavailable(f"cannot start {self.args[0]}: {exc}") from None
        try:
            wait_http(self._proc, self.port, self.name, START_TIMEOUT)
        except RuntimeError as exc:
            raise PeerUnavailable(f"{exc}: {self.log_gist()}") from None

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)

    def log_gist(self) -> str:
        try:
            return gist(self.log.read_text(errors="replace"))
        except OSError:
            return "(no log)"


class Peer:
    """A tool to compare with: its npm package, what it needs, and how to start it."""

    name = ""  # as the table shows it
    package: NpmPackage
    # Seconds of load before the figures count, shared by its operations: the JVM's and V8's
    # JIT compilers take a while to reach full speed (WireMock still gains after 20 s here).
    warmup = 8

    def install(self) -> None:
        """Check what it needs and install it (or find it installed); PeerUnavailable if not."""
        raise NotImplementedError

    def process(self, workdir: Path, openapi: Path) -> PeerProcess:
        """The peer's process, not started yet (``with`` starts it), on a free port; `workdir`
        is its own temporary folder; `openapi` the emulator's OpenAPI document as a file."""
        raise NotImplementedError


def node_script(package: NpmPackage, script: str) -> list[str]:
    """Run one of an installed package's scripts with node directly (no npx, no shell
    wrapper): the process started is the server itself, so stopping it stops the server."""
    node = require("node", "apt-get install -y nodejs")
    return [node, str(package.directory / script)]
