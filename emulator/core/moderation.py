"""Which prompts a provider's safety filter blocks, and when.

Provider-neutral: a verdict names the stage (the prompt is refused before anything is
generated, or the generated output is withheld) and a category; each provider words it in its
own shape (a failed prediction, a blockReason, a failed task). The built-in rules live in
`emulator/data/moderation.json`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import anyio.lowlevel

if TYPE_CHECKING:
    from emulator.config import Config
    from emulator.core.randomness import SeededRandom


class Stage(StrEnum):
    PROMPT = "prompt"  # refused before generating
    OUTPUT = "output"  # generated, then withheld


class Category(StrEnum):
    PROHIBITED = "prohibited"
    BLOCKLIST = "blocklist"
    SAFETY = "safety"
    OTHER = "other"
    RECITATION = "recitation"  # the output recites protected material (an image: withheld)
    NO_IMAGE = "no_image"  # the model drew no image at all


RULE_KEYS = ("word", "match", "probability", "stage", "category")
# A longer text is searched a slice at a time, giving the event loop back between slices: one
# rule's case-insensitive search holds the GIL for about 10 ms per MB of text, so a 10 MB
# prompt would otherwise stall every other request for a good part of a second.
SLICE_CHARS = 256 * 1024
# Each slice is searched this far into the next, so a match across the cut is still seen (one
# longer than this, across a cut, is not: no trigger worth writing is that long).
SLICE_OVERLAP = 4096


@dataclass(frozen=True)
class Rule:
    """A prompt is caught when it contains the trigger (a whole word, case-insensitive), or
    matches the regular expression, or, for a probability rule, by a seeded draw."""

    pattern: re.Pattern[str] | None
    stage: Stage
    category: Category
    probability: float | None = None

    @classmethod
    def parse(cls, raw: object) -> Rule:
        """`{word = "..."}`, `{match = "regex"}` or `{probability = 0.01}`, with optional
        `stage` (prompt | output, default prompt) and `category` (default prohibited)."""
        if not isinstance(raw, Mapping):
            raise ValueError("a moderation rule is a table: {word | match | probability, ...}")
        unknown = sorted(set(raw) - set(RULE_KEYS))
        if unknown:
            raise ValueError(
                f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(RULE_KEYS)}"
            )
        triggers = [key for key in ("word", "match", "probability") if key in raw]
        if len(triggers) != 1:
            raise ValueError("a moderation rule has exactly one of word, match, probability")
        try:
            stage = Stage(raw.get("stage", Stage.PROMPT))
            category = Category(raw.get("category", Category.PROHIBITED))
        except ValueError:
            raise ValueError(
                f"stage is one of {', '.join(Stage)}; category one of {', '.join(Category)}"
            ) from None
        trigger = raw[triggers[0]]
        if triggers[0] == "probability":
            if (
                isinstance(trigger, bool)
                or not isinstance(trigger, int | float)
                or not 0 <= trigger <= 1
            ):
                raise ValueError("probability is a number from 0 to 1")
            return cls(None, stage, category, float(trigger))
        if not isinstance(trigger, str) or not trigger:
            raise ValueError(f"{triggers[0]} is a non-empty string")
        source = rf"(?<!\w){re.escape(trigger)}(?!\w)" if triggers[0] == "word" else trigger
        try:
            return cls(re.compile(source, re.IGNORECASE), stage, category)
        except re.error as exc:
            raise ValueError(f"match is not a valid regular expression: {exc}") from None

    def catches(self, text: str, rng: SeededRandom) -> str | None:
        """The text that triggered the rule, or None."""
        if self.pattern is None:
            return "(random)" if rng.random() < (self.probability or 0.0) else None
        found = self.pattern.search(text)
        return found.group(0) if found else None

    async def catches_sliced(self, text: str, rng: SeededRandom) -> str | None:
        """catches(), a slice at a time, yielding to the event loop between slices."""
        if self.pattern is None:
            return self.catches(text, rng)
        for start in range(0, len(text), SLICE_CHARS):
            end = min(len(text), start + SLICE_CHARS + SLICE_OVERLAP)
            position = start
            # The slice's end looks like the end of the text to `\b` or a lookahead, so a
            # match counts only if it also matches there in the whole text. (A search from
            # `position` still sees the characters before it, as lookbehinds need.)
            while (found := self.pattern.search(text, position, end)) is not None:
                whole = self.pattern.match(text, found.start())
                if whole is not None:
                    return whole.group(0)
                position = found.start() + 1
            await anyio.lowlevel.checkpoint()
        return None


@dataclass(frozen=True)
class Verdict:
    stage: Stage
    category: Category
    trigger: str  # the text that matched, for messages and the journal


FORCED = Verdict(Stage.PROMPT, Category.OTHER, "(injected fault)")


class Moderator:
    """The configured rules of each provider and model, then the built-in ones."""

    def __init__(self, config: Config, rng: SeededRandom) -> None:
        self.config = config
        self.rng = rng
        self._rules: dict[tuple[str, str | None], tuple[Rule, ...]] = {}

    def rules(self, provider: str, model: str | None) -> tuple[Rule, ...]:
        key = (provider, model)
        if key not in self._rules:
            self._rules[key] = self.config.moderation_rules(provider, model) + default_rules()
        return self._rules[key]

    def judge(self, text: str, provider: str, model: str | None) -> Verdict | None:
        """The first rule the text is caught by, or None when it passes."""
        for rule in self.rules(provider, model):
            trigger = rule.catches(text, self.rng)
            if trigger is not None:
                return Verdict(rule.stage, rule.category, trigger)
        return None

    async def screen(self, text: str, provider: str, model: str | None) -> Verdict | None:
        """judge(), without holding the event loop for long over a huge text."""
        if len(text) <= SLICE_CHARS:
            return self.judge(text, provider, model)
        for rule in self.rules(provider, model):
            trigger = await rule.catches_sliced(text, self.rng)
            if trigger is not None:
                return Verdict(rule.stage, rule.category, trigger)
        return None


@cache
def default_rules() -> tuple[Rule, ...]:
    raw = json.loads(resources.files("emulator.data").joinpath("moderation.json").read_text())
    return tuple(
        Rule(
            re.compile(entry["match"], re.IGNORECASE),
            Stage(entry["stage"]),
            Category(entry["category"]),
        )
        for entry in raw["rules"]
    )
