"""The app factory: one Starlette app, one port, every provider plus the admin API."""

from __future__ import annotations

from starlette.applications import Starlette

from emulator import admin
from emulator.config import Config
from emulator.core import assets
from emulator.core.auth import KeyPolicy
from emulator.core.clock import CLOCKS
from emulator.core.faults import FaultQueue
from emulator.core.images import ImageCache
from emulator.core.moderation import Moderator, default_rules
from emulator.core.randomness import SeededRandom
from emulator.core.rate_limits import RateLimiter
from emulator.core.runtime import Runtime
from emulator.core.store import STORES
from emulator.core.wallets import Wallets
from emulator.error_handlers import EXCEPTION_HANDLERS
from emulator.providers import PROVIDERS


def create_runtime(config: Config) -> Runtime:
    return Runtime(
        config=config,
        clock=CLOCKS[config.clock](config.clock_start),
        rng=SeededRandom(config.seed),
        store=STORES[config.store](),
        images=ImageCache(config.image_cache_bytes),
        keys=KeyPolicy(config.key_table()),
        moderator=Moderator(default_rules()),
        faults=FaultQueue(),
        wallets=Wallets(),
        rate_limiter=RateLimiter(),
    )


def create_app(config: Config | None = None) -> Starlette:
    runtime = create_runtime(config or Config())
    # Provider routes first: the router tries routes in order, and they carry the traffic.
    routes = [route for provider in PROVIDERS for route in provider.routes]
    routes += [*assets.routes, *admin.routes]
    app = Starlette(routes=routes, exception_handlers=EXCEPTION_HANDLERS)
    app.state.runtime = runtime
    return app
