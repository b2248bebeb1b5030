"""Which recorded exchange a request gets: the matcher's key.

A request and a recorded exchange match when their keys are equal. The key is made of the
parts named in ``[replay] match`` (all four by default):

- ``method``: the HTTP method;
- ``operation``: the provider and operationId (from the contracts' operation tables) and the
  path parameters other than job ids (the model, a Vertex project and location); a job id
  (vibedream's prediction ``id``, 3D AI Studio's ``task_id``) is never compared: polls of a
  replayed job follow its recorded timeline instead (emulator/replay/timeline.py);
- ``query``: the query parameters, credentials (``?key=``) left out, in any order
  (``alt=sse`` is how a stream asks for server-sent events);
- ``body``: the request body, sanitised as the recorder sanitised it (every inline image a
  descriptor, compared by its sha256 alone), JSON compared by value (key order and spacing do
  not matter), with the ``[replay] ignore`` fields left out: a name drops that member at any
  depth, a path from ``$`` (``$.generationConfig.seed``) drops that one place. The default
  ignores ids and timestamps (emulator/recording/sanitise.py VOLATILE_FIELDS).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from emulator.recording.fieldpaths import FieldPath, parse
from emulator.recording.sanitise import (
    IMAGE_KEY,
    SECRET_QUERY_PARAMS,
    VOLATILE_FIELDS,
    sanitise_body,
)

__all__ = ["DEFAULT_IGNORE", "MATCH_PARTS", "Matcher", "RequestFacts"]

MATCH_PARTS = ("method", "operation", "query", "body")
DEFAULT_IGNORE = tuple(sorted(VOLATILE_FIELDS))


@dataclass(frozen=True)
class RequestFacts:
    """What the matcher reads of a request, live or recorded. ``body`` is sanitised text (a
    recording's, or a live body through sanitise_body) or None for no body."""

    method: str
    provider: str
    operation: str
    path_params: Mapping[str, str]
    query: str
    body: str | None


class Matcher:
    """Keys of requests from the ``[replay]`` match parts and ignore list.

    ``ignore`` entries are field names, or paths from ``$`` (InvalidPath when one does not
    parse); ``job_id_params`` are the path parameters never compared (job ids)."""

    def __init__(
        self,
        parts: Sequence[str] = MATCH_PARTS,
        ignore: Iterable[str] = DEFAULT_IGNORE,
        job_id_params: Iterable[str] = (),
    ) -> None:
        unknown = sorted(set(parts) - set(MATCH_PARTS))
        if unknown:
            raise ValueError(f"replay.match: unknown part(s) {', '.join(unknown)}")
        self.parts = tuple(part for part in MATCH_PARTS if part in parts)
        self._names = frozenset(name for name in ignore if not name.startswith("$"))
        self._paths: tuple[FieldPath, ...] = tuple(
            parse(path) for path in ignore if path.startswith("$")
        )
        self._job_id_params = frozenset(job_id_params)

    def key(self, request: RequestFacts) -> str:
        values: dict[str, Any] = {}
        if "method" in self.parts:
            values["method"] = request.method.upper()
        if "operation" in self.parts:
            params = {
                name: value
                for name, value in request.path_params.items()
                if name not in self._job_id_params
            }
            values["operation"] = [request.provider, request.operation, sorted(params.items())]
        if "query" in self.parts:
            values["query"] = sorted(
                (name, value)
                for name, value in parse_qsl(request.query, keep_blank_values=True)
                if name.lower() not in SECRET_QUERY_PARAMS
            )
        if "body" in self.parts:
            values["body"] = self._body(request.body)
        return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def _body(self, text: str | None) -> Any:
        if not text:
            return None
        try:
            value = json.loads(text)
        except ValueError:
            return text  # not JSON: compared as the text it is
        value = _by_identity(value)
        for path in self._paths:
            value = path.dropped(value)
        return _without_names(value, self._names) if self._names else value


def sanitised(body: bytes, content_type: str) -> str | None:
    """A live request body as the recorder would have written it (images as descriptors)."""
    return sanitise_body(body, content_type) if body else None


def _by_identity(value: Any) -> Any:
    """Each image descriptor reduced to its sha256: two sends of one image are one image,
    whatever the thumbnail encoder made of it."""
    if isinstance(value, dict):
        image = value.get(IMAGE_KEY)
        if len(value) == 1 and isinstance(image, dict) and "sha256" in image:
            return {IMAGE_KEY: image["sha256"]}
        return {key: _by_identity(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_by_identity(item) for item in value]
    return value


def _without_names(value: Any, names: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {key: _without_names(item, names) for key, item in value.items() if key not in names}
    if isinstance(value, list):
        return [_without_names(item, names) for item in value]
    return value
