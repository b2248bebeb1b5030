"""Which prompts a provider's safety filter blocks, and when.

Provider-neutral: a verdict names the stage (the prompt is refused before anything is
generated, or the generated output is withheld) and a category; each provider words it in its
own shape (a failed prediction, a blockReason, a failed task). The built-in rules live in
`emulator/data/moderation.json`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources


class Stage(StrEnum):
    PROMPT = "prompt"  # refused before generating
    OUTPUT = "output"  # generated, then withheld


class Category(StrEnum):
    PROHIBITED = "prohibited"
    BLOCKLIST = "blocklist"
    SAFETY = "safety"
    OTHER = "other"


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    stage: Stage
    category: Category


@dataclass(frozen=True)
class Verdict:
    stage: Stage
    category: Category
    trigger: str  # the text that matched, for messages and the journal


class Moderator:
    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules

    def judge(self, text: str) -> Verdict | None:
        """The first rule the text matches, or None when it passes."""
        for rule in self.rules:
            found = rule.pattern.search(text)
            if found:
                return Verdict(rule.stage, rule.category, found.group(0))
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
