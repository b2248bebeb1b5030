"""The bundle of core services one app instance runs on, reachable from any request handler."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from starlette.requests import Request

from emulator.config import Config
from emulator.core.auth import KeyPolicy
from emulator.core.clock import CLOCKS, Clock
from emulator.core.errors import ApiError, ErrorKind, QuotaBreach
from emulator.core.faults import Decision, FaultPolicy
from emulator.core.images import ImageCache
from emulator.core.journal import Journal
from emulator.core.moderation import Moderator
from emulator.core.randomness import SeededRandom
from emulator.core.rate_limits import RateLimiter
from emulator.core.scenarios import Scenarios
from emulator.core.store import STORES, Store
from emulator.core.uploads import UploadStore
from emulator.core.wallets import Wallets


@dataclass
class Runtime:
    config: Config
    provider_ids: Sequence[str]
    clock: Clock
    rng: SeededRandom  # ids, durations and pictures
    fault_rng: SeededRandom  # faults, latency and random moderation: their own stream
    store: Store
    images: ImageCache
    keys: KeyPolicy
    moderator: Moderator
    scenarios: Scenarios
    faults: FaultPolicy
    wallets: Wallets
    rate_limiter: RateLimiter
    journal: Journal
    uploads: UploadStore  # files clients uploaded (the Gemini API's Files API)
    # What else a reset starts over (a replay's playback sequences): called after the rest.
    on_reset: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def create(cls, config: Config, provider_ids: Sequence[str]) -> Runtime:
        clock = CLOCKS[config.clock](config.clock_start)
        rng = SeededRandom(config.seed)
        fault_rng = rng.fork("faults")
        scenarios = Scenarios()
        runtime = cls(
            config=config,
            provider_ids=tuple(provider_ids),
            clock=clock,
            rng=rng,
            fault_rng=fault_rng,
            store=STORES[config.store](clock, config.max_jobs, config.job_retention),
            images=ImageCache(config.image_cache_bytes),
            keys=KeyPolicy(config.key_table()),
            moderator=Moderator(config, fault_rng),
            scenarios=scenarios,
            faults=FaultPolicy(config, fault_rng, scenarios, clock),
            wallets=Wallets(),
            rate_limiter=RateLimiter(),
            journal=Journal(config.journal_size),
            uploads=UploadStore(clock),
        )
        runtime.load_scenarios()
        return runtime

    def admit(
        self,
        request: Request,
        *,
        provider: str,
        route: str,
        model: str | None,
        owner: str | None,
        starts_job: bool = False,
        rate_limited: bool = False,
    ) -> Decision:
        """Decide the request's fault and latency (raising an HTTP fault), then, for a request
        that generates (`rate_limited`), take a token from the key's rate limit (raising 429).
        A 429 raised here carries the QuotaBreach it stands for (`ApiError.quota`)."""
        try:
            decision = self.faults.decide(
                request,
                provider=provider,
                route=route,
                model=model,
                owner=owner,
                starts_job=starts_job,
            )
            if rate_limited and owner is not None:
                limit, bucket = self.config.rate_limit(provider, model)
                if limit is not None:
                    self.rate_limiter.take((provider, bucket, owner), limit, self.clock.now())
        except ApiError as error:
            if error.kind is ErrorKind.RATE_LIMITED and error.quota is None:
                limit, _ = self.config.rate_limit(provider, model)
                error.quota = QuotaBreach(
                    model,
                    limit.requests if limit is not None else None,
                    limit.per_seconds if limit is not None else None,
                )
            raise
        return decision

    def load_scenarios(self) -> None:
        """The config's scenarios, from their first step."""
        self.scenarios.load(self.config.scenarios, self.provider_ids, "scenarios")

    def apply_config(self, config: Config) -> None:
        """Run on a new config from now on. Jobs, files, wallets and the clock stay; the
        config's scenarios start over; the seed, clock mode, store and replay need a restart."""
        config.seed, config.clock, config.store = self.rng.seed, self.clock.mode, self.config.store
        # The recordings replayed were loaded at start (emulator/replay/): a restart changes them.
        for name in ("replay_folder", "replay_strict", "replay_match", "replay_ignore"):
            setattr(config, name, getattr(self.config, name))
        self.config = config
        self.store.max_jobs, self.store.job_retention = config.max_jobs, config.job_retention
        self.keys = KeyPolicy(config.key_table())
        self.moderator = Moderator(config, self.fault_rng)
        self.faults = FaultPolicy(config, self.fault_rng, self.scenarios, self.clock)
        if self.journal.size != config.journal_size:
            self.journal = Journal(config.journal_size)
        self.scenarios.clear()
        self.load_scenarios()

    def reset(self) -> None:
        """Back to a just-started state: no jobs, files, wallets, rate-limit state, journal
        or run-time scenarios; the config's scenarios from their first step; clock offset 0;
        generators re-seeded."""
        self.store.clear()
        self.uploads.clear()
        self.images.clear()
        self.rng.reset()
        self.fault_rng.reset()
        self.clock.reset()
        self.wallets.clear()
        self.rate_limiter.clear()
        self.journal.clear()
        self.scenarios.clear()
        self.load_scenarios()
        for start_over in self.on_reset:
            start_over()


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime
