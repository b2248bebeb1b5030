"""Who this worker process is: its number among `serve --workers N` (its generators fork by
it) and its name, as the journal shows it: which of several workers (and hosts) sharing one
store answered a request."""

from __future__ import annotations

import os
import socket

WORKER_NAME_ENV = "IMAGEGEN_EMULATOR_WORKER_NAME"
WORKER_ENV = "IMAGEGEN_EMULATOR_WORKER"  # set by `serve --workers N` in each worker

_named: tuple[int, str] | None = None  # (pid, name): a forked child computes its own


def worker_name() -> str:
    """IMAGEGEN_EMULATOR_WORKER_NAME if set, else "<host>:<pid>". Computed on first use in each
    process (not at import): a worker forked after the import must not keep its parent's pid."""
    global _named
    pid = os.getpid()
    if _named is None or _named[0] != pid:
        _named = (pid, os.environ.get(WORKER_NAME_ENV) or f"{socket.gethostname()}:{pid}")
    return _named[1]


def worker_index() -> int:
    """This worker's number among `serve --workers N` (0 for a single process)."""
    try:
        return max(0, int(os.environ.get(WORKER_ENV, "0")))
    except ValueError:
        return 0
