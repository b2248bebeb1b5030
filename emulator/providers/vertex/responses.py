"""generateContent, synchronous: the request is read, moderated and answered at once with the
image inline, in the standard response shape (lowerCamelCase)."""

from __future__ import annotations

import base64
import random
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from starlette.requests import Request

from emulator.core.auth import fingerprint
from emulator.core.clock import iso8601
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.faults import Decision, Fault, JobFate
from emulator.core.http import JSONResponse, header, read_json
from emulator.core.images import MIME_TYPES, ImageSpec, request_picture
from emulator.core.moderation import FORCED, Category, Stage, Verdict
from emulator.core.runtime import Runtime, runtime
from emulator.providers.vertex.catalog import Model
from emulator.providers.vertex.fileparts import file_resolver
from emulator.providers.vertex.grounding import grounding_metadata, wants_search
from emulator.providers.vertex.request import (
    DEFAULT_OUTPUT_MIME,
    FileResolver,
    ImageRequest,
    InputImage,
    check_request,
    decode_part,
    inline_parts,
    normalise_names,
    prompt_tokens,
    read_image_request,
    require_model_allows,
    text_tokens,
)
from emulator.providers.vertex.surfaces import Method, Surface

PROVIDER_ID = "vertex"

# A blocked prompt: promptFeedback.blockReason by category.
BLOCK_REASONS: dict[Category, str] = {
    Category.PROHIBITED: "PROHIBITED_CONTENT",
    Category.BLOCKLIST: "BLOCKLIST",
    Category.SAFETY: "SAFETY",
    Category.OTHER: "OTHER",
    Category.RECITATION: "OTHER",
    Category.NO_IMAGE: "OTHER",
}
# A withheld image: the candidate's finishReason by category.
IMAGE_FINISH_REASONS: dict[Category, str] = {
    Category.PROHIBITED: "IMAGE_PROHIBITED_CONTENT",
    Category.BLOCKLIST: "IMAGE_PROHIBITED_CONTENT",
    Category.SAFETY: "IMAGE_SAFETY",
    Category.OTHER: "IMAGE_OTHER",
    Category.RECITATION: "IMAGE_RECITATION",
    Category.NO_IMAGE: "NO_IMAGE",
}
_POLICY_MESSAGE = (
    "Unable to show the generated image. The image was filtered out because it violated"
    " Google's [Generative AI Prohibited Use policy]"
    "(https://policies.google.com/terms/generative-ai/use-policy). You will not be charged for"
    " blocked images. Try rephrasing the prompt. If you think this was an error,"
    " [send feedback](https://ai.google.dev/gemini-api/docs/troubleshooting)."
)
# A withheld image's finishMessage, by finishReason, as Google words it in public captures of
# real answers (Gemini API, gemini-3-pro-image-preview: IMAGE_SAFETY with "content": {},
# candidatesTokenCount 0; a gateway capture for IMAGE_OTHER). NO_IMAGE comes without one; no
# capture of IMAGE_RECITATION's wording was found, so it has none either.
FINISH_MESSAGES: dict[str, str] = {
    "IMAGE_SAFETY": _POLICY_MESSAGE,
    "IMAGE_PROHIBITED_CONTENT": _POLICY_MESSAGE,
    "IMAGE_OTHER": (
        "Unable to show the generated image. The model could not generate the image based on"
        " the prompt provided. You will not be charged for this request. Try rephrasing the"
        " prompt."
    ),
}
# usageMetadata.trafficType on Vertex AI, from the request's headers (Vertex AI docs, "Use
# Provisioned Throughput": X-Vertex-AI-LLM-Request-Type dedicated uses Provisioned Throughput
# only, shared pay-as-you-go only; X-Vertex-AI-LLM-Shared-Request-Type priority or flex picks
# the pay-as-you-go tier). Values are read case-insensitively; any other is ON_DEMAND.
TRAFFIC_HEADER_SURFACES = frozenset({"vertex"})  # the gateway sends its own headers on
REQUEST_TYPE_TRAFFIC: dict[str, str] = {"dedicated": "PROVISIONED_THROUGHPUT"}
SHARED_REQUEST_TYPE_TRAFFIC: dict[str, str] = {
    "priority": "ON_DEMAND_PRIORITY",
    "flex": "ON_DEMAND_FLEX",
}
DEFAULT_TRAFFIC = "ON_DEMAND"
# A model turn's image part sent back without its thoughtSignature, on a surface the model's
# signed_history names (positions 1-based): suurt8ll/open_webui_functions#225 quotes it.
UNSIGNED_IMAGE_MESSAGE = (
    "Image part is missing a thought_signature in content position {content}, part position {part}."
)


