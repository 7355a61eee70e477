"""The NumPyro model: baseline + controls + media (adstock, then saturation).

In national-equivalent scaled units (see :mod:`margin.mmm.inputs`), for geo ``g``,
week ``t`` and channel ``c``::

    mu[g, t] = s_g · (intercept_g + trend · years_t + season_t · fourier
                      + controls[g, t] · gamma + Σ_c beta_c · sat_c(adstock_c(x[g, :, c]))_t)
    y[g, t]  ~ Normal(mu, sigma · s_g)   or   StudentT(nu, mu, sigma · s_g)

Geo intercepts are partially pooled (``intercept_g ~ Normal(intercept, tau)``): with
the normal likelihood they are integrated out exactly and drawn afterwards (see
:func:`_geo_marginal`); with Student-t they are sampled, non-centred
(``intercept_g = intercept + tau · z_g``). Media coefficients are not sampled directly: each channel's ROI has a
log-normal prior (sampled as total media revenue and its split, see
:func:`_roi_prior`), and ``beta_c`` is the value that makes the channel's
contribution over the fitted weeks equal ``ROI_c × spend_c``::

    beta_c = ROI_c · spend_c / (m · Σ_{g,t} s_g · sat_gtc · value_gt)

so the ROI prior is exactly the prior a user sets. The intercept is sampled as the KPI
level it leaves after trend and media (:func:`_intercept`), its Normal prior kept
exactly. Lift tests add ``lift_i ~ Normal(predicted_lift_i, se_i)`` where
``predicted_lift_i`` is the model's own counterfactual (see :mod:`margin.mmm.calibration`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
import numpyro  # type: ignore[import-untyped]
import numpyro.distributions as dist  # type: ignore[import-untyped]
import scipy.special
from jax import Array

from margin.mmm.config import DEFAULT_SHAPE_PRIORS, ModelConfig
from margin.mmm.inputs import ModelInputs
from margin.mmm.transforms import delayed_adstock, geometric_adstock, hill, logistic_saturation

__all__ = [
    "GEO_SD_PRIOR",
    "INTERCEPT_PRIOR",
    "START",
    "FixedBeta",
    "FixedGamma",
    "LiftArrays",
    "ShapeArrays",
    "draw_geo_intercepts",
    "level_offset",
    "mean_kpi",
    "media_response",
    "mmm_model",
    "roi_latents",
]


class FixedBeta(dist.Beta):  # type: ignore[misc]
    """``Beta(a, b)`` for fixed numbers (or numpy arrays) ``a, b``, its log density in closed form.

    NumPyro's ``Beta`` evaluates the density through a two-component Dirichlet, whose
    log density and gradient lower to ~1,500 lines of StableHLO (over half the model's
    potential); the NUTS program inlines the potential several times, so that alone was
    about a third of the fit's compile time. Here the normaliser is a constant computed
    once in numpy.
    """

    def __init__(self, a: npt.ArrayLike, b: npt.ArrayLike) -> None:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        super().__init__(a, b)
        self._a, self._b = a.astype(np.float32), b.astype(np.float32)
        self._log_norm = scipy.special.betaln(a, b).astype(np.float32)

    def log_prob(self, value: Array) -> Array:
        out: Array = (
            (self._a - 1.0) * jnp.log(value) + (self._b - 1.0) * jnp.log1p(-value) - self._log_norm
        )
        return out


class FixedGamma(dist.Gamma):  # type: ignore[misc]
    """``Gamma(a, rate)`` for fixed numbers, its log density in closed form (see :class:`FixedBeta`)."""

    def __init__(self, a: float, rate: float) -> None:
        super().__init__(a, rate)
        self._a, self._rate = float(a), float(rate)
        self._log_norm = math.lgamma(a) - a * math.log(rate)

    def log_prob(self, value: Array) -> Array:
        out: Array = (self._a - 1.0) * jnp.log(value) - self._rate * value - self._log_norm
        return out


class LiftArrays(NamedTuple):
    """Lift tests in model units.

    Attributes:
        delta: ``(n_tests, n_geos, n_times, n_channels)`` the test's change in scaled
            media (actual minus counterfactual).
        window: ``(n_tests, n_geos, n_times)`` 1 where the lift is measured.
        lift: ``(n_tests,)`` measured lift over kpi_scale; se: ``(n_tests,)`` its sd.
    """

    delta: Array
    window: Array
    lift: Array
    se: Array


def media_response(params: dict[str, Array], media: Array, config: ModelConfig) -> Array:
    """Saturated adstocked media ``(n_geos, n_times, n_channels)``, before beta.

    Runs as one compiled program per model structure, so the eager passes NumPyro makes
    while initialising compile once instead of once per primitive.
    """
    names = _RESPONSE_SITES[(config.adstock, config.saturation)]
    fn = _response_program(config.adstock, config.saturation, config.max_lag)
    result: Array = fn(media, *(params[name] for name in names))
    return result


_RESPONSE_SITES = {
    ("geometric", "hill"): ("decay", "half_saturation", "slope"),
    ("geometric", "logistic"): ("decay", "rate"),
    ("delayed", "hill"): ("adstock_shape", "adstock_scale", "half_saturation", "slope"),
    ("delayed", "logistic"): ("adstock_shape", "adstock_scale", "rate"),
}


@functools.cache
def _response_program(adstock: str, saturation: str, max_lag: int) -> Callable[..., Array]:
    def response(media: Array, *args: Array) -> Array:
        if adstock == "geometric":
            carried, rest = geometric_adstock(media, args[0], max_lag), args[1:]
        else:
            carried, rest = delayed_adstock(media, args[0], args[1], max_lag), args[2:]
        if saturation == "hill":
            return hill(carried, rest[0], rest[1])
        return logistic_saturation(carried, rest[0])

    return jax.jit(response)


def baseline(params: dict[str, Array], inputs: ModelInputs, seasonality: str = "additive") -> Array:
    """Baseline per head ``(n_geos, n_times)``: intercept, trend, seasonality, controls.

    Additive: ``intercept + trend · years + season``; multiplicative: ``(intercept + trend ·
    years)(1 + season)``, a seasonal swing that grows with the level (both plus controls).
    """
    level = params["intercept_geo"][:, None] + params["trend"] * inputs.trend[None, :]
    season = (inputs.season @ params["fourier"])[None, :]
    level = level * (1.0 + season) if seasonality == "multiplicative" else level + season
    return level + inputs.controls @ params["gamma"]


def mean_kpi(
    params: dict[str, Array], inputs: ModelInputs, config: ModelConfig
) -> tuple[Array, Array]:
    """Expected scaled KPI ``(n_geos, n_times)`` and media contributions ``(g, t, c)``."""
    share = inputs.share[:, None]
    media = params["beta"] * media_response(params, inputs.media, config)
    contributions = share[:, :, None] * media
    level = baseline(params, inputs, config.seasonality)
    return share * level + contributions.sum(axis=2), contributions


def roi_latents(roi: Array, spend_total: Array) -> dict[str, Array]:
    """The sampled coordinates of ``roi`` ``(..., n_channels)`` (see :func:`_roi_prior`)."""
    weighted = jnp.log(roi) + jnp.log(spend_total)
    out = {"media_log_total": jax.scipy.special.logsumexp(weighted, axis=-1)}
    if roi.shape[-1] > 1:
        out["media_log_ratio"] = weighted[..., :-1] - weighted[..., -1:]
    return out


def _roi_prior(roi_loc: Array, roi_scale: Array, spend_total: Array) -> Array:
    """ROI per channel, log-normal ``(roi_loc, roi_scale)``, sampled as total and split.

    The data pin the revenue all media caused much more tightly than its split across
    channels, so log ROIs sampled directly lie along a thin curved ridge
    ``Σ_c spend_c · ROI_c ≈ const`` that NUTS can only follow with small steps. The
    sampled coordinates are instead ``media_log_total = log Σ_c spend_c · ROI_c`` and
    ``media_log_ratio_c = log(spend_c · ROI_c) − log(spend_C · ROI_C)`` (``c < C``): the
    map from log ROI to them is a bijection with unit Jacobian (an additive log-ratio
    with the log-sum-exp), so the density is the log-normal ROI prior exactly, and the
    ridge becomes one well-identified axis. About 3× fewer leapfrog steps on the
    national simulated world. Both sites carry a standard normal as a stand-in prior
    that the ``roi_prior`` factor removes (sites need a proper distribution to be traced).
    """
    n = roi_loc.shape[0]
    standard = dist.Normal(0.0, 1.0)
    total = numpyro.sample("media_log_total", standard)
    weighted = jnp.reshape(total, (1,))
    undo = standard.log_prob(total)
    if n > 1:
        ratio = numpyro.sample("media_log_ratio", standard.expand((n - 1,)).to_event(1))
        log_share = jax.nn.log_softmax(jnp.concatenate([ratio, jnp.zeros(1)]))
        weighted = total + log_share
        undo = undo + standard.log_prob(ratio).sum()
    log_roi = weighted - jnp.log(spend_total)
    # validate_args=False: checking concrete ``roi_loc`` eagerly compiles a program per check.
    prior = dist.Normal(roi_loc, roi_scale, validate_args=False)
    numpyro.factor("roi_prior", prior.log_prob(log_roi).sum() - undo)
    roi: Array = numpyro.deterministic("roi", jnp.exp(log_roi))
    return roi


ShapeArrays = Mapping[str, tuple[npt.ArrayLike, npt.ArrayLike]]
"""Per shape site, its prior's parameters per channel (:meth:`ModelConfig.shape_arrays`)."""


