"""What the contract checks' requests cost, and a budget that refuses what it cannot pay.

Against the real APIs every accepted generation costs money: US cents at vibedream and the
Vertex gateway, credits at 3D AI Studio. Before each request that may cost something the
checks ask ``estimate()`` for its worst case and ``Budget.reserve()`` for the room; a request
that does not fit is skipped (and reported), never sent. Once answered, ``actual()`` reads the
true cost from the answer when it says (vibedream's ``costCents``, Vertex's token counts);
a refused request (4xx) costs nothing; otherwise the estimate stands.

``PRICES`` is the one place prices live: update it when a provider changes its list prices.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum
from typing import Any

import httpx

import contracts
from contracts.streams import joined, stream_chunks


class Unit(StrEnum):
    CENTS = "cents"  # US cents
    CREDITS = "credits"  # 3D AI Studio credits


UNITS: dict[str, Unit] = {"vibedream": Unit.CENTS, "vertex": Unit.CENTS, "3daistudio": Unit.CREDITS}

# Spend no more than this unless told otherwise. 150 credits: one 1K image (50) plus the worst
# case of one invalid request wrongly accepted at the 4K price (80), with room to spare. 75
# cents: vertex's two 1K images (generateContent and its stream twin, ~14 cents each) plus one
# invalid request wrongly accepted at the dearest size (~25), with room to spare.
DEFAULT_LIMITS: dict[Unit, Decimal] = {Unit.CENTS: Decimal(75), Unit.CREDITS: Decimal(150)}

# The providers' list prices (seeds 000-003, DESIGN.md section 3), as data.
PRICES: dict[str, dict[str, Any]] = {
    "vibedream": {
        # costCents per output, by the model's pricing parameter ("*": any value); "count":
        # the parameter asking for several outputs, each charged. Beyond the seeds the prices
        # are those MODELS.md states or infers, or assumed (emulator/providers/vibedream/
        # models.json says which); the checks' budget errs high with them.
        "z-image-turbo": {"param": None, "cents": {"*": 1}},
        "nano-banana-pro-edit": {"param": "resolution", "cents": {"1k": 16, "2k": 16, "4k": 24}},
        "nano-banana-edit": {"param": None, "cents": {"*": 5}},
        "edit-ultra": {"param": "resolution", "cents": {"1k": 16, "2k": 16, "4k": 24}},
        "gpt-image-edit": {"param": None, "cents": {"*": 3}},
        "gpt-image-1": {"param": None, "cents": {"*": 3}},
        "dall-e-3": {"param": None, "cents": {"*": 9}},
        "flux-dev": {"param": None, "cents": {"*": 2}, "count": "num_images"},
        "flux-2-pro-edit": {"param": None, "cents": {"*": 7}},
        "flux-2-klein-9b-edit": {"param": None, "cents": {"*": 2}},
        "flux-2-turbo": {"param": None, "cents": {"*": 2}},
        "seedream-v4-edit": {"param": None, "cents": {"*": 3}},
        "seedream-v4.5": {"param": None, "cents": {"*": 5}},
        "edit-sequential": {"param": None, "cents": {"*": 4}, "count": "max_images"},
        "seedream-v3-1": {"param": None, "cents": {"*": 3}},
        "grok-imagine": {"param": None, "cents": {"*": 3}},
        "image-upscaler": {"param": None, "cents": {"*": 2}},
    },
    "vertex": {
        # US dollars per million tokens; tokens per image; the most thinking a call reports.
        "gemini-3-pro-image": {
            "dollars_per_million": {"input": 2.0, "output_text": 12.0, "output_image": 120.0},
            "input_image_tokens": 560,
            "output_image_tokens": {"1K": 1120, "2K": 1120, "4K": 2000},
            # The emulator reports 150-400; the real model's thinking varies: leave a margin.
            "max_thoughts_tokens": 1000,
        },
        "gemini-3-pro-image-preview": "gemini-3-pro-image",  # same model, same prices
        "gemini-2.5-flash-image": {
            "dollars_per_million": {"input": 0.3, "output_text": 2.5, "output_image": 30.0},
            "input_image_tokens": 258,
            "output_image_tokens": {"1K": 1290},
            "max_thoughts_tokens": 0,
        },
        # MODELS.md 3.2 and 3.4 (Google's pricing page); thinking is not published: a margin.
        "gemini-3.1-flash-image": {
            "dollars_per_million": {"input": 0.5, "output_text": 3.0, "output_image": 60.0},
            "input_image_tokens": 1120,
            "output_image_tokens": {"512": 747, "1K": 1120, "2K": 1680, "4K": 2520},
            "max_thoughts_tokens": 1000,
        },
        "gemini-3.1-flash-image-preview": "gemini-3.1-flash-image",
        "gemini-3.1-flash-lite-image": {
            # Only the image price is stated; input and text are a third party's, unverified.
            "dollars_per_million": {"input": 0.25, "output_text": 1.5, "output_image": 30.0},
            "input_image_tokens": 1120,
            "output_image_tokens": {"512": 747, "1K": 1120},
            "max_thoughts_tokens": 1000,
        },
    },
    "3daistudio": {
        # Credits per image by model (its path after /v1/images/) and the value of its price
        # parameter ("*": any), times num_images (MODELS.md section 2.1). Gemini 3.1 Flash's
        # "10-25 per image (varies by resolution)" has no published split: its dearest.
        "gemini/3/pro": {
            "param": "resolution",
            "default": "1K",
            "credits": {"1K": 50, "2K": 50, "4K": 80},
        },
        "gemini/3.1/flash": {"param": None, "credits": {"*": 25}},
        "gemini/2.5/flash": {"param": None, "credits": {"*": 5}},
        "seedream/v5/lite": {"param": None, "credits": {"*": 10}},
    },
}

# Vertex answers a text part of about this many tokens besides the echo of the prompt.
_REPLY_TOKENS = 20


@dataclass(frozen=True)
class Cost:
    amount: Decimal
    unit: Unit

    def __str__(self) -> str:
        return describe(self.amount, self.unit)


def describe(amount: Decimal, unit: Unit) -> str:
    """``1 cent``, ``13.92 cents``, ``150 credits``."""
    integral = amount == amount.to_integral_value()
    text = str(int(amount)) if integral else str(amount.quantize(Decimal("0.01")))
    singular = {Unit.CENTS: "cent", Unit.CREDITS: "credit"}[unit]
    return f"{text} {singular if amount == 1 else unit.value}"


def _cents(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.01"), rounding=ROUND_CEILING)


# --------------------------------------------------------------------------- estimates


def estimate(provider: str, method: str, path: str, body: object) -> Cost | None:
    """The most ``method path`` with this body can cost if the provider accepts it; None when it
    is free (a poll, a wallet read). Values the price table does not know (an invalid
    resolution, say) are priced at the table's dearest, so a mistake errs on the safe side."""
    path = path.partition("?")[0]  # ?alt=sse streams the same paid call
    found = contracts.find_operation(method, path) or contracts.find_operation(method, path + "/")
    if found is None or found[0] != provider or not found[1].request_schemas:
        return None
    params = found[2]
    fields = body if isinstance(body, dict) else {}
    if provider == "vibedream":
        return Cost(_vibedream_cents(params.get("model", ""), fields), Unit.CENTS)
    if provider == "vertex":
        return Cost(_cents(_vertex_estimate(params.get("model", ""), fields)), Unit.CENTS)
    if provider == "3daistudio":
        return Cost(_aistudio_credits(path, fields), Unit.CREDITS)
    return None


