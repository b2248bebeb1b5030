"""Recordings of real traffic (issue 18): HAR 1.2 files with the emulator's data under
``_imagegen``, sanitised before they are written (no credentials, images as descriptors,
repeated polls collapsed).

- ``har``: the format, building an entry, writing a file atomically, reading files back.
- ``sanitise``: the policy (allow-listed headers, secrets, image descriptors, poll identity).
- ``session``: one session's entries, masked with every secret seen, written as one file.
- ``writer``: a session sanitised and rewritten in a background thread as exchanges come in.
- ``proxy``: the recording proxy (``imagegen-emulator record``), an ASGI app forwarding to the
  real APIs; ``downloads``: the output URLs it rewrites with ``--record-downloads``.
"""

from emulator.recording.har import (
    Collapsed,
    Entry,
    RecordingError,
    Timings,
    build_entry,
    read_har,
    read_recordings,
    write_har,
)
from emulator.recording.session import Session, collapse_polls

__all__ = [
    "Collapsed",
    "Entry",
    "RecordingError",
    "Session",
    "Timings",
    "build_entry",
    "collapse_polls",
    "read_har",
    "read_recordings",
    "write_har",
]
