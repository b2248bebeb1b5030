"""Replay (issue 18): answer requests from recordings of real traffic.

``imagegen-emulator serve --replay recordings/ [--replay-strict]``, the config's ``[replay]``
table, or ``@pytest.mark.imagegen(replay="recordings/", replay_strict=False)``. Recordings are
HAR files read by emulator.recording (a folder of ``*.har`` files, or one file).

- **What matches** (matcher.py): method, operation (and its path parameters other than job
  ids, e.g. the model), query (without credentials) and the request body with its images
  compared by sha256 and volatile fields ignored; ``[replay] match`` and ``ignore`` change it.
- **Order**: several recorded exchanges with one key are answered in recorded order, the last
  one repeating (as VCR.py's playback); a recorded 429 then 200 replays as 429 then 200.
  ``POST /_emulator/reset`` starts every sequence over.
- **Answers** (player.py): the recorded status, the headers that matter (content-type,
  Retry-After, rate-limit headers) and body, with job ids fresh, the job's URLs and its output
  URLs on the emulator (tables.py), image descriptors rendered as real images of the recorded
  size and format (pictures.py), polls following the recorded timeline on the emulator's clock
  (timeline.py), and a recorded stream sent chunk by chunk at its recorded pace (the first
  chunk at the recorded time to first byte, the last at the recorded end; at once on the
  virtual clock). Unary answers are not held for their recorded time. Credentials are not
  checked: the recorded answer is the answer.
- **Unmatched**: emulated as usual; with strict replay refused with 404 in the provider's own
  error shape (NOT_FOUND on Google's paths), saying no recording matched. The admin API, asset
  downloads and paths that are no provider operation are never refused.
"""

from emulator.replay.player import Player

__all__ = ["Player"]
