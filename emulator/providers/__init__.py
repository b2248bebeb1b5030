"""The registry of emulated providers: adding one is a module and one line here."""

from emulator.providers.aistudio3d import PROVIDER as AISTUDIO3D
from emulator.providers.base import ErrorShape, Provider
from emulator.providers.vertex import PROVIDER as VERTEX
from emulator.providers.vibedream import PROVIDER as VIBEDREAM

PROVIDERS: tuple[Provider, ...] = (VIBEDREAM, VERTEX, AISTUDIO3D)


def provider_for_path(path: str) -> Provider | None:
    return next((provider for provider in PROVIDERS if provider.owns(path)), None)


def error_shape_for_path(path: str) -> tuple[Provider, ErrorShape] | None:
    """The provider owning `path` and the error shape it answers that path in."""
    for provider in PROVIDERS:
        shape = provider.error_shape(path)
        if shape is not None:
            return provider, shape
    return None


def job_id_params() -> frozenset[str]:
    """Every provider's route parameters that name a job."""
    return frozenset(name for provider in PROVIDERS for name in provider.job_id_params)


def provider_path_prefixes() -> tuple[str, ...]:
    """Every path prefix a provider owns (its error shapes'), in the registry's order."""
    return tuple(
        prefix
        for provider in PROVIDERS
        for shape in provider.error_shapes
        for prefix in shape.path_prefixes
    )
