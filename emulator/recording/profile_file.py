"""A fitted profile (emulator/recording/calibration.py) as a TOML config file: a header saying
what it was fitted from and when, ``profile = NAME``, and ``[profiles.NAME]`` with each figure's
note as a comment (a figure kept from the base profile is a comment only). Written atomically,
so a failure leaves no file or the old one."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from emulator.recording.calibration import Calibration, Figure

__all__ = ["render_profile", "toml_value"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def toml_value(value: Any) -> str:
    """A value of the fitted profile (numbers, booleans, strings, inline tables, arrays)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"no TOML for {value}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string: JSON's escapes are TOML's
    if isinstance(value, Mapping):
        inner = ", ".join(f"{toml_key(str(k))} = {toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {type(value).__name__}")


def _comment(text: str) -> str:
    return "# " + " ".join(text.split())


def _figure_lines(figures: list[Figure]) -> list[str]:
    lines = []
    for figure in figures:
        if figure.value is None:
            lines.append(_comment(f"{figure.key}: {figure.note}"))
        else:
            lines.append(
                f"{toml_key(figure.key)} = {toml_value(figure.value)}  {_comment(figure.note)}"
            )
    return lines


def render_profile(
    calibration: Calibration, name: str, *, fitted_at: datetime, sources: str
) -> str:
    """The config file's text. ``sources`` names what was read (a folder, a file)."""
    span = (
        f"recorded {calibration.first.isoformat()} to {calibration.last.isoformat()}"
        f" ({(calibration.last - calibration.first).total_seconds():g} s)"
        if calibration.first is not None and calibration.last is not None
        else "no timestamps"
    )
    providers = ", ".join(calibration.providers) or "none recognised"
    fitted = f"{calibration.entries} entries ({calibration.requests} requests) of {sources}"
    header = [
        _comment(f"Fitted by `imagegen-emulator calibrate` at {fitted_at.isoformat()} from"),
        _comment(f"{fitted},"),
        _comment(f"{span}; providers: {providers}."),
        _comment("Durations: lognormal, the samples' median, sigma from the interquartile range,"),
        _comment("clamped to the 1st-99th percentiles; rates: the share of requests (or jobs)."),
        _comment("A figure with too few samples is left out (the base profile's value stays):"),
        _comment("its comment says so. emulator/recording/calibration.py tells how."),
        _comment(f"Use: imagegen-emulator serve --config FILE  (profile {name!r})."),
        "",
        f"profile = {toml_value(name)}",
        "",
        f"[profiles.{toml_key(name)}]",
        f"extends = {toml_value(calibration.base)}",
        f"description = {toml_value(f'fitted to {fitted}')}",
    ]
    sections: dict[tuple[str, str | None], list[Figure]] = {}
    for figure in calibration.figures:
        sections.setdefault((figure.provider, figure.model), []).append(figure)
    lines = header
    for provider in calibration.providers:
        own = sections.get((provider, None), [])
        lines += ["", f"[profiles.{toml_key(name)}.providers.{toml_key(provider)}]"]
        lines += _figure_lines(own)
        models = sorted(model for p, model in sections if p == provider and model is not None)
        for model in models:
            lines += [
                "",
                f"[profiles.{toml_key(name)}.providers.{toml_key(provider)}"
                f".models.{json.dumps(model)}]",
            ]
            lines += _figure_lines(sections[(provider, model)])
    return "\n".join(lines) + "\n"
