"""Request validation against the contract schemas, with errors a user can act on.

The contracts' JSON Schemas are the single source of every type, enum, range and default; this
module turns the first schema violation into a neutral ApiError naming the offending field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from jsonschema import ValidationError
from jsonschema.exceptions import best_match

import contracts
from emulator.core.errors import ApiError, ErrorKind

_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def field_name(path: Iterable[Any]) -> str:
    """JSON path as a user writes it: images[2], generationConfig.imageConfig.aspectRatio."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def check(provider: str, schema: str, instance: Any) -> None:
    """Raise a 400 ApiError naming the first field of `instance` that breaks the contract."""
    if not isinstance(instance, dict):
        raise ApiError(
            ErrorKind.INVALID_REQUEST,
            f"The request body must be a JSON object, got {_describe(instance)}.",
        )
    if contracts.is_valid(provider, schema, instance):
        return
    # The slow, reference validator words the error (and has the last word on validity).
    error = best_match(contracts.validator(provider, schema).iter_errors(instance))
    if error is not None:
        field, reason = explain(error)
        raise ApiError(ErrorKind.INVALID_REQUEST, f"{field or 'body'}: {reason}", field=field)


def explain(error: ValidationError) -> tuple[str, str]:
    """(field, reason) for one schema violation."""
    path = list(error.absolute_path)
    if isinstance(error.schema, dict) and isinstance(error.schema.get("errorMessage"), str):
        # A schema may word its own failure (the ajv-errors `errorMessage` convention).
        return field_name(path), error.schema["errorMessage"]
    value = error.instance
    rule = error.validator_value
    match error.validator:
        case "required":
            missing = next((name for name in rule if name not in value), rule[0])
            return field_name([*path, missing]), "is required."
        case "enum":
            options = ", ".join(_show(option) for option in rule)
            return field_name(path), f"must be one of {options}; got {_show(value)}."
        case "const":
            return field_name(path), f"must be {_show(rule)}; got {_show(value)}."
        case "type":
            wanted = " or ".join(rule) if isinstance(rule, list) else rule
            return field_name(path), f"must be of type {wanted}; got {_describe(value)}."
        case "minimum" | "exclusiveMinimum":
            return field_name(path), f"must be at least {rule}; got {_show(value)}."
        case "maximum" | "exclusiveMaximum":
            return field_name(path), f"must be at most {rule}; got {_show(value)}."
        case "minItems":
            return field_name(path), f"needs at least {rule} item(s); got {len(value)}."
        case "maxItems":
            return field_name(path), f"takes at most {rule} items; got {len(value)}."
        case "minLength":
            return field_name(path), f"must be at least {rule} character(s) long."
        case "maxLength":
            return field_name(path), f"must be at most {rule} characters long."
        case "pattern":
            return field_name(path), f"{_show(value)} does not match the pattern {rule}."
        case "additionalProperties" if isinstance(value, dict):
            known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            unknown = next((name for name in value if name not in known), "?")
            return field_name([*path, unknown]), "unknown field; it cannot be given here."
        case _:
            return field_name(path), error.message


def _describe(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, str | bool | None) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
