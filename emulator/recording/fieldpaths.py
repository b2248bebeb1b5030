"""Field paths into JSON values: the provider table of recordings (protocols.py) names fields
with them, and the replay matcher's ``ignore`` takes them.

A path is ``$`` followed by steps: ``.name`` (a member), ``[3]`` (an item), ``[*]`` (every
item): ``$.outputs[*]``, ``$.results[*].asset_url``, ``$.contents[0].parts[*].text``. The
tables write them without the leading ``$.`` (``outputs[*]``), which means the same.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

__all__ = ["FieldPath", "InvalidPath", "parse"]

WILDCARD = "*"
_STEP = re.compile(r"\.([^.\[\]]+)|\[(\*|\d+)\]")

Step = str | int  # a member name, an item index, or WILDCARD for every item


class InvalidPath(ValueError):
    """A path that does not parse; str() says where."""


class FieldPath:
    """One parsed path; ``values`` reads what it points at, ``changed`` and ``dropped`` make
    copies (the value given is never modified)."""

    def __init__(self, text: str, steps: tuple[Step, ...]) -> None:
        self.text = text
        self.steps = steps

    def __repr__(self) -> str:
        return f"FieldPath({self.text!r})"

    def values(self, value: Any) -> list[Any]:
        found = [value]
        for step in self.steps:
            found = [child for item in found for child in _children(item, step)]
        return found

    def changed(self, value: Any, change: Callable[[Any], Any]) -> Any:
        """A copy with every value the path points at replaced by change(value)."""
        return _change(value, self.steps, change)

    def dropped(self, value: Any) -> Any:
        """A copy without the members (or items) the path points at."""
        return _change(value, self.steps, None)


def parse(text: str) -> FieldPath:
    """``$.a.b[*]`` or ``a.b[*]``; InvalidPath when it does not parse."""
    rest = text[1:] if text.startswith("$") else "." + text
    steps: list[Step] = []
    position = 0
    while position < len(rest):
        found = _STEP.match(rest, position)
        if found is None:
            raise InvalidPath(f"{text!r} is not a field path (at {rest[position:]!r})")
        name, index = found.groups()
        if name is not None:
            steps.append(name)
        else:
            steps.append(WILDCARD if index == WILDCARD else int(index))
        position = found.end()
    if not steps:
        raise InvalidPath(f"{text!r} is not a field path (no step after $)")
    return FieldPath(text, tuple(steps))


def _children(value: Any, step: Step) -> list[Any]:
    if isinstance(step, str) and step != WILDCARD:
        return [value[step]] if isinstance(value, dict) and step in value else []
    if not isinstance(value, list):
        return []
    if step == WILDCARD:
        return list(value)
    assert isinstance(step, int)
    return [value[step]] if -len(value) <= step < len(value) else []


def _change(value: Any, steps: tuple[Step, ...], change: Callable[[Any], Any] | None) -> Any:
    """``change`` None drops what the last step points at."""
    step, rest = steps[0], steps[1:]
    if isinstance(step, str) and step != WILDCARD:
        if not isinstance(value, dict) or step not in value:
            return value
        if not rest and change is None:
            return {key: item for key, item in value.items() if key != step}
        child = change(value[step]) if not rest else _change(value[step], rest, change)
        return {**value, step: child}
    if not isinstance(value, list):
        return value
    chosen = range(len(value)) if step == WILDCARD else [step % len(value)] if value else []
    if isinstance(step, int) and not -len(value) <= step < len(value):
        return value
    picked = set(chosen)
    if not rest and change is None:
        return [item for index, item in enumerate(value) if index not in picked]
    return [
        (change(item) if not rest else _change(item, rest, change)) if index in picked else item
        for index, item in enumerate(value)
    ]
