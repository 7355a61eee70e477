"""The ``[model]`` and ``[priors]`` sections of a spec, as one frozen, validated object.

Example (every key optional; defaults shown)::

    [model]
    adstock = "geometric"        # or "delayed" (Weibull)
    saturation = "hill"          # or "logistic"
    max_lag = 8                  # weeks of carry-over, lags 0 .. max_lag-1
    likelihood = "normal"        # or "student_t"
    fourier_terms = 2            # yearly seasonality harmonics (0 = none)
    trend = true

    [priors]
    roi_median = 1.2             # ROI prior median, all channels
    roi_sigma = 0.9              # log-scale sd of the ROI prior
    [priors.roi]                 # per-channel overrides: [median, sigma]
    tv = [2.0, 0.5]

ROI priors are log-normal on revenue per unit of spend (conversions KPIs: value of the
conversions, using the panel's revenue per KPI). The default median ``e^0.2 ≈ 1.22`` and
sigma 0.9 follow Meridian's default ROI prior.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

from margin.errors import ConfigError

__all__ = ["ModelConfig", "RoiPrior", "model_config"]

Adstock = Literal["geometric", "delayed"]
Saturation = Literal["hill", "logistic"]
Likelihood = Literal["normal", "student_t"]
Seasonality = Literal["additive", "multiplicative"]
_CHOICES: dict[str, tuple[str, ...]] = {
    "adstock": ("geometric", "delayed"),
    "saturation": ("hill", "logistic"),
    "likelihood": ("normal", "student_t"),
    "seasonality": ("additive", "multiplicative"),
}
_MODEL_KEYS = (
    "adstock",
    "saturation",
    "max_lag",
    "likelihood",
    "fourier_terms",
    "trend",
    "seasonality",
)
_PRIOR_KEYS = ("roi_median", "roi_sigma", "roi")
DEFAULT_ROI_MEDIAN = math.exp(0.2)
DEFAULT_ROI_SIGMA = 0.9


@dataclass(frozen=True)
class RoiPrior:
    """Log-normal ROI prior: ``log ROI ~ Normal(log(median), sigma)``."""

    median: float = DEFAULT_ROI_MEDIAN
    sigma: float = DEFAULT_ROI_SIGMA

    def __post_init__(self) -> None:
        for name in ("median", "sigma"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"ROI prior {name} must be a number; got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"ROI prior {name} must be a finite number > 0; got {value!r}")


@dataclass(frozen=True, kw_only=True)
class ModelConfig:
    """Model structure and priors. ``roi`` maps channel names to their ROI prior."""

    adstock: Adstock = "geometric"
    saturation: Saturation = "hill"
    max_lag: int = 8
    likelihood: Likelihood = "normal"
    fourier_terms: int = 2
    trend: bool = True
    seasonality: Seasonality = "additive"
    default_roi: RoiPrior = field(default_factory=RoiPrior)
    roi: dict[str, RoiPrior] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for key, choices in _CHOICES.items():
            if getattr(self, key) not in choices:
                raise ConfigError(
                    f"model.{key} = {getattr(self, key)!r} is not one of {list(choices)}"
                )
        for key, low, high in (("max_lag", 1, 52), ("fourier_terms", 0, 10)):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(
                    f"model.{key} = {value!r} is invalid: expected an integer in [{low}, {high}]"
                )
        if not isinstance(self.trend, bool):
            raise ConfigError(f"model.trend = {self.trend!r} is invalid: expected true or false")

    def roi_prior(self, channel: str) -> RoiPrior:
        """The ROI prior of ``channel`` (its override, else the default)."""
        return self.roi.get(channel, self.default_roi)


def _unknown(section: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise ConfigError(
            f"[{section}] has unknown key(s) {extra}; allowed keys are {list(allowed)}"
        )


def _channel_priors(table: object, channels: tuple[str, ...]) -> dict[str, RoiPrior]:
    if not isinstance(table, dict):
        raise ConfigError(
            f"[priors.roi] must be a table of channel = [median, sigma]; got {table!r}"
        )
    unknown = sorted(set(table) - set(channels))
    if unknown:
        raise ConfigError(
            f"[priors.roi] names channel(s) {unknown} that are not in the data; "
            f"the channels are {list(channels)}"
        )
    priors = {}
    for name, value in table.items():
        if not isinstance(value, list) or len(value) != 2:
            raise ConfigError(
                f"priors.roi.{name} = {value!r} is invalid: expected [median, sigma], "
                "e.g. [1.5, 0.5]"
            )
        priors[name] = RoiPrior(value[0], value[1])
    return priors


def model_config(raw: dict[str, Any], channels: tuple[str, ...]) -> ModelConfig:
    """Build the :class:`ModelConfig` from a spec's raw TOML (``Spec.raw``).

    Args:
        raw: the whole parsed spec; only ``[model]`` and ``[priors]`` are read.
        channels: the panel's channels, to check per-channel priors against.

    Raises:
        ConfigError: an unknown key, a bad value, or a prior for an unknown channel.
    """
    model = raw.get("model", {})
    priors = raw.get("priors", {})
    for section, table, allowed in (("model", model, _MODEL_KEYS), ("priors", priors, _PRIOR_KEYS)):
        if not isinstance(table, dict):
            raise ConfigError(f"[{section}] must be a TOML table; got {table!r}")
        _unknown(section, table, allowed)
    default = RoiPrior(
        priors.get("roi_median", DEFAULT_ROI_MEDIAN), priors.get("roi_sigma", DEFAULT_ROI_SIGMA)
    )
    return ModelConfig(
        **model,
        default_roi=default,
        roi=_channel_priors(priors.get("roi", {}), channels),
    )
