"""The registry of emulated providers: adding one is a module and one line here."""

from emulator.providers.base import Provider
from emulator.providers.vibedream import PROVIDER as VIBEDREAM

PROVIDERS: tuple[Provider, ...] = (VIBEDREAM,)


def provider_for_path(path: str) -> Provider | None:
    return next((provider for provider in PROVIDERS if provider.owns(path)), None)
