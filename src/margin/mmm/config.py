"""The ``[model]`` and ``[priors]`` sections of a spec, as one frozen, validated object.

Example (every key optional; defaults shown)::

    [model]
    adstock = "geometric"        # or "delayed" (Weibull)
    saturation = "hill"          # or "logistic"
    max_lag = 8                  # weeks of carry-over, lags 0 .. max_lag-1
    likelihood = "normal"        # or "student_t", or "negative_binomial" (conversion counts)
    fourier_terms = 2            # yearly seasonality harmonics (0 = none)
    trend = true

    [priors]
    roi_median = 1.2             # ROI prior median, all channels
    roi_sigma = 0.9              # log-scale sd of the ROI prior
    [priors.roi]                 # per-channel overrides: [median, sigma]
    tv = [2.0, 0.5]
    [priors.decay]               # geometric adstock decay: [mean, sd] of a Beta
    tv = [0.7, 0.1]
    "*" = [0.5, 0.2]             # every channel not named
    [priors.half_saturation]     # Hill: [median, sigma], log-normal
    search = [0.8, 0.4]

``likelihood = "negative_binomial"`` is for a conversions KPI of whole counts (checked when
the model is fitted): counts ~ NegativeBinomial2 (see :mod:`margin.mmm.model`).

ROI priors are log-normal on revenue per unit of spend (conversions KPIs: value of the
conversions, using the panel's revenue per KPI). The default median ``e^0.2 ≈ 1.22`` and
sigma 0.9 follow Meridian's default ROI prior.

The response curve's shape parameters take per-channel priors too (``"*"`` for every
channel not named), each only where the ``[model]`` structure uses it:

- ``decay`` (geometric adstock): Beta given by its mean and sd; default Beta(2, 2)
  (mean 0.5, sd 0.224).
- ``adstock_shape``, ``adstock_scale`` (delayed adstock, Weibull in weeks): log-normal
  given by median and log-sd; defaults ``[e^0.5, 0.5]`` and ``[e^0.7, 0.7]``.
- ``half_saturation`` (Hill): log-normal, in multiples of the channel's average weekly
  spend over the fitted weeks (1 = half-saturated at its average week); default
  ``[1.0, 0.7]``.
- ``slope`` (Hill): log-normal; default ``[1.0, 0.3]``.
- ``rate`` (logistic saturation, per unit of average weekly spend): log-normal; default
  ``[e^0.1, 0.7]``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from margin.checks import match_keys
from margin.errors import ConfigError

__all__ = ["DEFAULT_SHAPE_PRIORS", "SHAPE_SITES", "ModelConfig", "RoiPrior", "ShapePrior",
           "model_config"]  # fmt: skip

Adstock = Literal["geometric", "delayed"]
Saturation = Literal["hill", "logistic"]
Likelihood = Literal["normal", "student_t", "negative_binomial"]
Seasonality = Literal["additive", "multiplicative"]
_CHOICES: dict[str, tuple[str, ...]] = {
    "adstock": ("geometric", "delayed"),
    "saturation": ("hill", "logistic"),
    "likelihood": ("normal", "student_t", "negative_binomial"),
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
SHAPE_SITES: dict[str, tuple[str, str]] = {
    "decay": ("adstock", "geometric"),
    "adstock_shape": ("adstock", "delayed"),
    "adstock_scale": ("adstock", "delayed"),
    "half_saturation": ("saturation", "hill"),
    "slope": ("saturation", "hill"),
    "rate": ("saturation", "logistic"),
}
"""Response-shape sites with settable priors, and the ``[model]`` choice that uses each."""
ALL_CHANNELS = "*"
"""The key of a shape-prior table that sets every channel not named."""
_PRIOR_KEYS = ("roi_median", "roi_sigma", "roi", *SHAPE_SITES)
DEFAULT_ROI_MEDIAN = math.exp(0.2)
DEFAULT_ROI_SIGMA = 0.9


def _check_number(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number; got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name} must be a finite number > 0; got {value!r}")


@dataclass(frozen=True)
class RoiPrior:
    """Log-normal ROI prior: ``log ROI ~ Normal(log(median), sigma)``."""

    median: float = DEFAULT_ROI_MEDIAN
    sigma: float = DEFAULT_ROI_SIGMA

    def __post_init__(self) -> None:
        for name in ("median", "sigma"):
            _check_number(f"ROI prior {name}", getattr(self, name))

    def to_json(self) -> dict[str, float | str]:
        return {"distribution": "lognormal", "median": self.median, "sigma": self.sigma}


@dataclass(frozen=True)
class ShapePrior:
    """Prior of one response-shape parameter of one channel.

    ``decay`` is Beta with mean ``center`` and sd ``spread``; every other site is
    log-normal with median ``center`` and log-scale sd ``spread``.
    """

    site: str
    center: float
    spread: float

    def __post_init__(self) -> None:
        if self.site not in SHAPE_SITES:
            raise ConfigError(
                f"{self.site!r} has no shape prior; the sites are {list(SHAPE_SITES)}"
            )
        first, second = ("mean", "sd") if self.site == "decay" else ("median", "sigma")
        _check_number(first, self.center)
        _check_number(second, self.spread)
        if self.site == "decay":
            if not self.center < 1:
                raise ConfigError(f"a decay's mean must lie in (0, 1); got {self.center}")
            limit = math.sqrt(self.center * (1 - self.center))
            if not self.spread < limit:
                raise ConfigError(
                    f"a Beta with mean {self.center} needs an sd below {limit:.3f} "
                    f"(sqrt(mean · (1 − mean))); got {self.spread}"
                )

    def parameters(self) -> tuple[float, float]:
        """The distribution's own parameters: Beta ``(a, b)``, or log-normal ``(loc, scale)``."""
        if self.site == "decay":
            m = self.center
            k = m * (1 - m) / self.spread**2 - 1
            return m * k, (1 - m) * k
        return math.log(self.center), self.spread

    def to_json(self) -> dict[str, float | str]:
        if self.site == "decay":
            return {"distribution": "beta", "mean": self.center, "sd": self.spread}
        return {"distribution": "lognormal", "median": self.center, "sigma": self.spread}


