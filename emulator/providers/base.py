"""What a provider module declares so the app can serve it.

A provider only translates between its wire format and the core: its routes, the paths it owns
(so unmatched paths and crashes under them are answered in its error shape), how it renders a
neutral ApiError, and an example request for the start-up banner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.responses import Response
from starlette.routing import BaseRoute

from emulator.core.errors import ApiError


@dataclass(frozen=True)
class Provider:
    id: str  # used in config keys, CLI options, the admin API and the journal
    title: str
    routes: Sequence[BaseRoute]
    path_prefixes: tuple[str, ...]
    render_error: Callable[[ApiError], Response]
    example_curl: Callable[[str], str]  # base URL -> a ready-to-paste curl command

    def owns(self, path: str) -> bool:
        return path.startswith(self.path_prefixes)
