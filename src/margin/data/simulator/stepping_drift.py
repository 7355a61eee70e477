"""Drift of a stepping world: how its truth changes after the history (deterministic).

Every drift starts after the history: in the history's weeks (``t < H``) nothing drifts,
so a world with drift has the same history as one without. With ``y_t = max(t − H, 0) ·
7 / 365.25`` the years since the history ended:

* ``effects``: each channel's effect (beta) is multiplied by ``exp(r_c · y_t + w_c(t))``,
  ``r_c ~ Uniform(−e, e)`` a yearly trend and ``w_c`` a Gaussian random walk with weekly
  steps of sd ``e / 3 / √52.18`` (``e = effects_per_year``, default 0.15: ±15% a year).
* ``saturation``: one channel's half-saturation point K is multiplied by
  ``(1 + saturation_per_year)^{y_t}`` (default: the first channel, +30% a year: it
  saturates later, so its marginal return at high spend rises).
* ``competitor``: from ``competitor_week`` weeks after the history (default 26), the
  baseline drops by ``competitor_baseline_drop`` (default 5%) and one channel's effect by
  ``competitor_effect_drop`` (default 30%; default channel: the second).

The draws come from their own stream of the world's seed, fixed at ``init``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from margin.data.simulator.media import Drift
from margin.data.simulator.params import WorldParams
from margin.data.simulator.plan import DAYS_PER_YEAR
from margin.errors import ConfigError
from margin.types import FloatArray

__all__ = ["DRIFT_KINDS", "DriftOptions", "drift_multipliers"]

DRIFT_KINDS: tuple[str, ...] = ("effects", "saturation", "competitor")
MAX_WEEKS = 520
"""The longest world (history and steps) drift paths are drawn for (``WorldParams.n_weeks``' cap)."""
_DRIFT_STREAM = 7_100
_WEEKS_PER_YEAR = DAYS_PER_YEAR / 7


@dataclass(frozen=True)
class DriftOptions:
    """Which drifts a stepping world has, and how strong (see the module docstring)."""

    kinds: tuple[str, ...] = ()
    effects_per_year: float = 0.15
    saturation_channel: str | None = None
    saturation_per_year: float = 0.30
    competitor_week: int = 26
    competitor_channel: str | None = None
    competitor_baseline_drop: float = 0.05
    competitor_effect_drop: float = 0.30

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(DRIFT_KINDS))
        if unknown:
            raise ConfigError(
                f"drift {', '.join(unknown)} is unknown; use any of {', '.join(DRIFT_KINDS)}"
            )
        object.__setattr__(self, "kinds", tuple(k for k in DRIFT_KINDS if k in self.kinds))
        checks = {
            "effects_per_year": 0 <= self.effects_per_year < 1,
            "saturation_per_year": -0.9 < self.saturation_per_year < 5,
            "competitor_week": self.competitor_week >= 0,
            "competitor_baseline_drop": 0 <= self.competitor_baseline_drop < 0.5,
            "competitor_effect_drop": 0 <= self.competitor_effect_drop <= 1,
        }
        for name, ok in checks.items():
            value = getattr(self, name)
            if not ok or not math.isfinite(value):
                raise ConfigError(
                    f"DriftOptions.{name} = {value!r} is out of range; see "
                    "margin.data.simulator.stepping_drift for what each drift means"
                )

    def channels(self, params: WorldParams) -> tuple[str, str]:
        """The saturation and competitor channels (defaults: the first and second channel).

        Raises:
            ConfigError: a named channel is not one of the world's.
        """
        names = params.channel_names
        chosen = (
            self.saturation_channel or names[0],
            self.competitor_channel or names[min(1, len(names) - 1)],
        )
        for option, name in zip(("saturation_channel", "competitor_channel"), chosen, strict=True):
            if name not in names:
                raise ConfigError(
                    f"DriftOptions.{option} = {name!r} is not a channel of the world; "
                    f"use one of {', '.join(names)}"
                )
        return chosen


def _effects(options: DriftOptions, n_channels: int, seed: int) -> FloatArray:
    """Log-multipliers of beta for weeks ``0..MAX_WEEKS-1`` after the history."""
    sequence = np.random.SeedSequence(seed, spawn_key=(_DRIFT_STREAM,))
    rng = np.random.default_rng(sequence)
    rate = options.effects_per_year
    trend = rng.uniform(-rate, rate, n_channels)
    steps = rng.normal(0.0, rate / 3 / math.sqrt(_WEEKS_PER_YEAR), (MAX_WEEKS, n_channels))
    steps[0] = 0.0
    years = np.arange(MAX_WEEKS)[:, None] / _WEEKS_PER_YEAR
    log_multiplier: FloatArray = trend[None, :] * years + np.cumsum(steps, axis=0)
    return log_multiplier


def drift_multipliers(
    options: DriftOptions, params: WorldParams, seed: int, history_weeks: int, n_times: int
) -> Drift | None:
    """The world's drift over weeks ``0..n_times-1`` (``None`` without drift).

    Args:
        options: the drifts.
        params: the world's parameters (its channels).
        seed: the world's seed.
        history_weeks: ``H``, the first week that may drift.
        n_times: weeks to cover, at most ``H + MAX_WEEKS``.
    """
    if not options.kinds:
        return None
    n_channels = len(params.channels)
    after = np.maximum(np.arange(n_times) - history_weeks, 0)
    years = after / _WEEKS_PER_YEAR
    beta = np.ones((n_times, n_channels))
    half = np.ones((n_times, n_channels))
    base = np.ones(n_times)
    saturation, competitor = options.channels(params)
    if "effects" in options.kinds:
        beta *= np.exp(_effects(options, n_channels, seed)[after])
    if "saturation" in options.kinds:
        c = params.channel_names.index(saturation)
        half[:, c] = (1 + options.saturation_per_year) ** years
    if "competitor" in options.kinds:
        hit = np.arange(n_times) >= history_weeks + options.competitor_week
        base[hit] *= 1 - options.competitor_baseline_drop
        beta[hit, params.channel_names.index(competitor)] *= 1 - options.competitor_effect_drop
    return Drift(beta=beta, half_saturation=half, baseline=base)