DEFAULT_SHAPE_PRIORS: dict[str, ShapePrior] = {
    "decay": ShapePrior("decay", 0.5, math.sqrt(0.05)),  # Beta(2, 2)
    "adstock_shape": ShapePrior("adstock_shape", math.exp(0.5), 0.5),
    "adstock_scale": ShapePrior("adstock_scale", math.exp(0.7), 0.7),
    "half_saturation": ShapePrior("half_saturation", 1.0, 0.7),
    "slope": ShapePrior("slope", 1.0, 0.3),
    "rate": ShapePrior("rate", math.exp(0.1), 0.7),
}
"""The shape priors every channel gets unless the spec sets its own."""


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
    shape: dict[str, dict[str, ShapePrior]] = field(default_factory=dict)
    """Shape priors set by the spec: site -> channel (or ``"*"``) -> prior."""

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
        for site in self.shape:
            key, choice = SHAPE_SITES[site]
            if getattr(self, key) != choice:
                used = [s for s, (k, c) in SHAPE_SITES.items() if getattr(self, k) == c]
                raise ConfigError(
                    f"[priors.{site}] applies to {key} = {choice!r}, but the model uses "
                    f"{key} = {getattr(self, key)!r}; its shape priors are {used}"
                )

    def roi_prior(self, channel: str) -> RoiPrior:
        """The ROI prior of ``channel`` (its override, else the default)."""
        return self.roi.get(channel, self.default_roi)

    @property
    def shape_sites(self) -> tuple[str, ...]:
        """The shape sites the model structure samples, in sampling order."""
        return tuple(s for s, (k, c) in SHAPE_SITES.items() if getattr(self, k) == c)

    def shape_prior(self, site: str, channel: str) -> ShapePrior:
        """``channel``'s prior on ``site``: its own, else the spec's ``"*"``, else the default."""
        table = self.shape.get(site, {})
        return table.get(channel) or table.get(ALL_CHANNELS) or DEFAULT_SHAPE_PRIORS[site]

    def shape_arrays(
        self, channels: tuple[str, ...]
    ) -> dict[str, tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
        """Per used site, the distribution's parameters per channel (see :meth:`ShapePrior.parameters`)."""
        out = {}
        for site in self.shape_sites:
            pairs = np.array([self.shape_prior(site, c).parameters() for c in channels])
            out[site] = (pairs[:, 0], pairs[:, 1])
        return out

    def priors_json(self, channels: tuple[str, ...]) -> dict[str, dict[str, Any]]:
        """Every prior each channel was fitted with, for ``summary.json``."""
        out: dict[str, dict[str, Any]] = {}
        for c in channels:
            entry: dict[str, Any] = {"roi": self.roi_prior(c).to_json()}
            entry.update({site: self.shape_prior(site, c).to_json() for site in self.shape_sites})
            out[c] = entry
        return out


def _unknown(section: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = sorted(set(table) - set(allowed))
    if extra:
        raise ConfigError(
            f"[{section}] has unknown key(s) {extra}; allowed keys are {list(allowed)}"
        )


def _channel_table[P](
    site: str, table: object, channels: tuple[str, ...], make: Callable[[Any, Any], P]
) -> dict[str, P]:
    """``[priors.SITE]``: channel (or ``"*"`` for a shape site) → ``make(first, second)``."""
    what = "[mean, sd]" if site == "decay" else "[median, sigma]"
    every = site != "roi"  # ROI's prior for all channels is roi_median and roi_sigma
    also = ' ("*" for every channel not named)' if every else ""
    if not isinstance(table, dict):
        raise ConfigError(
            f"[priors.{site}] must be a table of channel = {what}{also}; got {table!r}"
        )
    wildcard = {ALL_CHANNELS} if every else set()
    folded = {c.casefold() for c in channels}
    unknown = sorted(k for k in set(table) - wildcard if str(k).casefold() not in folded)
    if unknown:
        raise ConfigError(
            f"[priors.{site}] names channel(s) {unknown} that are not in the data; "
            f"the channels are {list(channels)}{also}"
        )
    named = match_keys(
        {k: v for k, v in table.items() if k not in wildcard}, channels, where=f"[priors.{site}]"
    )  # a key differing from a channel only in case is read as it
    table = {**named, **{k: v for k, v in table.items() if k in wildcard}}
    priors = {}
    for name, value in table.items():
        if not isinstance(value, list) or len(value) != 2:
            example = {"decay": "[0.6, 0.15]", "roi": "[1.5, 0.5]"}.get(site, "[1.0, 0.5]")
            raise ConfigError(
                f"priors.{site}.{name} = {value!r} is invalid: expected {what}, e.g. {example}"
            )
        try:
            priors[name] = make(value[0], value[1])
        except ConfigError as error:
            raise ConfigError(f"priors.{site}.{name} = {value!r} is invalid: {error}") from None
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
        roi=_channel_table("roi", priors.get("roi", {}), channels, RoiPrior),
        shape={
            site: _channel_table(site, priors[site], channels, functools.partial(ShapePrior, site))
            for site in SHAPE_SITES
            if site in priors
        },
    )
