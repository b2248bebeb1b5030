"""What emulator a test gets: its profile, seed and config, from the defaults, the command line
(``--imagegen-profile``, ``--imagegen-seed``) and ``@pytest.mark.imagegen`` markers.

``strict=True`` (or ``--imagegen-strict``; the closest marker giving it wins) fails a test at
teardown when a scenario step or queued fault went unused or a request met an unknown endpoint
or model (handle.py, ``unmet_expectations``).

``allow_hosts=[...]`` and ``gateway_url=`` are read by the ``imagegen_intercept`` fixture only
(the closest marker giving one wins; interception.py).

``replay="recordings/"`` (a folder of HAR files, or one) and ``replay_strict=True`` are the
config's ``[replay] folder`` and ``strict``: a test replaying other recordings gets a server of
its own (``replay`` is RESTART_ONLY), and unreadable recordings fail it with one line.

Precedence, later winning: the defaults (profile ``instant``, seed 0, virtual clock), the
command-line options, each marker's ``config`` from the farthest (module) to the closest
(function), each marker's ``profile`` and ``seed``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from emulator.config import RESTART_ONLY_KEYS, Config
from emulator.replay import Player

DEFAULT_PROFILE = "instant"
# Fixed, so a test run is reproducible by default (ids, durations, faults drawn at random).
DEFAULT_SEED = 0
# What a running emulator cannot change (PUT /_emulator/config keeps them): a test that asks for
# other values of these gets a server of its own.
RESTART_ONLY = RESTART_ONLY_KEYS
MARKER_ARGUMENTS = (
    "profile",
    "seed",
    "config",
    "replay",
    "replay_strict",
    "strict",
    # imagegen_intercept's only: hosts let through, and the gateway's base URL.
    "allow_hosts",
    "gateway_url",
)


class SettingsError(ValueError):
    """A marker or option that does not make a valid emulator config."""


@dataclass(frozen=True)
class EmulatorSettings:
    mapping: dict[str, Any] = field(default_factory=dict)  # the config, in the file's shape

    @property
    def profile(self) -> str:
        return str(self.mapping["profile"])

    @property
    def seed(self) -> int:
        return int(self.mapping["seed"])

    @property
    def admin_token(self) -> str | None:
        return self.mapping.get("admin", {}).get("token")

    def build(self) -> Config:
        """The Config, checked as the admin API would check it, its recordings readable;
        SettingsError says why not."""
        try:
            config = Config.from_mapping(self.mapping)
            if config.replay_folder is not None:
                Player.from_config(config)  # a missing folder or a corrupt HAR file, here
        except ValueError as exc:  # ConfigError, RecordingError, and an unreadable value
            raise SettingsError(str(exc)) from None
        return config

    def server_key(self) -> str:
        """Equal for settings one running server can take by a config change and a reset."""
        fixed = {name: self.mapping.get(name) for name in RESTART_ONLY}
        return json.dumps(fixed, sort_keys=True, default=str)


def resolve(
    option_profile: str | None,
    option_seed: int | None,
    markers: Iterable[tuple[tuple[Any, ...], Mapping[str, Any]]],
) -> EmulatorSettings:
    """``markers``: the (args, kwargs) of each imagegen marker, closest first (pytest's
    iter_markers order)."""
    mapping: dict[str, Any] = {
        "clock": "virtual",
        "profile": option_profile or DEFAULT_PROFILE,
        "seed": DEFAULT_SEED if option_seed is None else option_seed,
    }
    for args, kwargs in reversed(list(markers)):
        unknown = sorted(set(kwargs) - set(MARKER_ARGUMENTS))
        if args or unknown:
            given = ", ".join([*map(repr, args), *unknown])
            raise SettingsError(
                f"imagegen marker: unexpected argument(s) {given}; it takes keyword arguments"
                f" {', '.join(MARKER_ARGUMENTS)}"
            )
        config = kwargs.get("config") or {}
        if not isinstance(config, Mapping):
            raise SettingsError("imagegen marker: config= is a mapping in the config file's shape")
        mapping = deep_merge(mapping, config)
        for name in ("profile", "seed"):
            if kwargs.get(name) is not None:
                mapping[name] = kwargs[name]
        replay = {
            key: value
            for key, value in (
                ("folder", kwargs.get("replay")),
                ("strict", kwargs.get("replay_strict")),
            )
            if value is not None
        }
        if "folder" in replay:
            replay["folder"] = str(replay["folder"])  # a pathlib.Path too
        if replay:
            mapping = deep_merge(mapping, {"replay": replay})
    return EmulatorSettings(mapping)


def resolve_strict(
    option_strict: bool, markers: Iterable[tuple[tuple[Any, ...], Mapping[str, Any]]]
) -> bool:
    """Whether the test fails at teardown on unused faults and unexpected requests: the
    closest marker's ``strict`` when one gives it, else ``--imagegen-strict``."""
    return bool(closest(markers, "strict", option_strict))


def closest(
    markers: Iterable[tuple[tuple[Any, ...], Mapping[str, Any]]], name: str, default: Any
) -> Any:
    """The closest marker's ``name`` when one gives it (not None), else ``default``."""
    for _args, kwargs in markers:
        if kwargs.get(name) is not None:
            return kwargs[name]
    return default


def deep_merge(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it: tables merge key by key, anything else is
    replaced. Neither argument is modified."""
    merged = dict(base)
    for key, value in changes.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