def forced_verdict(fate: JobFate) -> Verdict:
    """The verdict a `moderation` fault forces: a blocked prompt unless it names another."""
    return Verdict(
        Stage(fate.moderation_stage or FORCED.stage),
        Category(fate.moderation_category or FORCED.category),
        FORCED.trigger,
    )


def authenticate(request: Request, rt: Runtime, surface: Surface) -> str:
    found = surface.credential(request)
    key = found[1] if found else None
    if key is None or not rt.keys.accepts(PROVIDER_ID, key):
        raise surface.key_refused(found, request)
    return fingerprint(key)


async def generate_content(request: Request, surface: Surface) -> JSONResponse:
    body, _ = await answer_request(request, surface, Method.GENERATE)
    return JSONResponse(body)


async def answer_request(
    request: Request, surface: Surface, method: Method
) -> tuple[dict[str, Any], Decision]:
    """A generateContent request, read, decided, answered and charged: the whole answer and
    the request's Decision. generateContent and its stream twin send the same answer."""
    rt = runtime(request)
    owner = authenticate(request, rt, surface)
    model_id = request.path_params["model"]
    decision = rt.admit(
        request,
        provider=PROVIDER_ID,
        route=method.value,
        model=model_id,
        owner=owner,
        starts_job=True,
        rate_limited=True,
    )
    fate = decision.fate
    if fate is not None and fate.status is not None:
        # A synchronous API has no failed job to show: the call itself fails.
        raise Fault(fate.status).error()
    model = surface.served_model(model_id, method.value)
    body = normalise_names(await read_json(request, rt.config.max_body_bytes))
    check_request(surface.request_schema, body)
    require_model_allows(body, model, surface.name)
    require_signed_history(body, model, surface)
    images = await decode_images(body, rt, model, file_resolver(rt, surface, owner))
    default_mime = model.output_mime.get(surface.name, DEFAULT_OUTPUT_MIME)
    asked = read_image_request(body, model, images, default_mime)
    forced = forced_verdict(fate) if fate is not None and fate.moderated else None
    context = AnswerContext(
        traffic_type=traffic_type(request, surface),
        grounded=model.search_grounding and wants_search(body),
        base_url=str(request.base_url),
    )
    answered = await answer(rt, surface, model, asked, forced, context)
    # Charged by tokens once the answer is known; a balance that cannot pay is refused.
    rt.wallets.charge(
        PROVIDER_ID,
        owner,
        model.cost_cents(
            answered["usageMetadata"], rt.config.setting(PROVIDER_ID, model.id, "token_prices")
        ),
        default=rt.config.wallet_balance(PROVIDER_ID),
        now=rt.clock.now(),
    )
    return answered, decision


def require_signed_history(body: dict[str, Any], model: Model, surface: Surface) -> None:
    """On the surfaces that ask it of the model, every image part of a model turn sent back
    carries its thoughtSignature (thought parts excepted), else a 400."""
    if surface.name not in model.signed_history:
        return
    for turn, content in enumerate(body["contents"], start=1):
        if content.get("role") != "model":
            continue
        for position, part in enumerate(content["parts"], start=1):
            if (
                "inlineData" in part
                and not part.get("thought")
                and not part.get("thoughtSignature")
            ):
                raise ApiError(
                    ErrorKind.INVALID_REQUEST,
                    UNSIGNED_IMAGE_MESSAGE.format(content=turn, part=position),
                )


def traffic_type(request: Request, surface: Surface) -> str:
    """usageMetadata.trafficType: how the request is billed (see REQUEST_TYPE_TRAFFIC)."""
    if surface.name not in TRAFFIC_HEADER_SURFACES:
        return DEFAULT_TRAFFIC
    request_type = (header(request, b"x-vertex-ai-llm-request-type") or "").strip().lower()
    if request_type in REQUEST_TYPE_TRAFFIC:
        return REQUEST_TYPE_TRAFFIC[request_type]
    shared = (header(request, b"x-vertex-ai-llm-shared-request-type") or "").strip().lower()
    return SHARED_REQUEST_TYPE_TRAFFIC.get(shared, DEFAULT_TRAFFIC)


