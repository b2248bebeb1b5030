"""The image models served on every generateContent path (`models.json`): output size table,
token costs, the modelVersion each answers with and what the model listings say of it. Adding a
model is a data change."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from typing import Any

from emulator.core import sizes
from emulator.core.errors import ApiError, ErrorKind
from emulator.core.tables import read_table


@dataclass(frozen=True)
class Model:
    id: str
    name: str
    model_version: str  # what the response's modelVersion says
    size_table: str  # a table of emulator/data/image_sizes.json
    input_token_limit: int  # the most a request may hold: text and input images
    input_image_tokens: int  # per inline input image
    output_image_tokens: Mapping[str, int]  # per output image, by imageSize
    thoughts_tokens: tuple[int, int]  # drawn from this range, from the request's seed
    token_prices: Mapping[str, float]  # US dollars per million tokens, by kind of token
    # Interim images the model thinks with (thought: true parts, before the final image),
    # answered when the request sets thinkingConfig.includeThoughts.
    interim_images: int = 0
    # What the model listings say of it, as the wire has it: the Gemini API's Model and
    # Vertex AI's PublisherModel, less what is derived (name, inputTokenLimit).
    # How many candidates a request may ask for (generationConfig.candidateCount), and the
    # surfaces (surfaces.py names) on which the model refuses a systemInstruction.
    max_candidates: int = 1
    refuses_system_instruction: tuple[str, ...] = ()
    gemini_api_model: Mapping[str, Any] = field(default_factory=dict)
    publisher_model: Mapping[str, Any] = field(default_factory=dict)
    # By surface name: the output MIME type when the request asks none (else image/png).
    output_mime: Mapping[str, str] = field(default_factory=dict)
    # The surfaces refusing a model turn's image part sent back without its thoughtSignature.
    signed_history: tuple[str, ...] = ()
    search_grounding: bool = False  # tools [{googleSearch: {}}] answer groundingMetadata
    # The most input images a request may hold (Gemini 2.5 Flash Image: 3).
    max_input_images: int = 14
    # The imageSize values taken: a subset of the size table's (Flash Lite: 512 and 1K of the
    # Gemini 3.1 Flash Image table); empty, all of them.
    served_resolutions: tuple[str, ...] = ()
    # The surfaces (surfaces.py names) serving the model; empty, every one.
    surfaces: tuple[str, ...] = ()
    # Fields whose values Google does not publish -> what was chosen and why (documentation).
    assumed: Mapping[str, str] = field(default_factory=dict)

    @property
    def ratios(self) -> list[str]:
        return sizes.ratios(self.size_table)

    @property
    def resolutions(self) -> list[str]:
        table = sizes.resolutions(self.size_table)
        if not self.served_resolutions:
            return table
        return [size for size in table if size in self.served_resolutions]

    def served_on(self, surface: str) -> bool:
        return not self.surfaces or surface in self.surfaces

    def cost_cents(self, usage: Mapping[str, Any], prices: Mapping[str, float] | None) -> Decimal:
        """What an answer costs, in US cents, from its usageMetadata: input tokens, output
        text and thoughts, output image tokens, each at its price per million."""
        price = {**self.token_prices, **(prices or {})}
        image_out = sum(
            d["tokenCount"]
            for d in usage.get("candidatesTokensDetails", ())
            if d["modality"] == "IMAGE"
        )
        text_out = (
            usage.get("candidatesTokenCount", 0) - image_out + usage.get("thoughtsTokenCount", 0)
        )
        dollars = (
            Decimal(str(price["input"])) * usage["promptTokenCount"]
            + Decimal(str(price["output_text"])) * text_out
            + Decimal(str(price["output_image"])) * image_out
        ) / 1_000_000
        return dollars * 100

    def dimensions(self, ratio: str, resolution: str) -> tuple[int, int]:
        return sizes.dimensions(self.size_table, ratio, resolution)


@cache
def models() -> dict[str, Model]:
    entries = read_table("emulator.providers.vertex")
    return {
        model_id: Model(
            id=model_id,
            name=entry["name"],
            model_version=entry["model_version"],
            size_table=entry["size_table"],
            input_token_limit=entry["input_token_limit"],
            input_image_tokens=entry["input_image_tokens"],
            output_image_tokens=entry["output_image_tokens"],
            thoughts_tokens=(entry["thoughts_tokens"][0], entry["thoughts_tokens"][1]),
            token_prices=entry["token_prices"],
            interim_images=entry.get("interim_images", 0),
            max_candidates=entry.get("max_candidates", 1),
            refuses_system_instruction=tuple(entry.get("refuses_system_instruction", ())),
            gemini_api_model=entry.get("gemini_api_model", {}),
            publisher_model=entry.get("publisher_model", {}),
            output_mime=entry.get("output_mime", {}),
            signed_history=tuple(entry.get("signed_history", ())),
            search_grounding=entry.get("search_grounding", False),
            max_input_images=entry.get("max_input_images", 14),
            served_resolutions=tuple(entry.get("resolutions", ())),
            surfaces=tuple(entry.get("surfaces", ())),
            assumed=entry.get("assumed", {}),
        )
        for model_id, entry in entries.items()
    }


def surface_models(surface: str) -> dict[str, Model]:
    """The models a surface serves, in table order."""
    return {model_id: model for model_id, model in models().items() if model.served_on(surface)}


def served_model(model_id: str, resource_name: str, method: str, surface: str) -> Model:
    """The model a request names, or Google's 404 for a model `surface` does not serve
    (`resource_name` as the surface spells the model: models/{id} or
    publishers/google/models/{id})."""
    served = surface_models(surface)
    model = served.get(model_id)
    if model is None:
        raise ApiError(
            ErrorKind.NOT_FOUND,
            f"{resource_name} is not found, or is not supported for {method}."
            f" Image models: {', '.join(served)}.",
        )
    return model