def _media_priors(
    config: ModelConfig,
    roi_loc: Array,
    roi_scale: Array,
    spend_total: Array,
    shape: ShapeArrays | None,
) -> dict[str, Array]:
    n = roi_loc.shape[0]
    params: dict[str, Array] = {"roi": _roi_prior(roi_loc, roi_scale, spend_total)}
    with numpyro.plate("channel", n):
        for site in config.shape_sites:
            first, second = (shape or {}).get(site, DEFAULT_SHAPE_PRIORS[site].parameters())
            if site == "decay":
                prior: dist.Distribution = FixedBeta(first, second)
            else:  # validate_args=False: checking concrete arguments compiles a program
                prior = dist.LogNormal(
                    np.asarray(first, np.float32), np.asarray(second, np.float32),
                    validate_args=False,
                )  # fmt: skip
            params[site] = numpyro.sample(site, prior)
    return params


INTERCEPT_PRIOR = (1.0, 0.5)
"""Normal(mean, sd) prior of the intercept (KPI per head per week, in scaled units)."""
GEO_SD_PRIOR = 0.2
"""Scale of the HalfNormal prior of the geo intercepts' sd (``geo_sd``)."""
START = {"baseline_level": INTERCEPT_PRIOR[0], "geo_sd": GEO_SD_PRIOR * 0.6745}
"""Where every chain starts these two sites (within ±0.1 on the unconstrained scale)
unless the caller gives its own: the level at its prior's mean (the KPI is scaled to about
1 per head) and the geo sd at its prior's median (0.6745 × the HalfNormal scale). Drawn
uniformly on (−2, 2) unconstrained as the other sites are, they start as far as a level
of −2 or a geo sd of 7.4 (37 prior sds out); on a 40-geo simulated world with tight
shape priors one chain of four stayed in such a mode (geo sd 1.6, level −0.44) through
1,000 warm-up iterations (R-hat 1.59), and with these starts all four agree."""


