"""`imagegen-emulator record`: a proxy in front of the real providers that records every
exchange, sanitised, into one HAR file per session (emulator/recording/)."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from emulator.commands.common import EXAMPLES, fail, is_http_url, is_loopback
from emulator.commands.serve import LOG_LEVELS, ListenError, open_listening, serve_on
from emulator.recording.har import HAR_SUFFIX, RecordingError
from emulator.recording.proxy import UPSTREAM_KEYS, RecordingProxy, Upstream
from emulator.recording.sanitise import SECRET_QUERY_PARAMS
from emulator.recording.session import Session
from emulator.recording.writer import SessionWriter

DEFAULT_PORT = 8080
DEFAULT_TIMEOUT = 300.0  # seconds: a 4K Gemini image can take minutes


class UsageError(ValueError):
    """A bad option: one line, which never repeats a credential."""


def add_parser(commands: argparse._SubParsersAction) -> None:
    record = commands.add_parser(
        "record",
        help="record real traffic through a proxy",
        description="Serve a proxy that forwards every request to the real API it is for (an\n"
        "--upstream) and writes each exchange, sanitised (no credentials, images as\n"
        "descriptors, repeated polls collapsed), to OUT/session-YYYYMMDD-HHMMSS.har.\n\n"
        f"Upstream keys: {', '.join(UPSTREAM_KEYS)}.\n"
        "gateway, gemini and vertex-ai are the vertex provider's surfaces, each reached at its\n"
        "own host: a surface's upstream wins over `vertex` for its paths. A path no upstream\n"
        "is given for (or that no provider owns) goes to the first --upstream.\n\n"
        "Logs one line per exchange on stderr (method, path, status, time; never a query,\n"
        "which may hold a key). Ctrl-C stops it after a last write of the file.",
        epilog=EXAMPLES + "  imagegen-emulator record --upstream vibedream=https://api.vibedream.ai"
        " --out recordings/\n"
        "  imagegen-emulator record --upstream gemini=https://generativelanguage.googleapis.com"
        " --upstream gateway=https://gateway.example.com/ai --out recordings/ --port 9000\n"
        "  imagegen-emulator record --upstream 3daistudio=https://api.3daistudio.com"
        " --record-downloads --redact 'proj-[0-9]+' --out recordings/",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    record.add_argument(
        "--upstream",
        action="append",
        default=[],
        metavar="KEY=URL",
        required=True,
        help="a provider (or surface) and the base URL of its real API; repeat for more."
        " The URL may carry a path; never a key (clients send theirs)",
    )
    record.add_argument("--out", required=True, metavar="DIR", help="folder of the recordings")
    record.add_argument(
        "--host",
        default="127.0.0.1",
        help="loopback address to listen on (default 127.0.0.1): the proxy carries your keys"
        " and has no access control, so it never listens beyond this machine",
    )
    record.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port; 0 picks a free one (default {DEFAULT_PORT})",
    )
    record.add_argument(
        "--record-downloads",
        action="store_true",
        help="rewrite output URLs in answers (vibedream statusUrl and outputs, 3D AI Studio"
        " asset_url/asset/thumbnail) to pass through the proxy, and record the downloads"
        " (images as descriptors); by default they are left as the upstream sent them",
    )
    record.add_argument(
        "--redact",
        action="append",
        default=[],
        metavar="REGEX",
        help="also mask what this regular expression matches, everywhere; repeatable",
    )
    record.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="for the upstream to connect, and between two pieces of its answer; past it the"
        f" client gets a 504 (default {DEFAULT_TIMEOUT:.0f})",
    )
    record.add_argument("--log-level", default="info", choices=LOG_LEVELS, help="default info")


def parse_upstreams(values: Sequence[str]) -> list[Upstream]:
    """The --upstream options; UsageError for a bad one (its URL is never repeated)."""
    upstreams: list[Upstream] = []
    for value in values:
        key, equals, url = value.partition("=")
        key = key.strip()
        if not equals:
            raise UsageError("--upstream takes KEY=URL, e.g. vibedream=https://api.vibedream.ai")
        if key not in UPSTREAM_KEYS:
            # Not repeated: a key pasted in the wrong place would be printed.
            raise UsageError(
                f"--upstream: unknown KEY before '=': one of {', '.join(UPSTREAM_KEYS)}"
            )
        if any(upstream.key == key for upstream in upstreams):
            raise UsageError(f"--upstream {key} is given twice")
        parts = urlsplit(url)
        if "@" in parts.netloc:
            raise UsageError(
                f"--upstream {key}: the URL carries credentials (user:password@):"
                " never pass a key on the command line, the client sends its own"
            )
        if parts.query or parts.fragment:
            names = {name.partition("=")[0].lower() for name in parts.query.split("&")}
            what = "a key" if names & SECRET_QUERY_PARAMS else "a query string"
            raise UsageError(
                f"--upstream {key}: the URL carries {what}: give the base URL only"
                " (a key belongs in the client's requests, never on the command line)"
            )
        if not is_http_url(url):
            raise UsageError(f"--upstream {key}: not an http(s) URL")
        upstreams.append(Upstream(key, url.rstrip("/")))
    return upstreams


def compile_redactions(patterns: Sequence[str]) -> list[re.Pattern[str]]:
    compiled = []
    for number, pattern in enumerate(patterns, 1):
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            # Not the pattern itself: what is to be masked may be a secret.
            raise UsageError(
                f"--redact #{number} is not a valid regular expression: {exc.msg}"
            ) from None
        if compiled[-1].match(""):
            raise UsageError(f"--redact #{number} matches the empty string: it would mask nothing")
    return compiled


def session_path(folder: Path, now: datetime | None = None) -> Path:
    """OUT/session-YYYYMMDD-HHMMSS.har (UTC), with -2, -3... when that name is taken."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    path = folder / f"session-{stamp}{HAR_SUFFIX}"
    number = 2
    while path.exists():
        path = folder / f"session-{stamp}-{number}{HAR_SUFFIX}"
        number += 1
    return path


