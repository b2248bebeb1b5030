"""A stored picture's recipe: plain data (a kind and its parameters) from which the picture's
ImageSpec is built on first download. A shared store (several workers, one Redis) keeps a job's
files as recipes, so any worker can render any file, with the same bytes and ETag.

The core knows no provider: each provider (and the replay) registers the builder of its kind
with one line, `register(KIND, builder)`, at import; `build(recipe)` looks the kind up.

Parameters are JSON values (str, int, float, bool, None, lists, string-keyed dicts) plus
`bytes` (an edit's input as its small stand-in, images.source_stand_in: kilobytes, not the
upload). `dumps`/`loads` write and read a recipe as JSON, bytes as base64; use lists rather
than tuples, so that a recipe read back equals the one written.
"""

from __future__ import annotations

import json
import sys
from base64 import b64decode, b64encode
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from emulator.core.images import ImageSpec

__all__ = ["Builder", "Recipe", "build", "dumps", "from_data", "loads", "register", "to_data"]

Builder = Callable[[Mapping[str, Any]], ImageSpec]

_builders: dict[str, Builder] = {}

# How bytes, and a dict that could be mistaken for them, are written in JSON.
_BYTES_TAG = "$bytes"
_DICT_TAG = "$dict"


@dataclass(frozen=True, slots=True, eq=True)
class Recipe:
    kind: str  # a registered builder's name, e.g. "vibedream.image"
    # The builder's arguments. Not copied: a provider may share one dict with its job's params.
    params: Mapping[str, Any]
    # Set for a thumbnail: the picture of `kind` and `params`, scaled to fit this side.
    max_side: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", sys.intern(self.kind))

    def scaled(self, max_side: int) -> Recipe:
        """The same picture scaled to fit max_side (a thumbnail): its parameters shared."""
        return Recipe(self.kind, self.params, max_side)

    # A recipe holds dicts, so it has no hash; equality is by value.
    __hash__ = None  # type: ignore[assignment]


def register(kind: str, builder: Builder) -> None:
    """Make `kind` buildable. Registering another builder under a taken kind is a bug."""
    known = _builders.setdefault(kind, builder)
    if known is not builder:
        raise ValueError(f"recipe kind {kind!r} is registered twice")


def build(recipe: Recipe) -> ImageSpec:
    """The picture's spec: the same recipe gives the same spec (and cache key) in any process."""
    builder = _builders.get(recipe.kind)
    if builder is None:
        raise LookupError(f"no builder registered for recipe kind {recipe.kind!r}")
    spec = builder(recipe.params)
    return spec if recipe.max_side is None else spec.scaled(recipe.max_side)


def to_data(recipe: Recipe) -> dict[str, Any]:
    """The recipe as a JSON value (bytes base64-encoded), to embed in a larger document."""
    return {"kind": recipe.kind, "params": _encode(recipe.params), "max_side": recipe.max_side}


def dumps(recipe: Recipe) -> str:
    """The recipe as JSON text."""
    return json.dumps(to_data(recipe), separators=(",", ":"), sort_keys=True)


def loads(text: str | bytes) -> Recipe:
    """A recipe read back from `dumps`; ValueError for text that is not one."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not a recipe: {exc}") from None
    return from_data(data)


def from_data(data: Any) -> Recipe:
    """A recipe read back from `to_data`; ValueError for a value that is not one."""
    try:
        params = _decode(data["params"])
        kind, max_side = data["kind"], data["max_side"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"not a recipe: {exc}") from None
    if not isinstance(kind, str) or not isinstance(params, dict):
        raise ValueError("not a recipe: kind must be a string and params an object")
    if max_side is not None and not isinstance(max_side, int):
        raise ValueError("not a recipe: max_side must be an integer or null")
    return Recipe(kind, params, max_side)


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {_BYTES_TAG: b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        encoded = {str(key): _encode(item) for key, item in value.items()}
        # A one-key dict that looks like a tag is wrapped, so it reads back as itself.
        return {_DICT_TAG: encoded} if _is_tagged(encoded) else encoded
    if isinstance(value, list | tuple):
        return [_encode(item) for item in value]
    if value is None or isinstance(value, str | int | float):
        return value
    raise TypeError(f"a recipe holds data only, not {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if _is_tagged(value):
            ((tag, inner),) = value.items()
            if tag == _BYTES_TAG:
                return b64decode(inner, validate=True)
            return {key: _decode(item) for key, item in inner.items()}
        return {key: _decode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode(item) for item in value]
    return value


def _is_tagged(value: Mapping[str, Any]) -> bool:
    return len(value) == 1 and next(iter(value)) in (_BYTES_TAG, _DICT_TAG)
