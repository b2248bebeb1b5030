"""The Vertex-AI-compatible gateway (seed 001): one synchronous generateContent call; the
images come back inline as base64, and edit() sends its input images inline too.

The path is the gateway's, ``/api/v1/publishers/googleVertexAI/models/{model}:generateContent``
under ``VERTEX_GATEWAY_BASE_URL``. ``aspect_ratio`` and ``image_size`` fill
``generationConfig.imageConfig``; any other keyword goes into ``generationConfig`` as given
(``seed=7``, ``maxOutputTokens=4096``, ``imageConfig={"outputMimeType": "image/jpeg"}``).
A generateContent call is paid: it is never re-sent once it may have reached the gateway.
"""

from __future__ import annotations

import binascii
import dataclasses
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import httpx
from httpx_sse import EventSource

from clients.errors import ErrorDetails, ModerationError, UnexpectedResponseError
from clients.images import Image, ImageInput, NotAnImage, as_list, decode_base64, inline
from clients.protocol import Flow, ProviderProtocol
from clients.results import GenerationResult, Progress, ProgressCallback
from clients.runners import AsyncShell, SyncShell
from clients.settings import ProviderSettings
from contracts.streams import joined

PROVIDER = "vertex"
DEFAULT_MODEL = "gemini-3-pro-image"
OPERATION = "generateContentGateway"
STREAM_OPERATION = "streamGenerateContentGateway"
# The seed's example: room for a 4K image (2000 tokens) and the model's thoughts.
DEFAULT_MAX_OUTPUT_TOKENS = 8192
# A candidate that ends so, without an image part, had its image withheld by safety filters.
WITHHELD = frozenset(
    {
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_OTHER",
        "NO_IMAGE",
        "SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
    }
)
_DATA_URI = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+);base64,(?P<data>.*)$", re.DOTALL)
# Where a gateway message names the parameter: "generationConfig.imageConfig.imageSize: ..."
# or "contents[0].parts[1].inlineData.data is not ..."; Google's own words: "... at 'x.y' ...".
_FIELD_FIRST = re.compile(
    r"^(?:\$\.)?(?P<field>[A-Za-z_]\w*(?:\[\d+\]|\.[A-Za-z_]\w*)*)(?P<colon>:)?"
)
_FIELD_QUOTED = re.compile(r"\bat '(?P<field>[^']+)'")
_RPC = "type.googleapis.com/google.rpc."
# A google.protobuf.Duration in JSON: "26s", "38.804097346s".
_DURATION = re.compile(r"^(?P<seconds>\d+(?:\.\d{1,9})?)s$")


def _typed_details(details: object) -> dict[str, dict[str, Any]]:
    """A Google error's `details`, by @type (the first of each type)."""
    typed: dict[str, dict[str, Any]] = {}
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and isinstance(detail.get("@type"), str):
            typed.setdefault(detail["@type"], detail)
    return typed


def _duration_seconds(value: object) -> float | None:
    matched = _DURATION.match(value) if isinstance(value, str) else None
    return float(matched["seconds"]) if matched else None


