"""The documentation's snippets, collected and run (tests/test_docs_snippets.py).

Collection: every fenced block whose info string is `sh`, `bash`, `shell`, `console` or `python`
in README.md and docs/**/*.md (not docs/_incoming/), parsed with markdown-it-py. An HTML comment
on the line before a fence (invisible when rendered) changes what is done with it:

    <!-- snippet: skip — reason -->   not run; the test is reported skipped with the reason
    <!-- snippet: output -->          before a ```text block: the previous snippet's output
    <!-- snippet: pytest -->          a python block that is a test module: run under pytest
    <!-- snippet: slow — reason -->   marked slow (left out of the default suite)

(Markers may be stacked on consecutive lines.)

A `console` block is commands (`$ ` lines, `\\` continuations) and the output they show. Cheap
claims in trailing comments are checked too, each against a line of the output, in order: in
Python `print(...)  # shown`; in shell `... | jq -r FILTER  # shown` and `... | head -n 1  # shown`;
and in shell an image file's pixel size (`... > lighthouse.png  # 1376x768`).

Running: a page's blocks run in page order against one emulator (`PageRun`), each shell block
in bash (`set -euo pipefail`), its variables and working directory carried to the page's next
shell block as in one terminal; each Python block in a fresh interpreter, top-level `await`
allowed (as in `python -m asyncio`). See `PageRun` for the environment the snippets see.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
RUNNABLE = {
    "sh": "shell",
    "bash": "shell",
    "shell": "shell",
    "console": "console",
    "python": "python",
}
MARKER = re.compile(
    r"^\s*<!--\s*snippet:\s*(?P<kind>[a-z-]+)\s*(?:[-—:]+\s*(?P<reason>.*?))?\s*-->\s*$"
)
DOCUMENTED_HOSTS = ("http://127.0.0.1:8000", "http://localhost:8000", "localhost:8000")
BLOCK_TIMEOUT = 120.0  # seconds one block may run (a loaded machine is slow)
SLOW_BLOCK_TIMEOUT = 600.0  # a block marked slow (a benchmark)
PROMPT = "$ "
KINDS = {"skip", "output", "pytest", "slow"}
# curl options (a bash case pattern) with which a command shows the HTTP status itself
SHOWS_STATUS = "--include|--head|--dump-header|--write-out|-w|-[iIDw]*|-[a-zA-Z]*[iIDw]*"
REPOSITORY_DIRS = ("examples",)  # linked into each page's working directory


@dataclass(frozen=True)
class Snippet:
    page: str  # the page's path from the repository's root
    line: int  # the opening fence's line, from 1
    lang: str
    code: str
    mode: str  # shell, console, python, pytest
    skip: str | None = None
    output: str | None = None  # the output the page shows for it, if any
    slow: bool = False  # marked slow: left out of the default suite

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"


# ---------------------------------------------------------------------- collection


def pages(root: Path = ROOT) -> list[Path]:
    docs = root / "docs"
    found = [root / "README.md"] if (root / "README.md").exists() else []
    if docs.is_dir():
        found += sorted(
            path for path in docs.rglob("*.md") if "_incoming" not in path.relative_to(docs).parts
        )
    return found


def collect(path: Path, root: Path = ROOT) -> list[Snippet]:
    from markdown_it import MarkdownIt  # here: the `imagegen-emulator` wrapper needs none of it

    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    name = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    snippets: list[Snippet] = []
    for token in MarkdownIt("commonmark").parse(text):
        if token.type != "fence" or token.map is None:
            continue
        start = token.map[0]
        where = f"{name}:{start + 1}"
        lang = token.info.strip().split(" ")[0].lower()
        markers = markers_above(lines, start)
        unknown = set(markers) - KINDS
        if unknown:
            raise ValueError(f"{where}: unknown snippet marker {sorted(unknown)}")
        if "output" in markers:
            if not snippets:
                raise ValueError(f"{where}: an output block with no snippet before it")
            snippets[-1] = replace(snippets[-1], output=token.content)
            continue
        if lang not in RUNNABLE:
            continue
        if "skip" in markers and not markers["skip"]:
            raise ValueError(f"{where}: a skip marker needs its reason")
        mode = "pytest" if "pytest" in markers else RUNNABLE[lang]
        snippet = Snippet(name, start + 1, lang, token.content, mode, markers.get("skip"))
        snippets.append(replace(snippet, slow="slow" in markers))
    return snippets


def markers_above(lines: list[str], start: int) -> dict[str, str]:
    """The markers on the lines right above a fence (several may be stacked): kind -> reason."""
    found: dict[str, str] = {}
    line = start - 1
    while line >= 0 and (marker := MARKER.match(lines[line])):
        found[marker["kind"]] = marker["reason"] or ""
        line -= 1
    return found


def collect_all(root: Path = ROOT) -> list[Snippet]:
    return [snippet for page in pages(root) for snippet in collect(page, root)]


def split_console(code: str) -> tuple[str, str]:
    """(the commands, the output shown) of a console block."""
    commands: list[str] = []
    output: list[str] = []
    continued = False
    for line in code.splitlines():
        if continued or line.startswith(PROMPT):
            command = line[len(PROMPT) :] if not continued else line
            commands.append(command)
            continued = command.endswith("\\")
        else:
            output.append(line)
    return "\n".join(commands) + "\n", "\n".join(output) + ("\n" if output else "")


# ---------------------------------------------------------------------- checking output

# What varies from run to run, on the page and in the output alike, so the page can show a
# real run's text: (pattern, placeholder).
PLACEHOLDERS = (
    (re.compile(r"\b(?:127\.0\.0\.1|localhost):\d+"), "127.0.0.1:<port>"),  # --port 0
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?Z?"), "<time>"),
    (re.compile(r"\b\d+(?:\.\d+)?s\b"), "<seconds>s"),  # elapsed times: 2.0s
    (re.compile(r"\b\d+ bytes\b"), "<n> bytes"),  # encoded sizes
)
TERMINAL_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def normalise(text: str) -> str:
    """The text as a terminal leaves it (a line redrawn after `\\r` shows its last form),
    PLACEHOLDERS applied (any port of 127.0.0.1 is `<port>`), trailing spaces gone."""
    text = TERMINAL_CONTROL.sub("", text.replace("\r\n", "\n"))
    text = "\n".join(line.rpartition("\r")[2] for line in text.split("\n"))
    for pattern, placeholder in PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def matches(shown: str, actual: str) -> bool:
    """doctest's ELLIPSIS: `...` in what the page shows matches any text (line breaks too);
    the rest must be equal after normalise()."""
    expected = normalise(shown)
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, normalise(actual), re.DOTALL) is not None


def appears_in_order(claims: Iterable[str], actual: str) -> str | None:
    """None when each claim matches a line of `actual` (ELLIPSIS allowed), in order; else the
    first claim that does not."""
    lines = normalise(actual).splitlines()
    position = 0
    for claim in claims:
        while position < len(lines) and not matches(claim, lines[position]):
            position += 1
        if position == len(lines):
            return claim
        position += 1
    return None


def printed_claims(code: str) -> list[str]:
    """The text of `print(...)  # text` comments, in order (a comment after a print in a
    lambda or a loop counts once)."""
    claims = []
    for line in code.splitlines():
        match = re.search(r"\bprint\(.*\)\s+#\s*(?P<shown>.+?)\s*$", line)
        if match:
            claims.append(match["shown"])
    return claims


IMAGE_CLAIM = re.compile(
    r"(?P<file>[\w./-]+\.(?:png|jpe?g|webp))\b[^#]*#\s*(?P<width>\d+)x(?P<height>\d+)\s*$"
)


# A shell line that prints one value (`| jq -r FILTER`, `| head -n 1`) and shows it in its
# trailing comment: `... | jq -r .status   # completed`.
SHELL_PRINT_CLAIM = re.compile(r"\|\s*(?:jq -r [^#|]*|head -n ?1)\s+#\s*(?P<shown>.+?)\s*$")


def shell_claims(code: str) -> list[str]:
    return [
        match["shown"]
        for line in code.splitlines()
        if not IMAGE_CLAIM.search(line) and (match := SHELL_PRINT_CLAIM.search(line))
    ]


def image_claims(code: str) -> list[tuple[str, int, int]]:
    """(file, width, height) for each shell line that writes an image and states its size in a
    trailing comment."""
    return [
        (match["file"], int(match["width"]), int(match["height"]))
        for match in map(IMAGE_CLAIM.search, code.splitlines())
        if match
    ]


# ---------------------------------------------------------------------- running


@dataclass
class Outcome:
    ok: bool
    message: str = ""
    output: str = ""


@dataclass
class PageRun:
    """One page's snippets, run in order against the emulator at `base_url`, in `workdir`.

    What a snippet sees:
    - every `http://127.0.0.1:8000` / `localhost:8000` in its text is the live emulator;
    - the venv's bin first on PATH, and before it an `imagegen-emulator` wrapper: `serve` and
      `record` run on a free port of 127.0.0.1 (whatever `--host`/`--port` say) until their
      banner is printed, then are stopped as by Ctrl-C (exit status and banner kept); `generate` and
      `contract-check` without `--base-url` go to the live emulator (their default is
      127.0.0.1:8000);
    - each provider's key variable set to `test-key` (VIBEDREAM_API_KEY, THREEDAI_API_KEY,
      VERTEX_GATEWAY_API_KEY) and VERTEX_GATEWAY_BASE_URL the live emulator, as a user
      following the pages has them;
    - HTTP(S)_PROXY a closed port, so nothing can reach a real API;
    - PYTHONPATH the repository's root and examples/ (the pages import `thumbnailer`), and
      links to examples/ and the venv (`.venv`) in the working directory (a temporary one per
      page), for the commands the pages give from the repository's root.
    """

    base_url: str
    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    results: dict[str, Outcome] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state = self.workdir / ".snippet-state"
        bin_dir = self.workdir / ".snippet-bin"
        bin_dir.mkdir(exist_ok=True)
        wrapper = bin_dir / "imagegen-emulator"
        wrapper.write_text(
            f"#!{sys.executable}\nfrom tests.docs_snippets import wrapper\nwrapper()\n"
        )
        wrapper.chmod(0o755)
        curl = shutil.which("curl")
        if curl is not None:
            # An HTTP error fails the command (exit 22) and shows its body, unless the
            # command shows the status itself (-i, -I, -D): a wrong path cannot pass unseen.
            shim = bin_dir / "curl"
            shim.write_text(
                "#!/bin/bash\n"
                f'for arg in "$@"; do case "$arg" in {SHOWS_STATUS}) exec {curl} "$@";; esac\n'
                "done\n"
                f'exec {curl} --fail-with-body --show-error "$@"\n'
            )
            shim.chmod(0o755)
        self.env = {
            "PATH": f"{bin_dir}:{VENV_BIN}:/usr/bin:/bin",
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "PYTHONPATH": f"{ROOT}:{ROOT / 'examples'}",
            "SNIPPET_BASE_URL": self.base_url,
            "SNIPPET_REAL_CLI": str(VENV_BIN / "imagegen-emulator"),
            "VIBEDREAM_API_KEY": "test-key",
            "THREEDAI_API_KEY": "test-key",
            "VERTEX_GATEWAY_API_KEY": "test-key",
            "VERTEX_GATEWAY_BASE_URL": self.base_url,
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "http_proxy": "http://127.0.0.1:9",
            "https_proxy": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
        # A bare `pytest` runs the page's last test module (a block marked pytest), not the
        # linked examples/.
        (self.workdir / "pytest.ini").write_text("[pytest]\ntestpaths = test_snippet.py\n")
        # Commands the pages give from the repository's root (`pytest examples/`) find it.
        for name in REPOSITORY_DIRS:
            link = self.workdir / name
            if not link.exists():
                link.symlink_to(ROOT / name)
        if not (self.workdir / ".venv").exists():  # `.venv/bin/python -m bench...`
            (self.workdir / ".venv").symlink_to(VENV_BIN.parent)
        self.cwd = self.workdir

    def live(self, code: str) -> str:
        for host in DOCUMENTED_HOSTS:
            target = (
                self.base_url if host.startswith("http") else self.base_url.removeprefix("http://")
            )
            code = code.replace(host, target)
        return code

    def run(self, snippet: Snippet) -> Outcome:
        if snippet.mode in ("shell", "console"):
            code, shown = (
                split_console(snippet.code) if snippet.mode == "console" else (snippet.code, None)
            )
            outcome = self.run_shell(
                self.live(code), terminal=snippet.mode == "console", slow=snippet.slow
            )
            shown = snippet.output if snippet.output is not None else shown
        else:
            outcome = self.run_python(
                self.live(snippet.code), pytest=snippet.mode == "pytest", slow=snippet.slow
            )
            shown = snippet.output
        if not outcome.ok:
            return outcome
        if shown and not matches(shown, outcome.output):
            return Outcome(
                False,
                "the output differs from the page's\n--- shown ---\n"
                f"{normalise(shown)}\n--- got ---\n"
                f"{normalise(outcome.output)}",
                outcome.output,
            )
        return self.check_claims(snippet, outcome)

    def check_claims(self, snippet: Snippet, outcome: Outcome) -> Outcome:
        from PIL import Image

        claims = {"python": printed_claims, "shell": shell_claims}.get(snippet.mode)
        if claims is not None:
            missing = appears_in_order(claims(snippet.code), outcome.output)
            if missing is not None:
                return Outcome(
                    False, f"no output line matches the comment `# {missing}`:\n{outcome.output}"
                )
        for name, width, height in image_claims(snippet.code) if snippet.mode == "shell" else []:
            path = self.cwd / name
            try:
                with Image.open(path) as image:
                    size = image.size
            except OSError as exc:
                return Outcome(False, f"{name} (said to be {width}x{height}): {exc}")
            if size != (width, height):
                return Outcome(
                    False, f"{name} is {size[0]}x{size[1]}, the page says {width}x{height}"
                )
        return outcome

    def run_shell(self, code: str, terminal: bool = False, slow: bool = False) -> Outcome:
        """A console block runs in a pseudo-terminal (util-linux `script`): what it shows is a
        terminal's output, progress redrawn in place."""
        script = self.workdir / ".snippet.sh"
        script.write_text(
            "set -euo pipefail\nset -a\n"
            f"trap 'env -0 > {shlex.quote(str(self.state))}' EXIT\n{code}"
        )
        command = ["bash", str(script)]
        if terminal:
            command = [
                "script",
                "--quiet",
                "--return",
                "--command",
                shlex.join(command),
                "/dev/null",
            ]
        result = self.subprocess(command, self.cwd, slow)
        if self.state.exists():
            env = dict(
                item.split("=", 1) for item in self.state.read_text().split("\0") if "=" in item
            )
            self.env = {key: value for key, value in env.items() if key not in ("_", "SHLVL")}
            self.cwd = Path(self.env.get("PWD", self.cwd))
            self.state.unlink()
        return result

    def run_python(self, code: str, pytest: bool, slow: bool = False) -> Outcome:
        if pytest:
            (self.workdir / "test_snippet.py").write_text(code)
            command = [
                sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                "-p", "no:xdist", "test_snippet.py",
            ]  # fmt: skip
        else:
            (self.workdir / "snippet.py").write_text(code)
            command = [sys.executable, "-c", RUN_PYTHON, "snippet.py"]
        return self.subprocess(command, self.workdir, slow)

    def subprocess(self, command: list[str], cwd: Path, slow: bool = False) -> Outcome:
        timeout = SLOW_BLOCK_TIMEOUT if slow else BLOCK_TIMEOUT
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a timeout ends its children too
        )
        try:
            raw, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raw, _ = process.communicate()
            output = raw.decode(errors="replace")
            return Outcome(False, f"still running after {timeout:g} s:\n{output}", output)
        # bytes, not text mode: universal newlines would turn a redrawn line's \r into \n
        output = raw.decode(errors="replace")
        if process.returncode != 0:
            return Outcome(False, f"exit status {process.returncode}:\n{output}", output)
        return Outcome(True, output=output)