def level_offset(trend: Array, media_total: Array, inputs: ModelInputs) -> Array:
    """``baseline_level - intercept``: the trend's and the media's average weekly share of
    the KPI per head over the fitted window (see :func:`_intercept`)."""
    weight = inputs.share[:, None] * jnp.ones_like(inputs.value)
    mean_years = (weight * inputs.trend[None, :]).sum() / weight.sum()
    out: Array = trend * mean_years + media_total / (inputs.share[:, None] * inputs.value).sum()
    return out


def _intercept(trend: Array, media_total: Array, inputs: ModelInputs) -> Array:
    """The intercept, sampled as the KPI level it leaves after trend and media.

    The data pin the average KPI per head, ``intercept + trend · mean(years) + media``,
    much more tightly than its split: with the intercept sampled directly, it and the
    total media revenue (sampled on the log scale) lie along a thin curved ridge that a
    dense mass matrix cannot straighten (posterior correlation -0.99 on the national
    simulated world; the slowest-mixing direction of the fit). The sampled coordinate
    is ``baseline_level = intercept + level_offset(trend, media)``, a shift by the
    other sites, so the map has unit Jacobian and the ``intercept_prior`` factor gives
    the intercept its Normal prior exactly (the stand-in prior on the site cancels).
    """
    stand_in = dist.Normal(*INTERCEPT_PRIOR)
    level = numpyro.sample("baseline_level", stand_in)
    intercept: Array = numpyro.deterministic(
        "intercept", level - level_offset(trend, media_total, inputs)
    )
    prior = dist.Normal(*INTERCEPT_PRIOR).log_prob(intercept) - stand_in.log_prob(level)
    numpyro.factor("intercept_prior", prior)
    return intercept


