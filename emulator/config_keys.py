"""The API keys in a config's file shape, shown by fingerprint in the admin API.

`GET /_emulator/config` (and every answer that holds a config) shows each key as
`{"key_fingerprint": "<12 hex digits>"}`, the fingerprint the journal, the wallets and the
scenarios show (core/auth.py). `PUT /_emulator/config` takes keys as strings, as the file
does, and takes such an object back as "the key in force with this fingerprint": so a config
read, changed and sent back keeps the keys it did not touch, and nobody needs to know them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from emulator.core.auth import fingerprint

FINGERPRINT_FIELD = "key_fingerprint"
MIN_BARE_KEY = 8  # redacted(): keys this long are replaced wherever they appear
EACH = "*"  # every value of a mapping, or every item of a list
# Where a key sits in the file shape (config.schema.json): the keys of every provider, a
# provider's own (also in a profile's), a scenario's `match.key`.
KEY_PATHS: tuple[tuple[str, ...], ...] = (
    ("auth", "keys", EACH),
    ("providers", EACH, "api_keys", EACH),
    ("profiles", EACH, "providers", EACH, "api_keys", EACH),
    ("scenarios", EACH, "match", "key"),
)


class UnknownFingerprint(ValueError):
    """A fingerprint sent back that no key in force has."""


def _each(node: Any, path: tuple[str, ...]) -> Iterator[tuple[Any, Any]]:
    """(container, index) of every value at `path` under `node` that exists."""
    step, rest = path[0], path[1:]
    if isinstance(node, dict):
        names = list(node) if step == EACH else [step] if step in node else []
    elif isinstance(node, list) and step == EACH:
        names = list(range(len(node)))
    else:
        return
    for name in names:
        if rest:
            yield from _each(node[name], rest)
        else:
            yield node, name


def _replace(mapping: Any, change: Callable[[Any], Any]) -> None:
    for path in KEY_PATHS:
        for container, name in _each(mapping, path):
            container[name] = change(container[name])


def masked(mapping: dict[str, Any]) -> dict[str, Any]:
    """A config's file shape (a fresh one, JSON-able: it is changed in place) with every
    key replaced by its fingerprint."""
    _replace(
        mapping, lambda key: {FINGERPRINT_FIELD: fingerprint(key)} if isinstance(key, str) else key
    )
    return mapping


def keys_in(mapping: Any) -> list[str]:
    """Every key (a string) in a config's file shape."""
    return [
        container[name]
        for path in KEY_PATHS
        for container, name in _each(mapping, path)
        if isinstance(container[name], str)
    ]


def restored(body: Any, in_force: dict[str, Any]) -> Any:
    """`body` (a config sent to the admin API, changed in place) with each fingerprint object
    replaced by the key of `in_force` (a file shape) that has it; UnknownFingerprint when
    none has."""
    known = {fingerprint(key): key for key in keys_in(in_force)}

    def key_for(value: Any) -> Any:
        if not (isinstance(value, dict) and list(value) == [FINGERPRINT_FIELD]):
            return value  # a key given as itself, or something the schema will refuse
        given = value[FINGERPRINT_FIELD]
        if not isinstance(given, str) or given not in known:
            raise UnknownFingerprint(
                f"no key in force has the fingerprint {given!r}: send a new key as itself"
            )
        return known[given]

    _replace(body, key_for)
    return body


def redacted(text: str, keys: list[str]) -> str:
    """`text` (an error message that may quote the config: jsonschema quotes values with
    repr) with each key as its fingerprint. A short key is replaced only where quoted, so a
    one-letter key does not garble the message."""
    for key in sorted(set(keys), key=len, reverse=True):
        shown = f"<key {fingerprint(key)}>"
        text = text.replace(repr(key), shown)
        if len(key) >= MIN_BARE_KEY:
            text = text.replace(key, shown)
    return text