class VertexProtocol(ProviderProtocol):
    generate_model = DEFAULT_MODEL
    edit_model = DEFAULT_MODEL
    settings = ProviderSettings(
        PROVIDER,
        api_key_env="VERTEX_GATEWAY_API_KEY",
        base_url_env="VERTEX_GATEWAY_BASE_URL",
    )

    @staticmethod
    def describe_error(body: Any) -> ErrorDetails:
        """Gateway: ``{"error": {"message", "type", "code"}}``; Google: ``{"error": {"code":
        <status>, "message", "status"}}``. The field is read from the message."""
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            return ErrorDetails.unreadable(body)
        message = error["message"]
        # The gateway's code is text; Google's is the HTTP status, its name in `status`.
        code = error.get("code") if isinstance(error.get("code"), str) else error.get("status")
        typed = _typed_details(error.get("details"))
        retry = typed.get(f"{_RPC}RetryInfo", {}).get("retryDelay")
        return ErrorDetails.read(
            message,
            code,
            _field_in(message),
            retry_delay=_duration_seconds(retry),
            reason=typed.get(f"{_RPC}ErrorInfo", {}).get("reason"),
        )

    def generate(
        self,
        prompt: str,
        images: Sequence[ImageInput] = (),
        *,
        model: str,
        params: dict[str, Any],
        on_progress: ProgressCallback | None,
    ) -> Flow[GenerationResult]:
        """Text to image, or an edit when ``images`` are given (sent inline). ``params``:
        ``aspect_ratio`` and ``image_size`` fill ``generationConfig.imageConfig``; any other
        key goes into ``generationConfig`` as given (``seed=7``, ``maxOutputTokens=4096``)."""
        started = self.clock()
        body = _request_body(prompt, images, params)
        path = f"{_model_path(model)}:generateContent"
        request = self.wire.api("POST", path, body)
        _, answer = yield from self.wire.exchange(request, operation=OPERATION, paid=True)
        with _unreadable(answer):
            outcome = _outcome(answer)
        if on_progress is not None:
            on_progress(Progress(outcome, None, self.clock() - started))
        with _unreadable(answer):
            return _result(model, answer)

    def edit(
        self,
        prompt: str,
        images: ImageInput | Sequence[ImageInput],
        *,
        model: str,
        params: dict[str, Any],
        on_progress: ProgressCallback | None,
    ) -> Flow[GenerationResult]:
        return self.generate(
            prompt, as_list(images), model=model, params=params, on_progress=on_progress
        )

    # ---------------------------------------------------------------- streaming

    def stream_request(
        self, prompt: str, images: Sequence[ImageInput], *, model: str, params: dict[str, Any]
    ) -> httpx.Request:
        """streamGenerateContent with ``?alt=sse``, the body as generate() sends it."""
        path = f"{_model_path(model)}:streamGenerateContent?alt=sse"
        return self.wire.api("POST", path, _request_body(prompt, images, params))

    def stream_refused(self, response: httpx.Response) -> Exception:
        """The error for an answer that is not a stream (read): a paid call, never re-sent."""
        return self.wire.refusal(response, operation=STREAM_OPERATION, paid=True)

    def stream_cut(self, exc: Exception) -> Exception:
        """The error for a stream that broke off: the call may have been charged."""
        return self.wire.transport_failure(exc, paid=True)

    def stream_chunk(self, data: str) -> dict[str, Any]:
        chunk: dict[str, Any] = self.wire.answer_body(data, operation=STREAM_OPERATION)
        return chunk


def _model_path(model: str) -> str:
    return f"/api/v1/publishers/googleVertexAI/models/{quote(model, safe='')}"


def _request_body(
    prompt: str, images: Sequence[ImageInput], params: dict[str, Any]
) -> dict[str, Any]:
    """``aspect_ratio`` and ``image_size`` fill ``generationConfig.imageConfig``; any other key
    goes into ``generationConfig`` as given."""
    generation_config = dict(params)
    aspect_ratio = generation_config.pop("aspect_ratio", None)
    image_size = generation_config.pop("image_size", None)
    parts: list[dict[str, Any]] = [{"text": prompt}]
    parts += [{"inlineData": _inline_data(image)} for image in images]
    config: dict[str, Any] = {
        "maxOutputTokens": DEFAULT_MAX_OUTPUT_TOKENS,
        "responseModalities": ["TEXT", "IMAGE"],
        **generation_config,
    }
    image_config = dict(config.get("imageConfig") or {})
    if aspect_ratio is not None:
        image_config["aspectRatio"] = aspect_ratio
    if image_size is not None:
        image_config["imageSize"] = image_size
    if image_config:
        config["imageConfig"] = image_config
    return {"contents": [{"role": "user", "parts": parts}], "generationConfig": config}


@contextmanager
def _unreadable(answer: Any) -> Iterator[None]:
    """A body whose shape the code cannot walk (strict mode would name the path) is an
    UnexpectedResponseError, not an AttributeError from deep inside."""
    try:
        yield
    except (AttributeError, TypeError, KeyError) as exc:
        raise UnexpectedResponseError(
            f"{PROVIDER}: the answer cannot be read ({exc!r})",
            provider=PROVIDER,
            status=200,
            body=answer,
        ) from None


def _field_in(message: str) -> str | None:
    quoted = _FIELD_QUOTED.search(message)
    if quoted:
        return quoted["field"]
    first = _FIELD_FIRST.match(message)
    # A plain first word ("API key not valid") is no field; a path or "word:" is.
    if first and (first["colon"] or "." in first["field"] or "[" in first["field"]):
        return first["field"]
    return None


def _inline_data(image: ImageInput) -> dict[str, str]:
    if isinstance(image, str):
        found = _DATA_URI.match(image)
        if not found:
            raise ValueError("vertex takes images inline: pass bytes, an Image or a data: URI")
        return {"mimeType": found["mime"], "data": found["data"]}
    mime_type, data = inline(image)
    return {"mimeType": mime_type, "data": data}


