"""`imagegen-emulator generate`: a reference client (clients/) against the local emulator or
a real API, with a progress line while it polls; the images are saved to a folder.

Every failure is one line on stderr and its own exit status (`ExitCode`), never a traceback;
the key is never printed."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import re
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Sequence
from enum import IntEnum
from pathlib import Path
from typing import Any, TextIO

import httpx

import clients
from clients.images import Image, NotAnImage
from clients.vertex import DEFAULT_MODEL as DEFAULT_VERTEX_MODEL
from clients.vertex import stream_result
from contracts import conformance
from emulator.commands.common import EXAMPLES, PROG, fail, is_http_url, is_loopback

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# Sent to an emulator on this machine when no key is given: by default it takes any key.
PLACEHOLDER_KEY = "imagegen-emulator-cli"
# Arguments of generate() and edit() themselves, which --param must not shadow.
RESERVED_PARAMS = {"prompt": "--prompt", "model": "--model", "images": "--image"}
_UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class ExitCode(IntEnum):
    """generate's exit status: one per kind of failure."""

    OK = 0
    CANNOT_SAVE = 1  # the images came but could not be written
    USAGE = 2  # bad options, an unreadable --image, no key
    CONNECTION = 3  # no answer: the connection failed or dropped
    AUTHENTICATION = 4  # the key was refused (401, 403)
    VALIDATION = 5  # a parameter was refused (400)
    CREDITS = 6  # 402
    RATE_LIMITED = 7  # 429, still, after the client's retries
    MODERATION = 8  # the prompt or the image was refused
    TIMEOUT = 9  # the job did not finish within --timeout
    JOB_FAILED = 10  # the job failed for another reason
    SERVER_ERROR = 11  # 5xx, still, after the client's retries
    ANSWER_LOST = 12  # a paid submit may have succeeded, but its answer was lost
    NOT_FOUND = 13  # unknown model, expired job
    BAD_RESPONSE = 14  # an answer the client cannot use
    INTERRUPTED = 130  # Ctrl-C


# Each client error (clients/errors.py): its exit status and the words that start its line.
FAILURES: tuple[tuple[type[clients.ImageGenError], ExitCode, str], ...] = (
    (clients.ConfigurationError, ExitCode.USAGE, "configuration"),
    (clients.AuthenticationError, ExitCode.AUTHENTICATION, "key refused"),
    (clients.ValidationError, ExitCode.VALIDATION, "invalid request"),
    (clients.InsufficientCreditsError, ExitCode.CREDITS, "insufficient credits"),
    (clients.RateLimitedError, ExitCode.RATE_LIMITED, "rate limited"),
    (clients.ModerationError, ExitCode.MODERATION, "refused by moderation"),
    (clients.PollingTimeoutError, ExitCode.TIMEOUT, "timed out"),
    (clients.JobFailedError, ExitCode.JOB_FAILED, "job failed"),
    (clients.ServerError, ExitCode.SERVER_ERROR, "server error"),
    (clients.SubmitMayHaveSucceededError, ExitCode.ANSWER_LOST, "answer lost"),
    (clients.NotFoundError, ExitCode.NOT_FOUND, "not found"),
    (clients.NetworkError, ExitCode.CONNECTION, "no connection"),
    (clients.UnexpectedResponseError, ExitCode.BAD_RESPONSE, "unusable answer"),
    (clients.ContractViolationError, ExitCode.BAD_RESPONSE, "unusable answer"),
)