# ---------------------------------------------------------------------- in the subprocesses


# Runs a Python snippet as `python FILE` would, top-level `await` allowed (as in
# `python -m asyncio`); given to `python -c`, so it costs no import of this module.
RUN_PYTHON = """
import ast, asyncio, sys
path = sys.argv[1]
code = compile(open(path).read(), path, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
result = eval(code, {"__name__": "__main__", "__file__": path})
if asyncio.iscoroutine(result):
    asyncio.run(result)
"""


SERVE_QUIET = 0.2  # seconds without output after which serve's banner is complete


def wrapper(argv: list[str] | None = None, environ: Mapping[str, str] = os.environ) -> None:
    """`imagegen-emulator` as the snippets run it (see PageRun)."""
    args = list(sys.argv[1:] if argv is None else argv)
    real = environ["SNIPPET_REAL_CLI"]
    base_url = environ["SNIPPET_BASE_URL"]
    command = args[0] if args else ""
    # (vertex's contract-check reads VERTEX_GATEWAY_BASE_URL, set to the live emulator)
    given = any(arg.startswith("--base-url") or arg == "--recordings" for arg in args)
    vertex_check = command == "contract-check" and "vertex" in args
    if command in ("generate", "contract-check") and not given and not vertex_check:
        args += ["--base-url", base_url]
    if command not in LONG_RUNNING:
        os.execv(real, [real, *args])
    sys.exit(serve_until_banner(real, rewrite_listen(command, args[1:]), probe=command == "serve"))


LONG_RUNNING = ("serve", "record")  # they run until stopped: stopped once they printed their banner


def rewrite_listen(command: str, args: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in ("--port", "--host"):
            skip = True
            continue
        if arg.startswith(("--port=", "--host=")):
            continue
        kept.append(arg)
    return [command, "--host", "127.0.0.1", "--port", "0", *kept]


def answers(base_url: str) -> bool:
    """Waits until the server answers HTTP (any status): it prints its banner before its
    event loop runs, and a Ctrl-C before that is an interruption (exit status 130)."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + BLOCK_TIMEOUT
    while time.monotonic() < deadline:
        try:
            opener.open(f"{base_url}/_emulator/health", timeout=5).close()
            return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            time.sleep(0.05)
    return False


def serve_until_banner(real: str, args: list[str], probe: bool) -> int:
    """Runs a long-running command until it printed its banner (and, with `probe`, answers
    HTTP: `record` is not probed, as it would record the probe), then stops it as Ctrl-C."""
    import selectors

    process = subprocess.Popen([real, *args], stdout=subprocess.PIPE)
    assert process.stdout is not None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    printed = b""
    while True:
        ready = selector.select(timeout=SERVE_QUIET if printed else BLOCK_TIMEOUT)
        if not ready:
            break
        chunk = os.read(process.stdout.fileno(), 65536)
        if not chunk:
            break
        printed += chunk
        sys.stdout.buffer.write(chunk)  # as it comes, so it stays in order with its stderr
        sys.stdout.flush()
    listening = re.search(rb"listening on (http://\S+)", printed)
    if probe and listening and process.poll() is None:
        answers(listening[1].decode())
    if process.poll() is None:
        process.send_signal(signal.SIGINT)  # as Ctrl-C
    rest, _ = process.communicate(timeout=BLOCK_TIMEOUT)
    sys.stdout.buffer.write(rest)
    sys.stdout.flush()
    return process.returncode


__all__ = [
    "Outcome",
    "PageRun",
    "Snippet",
    "collect",
    "collect_all",
    "matches",
    "pages",
]