def _vibedream_cents(model: str, fields: Mapping[str, Any]) -> Decimal:
    table = PRICES["vibedream"]
    entry = table.get(model)
    if entry is None:  # an unknown model: the dearest known price
        return Decimal(max(max(e["cents"].values()) for e in table.values()))
    prices = entry["cents"]
    value = fields.get(entry["param"]) if entry["param"] else "*"
    if isinstance(value, str) and value.lower() in prices:
        value = value.lower()  # a by-example model's range is unknown: 4K may be 4k there
    cents = prices[value] if isinstance(value, str) and value in prices else max(prices.values())
    count = fields.get(entry["count"], 1) if "count" in entry else 1
    # A count that is not a positive whole number is priced as one (a refusal costs nothing).
    count = count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1
    return Decimal(cents * count)


def _vertex_model(model: str) -> Mapping[str, Any]:
    table = PRICES["vertex"]
    entry = table.get(model.removeprefix("googleVertexAI/"), "gemini-3-pro-image")
    return table[entry] if isinstance(entry, str) else entry


def _vertex_estimate(model: str, fields: Mapping[str, Any]) -> Decimal:
    prices = _vertex_model(model)
    text, images = _vertex_inputs(fields)
    config = fields.get("generationConfig")
    config = config if isinstance(config, dict) else {}
    modalities = config.get("responseModalities")
    wants_image = not isinstance(modalities, list) or "IMAGE" in modalities
    image_config = config.get("imageConfig")
    size = image_config.get("imageSize", "1K") if isinstance(image_config, dict) else "1K"
    per_image = prices["output_image_tokens"]
    image_tokens = (
        per_image[size] if isinstance(size, str) and size in per_image else max(per_image.values())
    )
    image_tokens = image_tokens if wants_image else 0
    text_tokens = math.ceil(text / 4)
    usage = {
        "input": text_tokens + images * prices["input_image_tokens"],
        "output_text": text_tokens + _REPLY_TOKENS + prices["max_thoughts_tokens"],
        "output_image": image_tokens,
    }
    return _token_cents(prices, usage)