def add_parser(commands: argparse._SubParsersAction) -> None:
    exit_codes = ", ".join(
        f"{code.value} {code.name.lower().replace('_', ' ')}" for code in ExitCode
    )
    generate = commands.add_parser(
        "generate",
        help="make (or edit) images with a reference client and save them",
        description="Generate images with the provider's reference client (clients/), or edit\n"
        "the --image files, against the local emulator unless --base-url says otherwise.\n"
        "Shows progress on stderr while the job runs, saves the images into --out as\n"
        "<provider>-<job id>-<n>.<format> and prints each file's path, size, format and bytes.\n"
        "Key: --api-key, else the provider's environment variable, else, for an emulator\n"
        "on this machine, a placeholder key (the emulator takes any key unless configured).",
        epilog=EXAMPLES + '  imagegen-emulator generate --provider vibedream --prompt "a red fox"'
        " --out out/\n"
        '  imagegen-emulator generate --provider vibedream --prompt "a red fox"'
        " --param 'size=1024*768' --param output_format=webp --param seed=7 --out out/\n"
        '  imagegen-emulator generate --provider vibedream --prompt "make it blue"'
        " --image fox.png --param resolution=2k --out out/\n"
        '  imagegen-emulator generate --provider vertex --prompt "a red fox"'
        " --param aspect_ratio=16:9 --param image_size=2K --out out/\n"
        '  imagegen-emulator generate --provider vertex --prompt "a red fox" --stream'
        " --param 'thinkingConfig={\"includeThoughts\": true}' --out out/\n"
        '  imagegen-emulator generate --provider 3daistudio --prompt "a city at night"'
        " --param num_images=2 --param output_format=jpeg --out out/\n"
        "  VIBEDREAM_API_KEY=... imagegen-emulator generate --provider vibedream"
        ' --base-url https://api.vibedream.ai --prompt "a red fox" --out out/\n\n'
        "parameters (--param, values read as JSON when they can be, else as text):\n"
        "  vibedream   z-image-turbo (default): size, output_format, seed, strength, image;\n"
        "              nano-banana-pro-edit (default with --image): aspect_ratio, resolution,"
        " output_format;\n"
        "              --model flux-dev, seedream-v4.5, nano-banana-edit, image-upscaler, ...:"
        " the fields of\n"
        "              the model's example body (contracts/vibedream/request.MODEL.json)\n"
        "  vertex      aspect_ratio, image_size, any generationConfig field"
        ' (seed=7, imageConfig=\'{"outputMimeType": "image/jpeg"}\')\n'
        "  3daistudio  output_format, aspect_ratio, resolution, num_images\n\n"
        "keys: "
        + ", ".join(f"{provider} {env}" for provider, env in conformance.KEY_ENV.items())
        + "\n"
        + textwrap.fill(exit_codes, 88, initial_indent="exit status: ", subsequent_indent="  "),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    generate.add_argument("--provider", required=True, choices=conformance.PROVIDERS)
    generate.add_argument("--prompt", required=True, metavar="TEXT")
    generate.add_argument(
        "--image",
        action="append",
        default=[],
        metavar="FILE",
        help="an input image (PNG, JPEG, WebP, GIF): makes the call an edit; repeat for more",
    )
    generate.add_argument("--model", metavar="M", help="model (default: the client's)")
    generate.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a provider parameter, e.g. num_images=2 or aspect_ratio=16:9; repeat for more",
    )
    generate.add_argument(
        "--out", required=True, metavar="DIR", help="where to save the images (created)"
    )
    generate.add_argument(
        "--base-url",
        default=DEFAULT_BASE_URL,
        metavar="URL",
        help=f"the API (default {DEFAULT_BASE_URL}, the local emulator)",
    )
    generate.add_argument(
        "--api-key",
        metavar="KEY",
        help="API key (default: the provider's environment variable); never printed",
    )
    generate.add_argument(
        "--stream",
        action="store_true",
        help="vertex only: call streamGenerateContent and show each chunk as it arrives",
    )
    generate.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="seconds the whole call may take (default: the client's, 300 s or more)",
    )


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=value`` pairs; a value is JSON when it parses (``2``, ``true``, ``{...}``), else
    the text itself (``16:9``, ``1024*768``)."""
    params: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--param takes KEY=VALUE, got {pair!r}")
        if name in RESERVED_PARAMS:
            raise ValueError(f"--param {name}: use {RESERVED_PARAMS[name]}")
        try:
            params[name] = json.loads(text)
        except ValueError:
            params[name] = text
    return params


def read_image(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read --image {path}: {exc.strerror or exc}") from None
    try:
        Image.from_bytes(data)
    except NotAnImage:
        raise ValueError(f"--image {path} is not a PNG, JPEG, WebP or GIF image") from None
    return data


def shown_url(url: httpx.URL) -> str:
    """The base URL as printed: without user info or query, which may hold credentials."""
    return f"{url.scheme}://{url.netloc.decode('ascii')}{url.path.rstrip('/')}"


def refuses_connections(host: str, port: int) -> bool:
    """True when nothing listens there. Only asked of this machine, where a refusal is final:
    the client would retry it with back-off before giving up."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False  # something else: the client meets it and says what


def one_line(text: str, limit: int = 500) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def redact(text: str, key: str) -> str:
    """The clients never put a key in a message; this makes sure of it (a key too short to
    be a real one would only garble the message)."""
    return text.replace(key, "<key>") if len(key) >= 8 else text


def describe_failure(error: clients.ImageGenError) -> tuple[ExitCode, str]:
    """A client error as an exit status and the words of its one line."""
    code, word = ExitCode.BAD_RESPONSE, "failed"
    for kind, kind_code, kind_word in FAILURES:
        if isinstance(error, kind):
            code, word = kind_code, kind_word
            break
    message = one_line(error.message)
    if isinstance(error, clients.ValidationError) and error.field:
        message += f" (field: {error.field})"
    if isinstance(error, clients.RateLimitedError) and error.retry_after is not None:
        message += f" (retry after {error.retry_after:g} s)"
    return code, f"{word}: {message}"