def _outcome(answer: dict[str, Any]) -> str:
    """A status word for the progress report: the finish or block reason."""
    candidates = answer.get("candidates") or [{}]
    feedback = answer.get("promptFeedback") or {}
    return str(candidates[0].get("finishReason") or feedback.get("blockReason") or "DONE")


def _result(model: str, answer: dict[str, Any]) -> GenerationResult:
    feedback = answer.get("promptFeedback") or {}
    candidates = answer.get("candidates") or []
    if not candidates:
        reason = feedback.get("blockReason")
        if reason:
            message = feedback.get("blockReasonMessage") or "the prompt was blocked"
            raise ModerationError(
                f"{PROVIDER}: prompt blocked ({reason}): {message}",
                provider=PROVIDER,
                status=200,
                body=answer,
                code=str(reason),
            )
        raise UnexpectedResponseError(
            f"{PROVIDER}: the answer has no candidates", provider=PROVIDER, status=200, body=answer
        )
    candidate = candidates[0]
    images = []
    for part in (candidate.get("content") or {}).get("parts") or []:
        blob = part.get("inlineData") or part.get("inline_data")
        # Thought images are the model's drafts, not its answer.
        if not blob or part.get("thought"):
            continue
        try:
            images.append(Image.from_bytes(decode_base64(blob["data"])))
        except (KeyError, TypeError, ValueError, binascii.Error, NotAnImage) as exc:
            raise UnexpectedResponseError(
                f"{PROVIDER}: an inline image cannot be read: {exc}",
                provider=PROVIDER,
                status=200,
                body=answer,
            ) from None
    reason = candidate.get("finishReason")
    if not images and reason in WITHHELD:
        message = candidate.get("finishMessage") or "the image was withheld"
        raise ModerationError(
            f"{PROVIDER}: no image ({reason}): {message}",
            provider=PROVIDER,
            status=200,
            body=answer,
            code=str(reason),
        )
    return GenerationResult(PROVIDER, model, tuple(images), (answer,), answer.get("responseId"))


def stream_result(model: str, chunks: Sequence[dict[str, Any]]) -> GenerationResult:
    """What a finished stream amounts to, as generate() would answer it: its images, or the
    ModerationError of a block."""
    result = _result(model, joined(chunks))
    return dataclasses.replace(result, responses=tuple(chunks))


class VertexClient(SyncShell[VertexProtocol]):
    """The gateway, synchronous (constructor: see runners._Shell). The key defaults to
    ``VERTEX_GATEWAY_API_KEY``; the base URL to the http client's, else
    ``VERTEX_GATEWAY_BASE_URL``. ``polling`` does not apply: the call is synchronous (its
    limit is the http client's timeout)."""

    _protocol_class = VertexProtocol

    def stream(
        self,
        prompt: str,
        images: ImageInput | Sequence[ImageInput] = (),
        *,
        model: str | None = None,
        **params: Any,
    ) -> Iterator[dict[str, Any]]:
        """streamGenerateContent: the answer's chunks (dicts, as sent) as they arrive; the
        image is in the last one with an inlineData part. An answer that is not a stream
        raises the typed error at once; a stream that breaks off raises
        SubmitMayHaveSucceededError (the call is paid and never re-sent)."""
        protocol = self._protocol
        model = model or protocol.generate_model
        request = protocol.stream_request(prompt, as_list(images), model=model, params=params)
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise protocol.stream_cut(exc) from exc
        try:
            if not response.is_success:
                response.read()
                raise protocol.stream_refused(response)
            for event in EventSource(response).iter_sse():
                yield protocol.stream_chunk(event.data)
        except httpx.TransportError as exc:
            raise protocol.stream_cut(exc) from exc
        finally:
            response.close()


class AsyncVertexClient(AsyncShell[VertexProtocol]):
    """The gateway, asynchronous: as VertexClient, with ``await``."""

    _protocol_class = VertexProtocol

    async def stream(
        self,
        prompt: str,
        images: ImageInput | Sequence[ImageInput] = (),
        *,
        model: str | None = None,
        **params: Any,
    ) -> AsyncIterator[dict[str, Any]]:
        """As VertexClient.stream, asynchronously (``async for chunk in client.stream(...)``)."""
        protocol = self._protocol
        model = model or protocol.generate_model
        request = protocol.stream_request(prompt, as_list(images), model=model, params=params)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise protocol.stream_cut(exc) from exc
        try:
            if not response.is_success:
                await response.aread()
                raise protocol.stream_refused(response)
            async for event in EventSource(response).aiter_sse():
                yield protocol.stream_chunk(event.data)
        except httpx.TransportError as exc:
            raise protocol.stream_cut(exc) from exc
        finally:
            await response.aclose()
