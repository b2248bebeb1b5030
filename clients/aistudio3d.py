"""3D AI Studio (seed 002): submit a generate or edit task, poll its status, download results.

``model`` is the path segment of the image model: ``gemini/3/pro`` (the default) gives
``/v1/images/gemini/3/pro/generate/``; the provider's other image models use the same
protocol: ``gemini/3.1/flash``, ``gemini/2.5/flash``, ``seedream/v5/lite``. Documented
parameters go through as keyword arguments: ``output_format``, ``aspect_ratio``,
``resolution``, ``num_images`` (Seedream: ``image_size``, ``seed``, ``enable_safety_checker``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from clients.errors import (
    ErrorDetails,
    JobFailedError,
    ModerationError,
    UnexpectedResponseError,
)
from clients.images import ImageInput, as_list, data_uri
from clients.policy import PollPolicy
from clients.protocol import Flow, JobState, ProviderProtocol, poll_job, require, require_list
from clients.results import GenerationResult, ProgressCallback
from clients.runners import AsyncShell, SyncShell
from clients.settings import ProviderSettings

PROVIDER = "3daistudio"
DEFAULT_MODEL = "gemini/3/pro"
# The provider documents no wording for a moderated task; these are the words it would use.
_MODERATED = re.compile(r"moderat|flagged|nsfw", re.IGNORECASE)
_DONE = ("FINISHED", "FAILED")


class AIStudio3DProtocol(ProviderProtocol):
    settings = ProviderSettings(
        PROVIDER, api_key_env="THREEDAI_API_KEY", default_base_url="https://api.3daistudio.com"
    )
    generate_model = DEFAULT_MODEL
    edit_model = DEFAULT_MODEL
    # 40-90 s an image, up to 4 images: poll gently, give up after 15 minutes.
    default_polling = PollPolicy(interval=2.0, backoff=1.5, max_interval=10.0, timeout=900.0)

    @staticmethod
    def describe_error(body: Any) -> ErrorDetails:
        """``{"error": {"code", "message", "field"?}}``."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            return ErrorDetails.unreadable(body)
        return ErrorDetails.read(error["message"], error.get("code"), error.get("field"))

    def generate(
        self,
        prompt: str,
        *,
        model: str,
        params: dict[str, Any],
        on_progress: ProgressCallback | None,
    ) -> Flow[GenerationResult]:
        body = {"prompt": prompt, **params}
        return self._task(model, "generate", "generateImage", body, on_progress)

    def edit(
        self,
        prompt: str,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str,
        params: dict[str, Any],
        on_progress: ProgressCallback | None,
    ) -> Flow[GenerationResult]:
        uris = [data_uri(image) for image in as_list(images)]
        body = {"prompt": prompt, "images": uris, **params}
        return self._task(model, "edit", "editImage", body, on_progress)

    def balance(self) -> Flow[Decimal]:
        """The key's credit balance (``GET /account/user/wallet/``)."""
        request = self.wire.api("GET", "/account/user/wallet/")
        _, body = yield from self.wire.exchange(request, operation="getWallet")
        try:
            return Decimal(str(require(PROVIDER, body, "balance")))
        except InvalidOperation:
            raise UnexpectedResponseError(
                f"{PROVIDER}: the balance is not a number",
                provider=PROVIDER,
                status=200,
                body=body,
            ) from None

    def _task(
        self,
        model: str,
        action: str,
        operation: str,
        body: dict[str, Any],
        on_progress: ProgressCallback | None,
    ) -> Flow[GenerationResult]:
        started = self.clock()
        wire = self.wire
        submit = wire.api("POST", f"/v1/images/{_model_path(model)}/{action}/", body)
        _, submitted = yield from wire.exchange(submit, operation=operation, paid=True)
        task_id = str(require(PROVIDER, submitted, "task_id"))
        status_path = f"/v1/generation-request/{quote(task_id, safe='')}/status/"
        final = yield from poll_job(
            wire,
            status_request=lambda: wire.api("GET", status_path),
            operation="getTaskStatus",
            read_state=_state,
            job_id=task_id,
            polling=self.polling,
            clock=self.clock,
            started=started,
            on_progress=on_progress,
        )
        if final["status"] == "FAILED":
            raise _failure(task_id, final)
        images = []
        for result in require_list(PROVIDER, final, "results"):
            url = (
                result.get("asset_url") or result.get("asset") if isinstance(result, dict) else None
            )
            if not url:
                raise UnexpectedResponseError(
                    f"{PROVIDER}: a result has no asset_url",
                    provider=PROVIDER,
                    status=200,
                    body=final,
                )
            images.append((yield from wire.download(url)))
        return GenerationResult(PROVIDER, model, tuple(images), (submitted, final), task_id)


def _model_path(model: str) -> str:
    segments = model.strip("/").split("/")
    if any(segment in ("", ".", "..") for segment in segments):
        raise ValueError(f"model must be a path like {DEFAULT_MODEL!r}, got {model!r}")
    return "/".join(quote(segment, safe="") for segment in segments)


def _state(body: Any) -> JobState:
    status = str(require(PROVIDER, body, "status"))
    progress = body.get("progress")
    number = float(progress) if isinstance(progress, int | float) else None
    return JobState(status, number, status in _DONE)


def _failure(task_id: str, body: dict[str, Any]) -> Exception:
    reason = str(body.get("failure_reason") or "no reason given")
    message = f"{PROVIDER}: task {task_id} failed: {reason}"
    if _MODERATED.search(reason):
        return ModerationError(message, provider=PROVIDER, status=200, body=body)
    return JobFailedError(message, provider=PROVIDER, status=200, body=body)


class AIStudio3DClient(SyncShell[AIStudio3DProtocol]):
    """3D AI Studio, synchronous (constructor: see runners._Shell). The key defaults to
    ``THREEDAI_API_KEY``; the base URL to the http client's, else https://api.3daistudio.com."""

    _protocol_class = AIStudio3DProtocol

    def balance(self) -> Decimal:
        """The wallet's balance (``GET /account/user/wallet/``)."""
        return self._run(self._protocol.balance())


class AsyncAIStudio3DClient(AsyncShell[AIStudio3DProtocol]):
    """3D AI Studio, asynchronous: as AIStudio3DClient, with ``await``."""

    _protocol_class = AIStudio3DProtocol

    async def balance(self) -> Decimal:
        return await self._run(self._protocol.balance())