def _vertex_inputs(fields: Mapping[str, Any]) -> tuple[int, int]:
    """(characters of text, inline images) of a generateContent body, however malformed."""
    text = images = 0
    contents = fields.get("contents")
    for content in contents if isinstance(contents, list) else ():
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else ():
            if not isinstance(part, dict):
                continue
            if isinstance(part.get("text"), str):
                text += len(part["text"])
            if "inlineData" in part or "inline_data" in part:
                images += 1
    return text, images


def _token_cents(prices: Mapping[str, Any], usage: Mapping[str, int]) -> Decimal:
    per_million = prices["dollars_per_million"]
    dollars = sum(
        (Decimal(str(per_million[kind])) * tokens for kind, tokens in usage.items()), Decimal(0)
    )
    return dollars / 1_000_000 * 100


def _aistudio_credits(path: str, fields: Mapping[str, Any]) -> Decimal:
    table = PRICES["3daistudio"]
    model = path.removeprefix("/v1/images/").rstrip("/").rpartition("/")[0]
    entry = table.get(model)
    if entry is None:  # an unknown model: the dearest known price
        per_image = max(max(e["credits"].values()) for e in table.values())
    else:
        prices = entry["credits"]
        value = fields.get(entry["param"], entry.get("default")) if entry["param"] else "*"
        per_image = (
            prices[value] if isinstance(value, str) and value in prices else max(prices.values())
        )
    count = fields.get("num_images", 1)
    count = count if isinstance(count, int) and not isinstance(count, bool) else 1
    return Decimal(per_image * max(count, 1))


def vertex_cost_cents(model: str, usage: Mapping[str, Any]) -> Decimal:
    """What a generateContent answer costs in US cents, from its usageMetadata: prompt tokens
    at the input price, text and thoughts at the output text price, image tokens at the
    output image price (unrounded)."""
    prices = _vertex_model(model)
    image = sum(
        detail.get("tokenCount", 0)
        for detail in usage.get("candidatesTokensDetails", ())
        if isinstance(detail, dict) and detail.get("modality") == "IMAGE"
    )
    text = usage.get("candidatesTokenCount", 0) - image + usage.get("thoughtsTokenCount", 0)
    return _token_cents(
        prices,
        {"input": usage.get("promptTokenCount", 0), "output_text": text, "output_image": image},
    )