def _baseline_priors(
    inputs: ModelInputs, config: ModelConfig, media_total: Array
) -> dict[str, Array]:
    n_geos, n_controls = inputs.share.shape[0], inputs.controls.shape[2]
    trend = numpyro.sample("trend", dist.Normal(0.0, 0.2)) if config.trend else jnp.zeros(())
    intercept = _intercept(trend, media_total, inputs)
    if _marginal_geos(inputs, config):  # added back by the likelihood, see _geo_marginal
        intercept_geo = jnp.zeros(n_geos)
    elif n_geos > 1:
        tau = numpyro.sample("geo_sd", dist.HalfNormal(GEO_SD_PRIOR))
        with numpyro.plate("geo", n_geos):
            z = numpyro.sample("geo_z", dist.Normal(0.0, 1.0))
        intercept_geo = numpyro.deterministic("intercept_geo", intercept + tau * z)
    else:
        intercept_geo = numpyro.deterministic("intercept_geo", jnp.reshape(intercept, (1,)))
    fourier, gamma = jnp.zeros(0), jnp.zeros(0)  # no seasonality terms / no controls
    if inputs.season.shape[1]:
        with numpyro.plate("fourier_term", inputs.season.shape[1]):
            fourier = numpyro.sample("fourier", dist.Normal(0.0, 0.2))
    if n_controls:
        with numpyro.plate("control", n_controls):
            gamma = numpyro.sample("gamma", dist.Normal(0.0, 0.5))
    return {
        "intercept": intercept,
        "intercept_geo": intercept_geo,
        "trend": trend,
        "fourier": fourier,
        "gamma": gamma,
    }


def _marginal_geos(inputs: ModelInputs, config: ModelConfig) -> bool:
    return bool(inputs.share.shape[0] > 1 and config.likelihood == "normal")


def _geo_marginal(
    rest: Array, inputs: ModelInputs, intercept: Array, sigma: Array, weight: Array
) -> None:
    """Normal likelihood of ``y`` with the geo intercepts integrated out.

    Per geo, the KPI per head minus everything but the intercept is
    ``r_gt = a_g · w_t + e_gt`` with ``a_g ~ Normal(intercept, tau)``, ``e_gt ~ Normal(0,
    sigma)`` and known weights ``w`` (1 with additive seasonality; ``1 + season_t`` with
    multiplicative seasonality, which scales the intercept too), so ``r_g ~
    Normal(intercept · w, sigma² I + tau² w wᵀ)``: its density has a closed form
    (Sherman–Morrison) in ``‖d‖²`` and ``wᵀd`` of ``d = r_g − intercept · w``. Sampling the
    intercepts instead (centred or not) puts NUTS in a funnel whichever way the data lean
    (each geo's intercept is pinned to ~sigma/√weeks while ``tau`` is loose), and every
    leapfrog step pays for it. The intercepts are drawn afterwards from their exact
    conditional posterior (``intercept_geo_mean``, ``intercept_geo_sd``; see
    :func:`draw_geo_intercepts`).
    """
    tau = numpyro.sample("geo_sd", dist.HalfNormal(GEO_SD_PRIOR))
    share = inputs.share[:, None]
    per_head = (inputs.y - rest) / share
    n = per_head.shape[1]
    w = jnp.broadcast_to(weight, (n,))
    ww = (w * w).sum()
    d = per_head - intercept * w[None, :]
    dd, wd = (d * d).sum(axis=1), d @ w
    total_var = sigma**2 + tau**2 * ww
    log_lik = (
        -0.5 * n * jnp.log(2 * jnp.pi) - (n - 1) * jnp.log(sigma) - 0.5 * jnp.log(total_var)
        - (dd - tau**2 * wd**2 / total_var) / (2 * sigma**2)
        - n * jnp.log(inputs.share)  # y = share · r
    )  # fmt: skip
    numpyro.factor("y", log_lik.sum())
    # a_g | r_g: precision 1/tau² + ‖w‖²/sigma², mean (intercept/tau² + wᵀr/sigma²)/precision
    numpyro.deterministic("intercept_geo_mean", intercept + tau**2 * wd / total_var)
    sd = jnp.broadcast_to(sigma * tau / jnp.sqrt(total_var), wd.shape)
    numpyro.deterministic("intercept_geo_sd", sd)