class ProgressDisplay:
    """What a call is doing, on stderr. On a terminal: one line redrawn in place every TICK
    seconds, so the elapsed time moves during a long request too: a bar when the provider
    gives a percentage (3D AI Studio), else a block sweeping to and fro, then the provider's
    own status word and the seconds elapsed. Elsewhere (a pipe, a CI log): a line for each
    new status."""

    WIDTH = 24
    BLOCK = 6
    TICK = 0.1
    CLEAR_TO_END = "\x1b[K"

    def __init__(
        self,
        provider: str,
        stream: TextIO,
        *,
        interactive: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provider = provider
        self.stream = stream
        self.interactive = stream.isatty() if interactive is None else interactive
        self.clock = clock
        self.started = clock()
        self.status = ""
        self.percent: float | None = None
        self._printed: tuple[str, float | None] | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._ticker: threading.Thread | None = None

    def start(self, status: str) -> None:
        self.started, self.status = self.clock(), status
        self.show()
        if self.interactive:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()

    def update(self, progress: clients.Progress) -> None:
        """The clients' on_progress callback."""
        with self._lock:
            self.status, self.percent = progress.status, progress.progress
        self.show()

    def stop(self, done: bool) -> None:
        """``done``: the images came (a last full bar); else the line is cleared for the error
        that follows."""
        self._stopped.set()
        if self._ticker is not None:
            self._ticker.join()
        elapsed = self.clock() - self.started
        with self._lock:
            if self.interactive:
                finished = f"{self.line(100.0, 'done', elapsed)}\n" if done else ""
                self._write(f"\r{finished}{self.CLEAR_TO_END}")
            elif done:
                self._write(f"{self.provider}: done in {elapsed:.1f}s\n")

    def show(self) -> None:
        elapsed = self.clock() - self.started
        with self._lock:
            if self.interactive:
                line = self.line(self.percent, self.status, elapsed)
                self._write(f"\r{line}{self.CLEAR_TO_END}")
            elif self._printed != (self.status, self.percent):
                self._printed = (self.status, self.percent)
                percent = "" if self.percent is None else f" {self.percent:.0f}%"
                self._write(f"{self.provider}: {self.status}{percent} ({elapsed:.1f}s)\n")

    def line(self, percent: float | None, status: str, elapsed: float) -> str:
        if percent is None:
            travel = self.WIDTH - self.BLOCK
            step = int(elapsed / self.TICK) % (2 * travel)
            at = step if step <= travel else 2 * travel - step
            bar = " " * at + "=" * self.BLOCK + " " * (travel - at)
            shown = "    "
        else:
            filled = round(self.WIDTH * min(max(percent, 0.0), 100.0) / 100)
            bar = "#" * filled + "-" * (self.WIDTH - filled)
            shown = f"{percent:3.0f}%"
        return f"{self.provider} [{bar}] {shown} {status} {elapsed:.1f}s"

    def _tick(self) -> None:
        while not self._stopped.wait(self.TICK):
            self.show()

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def image_names(result: clients.GenerationResult) -> list[str]:
    """``<provider>-<job id>-<n>.<format>``, n from 1; the job id made safe as a file name."""
    job = _UNSAFE_IN_NAME.sub("_", result.job_id or "").strip("._")[:80]
    job = job or time.strftime("%Y%m%d-%H%M%S")
    return [
        f"{result.provider}-{job}-{n}.{image.format}"
        for n, image in enumerate(result.images, start=1)
    ]


def run(args: argparse.Namespace) -> int:
    """Checks everything it can before spending anything: options, input files, the key, the
    output folder, and (on this machine) that something listens."""
    provider = args.provider
    if not is_http_url(args.base_url):
        return fail("generate: --base-url must be http(s)://host[:port][/prefix]")
    url = httpx.URL(args.base_url)
    if args.stream and provider != "vertex":
        return fail("generate: --stream is for --provider vertex (streamGenerateContent)")
    if args.timeout is not None and not (math.isfinite(args.timeout) and args.timeout > 0):
        return fail("generate: --timeout must be a number of seconds > 0")
    try:
        params = parse_params(args.param)
        images = [read_image(path) for path in args.image]
    except ValueError as exc:
        return fail(f"generate: {exc}")
    key_env = conformance.KEY_ENV[provider]
    key = args.api_key or os.environ.get(key_env)
    if not key and not is_loopback(url.host):
        return fail(f"generate: no API key: give --api-key or set {key_env}")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return fail(f"generate: cannot create --out {out}: {exc.strerror or exc}")
    where = shown_url(url)
    port = url.port or (443 if url.scheme == "https" else 80)
    if is_loopback(url.host) and refuses_connections(url.host, port):
        return fail(
            f"generate: no connection: nothing listens at {where} (start the emulator:"
            f" {PROG} serve)",
            ExitCode.CONNECTION,
        )
    action = "edit" if images else "generate"
    print(f"{provider}: {action} at {where}", file=sys.stderr, flush=True)
    result = run_client(args, key or PLACEHOLDER_KEY, params, images)
    if isinstance(result, tuple):
        code, line = result
        if code == ExitCode.CONNECTION:
            line += f" (base URL {where})"
        if code == ExitCode.AUTHENTICATION and not key:
            line += f"; no key was given: give --api-key or set {key_env}"
        return fail(f"generate: {redact(line, key or PLACEHOLDER_KEY)}", code)
    if not result.images:
        return fail(f"generate: {provider} answered without an image", ExitCode.BAD_RESPONSE)
    try:
        lines = save_images(result, out)
    except OSError as exc:
        return fail(
            f"generate: cannot save into {out}: {exc.strerror or exc}", ExitCode.CANNOT_SAVE
        )
    print("\n".join(lines), flush=True)
    return ExitCode.OK


def run_client(
    args: argparse.Namespace, key: str, params: dict[str, Any], images: list[bytes]
) -> clients.GenerationResult | tuple[ExitCode, str]:
    """The reference client's generate() or edit(), with the progress display; a failure as
    its exit status and line."""
    client_class = clients.SYNC_CLIENTS[args.provider]
    options: dict[str, Any] = {}
    if args.timeout is not None:
        # The client's own polling for this provider, with the overall limit changed.
        polling = client_class.default_polling()
        options["polling"] = dataclasses.replace(polling, timeout=args.timeout)
        options["timeout"] = httpx.Timeout(args.timeout, connect=min(10.0, args.timeout))
    display = ProgressDisplay(args.provider, sys.stderr)
    try:
        with client_class(key, base_url=args.base_url, **options) as client:
            display.start("generating" if args.provider == "vertex" else "submitting")
            call = {"model": args.model, "on_progress": display.update, **params}
            if args.stream:
                result = stream_chunks(client, args, images, params, display)
            elif images:
                result = client.edit(args.prompt, images, **call)
            else:
                result = client.generate(args.prompt, **call)
    except clients.ImageGenError as exc:
        display.stop(done=False)
        return describe_failure(exc)
    except ValueError as exc:  # an argument the client refuses before sending anything
        display.stop(done=False)
        return ExitCode.USAGE, one_line(str(exc))
    except KeyboardInterrupt:
        display.stop(done=False)
        return ExitCode.INTERRUPTED, "interrupted (a submitted job may still run)"
    display.stop(done=True)
    return result


def stream_chunks(
    client: clients.VertexClient,
    args: argparse.Namespace,
    images: list[bytes],
    params: dict[str, Any],
    display: ProgressDisplay,
) -> clients.GenerationResult:
    """streamGenerateContent, one stderr line per chunk as it arrives."""
    model = args.model or DEFAULT_VERTEX_MODEL
    started = time.monotonic()
    chunks = []
    for chunk in client.stream(args.prompt, images, model=model, **params):
        chunks.append(chunk)
        status = f"chunk {len(chunks)}: {describe_chunk(chunk)}"
        display.update(clients.Progress(status, None, time.monotonic() - started))
    return stream_result(model, chunks)


def describe_chunk(chunk: dict[str, Any]) -> str:
    """What a chunk holds, in a few words: its parts, its finish or block reason."""
    words = []
    for candidate in chunk.get("candidates") or []:
        for part in (candidate.get("content") or {}).get("parts") or []:
            kind = "thought " if part.get("thought") else ""
            if "text" in part:
                words.append(f"{kind}text {one_line(part['text'], 60)!r}")
            elif "inlineData" in part:
                size = len(part["inlineData"].get("data", "")) * 3 // 4
                words.append(f"{kind}image {part['inlineData'].get('mimeType')} ~{size} bytes")
        if candidate.get("finishReason"):
            words.append(f"finishReason {candidate['finishReason']}")
    if (chunk.get("promptFeedback") or {}).get("blockReason"):
        words.append(f"blocked {chunk['promptFeedback']['blockReason']}")
    return ", ".join(words) or "no parts"


def save_images(result: clients.GenerationResult, out: Path) -> list[str]:
    """Writes the images into ``out``; a line for each: path, size, format, bytes."""
    lines = []
    for name, image in zip(image_names(result), result.images, strict=True):
        path = out / name
        path.write_bytes(image.data)
        lines.append(
            f"{path}  {image.width}x{image.height}  {image.format}  {len(image.data)} bytes"
        )
    return lines
