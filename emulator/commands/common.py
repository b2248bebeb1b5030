"""What every command of the command line shares: its name, one-line failures, loopback."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from typing import NoReturn

import httpx

PROG = "imagegen-emulator"
ADMIN_TOKEN_ENV = "IMAGEGEN_EMULATOR_ADMIN_TOKEN"
EXAMPLES = "examples:\n"


class Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line (and exit status 2) instead of the usage
    block followed by the message."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def fail(message: str, code: int = 2) -> int:
    """One line on stderr; ``code`` is the exit status (2: a usage error)."""
    print(f"{PROG}: error: {message}", file=sys.stderr, flush=True)
    return code


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_http_url(text: str) -> bool:
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, ValueError):
        return False
    return url.scheme in ("http", "https") and bool(url.host)
