"""`imagegen-emulator calibrate RECORDINGS`: a profile fitted to recorded traffic, as a TOML
config file (emulator/recording/calibration.py fits, emulator/recording/profile_file.py
writes)."""

from __future__ import annotations

import argparse
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from emulator.commands.common import fail
from emulator.config import Config, ConfigError, builtin_profiles
from emulator.recording.atomic import write_atomically
from emulator.recording.calibration import MIN_JOBS, MIN_REQUESTS, MIN_SAMPLES, calibrate
from emulator.recording.har import RecordingError, read_recordings
from emulator.recording.profile_file import render_profile

DEFAULT_NAME = "recorded"
DEFAULT_BASE = "realistic"
STDOUT = "-"


def add_parser(commands: argparse._SubParsersAction) -> None:
    command = commands.add_parser(
        "calibrate",
        help="fit a profile to recorded traffic (HAR files)",
        description="Fit a profile to the recordings (a folder of *.har files, or one file):\n"
        "job durations and latencies per provider and model, error, timeout and 429 rates\n"
        "(with Retry-After) and moderation rates, and write it as a config file holding\n"
        "[profiles.NAME] (extending --base) and profile = NAME. A figure with too few\n"
        f"samples ({MIN_SAMPLES}; a fault rate {MIN_REQUESTS} requests, a moderation rate"
        f" {MIN_JOBS} jobs)\n"
        "keeps the base profile's value, and its comment says so. Exit status 2 when the\n"
        "recordings are missing, corrupt, not HAR, or hold no exchange of a known provider.",
        epilog="examples:\n"
        "  imagegen-emulator calibrate recordings/ --out recorded.toml\n"
        "  imagegen-emulator serve --config recorded.toml     # profile recorded\n"
        "  imagegen-emulator calibrate session.har --profile-name staging --base chaos",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    command.add_argument("recordings", metavar="RECORDINGS", help="a folder of *.har, or a file")
    command.add_argument(
        "--out",
        metavar="FILE",
        default=STDOUT,
        help="the config file to write, atomically (default: print it to stdout)",
    )
    command.add_argument(
        "--profile-name",
        metavar="NAME",
        default=DEFAULT_NAME,
        help=f"the fitted profile's name (default {DEFAULT_NAME})",
    )
    command.add_argument(
        "--base",
        metavar="PROFILE",
        default=DEFAULT_BASE,
        help="the built-in profile the fitted one extends, whose values stay where the"
        f" recordings say too little (default {DEFAULT_BASE})",
    )


def run(args: argparse.Namespace) -> int:
    builtin = sorted(builtin_profiles())
    name = str(args.profile_name).strip()
    if not name or name in builtin:
        return fail(
            f"calibrate: --profile-name must be a new name, not one of {', '.join(builtin)}"
        )
    if args.base not in builtin:
        return fail(f"calibrate: --base must be one of {', '.join(builtin)}, got {args.base!r}")
    out = None if args.out == STDOUT else Path(args.out)
    if out is not None and not out.parent.is_dir():
        return fail(f"calibrate: {out.parent}: no such folder for --out")
    try:
        entries = read_recordings(args.recordings)
    except RecordingError as exc:
        return fail(f"calibrate: {exc}")
    calibration = calibrate(entries, args.base)
    if not calibration.providers:
        return fail(
            f"calibrate: {args.recordings}: no recorded exchange of a known provider"
            f" ({len(entries)} entries)"
        )
    text = render_profile(
        calibration,
        name,
        fitted_at=datetime.now(UTC).replace(microsecond=0),
        sources=args.recordings,
    )
    try:  # the file must load as the emulator's own config before it is written
        Config.from_mapping(tomllib.loads(text), name)
    except (ConfigError, tomllib.TOMLDecodeError) as exc:
        return fail(f"calibrate: the fitted profile does not load: {exc}", 1)
    if out is None:
        sys.stdout.write(text)
        return 0
    try:
        write_atomically(out, text)
    except OSError as exc:
        return fail(f"calibrate: cannot write {out}: {exc.strerror or exc}")
    print(
        f"calibrate: wrote profile {name!r} fitted to {calibration.entries} entries"
        f" ({', '.join(calibration.providers)}) to {out}",
        file=sys.stderr,
    )
    return 0