@dataclass(frozen=True)
class AnswerContext:
    """What the answer takes from the request beyond its body's meaning."""

    traffic_type: str = DEFAULT_TRAFFIC
    grounded: bool = False  # tools offer Google Search to a model that takes it
    base_url: str = "http://localhost/"  # where the grounding pages are served


async def decode_images(
    body: dict[str, Any], rt: Runtime, model: Model, resolve_file: FileResolver | None = None
) -> tuple[InputImage, ...]:
    """The request's input images (at most the model's max_input_images): inline ones, and
    with `resolve_file` (a surface with a Files API) the uploaded files fileData parts name;
    else a fileData part is refused."""
    parts = inline_parts(body, model, resolve_file)

    def decode_all() -> tuple[InputImage, ...]:
        return tuple(decode_part(field, source) for field, source in parts)

    if not parts:
        return ()
    # Even a small one goes to the image threads: 2 KB of WebP can hold 64 megapixels.
    return await anyio.to_thread.run_sync(decode_all, limiter=rt.images.limiter)


async def answer(
    rt: Runtime,
    surface: Surface,
    model: Model,
    asked: ImageRequest,
    forced: Verdict | None,
    context: AnswerContext | None = None,
) -> dict:
    context = context or AnswerContext()
    now = rt.clock.now()
    # The picture and the counts follow the request; the id, unique per answer, follows the
    # emulator's seeded generator (a run replays with --seed).
    draw = random.Random(asked.seed)
    response_id = base64.urlsafe_b64encode(rt.rng.randbytes(16)).decode().rstrip("=")[:22]
    verdict = forced or await rt.moderator.screen(asked.user_text, PROVIDER_ID, model.id)
    prompt_text, prompt_images = input_tokens(model, asked)
    prompt_tokens = prompt_text + prompt_images
    usage: dict[str, Any] = {
        "promptTokenCount": prompt_tokens,
        "promptTokensDetails": modality_counts(prompt_text, prompt_images),
    }
    body: dict[str, Any] = {}
    if verdict is not None and verdict.stage is Stage.PROMPT:
        feedback = {"blockReason": BLOCK_REASONS[verdict.category]}
        if surface.vertex_fields:  # PromptFeedback of the Gemini API has no such field
            feedback["blockReasonMessage"] = f"The prompt was blocked ({verdict.category.value})."
        body["promptFeedback"] = feedback
        usage["totalTokenCount"] = prompt_tokens
    else:
        thoughts = draw.randint(*model.thoughts_tokens)
        candidate, output_tokens = await candidate_for(rt, model, asked, verdict, draw)
        if not surface.vertex_fields:
            candidate["index"] = 0  # Vertex AI leaves a zero index out, the Gemini API not
        if context.grounded:
            candidate["groundingMetadata"] = grounding_metadata(
                surface, asked.prompt, context.base_url, candidate["content"].get("parts", [])
            )
        body["candidates"] = [candidate]
        usage.update(output_tokens)
        if thoughts:
            usage["thoughtsTokenCount"] = thoughts
        usage["totalTokenCount"] = prompt_tokens + usage.get("candidatesTokenCount", 0) + thoughts
    if surface.vertex_fields:
        usage["trafficType"] = context.traffic_type
    body["usageMetadata"] = usage
    body["modelVersion"] = model.model_version
    if surface.vertex_fields:
        body["createTime"] = iso8601(now, "microseconds")
    body["responseId"] = response_id
    return body


