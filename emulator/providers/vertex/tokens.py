"""countTokens (Gemini API and Vertex AI) and computeTokens (Vertex AI only): the prompt's
tokens, counted exactly as generateContent counts them for its usageMetadata.promptTokenCount
(request.prompt_tokens), so a client that checks a prompt's size before sending it sees the
number the generation then reports. No job is started and nothing is charged."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from starlette.requests import Request

from emulator.core.http import JSONResponse, read_json
from emulator.core.runtime import runtime
from emulator.providers.vertex.fileparts import file_resolver
from emulator.providers.vertex.request import (
    check_request,
    normalise_names,
    prompt_text,
    prompt_tokens,
)
from emulator.providers.vertex.responses import (
    PROVIDER_ID,
    authenticate,
    decode_images,
    modality_counts,
)
from emulator.providers.vertex.surfaces import Method, Surface

# The countTokens request and response contracts of each surface (contracts/vertex/).
COUNT_CONTRACTS: dict[str, tuple[str, str]] = {
    "gemini": ("count-tokens-request", "count-tokens-response"),
    "vertex": ("count-tokens-request-vertex", "count-tokens-response-vertex"),
}
# Token ids are drawn from a vocabulary of this size (Gemini's tokenizer has 256k entries).
VOCABULARY_SIZE = 256_000
# The emulator's tokenizer: the text in pieces of this many characters, the rule
# request.text_tokens counts by (about four characters a token).
CHARACTERS_PER_TOKEN = 4


async def read_body(request: Request, schema: str) -> dict[str, Any]:
    """The request's body, names normalised as on generateContent, checked by its contract."""
    body = normalise_names(await read_json(request, runtime(request).config.max_body_bytes))
    check_request(schema, body)
    return body


def counted_prompt(body: dict[str, Any]) -> dict[str, Any]:
    """What is counted, shaped as a generateContent body: the Gemini API's
    generateContentRequest when given (system instruction included), else the contents."""
    if "generateContentRequest" in body:
        return body["generateContentRequest"]
    prompt = {"contents": body.get("contents", [])}
    if "systemInstruction" in body:  # Vertex AI's countTokens takes one beside the contents
        prompt["systemInstruction"] = body["systemInstruction"]
    return prompt


def billable_characters(text: str) -> int:
    """Vertex AI bills text by UTF-8 code point, white space excluded."""
    return sum(1 for character in text if not character.isspace())


async def count_tokens(request: Request, surface: Surface) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt, surface)
    model_id = request.path_params["model"]
    rt.admit(request, provider=PROVIDER_ID, route="countTokens", model=model_id, owner=owner)
    model = surface.served_model(model_id, Method.COUNT_TOKENS.value)
    request_schema, _ = COUNT_CONTRACTS[surface.name]
    prompt = counted_prompt(await read_body(request, request_schema))
    # Decoded as generateContent decodes them: a broken or unsupported image is the same 400.
    images = await decode_images(prompt, rt, model, file_resolver(rt, surface, owner))
    text = prompt_text(prompt)
    text_count, image_count = prompt_tokens(model, text, len(images))
    answer: dict[str, Any] = {"totalTokens": text_count + image_count}
    if surface.vertex_fields:
        answer["totalBillableCharacters"] = billable_characters(text)
    answer["promptTokensDetails"] = modality_counts(text_count, image_count)
    return JSONResponse(answer)


def tokenize(text: str) -> list[str]:
    """The emulator's tokens of a text: as many as request.text_tokens counts for it."""
    return [
        text[start : start + CHARACTERS_PER_TOKEN]
        for start in range(0, len(text), CHARACTERS_PER_TOKEN)
    ]


def token_id(token: str) -> int:
    """A stable id for a token: the same piece of text has the same id in every run."""
    digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % VOCABULARY_SIZE


def tokens_info(content: dict[str, Any]) -> dict[str, Any]:
    """One content's TokensInfo: its text parts (thoughts excluded, as in the counts), joined
    as the counts join them, in pieces."""
    tokens = tokenize(prompt_text({"contents": [content]}))
    info: dict[str, Any] = {
        "tokens": [base64.b64encode(token.encode()).decode() for token in tokens],
        # int64 in the proto: a decimal string in JSON.
        "tokenIds": [str(token_id(token)) for token in tokens],
    }
    if "role" in content:
        info["role"] = content["role"]
    return info


async def compute_tokens(request: Request, surface: Surface) -> JSONResponse:
    rt = runtime(request)
    owner = authenticate(request, rt, surface)
    model_id = request.path_params["model"]
    rt.admit(request, provider=PROVIDER_ID, route="computeTokens", model=model_id, owner=owner)
    surface.served_model(model_id, Method.COMPUTE_TOKENS.value)
    body = await read_body(request, "compute-tokens-request")
    return JSONResponse({"tokensInfo": [tokens_info(c) for c in body.get("contents", [])]})
