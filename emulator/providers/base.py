"""What a provider module declares so the app can serve it.

A provider only translates between its wire format and the core: its routes, the error shapes
it answers in (each owning some path prefixes, so unmatched paths and crashes under them are
answered in that shape), and an example request for the start-up banner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from starlette.responses import Response
from starlette.routing import BaseRoute

from emulator.core.errors import ApiError


@dataclass(frozen=True)
class ErrorShape:
    """One error body of a provider, and the paths answered in it."""

    path_prefixes: tuple[str, ...]
    render: Callable[[ApiError], Response]
    schema: str  # the body's contract, in contracts/<provider id>/

    def owns(self, path: str) -> bool:
        return path.startswith(self.path_prefixes)


@dataclass(frozen=True)
class Provider:
    id: str  # used in config keys, CLI options, the admin API and the journal
    title: str
    routes: Sequence[BaseRoute]
    error_shapes: tuple[ErrorShape, ...]
    example_curl: Callable[[str], str]  # base URL -> a ready-to-paste curl command
    # Route path parameters naming a job (a poll's): a shared store reads the job with the
    # request's first round trip.
    job_id_params: tuple[str, ...] = ()
    # The ids of the models it serves (its catalog): what a request may name.
    model_ids: Callable[[], Iterable[str]] = tuple
    # The real provider's host names, as regular expressions of a whole host (moto's
    # url_bases): what emulator.testing.intercept answers in-process.
    real_hosts: tuple[str, ...] = ()
    # Where the real provider's output files live (scheme://host): the `asset_base_url` an
    # intercepted emulator names in its answers. None: it answers with the file inline.
    real_asset_base_url: str | None = None

    def error_shape(self, path: str) -> ErrorShape | None:
        return next((shape for shape in self.error_shapes if shape.owns(path)), None)

    def owns(self, path: str) -> bool:
        return self.error_shape(path) is not None