async def candidate_for(
    rt: Runtime,
    model: Model,
    asked: ImageRequest,
    verdict: Verdict | None,
    draw: random.Random,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(candidate, its token counts) for a prompt that passed moderation. A text part only
    when TEXT is among the responseModalities; a withheld image leaves no part claiming one."""
    width, height = model.dimensions(asked.ratio, asked.resolution)
    image_tokens = model.output_image_tokens[asked.resolution] if asked.wants_image else 0
    kind = "edited" if asked.images else "generated"
    reply = f"Here is the {kind} {width}x{height} image: {asked.prompt}".strip()
    if not asked.wants_image:
        reply = f"(text only: IMAGE was not among the responseModalities) {asked.prompt}".strip()
    text_signature = base64.b64encode(draw.randbytes(48)).decode()
    reply_tokens = text_tokens(reply) if asked.wants_text or not asked.wants_image else 0
    finish = "STOP"
    if (
        asked.max_output_tokens is not None
        and asked.max_output_tokens < reply_tokens + image_tokens
    ):
        # Not enough room for the image: Google stops at the limit.
        finish, image_tokens = "MAX_TOKENS", 0
    elif verdict is not None and asked.wants_image:
        # Withheld: nothing is shown, nothing charged (Google: "You will not be charged").
        finish, image_tokens, reply_tokens = IMAGE_FINISH_REASONS[verdict.category], 0, 0
    parts: list[dict[str, Any]] = []
    if reply_tokens:
        parts.append({"text": reply, "thoughtSignature": text_signature})
    if finish == "STOP" and asked.wants_image:
        data = await rt.images.get(image_spec(model, asked, width, height))
        parts.append(
            {
                "inlineData": {
                    "mimeType": MIME_TYPES[asked.output_format],
                    "data": base64.b64encode(data).decode(),
                },
                "thoughtSignature": base64.b64encode(draw.randbytes(48)).decode(),
            }
        )
    if asked.include_thoughts and model.thoughts_tokens[1] > 0:
        drafts = model.interim_images if finish == "STOP" and asked.wants_image else 0
        parts[:0] = await thought_parts(rt, model, asked, width, height, drafts)
    candidate: dict[str, Any] = {
        # A withheld image with nothing else to show: `"content": {}`, as Google answers it.
        "content": {"role": "model", "parts": parts} if parts else {},
        "finishReason": finish,
    }
    if finish in FINISH_MESSAGES:
        candidate["finishMessage"] = FINISH_MESSAGES[finish]
    counts: dict[str, Any] = {"candidatesTokenCount": reply_tokens + image_tokens}
    if reply_tokens or image_tokens:
        counts["candidatesTokensDetails"] = output_counts(reply_tokens, image_tokens)
    return candidate, counts


async def thought_parts(
    rt: Runtime, model: Model, asked: ImageRequest, width: int, height: int, drafts: int
) -> list[dict[str, Any]]:
    """What includeThoughts shows before the answer: a thought summary, then the interim
    images the model drew to test its composition (Gemini 3 Pro Image: up to two), each a
    `thought: true` part. Their tokens are in thoughtsTokenCount, as Google counts them."""
    summary = (
        f"**Planning the {asked.ratio} composition**\n\n"
        f"I'm working out a {width}x{height} picture of: {asked.prompt}"
    ).strip()
    parts: list[dict[str, Any]] = [{"text": summary, "thought": True}]
    for draft in range(1, drafts + 1):
        spec = image_spec(model, asked, width, height, draft=(draft, drafts))
        data = base64.b64encode(await rt.images.get(spec)).decode()
        inline = {"mimeType": MIME_TYPES[asked.output_format], "data": data}
        parts.append({"inlineData": inline, "thought": True})
    return parts


def image_spec(
    model: Model,
    asked: ImageRequest,
    width: int,
    height: int,
    draft: tuple[int, int] | None = None,
) -> ImageSpec:
    """The picture answered, or with `draft` (k, of n) the k-th interim image before it."""
    count = len(asked.images)
    size_detail = f"{asked.ratio}, {asked.resolution}"
    if draft is not None:
        size_detail += f", thought draft {draft[0]} of {draft[1]}"
    return request_picture(
        provider=PROVIDER_ID,
        model=model.id,
        model_label=f"{model.name} ({model.id})",
        prompt=asked.prompt,
        width=width,
        height=height,
        format=asked.output_format,
        seed=asked.seed if draft is None else (asked.seed + draft[0]) & 0x7FFFFFFF,
        size_detail=size_detail,
        edit_note=f"edit of {count} inline image(s)" if count else None,
        extra_metadata=(
            ("aspectRatio", asked.ratio),
            ("imageSize", asked.resolution),
            ("inputImages", ",".join(image.digest[:16] for image in asked.images)),
        ),
        source=asked.source,
        quality=asked.output_quality,
    )


def input_tokens(model: Model, asked: ImageRequest) -> tuple[int, int]:
    """The request's input tokens: (text, images)."""
    return prompt_tokens(model, asked.text, len(asked.images))


def output_counts(text: int, image: int) -> list[dict[str, Any]]:
    """candidatesTokensDetails: a modality only when the answer holds some of it."""
    return [
        {"modality": modality, "tokenCount": count}
        for modality, count in (("TEXT", text), ("IMAGE", image))
        if count
    ]


def modality_counts(text: int, image: int) -> list[dict[str, Any]]:
    counts = [{"modality": "TEXT", "tokenCount": text}]
    if image:
        counts.append({"modality": "IMAGE", "tokenCount": image})
    return counts