def draw_geo_intercepts(
    samples: dict[str, npt.NDArray[np.float64]], seed: int
) -> dict[str, npt.NDArray[np.float64]]:
    """``samples`` with ``intercept_geo`` drawn, per posterior draw, from its conditional
    posterior when the fit integrated the geo intercepts out (else unchanged)."""
    if "intercept_geo_mean" not in samples:
        return samples
    out = {k: v for k, v in samples.items() if k not in ("intercept_geo_mean", "intercept_geo_sd")}
    mean, sd = samples["intercept_geo_mean"], samples["intercept_geo_sd"]
    noise = np.random.default_rng([seed, 0x6E0]).standard_normal(mean.shape)
    out["intercept_geo"] = mean + sd * noise
    return out


def _lift_likelihood(
    params: dict[str, Array], inputs: ModelInputs, config: ModelConfig, lift: LiftArrays
) -> None:
    actual = params["beta"] * media_response(params, inputs.media, config)

    def predicted(delta: Array, window: Array) -> Array:
        counterfactual = jnp.maximum(inputs.media - delta, 0.0)
        changed = params["beta"] * media_response(params, counterfactual, config)
        diff = (actual - changed).sum(axis=2) * inputs.share[:, None]
        return (diff * window).sum()

    pred = numpyro.deterministic("lift_predicted", jax.vmap(predicted)(lift.delta, lift.window))
    with numpyro.plate("lift_test", lift.lift.shape[0]):
        numpyro.sample("lift_obs", dist.Normal(pred, lift.se), obs=lift.lift)


def mmm_model(
    inputs: ModelInputs,
    config: ModelConfig,
    roi_loc: Array,
    roi_scale: Array,
    lift: LiftArrays | None = None,
    shape: ShapeArrays | None = None,
) -> None:
    """The NumPyro model (arguments as in :func:`mean_kpi`; ``roi_loc/scale`` ``(n_channels,)``;
    ``shape`` the shape priors' parameters, the defaults when not given)."""
    params = _media_priors(config, roi_loc, roi_scale, inputs.spend_total, shape)
    media_total = (params["roi"] * inputs.spend_total).sum()
    params.update(_baseline_priors(inputs, config, media_total))
    response = media_response(params, inputs.media, config)
    weighted = (response * inputs.share[:, None, None] * inputs.value[:, :, None]).sum(axis=(0, 1))
    beta = params["roi"] * inputs.spend_total / jnp.maximum(weighted, 1e-9)
    params["beta"] = numpyro.deterministic("beta", beta)
    mu, _ = mean_kpi(params, inputs, config)
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.2))
    if lift is not None:
        _lift_likelihood(params, inputs, config, lift)
    if _marginal_geos(inputs, config):
        weight = jnp.ones(())
        if config.seasonality == "multiplicative":  # the intercept is scaled by 1 + season
            weight = 1.0 + inputs.season @ params["fourier"]
        _geo_marginal(mu, inputs, params["intercept"], sigma, weight)
        return
    scale = sigma * inputs.share[:, None]
    if config.likelihood == "student_t":
        nu = numpyro.sample("nu", FixedGamma(2.0, 0.1))
        likelihood: dist.Distribution = dist.StudentT(nu, mu, scale)
    else:
        likelihood = dist.Normal(mu, scale)
    with numpyro.plate("geo_obs", mu.shape[0], dim=-2), numpyro.plate("time", mu.shape[1]):
        numpyro.sample("y", likelihood, obs=inputs.y)
