"""Settings of journeys and models: frozen dataclasses that validate themselves."""

from __future__ import annotations

import math
from dataclasses import dataclass

from margin.errors import ConfigError

__all__ = [
    "HEURISTIC_MODELS",
    "MODELS",
    "JourneySettings",
    "ModelSettings",
]

HEURISTIC_MODELS = (
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "time_decay",
    "position_based",
)
MODELS = (*HEURISTIC_MODELS, "markov", "shapley")
"""Every model name, in the order tables show them."""


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a positive number; got {value!r}")


@dataclass(frozen=True)
class JourneySettings:
    """How events become journeys (paths).

    A user's events are cut at each conversion. The converting journey is the user's
    touches after the previous conversion and at most ``lookback_days`` before this one;
    the touches left over (older, or after the last conversion) form non-converting
    journeys, a new one starting wherever ``lookback_days`` pass without a touch.

    Attributes:
        lookback_days: how long before a conversion a touch can earn credit.
        collapse_repeats: merge consecutive touches of the same channel in a journey into
            one (the first of the run is kept).
        drop_direct: remove touches of ``direct_channels`` from every journey.
        direct_channels: the channel names last-non-direct skips (lower-case compared).
        level: ``"channel"`` credits channels; ``"campaign"`` credits ``channel / campaign``.
    """

    lookback_days: float = 30.0
    collapse_repeats: bool = False
    drop_direct: bool = False
    direct_channels: tuple[str, ...] = ("direct",)
    level: str = "channel"

    def __post_init__(self) -> None:
        _positive("lookback_days", self.lookback_days)
        if self.level not in ("channel", "campaign"):
            raise ConfigError(f"level must be 'channel' or 'campaign'; got {self.level!r}")
        object.__setattr__(
            self, "direct_channels", tuple(c.strip().lower() for c in self.direct_channels)
        )


@dataclass(frozen=True)
class ModelSettings:
    """Parameters of the models and of their intervals.

    Attributes:
        half_life_days: time decay: a touch this long before the conversion earns half
            the weight of one at the conversion.
        half_life_steps: time decay on aggregated paths, which carry no timestamps: a
            touch this many steps before the last one earns half its weight.
        position_weights: position-based shares of the first touch, the middle touches
            (together) and the last touch; a 2-touch path splits first:last in proportion.
        order: Markov chain order (states are the last ``order`` channels).
        shapley_max_exact: coalitions with up to this many channels get exact Shapley
            values; larger ones a Monte-Carlo estimate over ``shapley_permutations``
            random orderings.
        n_bootstrap: Shapley bootstrap replicates and Markov posterior draws for the
            intervals (0: no intervals; rule-based intervals are computed, not drawn).
        seed: seed of the draws and of the Shapley permutations.
    """

    half_life_days: float = 7.0
    half_life_steps: float = 1.0
    position_weights: tuple[float, float, float] = (0.4, 0.2, 0.4)
    order: int = 1
    shapley_max_exact: int = 15
    shapley_permutations: int = 2000
    shapley_prior: float = 100.0
    n_bootstrap: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        _positive("half_life_days", self.half_life_days)
        _positive("half_life_steps", self.half_life_steps)
        weights = tuple(float(w) for w in self.position_weights)
        if len(weights) != 3 or any(not math.isfinite(w) or w < 0 for w in weights):
            raise ConfigError(
                f"position_weights must be three shares (first, middle, last) of 0 or more; got {self.position_weights!r}"
            )
        if not math.isclose(sum(weights), 1.0, abs_tol=1e-9):
            raise ConfigError(
                f"position_weights must sum to 1 (e.g. 0.4, 0.2, 0.4); got {weights} (sum {sum(weights):g})"
            )
        if weights[0] + weights[2] <= 0:
            raise ConfigError("position_weights: the first and last shares cannot both be 0")
        object.__setattr__(self, "position_weights", weights)
        if not isinstance(self.order, int) or not 1 <= self.order <= 6:
            raise ConfigError(f"order must be an integer from 1 to 6; got {self.order!r}")
        if not 1 <= self.shapley_max_exact <= 20:
            raise ConfigError(
                f"shapley_max_exact must be from 1 to 20; got {self.shapley_max_exact!r}"
            )
        if not (math.isfinite(self.shapley_prior) and self.shapley_prior >= 0):
            raise ConfigError(f"shapley_prior must be 0 or more; got {self.shapley_prior!r}")
        if self.shapley_permutations < 1:
            raise ConfigError("shapley_permutations must be at least 1")
        if self.n_bootstrap < 0:
            raise ConfigError(f"n_bootstrap must be 0 or more; got {self.n_bootstrap!r}")
