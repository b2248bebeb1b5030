"""vibedream (seeds 000 and 003): submit to a model, poll the prediction, download its outputs.

``generate`` defaults to ``z-image-turbo`` and ``edit`` to ``nano-banana-pro-edit``; any other
model on the same protocol works with ``model=`` (``flux-dev``, ``seedream-v4.5``,
``nano-banana-edit``...). The model's documented parameters go through as keyword arguments,
unchanged: ``size="1024*768"``, ``output_format="webp"``, ``seed=7``, ``aspect_ratio="16:9"``,
``resolution="2k"``...
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from clients.errors import ErrorDetails, JobFailedError, ModerationError
from clients.images import ImageInput, as_list, data_uri
from clients.policy import PollPolicy
from clients.protocol import Flow, JobState, ProviderProtocol, poll_job, require, require_list
from clients.results import GenerationResult, ProgressCallback
from clients.runners import AsyncShell, SyncShell
from clients.settings import ProviderSettings

PROVIDER = "vibedream"
GENERATE_MODEL = "z-image-turbo"
EDIT_MODEL = "nano-banana-pro-edit"
# The documented failure: "Your request was flagged by content moderation. ..."
_MODERATED = re.compile(r"moderation", re.IGNORECASE)
_DONE = ("completed", "failed")
# The models whose page takes one input image as `image` (a string) rather than `images`.
SINGLE_IMAGE_MODELS = frozenset({"z-image-turbo", "flux-dev", "image-upscaler"})


class VibedreamProtocol(ProviderProtocol):
    settings = ProviderSettings(
        PROVIDER, api_key_env="VIBEDREAM_API_KEY", default_base_url="https://api.vibedream.ai"
    )
    generate_model = GENERATE_MODEL
    edit_model = EDIT_MODEL
    # The provider asks for a poll every 1-2 s.
    default_polling = PollPolicy(interval=1.0, backoff=1.25, max_interval=2.0, timeout=300.0)

    @staticmethod
    def describe_error(body: Any) -> ErrorDetails:
        """``{"error": "<message>", "code": "<code>", "field": "<parameter>"?}``."""
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            return ErrorDetails.read(body["error"], body.get("code"), body.get("field"))
        return ErrorDetails.unreadable(body)

    def generate(
        self,
        prompt: str,
        *,
        model: str,
        params: dict[str, Any],
        on_progress: ProgressCallback | None,
    ) -> Flow[GenerationResult]:
        return self._predict(model, {"prompt": prompt, **params}, on_progress)

    def edit(
        self,
        prompt: str,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str,
        params: dict[str, Any],
        on_progress: ProgressCallback | None,
    ) -> Flow[GenerationResult]:
        urls = [data_uri(image) for image in as_list(images)]
        if model in SINGLE_IMAGE_MODELS:
            if len(urls) != 1:
                raise ValueError(f"{model} takes one input image (image), got {len(urls)}")
            return self._predict(model, {"prompt": prompt, "image": urls[0], **params}, on_progress)
        return self._predict(model, {"prompt": prompt, "images": urls, **params}, on_progress)

    def _predict(
        self, model: str, body: dict[str, Any], on_progress: ProgressCallback | None
    ) -> Flow[GenerationResult]:
        started = self.clock()
        wire = self.wire
        submit = wire.api("POST", f"/api/v1/models/{quote(model, safe='')}/generate", body)
        _, submitted = yield from wire.exchange(submit, operation="submitPrediction", paid=True)
        prediction_id = str(require(PROVIDER, submitted, "id"))
        # Polled on the API's own host, the only one the key is sent to (statusUrl names the
        # same path).
        status_path = f"/api/v1/predictions/{quote(prediction_id, safe='')}"
        final = yield from poll_job(
            wire,
            status_request=lambda: wire.api("GET", status_path),
            operation="getPrediction",
            read_state=_state,
            job_id=prediction_id,
            polling=self.polling,
            clock=self.clock,
            started=started,
            on_progress=on_progress,
        )
        if final.get("status") == "failed":
            raise _failure(prediction_id, final)
        images = []
        for url in require_list(PROVIDER, final, "outputs"):
            images.append((yield from wire.download(url)))
        return GenerationResult(PROVIDER, model, tuple(images), (submitted, final), prediction_id)


def _state(body: Any) -> JobState:
    status = str(require(PROVIDER, body, "status"))
    # Unknown words are taken as "still running", so a new interim status does not break us.
    return JobState(status, None, status in _DONE)


def _failure(prediction_id: str, body: dict[str, Any]) -> Exception:
    reason = str(body.get("error") or "no reason given")
    message = f"{PROVIDER}: prediction {prediction_id} failed: {reason}"
    if _MODERATED.search(reason):
        return ModerationError(message, provider=PROVIDER, status=200, body=body)
    return JobFailedError(message, provider=PROVIDER, status=200, body=body)


class VibedreamClient(SyncShell[VibedreamProtocol]):
    """vibedream, synchronous (constructor: see runners._Shell). The key defaults to
    ``VIBEDREAM_API_KEY``; the base URL to the http client's, else https://api.vibedream.ai."""

    _protocol_class = VibedreamProtocol


class AsyncVibedreamClient(AsyncShell[VibedreamProtocol]):
    """vibedream, asynchronous: as VibedreamClient, with ``await``."""

    _protocol_class = VibedreamProtocol
