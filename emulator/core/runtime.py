"""The bundle of core services one app instance runs on, reachable from any request handler."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from starlette.requests import Request

from emulator.config import Config
from emulator.core.auth import KeyPolicy
from emulator.core.backends import Backend, MemoryBackend, open_backend
from emulator.core.clock import Clock
from emulator.core.errors import ApiError, ErrorKind, QuotaBreach
from emulator.core.faults import Decision, FaultPolicy
from emulator.core.images import ImageCache
from emulator.core.moderation import Moderator
from emulator.core.randomness import SeededRandom
from emulator.core.store import Store
from emulator.core.workers import worker_index

if TYPE_CHECKING:  # the memory classes; a shared backend gives their Redis twins
    from emulator.core.counters import Counters
    from emulator.core.journal import Journal
    from emulator.core.rate_limits import RateLimiter
    from emulator.core.scenarios import Scenarios
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
    counters: Counters  # start over on reset (a replay's playback positions)
    backend: Backend = field(default_factory=MemoryBackend)  # where the state above lives
    seed: int | None = None  # the run's seed (a worker's generators fork from it)
    # Path parameters that name a job (a poll's): read with the epoch on a shared store.
    job_id_params: frozenset[str] = frozenset()

    @classmethod
    def create(cls, config: Config, provider_ids: Sequence[str]) -> Runtime:
        """The runtime of `config`; on a shared store (a Redis URL), the config in force there
        when this worker was started with the one the others were (see core/redis/backend.py).
        StoreUnavailable when that store cannot be reached."""
        backend = open_backend(config.store)
        current, published = backend.start(config)
        if not published:
            config = config.adopt(current)
        clock = backend.clock(config)
        rng = SeededRandom(config.seed)
        seed = rng.seed
        index = worker_index()
        if index:
            # Workers of one seed must not draw the same ids: each its own stream.
            rng = rng.fork(f"worker-{index}")
        fault_rng = rng.fork("faults")
        scenarios = backend.scenarios()
        wallets = backend.wallets()
        runtime = cls(
            config=config,
            provider_ids=tuple(provider_ids),
            clock=clock,
            rng=rng,
            fault_rng=fault_rng,
            store=backend.store(clock, config, wallets),
            images=ImageCache(config.image_cache_bytes),
            keys=KeyPolicy(config.key_table()),
            moderator=Moderator(config, fault_rng),
            scenarios=scenarios,
            faults=FaultPolicy(config, fault_rng, scenarios, clock),
            wallets=wallets,
            rate_limiter=backend.rate_limiter(config),
            journal=backend.journal(config.journal_size),
            uploads=backend.uploads(clock),
            counters=backend.counters(),
            backend=backend,
            seed=seed,
        )
        if published:
            # Shared scenarios are loaded once, by the worker that put its config in force.
            runtime.scenarios.clear()
            runtime.load_scenarios()
        backend.attach(runtime)
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

    def apply_config(self, config: Config, *, publish: bool = True) -> None:
        """Run on a new config from now on. Jobs, files, wallets and the clock stay; the
        config's scenarios start over; the seed, clock mode, store, replay and who may reach
        the admin API need a restart. `publish`: tell the other workers (a change made here);
        not for one another worker made."""
        self.config.keep_restart_only(config)
        config.seed = self.seed  # the seed drawn when none was given, so a replay can use it
        self.config = config
        self.store.max_jobs, self.store.job_retention = config.max_jobs, config.job_retention
        self.keys = KeyPolicy(config.key_table())
        self.moderator = Moderator(config, self.fault_rng)
        self.faults = FaultPolicy(config, self.fault_rng, self.scenarios, self.clock)
        if self.journal.size != config.journal_size:
            self.journal = self.backend.journal(config.journal_size)
        if publish:
            self.backend.publish_config(config)
            self.scenarios.clear()
            self.load_scenarios()

    def reset(self) -> None:
        """Back to a just-started state: no jobs, files, wallets, rate-limit state, journal
        or run-time scenarios; the config's scenarios from their first step; clock offset 0;
        generators re-seeded. On a shared store, for every worker."""
        self.backend.reset()
        self.store.clear()
        self.uploads.clear()
        self.clock.reset()
        self.wallets.clear()
        self.rate_limiter.clear()
        self.journal.clear()
        self.counters.clear()
        self.scenarios.clear()
        self.load_scenarios()
        self.start_over_here()

    def start_over_here(self) -> None:
        """What a reset starts over in this process: the generators and the rendered images
        (on a shared store, run when another worker reset)."""
        self.rng.reset()
        self.fault_rng.reset()
        self.images.clear()


def runtime(request: Request) -> Runtime:
    """The request's runtime. On a shared store, the first call of a request reads the epoch
    (clock, config, reset: whatever another worker changed) before the handler goes on, with
    the job its path names, if any: one round trip, inside the handler, so a store that is
    down is answered in the provider's shape."""
    rt: Runtime = request.app.state.runtime
    if rt.backend.shared:
        params = request.path_params
        rt.backend.sync([params[name] for name in rt.job_id_params if name in params])
    return rt