def banner(base_url: str, upstreams: Sequence[Upstream], path: Path, downloads: bool) -> str:
    lines = [f"imagegen-emulator record listening on {base_url}"]
    lines += [f"  {upstream.key:<10} -> {upstream.base}" for upstream in upstreams]
    lines.append(f"  writing {path}")
    lines.append(
        "  downloads: through the proxy, recorded"
        if downloads
        else "  downloads: output URLs left as the upstream sends them"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        upstreams = parse_upstreams(args.upstream)
        redactions = compile_redactions(args.redact)
    except UsageError as exc:
        return fail(str(exc))
    if not args.timeout > 0:
        return fail(f"--timeout must be more than 0 seconds, got {args.timeout}")
    folder = Path(args.out)
    if folder.exists() and not folder.is_dir():
        return fail(f"--out {folder}: is a file, not a folder")
    if not is_loopback(args.host):
        return fail(f"--host {args.host}: the recorder listens on a loopback address only")
    try:
        sock = open_listening(args.host, args.port)
    except ListenError as exc:
        return fail(str(exc))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        sock.close()
        return fail(f"--out {folder}: cannot be created: {(exc.strerror or 'error').lower()}")
    writer = SessionWriter(Session(redactions), session_path(folder))
    try:
        writer.write_now()  # the file exists, readable, before the first request
    except RecordingError as exc:
        writer.close()
        sock.close()
        return fail(str(exc))
    proxy = RecordingProxy(
        upstreams, writer, timeout=args.timeout, record_downloads=args.record_downloads
    )
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    base_url = f"http://{shown_host}:{port}"
    print(banner(base_url, upstreams, writer.path, args.record_downloads), flush=True)
    try:
        serve_on(sock, proxy, args.log_level)
    finally:
        writer.close()  # the last exchanges, and a final write
    if writer.errors:
        return fail(writer.errors[-1], 1)
    return 0
