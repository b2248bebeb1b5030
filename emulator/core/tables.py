"""Data tables shipped inside packages: a provider's `models.json`, and the like."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def read_table(package: str, filename: str = "models.json") -> dict[str, Any]:
    """A JSON table by key; keys starting with "$" (comments such as "$comment") left out."""
    raw = json.loads(resources.files(package).joinpath(filename).read_text())
    return {key: value for key, value in raw.items() if not key.startswith("$")}
