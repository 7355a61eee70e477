"""The NumPyro model: baseline + controls + media (adstock, then saturation).

In national-equivalent scaled units (see :mod:`margin.mmm.inputs`), for geo ``g``,
week ``t`` and channel ``c``::

    mu[g, t] = s_g · (intercept_g + trend · years_t + season_t · fourier
                      + controls[g, t] · gamma + Σ_c beta_c · sat_c(adstock_c(x[g, :, c]))_t)
    y[g, t]  ~ Normal(mu, sigma · s_g)   or   StudentT(nu, mu, sigma · s_g)
    or, for conversion counts, kpi[g, t] ~ NegativeBinomial2(count_mean(m · mu), phi)

(the negative binomial in counts, not scaled units: see :func:`_count_likelihood`).

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
    "COUNT_FLOOR",
    "GEO_SD_PRIOR",
    "INTERCEPT_PRIOR",
    "START",
    "CountData",
    "FixedBeta",
    "FixedGamma",
    "LiftArrays",
    "NegativeBinomial2",
    "ShapeArrays",
    "count_mean",
    "draw_geo_intercepts",
    "level_offset",
    "mean_kpi",
    "media_response",
    "mmm_model",
    "nb_log_prob",
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


COUNT_FLOOR = 0.5
"""Scale, in counts, of the softplus that keeps the negative binomial's mean positive
(:func:`count_mean`)."""
_STIRLING_FROM = 10.0
"""``phi`` from which :func:`nb_log_prob` uses Stirling's series (float32-stable) instead
of ``lgamma``."""


def count_mean(mu_counts: Array) -> Array:
    """The negative binomial's mean from the linear predictor in counts: ``k ·
    softplus(mu / k)`` with ``k`` = :data:`COUNT_FLOOR`.

    The model's mean is linear (baseline, seasonality and controls can be negative), so
    it can reach 0 or below, where a count distribution has no mean. The softplus is the
    identity within ``k · e^(-mu/k)`` (0.01 counts at 2 counts, under 1e-4 from 4 counts
    up) and tends to 0 (never reaches it) below; predictions (:func:`mean_kpi`) stay
    linear, so fitted values below ~2 counts a week read slightly low.
    """
    out: Array = COUNT_FLOOR * jax.nn.softplus(mu_counts / COUNT_FLOOR)
    return out


def _log_count_mean(mu_counts: Array) -> Array:
    """``log(count_mean(mu_counts))`` without underflow: ``log(k) + z`` once ``z = mu/k``
    is so negative that ``softplus(z) = e^z`` underflows (a chain starting far out)."""
    z = mu_counts / COUNT_FLOOR
    safe = jnp.maximum(z, -20.0)  # keeps the unused branch's gradient finite
    log_softplus = jnp.where(z < -20.0, z, jnp.log(jax.nn.softplus(safe)))
    out: Array = math.log(COUNT_FLOOR) + log_softplus
    return out


def _lgamma_shift(y: Array, phi: Array) -> Array:
    """``lgamma(y + phi) - lgamma(phi) - y · log(phi)``, stable in float32 for any ``phi``.

    For ``phi`` ≥ :data:`_STIRLING_FROM`, Stirling's series with two correction terms
    (error below 1e-7): ``(y + phi - ½) log1p(y/phi) - y + c(y + phi) - c(phi)``, ``c(x) =
    1/(12x) - 1/(360x³)``; the ``lgamma`` difference of two numbers near ``phi · log phi``
    would lose every digit once ``phi`` is large (near the Poisson limit).
    """
    small = jnp.minimum(phi, _STIRLING_FROM)  # each branch sees only its own range (no NaN
    large = jnp.maximum(phi, _STIRLING_FROM)  # gradients through jnp.where)
    direct = jax.lax.lgamma(y + small) - jax.lax.lgamma(small) - y * jnp.log(small)

    def correction(x: Array) -> Array:
        return 1.0 / (12.0 * x) - 1.0 / (360.0 * x**3)

    series = (
        (y + large - 0.5) * jnp.log1p(y / large) - y + correction(y + large) - correction(large)
    )
    out: Array = jnp.where(phi < _STIRLING_FROM, direct, series)
    return out


def nb_log_prob(y: Array, mean: Array, phi: Array) -> Array:
    """Log density of ``NegativeBinomial2(mean, phi)`` at counts ``y``: mean ``mean`` > 0,
    variance ``mean + mean²/phi`` (scipy's ``nbinom(n=phi, p=phi/(phi + mean))``)::

        log p = lgamma(y + phi) - lgamma(phi) - lgamma(y + 1)
                + phi · log(phi / (phi + mean)) + y · log(mean / (phi + mean))

    written as ``_lgamma_shift(y, phi) - lgamma(y + 1) - (phi + y) · log1p(mean/phi) +
    y · log(mean)``, which tends to the Poisson's as ``phi`` grows, without cancellation.
    """
    return _nb_log_prob(y, mean, jnp.log(mean), phi)


def _nb_log_prob(y: Array, mean: Array, log_mean: Array, phi: Array) -> Array:
    out: Array = (
        _lgamma_shift(y, phi) - jax.lax.lgamma(y + 1.0)
        - (phi + y) * jnp.log1p(mean / phi) + y * log_mean
    )  # fmt: skip
    return out


class NegativeBinomial2(dist.NegativeBinomial2):  # type: ignore[misc]
    """NumPyro's ``NegativeBinomial2(mean, concentration)`` (sampled as Gamma-Poisson),
    its log density by :func:`nb_log_prob`: NumPyro's goes through ``betaln`` and
    ``phi · log(rate)`` terms that cancel in float32 as ``phi`` grows."""

    def __init__(self, mean: Array, concentration: Array, log_mean: Array | None = None) -> None:
        super().__init__(mean, concentration, validate_args=False)
        self._mean, self._phi = mean, concentration
        self._log_mean = jnp.log(mean) if log_mean is None else log_mean

    def log_prob(self, value: Array) -> Array:
        return _nb_log_prob(value, self._mean, self._log_mean, self._phi)


class CountData(NamedTuple):
    """The KPI as counts, for the negative-binomial likelihood.

    Attributes:
        y: ``(n_geos, n_times)`` the KPI in its own units (whole counts), float32.
        kpi_scale: the scaling's ``kpi_scale`` (counts per scaled unit).
    """

    y: Array
    kpi_scale: Array


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
    counts: CountData | None = None,
) -> None:
    """The NumPyro model (arguments as in :func:`mean_kpi`; ``roi_loc/scale`` ``(n_channels,)``;
    ``shape`` the shape priors' parameters, the defaults when not given; ``counts`` the KPI
    as counts, needed by the negative-binomial likelihood only)."""
    params = _media_priors(config, roi_loc, roi_scale, inputs.spend_total, shape)
    media_total = (params["roi"] * inputs.spend_total).sum()
    params.update(_baseline_priors(inputs, config, media_total))
    response = media_response(params, inputs.media, config)
    weighted = (response * inputs.share[:, None, None] * inputs.value[:, :, None]).sum(axis=(0, 1))
    beta = params["roi"] * inputs.spend_total / jnp.maximum(weighted, 1e-9)
    params["beta"] = numpyro.deterministic("beta", beta)
    mu, _ = mean_kpi(params, inputs, config)
    if lift is not None:
        _lift_likelihood(params, inputs, config, lift)
    if config.likelihood == "negative_binomial":
        _count_likelihood(mu, counts)
        return
    sigma = numpyro.sample("sigma", dist.HalfNormal(0.2))
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


INV_SQRT_PHI_PRIOR = 1.0
"""Scale of the HalfNormal prior of ``1/sqrt(phi)`` (the negative binomial's overdispersion)."""


def _count_likelihood(mu: Array, counts: CountData | None) -> None:
    """``kpi[g, t] ~ NegativeBinomial2(count_mean(kpi_scale · mu), phi)`` in counts.

    ``phi`` (the concentration; variance ``mean + mean²/phi``) is sampled as
    ``nb_inv_sqrt_phi = 1/sqrt(phi) ~ HalfNormal(1)``, the prior Stan's prior-choice wiki
    recommends: its mode at 0 is the Poisson (no overdispersion), so extra variance has to
    be earned by the data, and ``phi`` below ~0.4 (a variance more than 2.5 mean² above
    the Poisson's) is a priori unlikely (prior 90% of ``phi``: above 0.37). The geo share
    is already in ``mu``; geo intercepts are sampled (no closed-form marginal here).
    """
    if counts is None:
        raise ValueError("the negative-binomial likelihood needs the KPI as counts (CountData)")
    inv_sqrt_phi = numpyro.sample("nb_inv_sqrt_phi", dist.HalfNormal(INV_SQRT_PHI_PRIOR))
    # floored at 1e-16: phi at most 1e16 (float32 overflows at 3e38), a Poisson to 1e-16
    phi = numpyro.deterministic("phi", 1.0 / jnp.maximum(jnp.square(inv_sqrt_phi), 1e-16))
    mu_counts = mu * counts.kpi_scale
    likelihood = NegativeBinomial2(count_mean(mu_counts), phi, _log_count_mean(mu_counts))
    with numpyro.plate("geo_obs", mu.shape[0], dim=-2), numpyro.plate("time", mu.shape[1]):
        numpyro.sample("y", likelihood, obs=counts.y)
