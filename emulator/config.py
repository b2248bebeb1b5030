"""The emulator's configuration: defaults, a TOML file, and lookups per provider and model.

A setting is looked up on the model first, then the provider, so any setting can be given at
either level. The file's shape is checked against `data/config.schema.json` on load.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from emulator.core.randomness import Duration
from emulator.core.wallets import money

# 14 input images of 7 MB each, base64-encoded (x4/3), plus room for the rest of the JSON.
DEFAULT_MAX_BODY_BYTES = 140 * 2**20
DEFAULT_IMAGE_CACHE_BYTES = 256 * 2**20
DURATION_KEYS = ("job_duration", "queue_duration")
DEFAULT_WALLET_BALANCE = 1000  # credits a key's wallet starts with, unless configured


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

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> Config:
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
        config = cls(
            seed=data.get("seed"),
            clock=data.get("clock", "real"),
            clock_start=start,
            store=data.get("store", "memory"),
            max_body_bytes=data.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES),
            image_cache_bytes=data.get("image_cache_bytes", DEFAULT_IMAGE_CACHE_BYTES),
            api_keys=data.get("auth", {}).get("keys"),
            providers=data.get("providers", {}),
        )
        config._check_durations()
        return config

    @classmethod
    def load(cls, path: str | Path) -> Config:
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
            return cls.from_mapping(data)
        except ConfigError as exc:
            raise ConfigError(f"config file {path}: {exc}") from None

    def setting(self, provider: str, model: str | None, key: str) -> Any:
        """The model's value, else the provider's, else None."""
        section = self.providers.get(provider, {})
        model_section = section.get("models", {}).get(model, {}) if model else {}
        return model_section.get(key, section.get(key))

    def job_duration(self, provider: str, model: str) -> Duration | None:
        return self.duration(provider, model, "job_duration")

    def duration(self, provider: str, model: str, key: str) -> Duration | None:
        """A duration setting (job_duration, queue_duration), or None when not configured."""
        value = self.setting(provider, model, key)
        return None if value is None else Duration.parse(value)

    def wallet_balance(self, provider: str) -> Decimal:
        """The balance every key's wallet with this provider starts with."""
        value = self.setting(provider, None, "wallet_balance")
        return money(DEFAULT_WALLET_BALANCE if value is None else value)

    def key_table(self) -> dict[str, list[str]]:
        """Accepted keys per provider id ("*" for all), for the KeyPolicy."""
        table = {} if self.api_keys is None else {"*": self.api_keys}
        for provider, section in self.providers.items():
            if "api_keys" in section:
                table[provider] = section["api_keys"]
        return table

    def _check_durations(self) -> None:
        for provider, section in self.providers.items():
            scopes = [(provider, section)] + [
                (f"{provider}.models.{name}", model)
                for name, model in section.get("models", {}).items()
            ]
            for where, scope in scopes:
                for key in DURATION_KEYS:
                    if key in scope:
                        try:
                            Duration.parse(scope[key])
                        except ValueError as exc:
                            raise ConfigError(f"providers.{where}.{key}: {exc}") from None


@cache
def _schema_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(resources.files("emulator.data").joinpath("config.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)
