"""Command line: `imagegen-emulator serve` (also `python -m emulator serve`) runs the emulator;
`imagegen-emulator generate` runs a reference client against it (or a real API) and saves the
images; `imagegen-emulator contract-check` runs the contract probes against any base URL;
`imagegen-emulator record` records real traffic through a proxy. Each
command is a module of emulator/commands/.

Every failure is one line on stderr and an exit status, never a traceback, and an API key is
never printed."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from types import ModuleType

from emulator.commands import calibrate, contract_check, generate, record, serve
from emulator.commands.common import EXAMPLES, PROG, Parser, fail
from emulator.commands.generate import ExitCode

# Each command's name and its module (add_parser, run), in the order --help lists them.
COMMANDS: dict[str, ModuleType] = {
    "serve": serve,
    "generate": generate,
    "contract-check": contract_check,
    "calibrate": calibrate,
    "record": record,
}


def build_parser() -> Parser:
    parser = Parser(
        prog=PROG,
        description="Offline emulator of commercial image-generation APIs.",
        epilog=EXAMPLES + "  imagegen-emulator serve --seed 42\n"
        '  imagegen-emulator generate --provider vibedream --prompt "a red fox" --out out/\n'
        "  imagegen-emulator contract-check --provider vibedream"
        " --base-url http://127.0.0.1:8000 --api-key any\n\n"
        "Run `imagegen-emulator COMMAND --help` for a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS.values():
        command.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(COMMANDS[args.command].run(args))
    except KeyboardInterrupt:
        return fail("interrupted", ExitCode.INTERRUPTED)
