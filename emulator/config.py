"""The emulator's configuration: defaults, a profile, a TOML file, and lookups per provider
and model.

A setting is looked up in the config's own values first (the model's, then the provider's, then
`[defaults]` for every provider), then the same way in the active profile (and the profile it
extends), then the code's default. So any setting can be given at any level, and a file only
says what differs from its profile. Built-in profiles live in `data/profiles.toml`; the file's
shape is checked against `data/config.schema.json`, and every value's meaning on load.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from emulator.core.durations import ZERO, Duration
from emulator.core.faults import FaultTable
from emulator.core.journal import DEFAULT_JOURNAL_SIZE
from emulator.core.moderation import Rule
from emulator.core.rate_limits import RateLimit
from emulator.core.store import DEFAULT_JOB_RETENTION, DEFAULT_MAX_JOBS
from emulator.core.urls import safe_url
from emulator.core.wallets import money

# 14 input images of 7 MB each, base64-encoded (x4/3), plus room for the rest of the JSON.
DEFAULT_MAX_BODY_BYTES = 140 * 2**20
DEFAULT_IMAGE_CACHE_BYTES = 256 * 2**20
DEFAULT_PROFILE = "instant"  # create_app and tests; `serve` defaults to dev
DURATION_KEYS = ("job_duration", "queue_duration", "latency")
DEFAULT_WALLET_BALANCE = 1000  # a key's wallet starts with this, in the provider's unit
NO_FAULTS = FaultTable(())
# Provider routes answer browser pages of any origin (emulator/cors.py); the admin API none.
DEFAULT_CORS_ALLOWED_ORIGINS = ("*",)
# What a request must share with a recorded one to get its answer (emulator/replay/matcher.py).
REPLAY_MATCH = ("method", "operation", "query", "body")


# What a running emulator keeps, whatever config it is given (PUT /_emulator/config, or one
# another worker put in force): the seed, clock and store it runs on, who may reach the admin
# API (decided at start-up, not through the API itself), and the recordings it replays.
RESTART_ONLY = (
    "seed",
    "clock",
    "clock_start",
    "store",
    "admin_token",
    "admin_allowed_origins",
    "allowed_hosts",
    "replay_folder",
    "replay_strict",
    "replay_match",
    "replay_ignore",
)


# The same settings as they are named in the file (and in to_mapping()).
RESTART_ONLY_KEYS = ("seed", "clock", "clock_start", "store", "admin", "allowed_hosts", "replay")


class ConfigError(ValueError):
    pass


@dataclass
class Config:
    seed: int | None = None
    clock: str = "real"
    clock_start: float | None = None
    store: str = "memory"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    image_cache_bytes: int = DEFAULT_IMAGE_CACHE_BYTES
    api_keys: list[str] | None = None  # every provider; None: any non-empty key
    providers: dict[str, dict[str, Any]] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)  # settings for every provider
    profile: str = DEFAULT_PROFILE
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)  # the file's own
    scenarios: list[dict[str, Any]] = field(default_factory=list)  # played from the start
    journal_size: int = DEFAULT_JOURNAL_SIZE
    max_jobs: int = DEFAULT_MAX_JOBS  # the store keeps at most this many jobs
    job_retention: float = DEFAULT_JOB_RETENTION  # seconds a finished job is kept
    admin_token: str | None = None
    # Origins whose pages may call the provider routes ("*": any) and the admin API.
    cors_allowed_origins: list[str] = field(default_factory=lambda: [*DEFAULT_CORS_ALLOWED_ORIGINS])
    admin_allowed_origins: list[str] = field(default_factory=list)
    # Host names served besides loopback ones (trusted_hosts.py); None: any name. `serve` on a
    # loopback address makes it [] when the file says nothing.
    allowed_hosts: list[str] | None = None
    # [replay]: answer requests from recordings (emulator/replay/); None: no replay.
    replay_folder: str | None = None
    replay_strict: bool = False  # refuse what no recording matches
    replay_match: list[str] = field(default_factory=lambda: [*REPLAY_MATCH])
    replay_ignore: list[str] | None = None  # None: the matcher's default (ids, timestamps)

    def __post_init__(self) -> None:
        self._check_settings()
        self._layers = self._resolve_layers()
        self._memo: dict[tuple[str, str | None, str], Any] = {}
        self._parsed_memo: dict[tuple[str, str | None, str], Any] = {}

    @classmethod
    def from_mapping(
        cls, data: Mapping[str, Any], default_profile: str = DEFAULT_PROFILE
    ) -> Config:
        errors = sorted(_schema_validator().iter_errors(data), key=lambda e: list(e.path))
        if errors:
            first = errors[0]
            where = ".".join(str(p) for p in first.absolute_path) or "(top level)"
            raise ConfigError(f"{where}: {first.message}")
        start = data.get("clock_start")
        if isinstance(start, datetime):
            start = start.timestamp()
        elif start is not None and not isinstance(start, int | float):
            raise ConfigError("clock_start: give seconds since the epoch or a TOML date-time")
        replay = data.get("replay", {})
        return cls(
            seed=data.get("seed"),
            clock=data.get("clock", "real"),
            clock_start=start,
            store=data.get("store", "memory"),
            max_body_bytes=data.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES),
            image_cache_bytes=data.get("image_cache_bytes", DEFAULT_IMAGE_CACHE_BYTES),
            api_keys=data.get("auth", {}).get("keys"),
            providers=dict(data.get("providers", {})),
            defaults=dict(data.get("defaults", {})),
            profile=data.get("profile", default_profile),
            profiles=dict(data.get("profiles", {})),
            scenarios=list(data.get("scenarios", [])),
            journal_size=data.get("journal_size", DEFAULT_JOURNAL_SIZE),
            max_jobs=data.get("max_jobs", DEFAULT_MAX_JOBS),
            job_retention=data.get("job_retention", DEFAULT_JOB_RETENTION),
            admin_token=data.get("admin", {}).get("token"),
            cors_allowed_origins=list(
                data.get("cors", {}).get("allowed_origins", DEFAULT_CORS_ALLOWED_ORIGINS)
            ),
            admin_allowed_origins=list(data.get("admin", {}).get("allowed_origins", [])),
            allowed_hosts=None if "allowed_hosts" not in data else list(data["allowed_hosts"]),
            replay_folder=replay.get("folder"),
            replay_strict=bool(replay.get("strict", False)),
            replay_match=list(replay.get("match", REPLAY_MATCH)),
            replay_ignore=None if "ignore" not in replay else list(replay["ignore"]),
        )

    @classmethod
    def load(cls, path: str | Path, default_profile: str = DEFAULT_PROFILE) -> Config:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {path} is not UTF-8 text") from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
        try:
            return cls.from_mapping(data, default_profile)
        except ConfigError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None

    def to_mapping(self) -> dict[str, Any]:
        """The config in its file shape (JSON-able), for the admin API. The admin token and
        the store's password are left out; the keys are in, as the operator wrote them into
        the file (the admin API shows them by fingerprint: config_keys.py). `serve --workers`
        passes the rest on itself (commands/serve.py)."""
        out: dict[str, Any] = {
            "profile": self.profile,
            "clock": self.clock,
            "store": safe_url(self.store),
            "max_body_bytes": self.max_body_bytes,
            "image_cache_bytes": self.image_cache_bytes,
            "journal_size": self.journal_size,
            "max_jobs": self.max_jobs,
            "job_retention": self.job_retention,
            "defaults": self.defaults,
            "providers": self.providers,
            "profiles": self.profiles,
            "scenarios": self.scenarios,
            "cors": {"allowed_origins": self.cors_allowed_origins},
        }
        if self.admin_allowed_origins:
            out["admin"] = {"allowed_origins": self.admin_allowed_origins}
        if self.allowed_hosts is not None:
            out["allowed_hosts"] = self.allowed_hosts
        if self.seed is not None:
            out["seed"] = self.seed
        if self.clock_start is not None:
            out["clock_start"] = self.clock_start
        if self.api_keys is not None:
            out["auth"] = {"keys": self.api_keys}
        if self.replay_folder is not None:
            out["replay"] = {
                "folder": self.replay_folder,
                "strict": self.replay_strict,
                "match": self.replay_match,
                **({} if self.replay_ignore is None else {"ignore": self.replay_ignore}),
            }
        return json.loads(json.dumps(out, default=str))

    def adopt(self, shared: str) -> Config:
        """The config in force on a shared store (JSON of its file shape), with what only a
        restart changes taken from this one (the start-up config of this worker)."""
        adopted = Config.from_mapping(json.loads(shared))
        self.keep_restart_only(adopted)
        return adopted

    def keep_restart_only(self, other: Config) -> None:
        """Give `other` this config's settings that only a restart changes."""
        for name in RESTART_ONLY:
            setattr(other, name, getattr(self, name))

    def with_profile(self, profile: str) -> Config:
        """The same config under another profile (serve --profile)."""
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return Config(**{**data, "profile": profile})

    # ------------------------------------------------------------------ settings

    def setting(self, provider: str, model: str | None, key: str) -> Any:
        """The first value found: this config's model, provider and defaults, then the
        profile's likewise; None when nobody sets it (the code's default applies)."""
        memo_key = (provider, model, key)
        try:
            return self._memo[memo_key]
        except KeyError:
            pass
        value = None
        for providers, defaults in self._layers:
            section = providers.get(provider, {})
            model_section = section.get("models", {}).get(model, {}) if model else {}
            for scope in (model_section, section, defaults):
                if key in scope:
                    value = scope[key]
                    break
            else:
                continue
            break
        self._memo[memo_key] = value
        return value

    def rate_limit(self, provider: str, model: str | None) -> tuple[RateLimit | None, str]:
        """The limit on this model's generation requests, and its bucket: the model's own
        when some layer sets one on this very model, else "*" (the provider's, shared)."""

        def with_bucket(value: Any) -> tuple[RateLimit | None, str]:
            own = model is not None and any(
                "rate_limit" in providers.get(provider, {}).get("models", {}).get(model, {})
                for providers, _ in self._layers
            )
            return RateLimit.from_setting(value), model if own and model else "*"

        return self._parsed(provider, model, "rate_limit", with_bucket) or (None, "*")

    def job_duration(self, provider: str, model: str) -> Duration | None:
        return self.duration(provider, model, "job_duration")

    def duration(self, provider: str, model: str | None, key: str) -> Duration | None:
        """A duration setting (job_duration, queue_duration, latency), or None when unset."""
        return self._parsed(provider, model, key, Duration.parse)

    def latency(self, provider: str, model: str | None) -> Duration:
        return self.duration(provider, model, "latency") or ZERO

    def fault_table(self, provider: str, model: str | None) -> FaultTable:
        return self._parsed(provider, model, "faults", FaultTable.parse) or NO_FAULTS

    def moderation_rules(self, provider: str, model: str | None) -> tuple[Rule, ...]:
        rules = self._parsed(provider, model, "moderation", lambda v: tuple(map(Rule.parse, v)))
        return rules or ()

    def wallet_balance(self, provider: str) -> Decimal:
        """The balance every key's wallet with this provider starts with."""
        balance = self._parsed(provider, None, "wallet_balance", money)
        return money(DEFAULT_WALLET_BALANCE) if balance is None else balance

    def _parsed(
        self, provider: str, model: str | None, key: str, parse: Callable[[Any], Any]
    ) -> Any:
        """A setting turned into its object once (requests read them on the hot path); None
        when unset. The values were checked on load, so parsing cannot fail here."""
        memo_key = (provider, model, key)
        if memo_key not in self._parsed_memo:
            value = self.setting(provider, model, key)
            self._parsed_memo[memo_key] = None if value is None else parse(value)
        return self._parsed_memo[memo_key]

    def key_table(self) -> dict[str, list[str]]:
        """Accepted keys per provider id ("*" for all), for the KeyPolicy."""
        table = {} if self.api_keys is None else {"*": self.api_keys}
        for provider, section in self.providers.items():
            if "api_keys" in section:
                table[provider] = section["api_keys"]
        return table

    # ------------------------------------------------------------------ loading

    def _resolve_layers(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(providers, defaults) pairs, most specific first: this config, then its profile
        chain."""
        layers = [(self.providers, self.defaults)]
        known = {**builtin_profiles(), **self.profiles}
        name: str | None = self.profile
        seen: list[str] = []
        while name is not None:
            if name in seen:
                raise ConfigError(f"profiles: {' -> '.join([*seen, name])} extends in a circle")
            if name not in known:
                raise ConfigError(
                    f"profile: no profile named {name!r}; known: {', '.join(sorted(known))}"
                )
            seen.append(name)
            profile = known[name]
            layers.append((profile.get("providers", {}), profile.get("defaults", {})))
            name = profile.get("extends")
        return layers

    def _check_settings(self) -> None:
        """Every duration, fault table and moderation rule, in this config and in every
        profile it defines (used or not), must make sense now rather than at a request."""
        known = {**builtin_profiles(), **self.profiles}
        named = [("", self.providers, self.defaults)]
        for name, profile in self.profiles.items():
            extends = profile.get("extends")
            if extends is not None and extends not in known:
                raise ConfigError(
                    f"profiles.{name}.extends: no profile named {extends!r};"
                    f" known: {', '.join(sorted(known))}"
                )
            named.append(
                (f"profiles.{name}.", profile.get("providers", {}), profile.get("defaults", {}))
            )
        for prefix, providers, defaults in named:
            scopes: list[tuple[str, Mapping[str, Any]]] = [(f"{prefix}defaults", defaults)]
            for provider, section in providers.items():
                scopes.append((f"{prefix}providers.{provider}", section))
                for model, model_section in section.get("models", {}).items():
                    scopes.append((f"{prefix}providers.{provider}.models.{model}", model_section))
            for where, scope in scopes:
                _check_scope(where, scope)


def _check_scope(where: str, scope: Mapping[str, Any]) -> None:
    checks = {key: Duration.parse for key in DURATION_KEYS}
    checks["faults"] = FaultTable.parse
    checks["moderation"] = lambda rules: [Rule.parse(rule) for rule in rules]
    for key, check in checks.items():
        if key in scope:
            try:
                check(scope[key])
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{where}.{key}: {exc}") from None


@cache
def builtin_profiles() -> dict[str, dict[str, Any]]:
    text = resources.files("emulator.data").joinpath("profiles.toml").read_text()
    return tomllib.loads(text)


@cache
def _schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(resources.files("emulator.data").joinpath("config.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)