def actual(provider: str, response: httpx.Response) -> Cost | None:
    """What an answered request cost, when the answer says: nothing for a refusal (4xx),
    vibedream's ``costCents``, Vertex's token counts at ``PRICES``. None: it does not say."""
    unit = UNITS[provider]
    if 400 <= response.status_code < 500:
        return Cost(Decimal(0), unit)
    if response.status_code != 200:
        return None
    found = contracts.find_operation(response.request.method, response.request.url.path)
    if found is not None and found[1].streamed:
        chunks = stream_chunks(response)
        body = None if chunks is None else joined(chunks)  # its last chunk's usage
    else:
        try:
            body = response.json()
        except ValueError:
            return None
    if not isinstance(body, dict):
        return None
    if provider == "vibedream" and isinstance(body.get("costCents"), int):
        return Cost(Decimal(body["costCents"]), unit)
    if provider == "vertex" and isinstance(body.get("usageMetadata"), dict):
        model = found[2].get("model", "") if found else ""
        try:
            return Cost(_cents(vertex_cost_cents(model, body["usageMetadata"])), unit)
        except (TypeError, ArithmeticError):
            return None
    return None


# --------------------------------------------------------------------------- the budget


@dataclass
class Ledger:
    """Totals per unit, spent and reserved (in flight). This one lives in memory; a subclass
    can keep them elsewhere (a file shared by test workers) by overriding ``transaction``."""

    spent: dict[Unit, Decimal] = field(default_factory=dict)
    reserved: dict[Unit, Decimal] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @contextmanager
    def transaction(self) -> Iterator[Ledger]:
        with self._lock:
            yield self


@dataclass
class Reservation:
    description: str
    estimate: Cost


class Budget:
    """Refuses a request whose estimated cost would take spent + in flight past the limit."""

    def __init__(
        self, limits: Mapping[Unit, Decimal | int] | None = None, ledger: Ledger | None = None
    ) -> None:
        merged = {**DEFAULT_LIMITS, **(limits or {})}
        self.limits = {unit: Decimal(value) for unit, value in merged.items()}
        self.ledger = ledger or Ledger()
        self.entries: list[tuple[str, Cost, bool]] = []  # what this process spent: exact?

    def room(self, unit: Unit) -> Decimal:
        with self.ledger.transaction() as ledger:
            used = ledger.spent.get(unit, Decimal(0)) + ledger.reserved.get(unit, Decimal(0))
        return self.limits[unit] - used

    def reserve(self, description: str, cost: Cost) -> Reservation | None:
        """Room for ``cost`` (set aside until settled), or None when it does not fit."""
        with self.ledger.transaction() as ledger:
            spent = ledger.spent.get(cost.unit, Decimal(0))
            reserved = ledger.reserved.get(cost.unit, Decimal(0))
            if spent + reserved + cost.amount > self.limits[cost.unit]:
                return None
            ledger.reserved[cost.unit] = reserved + cost.amount
        return Reservation(description, cost)

    def settle(self, reservation: Reservation, cost: Cost | None) -> Cost:
        """Release the reservation and book what was spent: ``cost`` if the answer said, else
        the estimate. Returns what was booked."""
        booked = cost if cost is not None else reservation.estimate
        unit = reservation.estimate.unit
        with self.ledger.transaction() as ledger:
            ledger.reserved[unit] = (
                ledger.reserved.get(unit, Decimal(0)) - reservation.estimate.amount
            )
            ledger.spent[unit] = ledger.spent.get(unit, Decimal(0)) + booked.amount
        self.entries.append((reservation.description, booked, cost is not None))
        return booked

    def spent(self) -> dict[Unit, Decimal]:
        with self.ledger.transaction() as ledger:
            return dict(ledger.spent)

    def summary(self, units: tuple[Unit, ...] | None = None) -> str:
        """e.g. "spent: 1 cent (budget 50 cents); 50 credits (budget 150 credits)"."""
        spent = self.spent()
        shown = units or tuple(unit for unit in Unit if unit in spent)
        if not shown:
            return "spent: nothing"
        parts = [
            f"{describe(spent.get(unit, Decimal(0)), unit)}"
            f" (budget {describe(self.limits[unit], unit)})"
            for unit in shown
        ]
        estimated = any(not exact for _, cost, exact in self.entries if cost.unit in shown)
        note = ", estimated where the answers do not say" if estimated else ""
        return "spent: " + "; ".join(parts) + note
