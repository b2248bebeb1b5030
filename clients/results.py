"""What generate() and edit() return, and what a progress callback receives: the same shape for
every provider."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from clients.images import Image


@dataclass(frozen=True)
class GenerationResult:
    """The images of one call, plus the provider's raw answers in the order they came:
    vibedream (submit, final prediction); 3D AI Studio (submit, final status); vertex
    (the generateContent response). ``job_id`` is the prediction id, task id or responseId."""

    provider: str
    model: str
    images: tuple[Image, ...]
    # Not in repr: vertex's answer holds the images as base64.
    responses: tuple[Any, ...] = field(repr=False)
    job_id: str | None = None

    @property
    def image(self) -> Image:
        """The first image (most calls make exactly one)."""
        if not self.images:
            raise IndexError("the answer holds no image")
        return self.images[0]

    @property
    def response(self) -> Any:
        """The provider's last answer: the final job status, or vertex's response."""
        return self.responses[-1]


@dataclass(frozen=True)
class Progress:
    """One progress report: the provider's own status word (``processing``, ``IN_PROGRESS``...),
    its progress figure when it gives one (3D AI Studio: 0-100), seconds since the call began."""

    status: str
    progress: float | None
    elapsed: float


ProgressCallback = Callable[[Progress], object]
