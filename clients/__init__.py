"""Thin reference clients for the emulated providers, sync and async, over httpx.

One shape for every provider: ``generate(prompt, ...)`` and ``edit(prompt, images, ...)``
return a GenerationResult (images as bytes with format and size, plus the raw answers), and
every failure is an ImageGenError subclass (clients.errors). The protocols are written once
as sans-IO generators (clients.protocol) driven by a sync and an async runner
(clients.runners), so the sync and async classes are thin shells over the same code.

    from clients import VibedreamClient
    with VibedreamClient() as client:                 # VIBEDREAM_API_KEY from the environment
        result = client.generate("a red fox", size="1024*768", output_format="png")
        result.image.size                             # (1024, 768)
"""

from clients.aistudio3d import AIStudio3DClient, AsyncAIStudio3DClient
from clients.emulator_clock import AsyncEmulatorClock, EmulatorClock
from clients.errors import (
    AuthenticationError,
    ConfigurationError,
    ContractViolationError,
    ImageGenError,
    InsufficientCreditsError,
    JobFailedError,
    ModerationError,
    NetworkError,
    NotFoundError,
    PollingTimeoutError,
    RateLimitedError,
    ServerError,
    SubmitMayHaveSucceededError,
    UnexpectedResponseError,
    ValidationError,
)
from clients.images import Image
from clients.policy import PollPolicy, RetryPolicy
from clients.results import GenerationResult, Progress
from clients.runners import AsyncShell, SyncShell
from clients.vertex import AsyncVertexClient, VertexClient
from clients.vibedream import AsyncVibedreamClient, VibedreamClient

# The clients by provider id (the ids the emulator's config, CLI and journal use).
SYNC_CLIENTS: dict[str, type[SyncShell]] = {
    "vibedream": VibedreamClient,
    "vertex": VertexClient,
    "3daistudio": AIStudio3DClient,
}
ASYNC_CLIENTS: dict[str, type[AsyncShell]] = {
    "vibedream": AsyncVibedreamClient,
    "vertex": AsyncVertexClient,
    "3daistudio": AsyncAIStudio3DClient,
}

__all__ = [
    "ASYNC_CLIENTS",
    "SYNC_CLIENTS",
    "AIStudio3DClient",
    "AsyncAIStudio3DClient",
    "AsyncEmulatorClock",
    "AsyncVertexClient",
    "AsyncVibedreamClient",
    "AuthenticationError",
    "ConfigurationError",
    "ContractViolationError",
    "EmulatorClock",
    "GenerationResult",
    "Image",
    "ImageGenError",
    "InsufficientCreditsError",
    "JobFailedError",
    "ModerationError",
    "NetworkError",
    "NotFoundError",
    "PollPolicy",
    "PollingTimeoutError",
    "Progress",
    "RateLimitedError",
    "RetryPolicy",
    "ServerError",
    "SubmitMayHaveSucceededError",
    "UnexpectedResponseError",
    "ValidationError",
    "VertexClient",
    "VibedreamClient",
]
