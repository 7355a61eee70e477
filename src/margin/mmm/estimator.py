"""``MarketingMixModel``: the scikit-learn-style estimator around the pure pieces."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from margin.data.panel.marketing_data import MarketingData
from margin.errors import ConfigError, NotFittedError
from margin.mmm.calibration import LiftTest, lift_arrays
from margin.mmm.config import ModelConfig
from margin.mmm.conflict import PriorDataConflict, check_conflict
from margin.mmm.diagnostics import convergence, data_checks, fit_quality, prior_shift
from margin.mmm.fit_quality import model_fit, national_series, ppc_p_value
from margin.mmm.inference import FitProgress, run_inference
from margin.mmm.inputs import ModelInputs, fit_scaling, model_inputs
from margin.mmm.model import (
    START,
    CountData,
    count_mean,
    draw_geo_intercepts,
    level_offset,
    mmm_model,
    roi_latents,
)
from margin.mmm.settings import PARAMETERS, Inference, Method, Nuts, inference_for
from margin.mmm.summary import FitRecord, RunSummary, flat_params, predict_draws, summarize
from margin.params import check_params
from margin.types import Interval

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["InferenceKnobs", "MarketingMixModel"]

MIN_FIT_WEEKS = 26
"""Weeks an MMM needs to fit at least (after the holdout)."""


class InferenceKnobs(TypedDict, total=False):
    """The flat inference keywords :class:`MarketingMixModel` still takes (each becomes
    a field of :class:`~margin.mmm.settings.Nuts` or :class:`~margin.mmm.settings.Laplace`)."""

    method: Method
    chains: int
    draws: int
    warmup: int
    approximate_steps: int
    target_accept: float


class MarketingMixModel:
    """Bayesian MMM: adstock, saturation, geo hierarchy, ROI priors, lift calibration.

    Args:
        config: model structure and priors (default :class:`ModelConfig`).
        inference: how to draw from the posterior: :class:`~margin.mmm.settings.Nuts`
            (default ``Nuts()``) or :class:`~margin.mmm.settings.Laplace` (posterior mode +
            Laplace approximation: seconds, labelled so, no convergence diagnostics).
        seed: the only source of randomness; same data, config and seed give the same numbers.
        holdout_weeks: the last weeks are left out of fitting and predicted (MAPE, R²).
        progress: ``True`` for NumPyro's progress bars, or a
            :data:`~margin.mmm.inference.FitProgress` told the warm-up and sampling
            iterations (NUTS) or optimisation steps (approximate) done; the draws are
            the same either way.
        **knobs: instead of ``inference``, its flat form: ``method`` (``"nuts"`` or
            ``"approximate"``), ``chains``, ``draws``, ``warmup``, ``approximate_steps``,
            ``target_accept`` (see :func:`~margin.mmm.settings.inference_for`).

    Attributes (after :meth:`fit`):
        draws_: the :class:`Draws`; scaling_: the :class:`Scaling`;
        summary_: the :class:`~margin.mmm.summary.PosteriorSummary` (channels, totals,
            baseline); diagnostics_: convergence, fit, warnings;
        fit_seconds_: wall time of sampling, compilation included; summary_seconds_: of
            the summaries and diagnostics computed from the draws afterwards.

    Raises:
        ConfigError: settings out of range (see :data:`~margin.mmm.settings.PARAMETERS`).
    """

    def __init__(
        self,
        config: ModelConfig | None = None,
        *,
        inference: Inference | None = None,
        seed: int = 0,
        holdout_weeks: int = 0,
        progress: bool | FitProgress = False,
        **knobs: Unpack[InferenceKnobs],
    ) -> None:
        if inference is not None and knobs:
            raise ConfigError(
                f"pass either inference= or the flat settings {sorted(knobs)}, not both"
            )
        self.config = config
        self.inference: Inference = inference or (inference_for(**knobs) if knobs else Nuts())
        self.seed = seed
        self.holdout_weeks = holdout_weeks
        self.progress = progress
        check_params({"seed": seed, "holdout_weeks": holdout_weeks}, PARAMETERS)

    @property
    def method(self) -> Method:
        """``"nuts"`` or ``"approximate"``: the inference settings' method."""
        return self.inference.method

    def __repr__(self) -> str:
        if not hasattr(self, "draws_"):
            return f"<MarketingMixModel: not fitted, {self.inference!r}, seed={self.seed}>"
        return (
            f"<MarketingMixModel: fitted by {self.inference.describe()}, "
            f"{len(self.summary_.channels)} channels, {self.fitted_shape_[0]} geos × "
            f"{self.fitted_shape_[1]} weeks>"
        )

    def _check(self, data: MarketingData) -> None:
        if data.n_times - self.holdout_weeks < MIN_FIT_WEEKS:
            raise ConfigError(
                f"holdout_weeks={self.holdout_weeks} leaves {data.n_times - self.holdout_weeks} "
                f"weeks to fit; an MMM needs at least {MIN_FIT_WEEKS}: use fewer holdout weeks "
                "or more data"
            )

    def fit(
        self,
        data: MarketingData,
        lift_tests: Sequence[LiftTest] = (),
        *,
        init: Mapping[str, npt.ArrayLike] | None = None,
    ) -> MarketingMixModel:
        """Fit on ``data`` (minus the holdout weeks), calibrated by ``lift_tests``.

        ``init`` (optional): constrained starting values per latent site, e.g.
        ``margin.mmm.inference.warm_start(previous_posterior)`` for a weekly refit on
        the same spec; sites the model lacks are ignored, a wrong shape is an error.
        Warm starts shorten nothing by themselves (warm-up still runs in full) but start
        the chains in the posterior's bulk.
        """
        self._check(data)
        config = self.config or ModelConfig()
        if config.likelihood == "negative_binomial":
            check_counts(data)
        warnings = data_checks(data)
        if data.kpi_type == "conversions" and data.revenue_per_kpi is None:
            warnings.append("conversions KPI without revenue_per_kpi: ROI is conversions per "
                            "unit of spend; set data.revenue_per_kpi for revenue ROI")  # fmt: skip
        fitted = data.slice_times(0, data.n_times - self.holdout_weeks)
        scaling = fit_scaling(fitted, config.fourier_terms)
        inputs = model_inputs(fitted, scaling)
        lift = lift_arrays(lift_tests, fitted, scaling, config.max_lag) if lift_tests else None
        priors = [config.roi_prior(c) for c in data.channels]
        roi_loc = jax.device_put(np.log([p.median for p in priors]).astype(np.float32))
        roi_scale = jax.device_put(np.asarray([p.sigma for p in priors], dtype=np.float32))
        counts = None
        if config.likelihood == "negative_binomial":
            kpi_scale = jax.device_put(np.float32(scaling.kpi_scale))
            counts = CountData(jax.device_put(fitted.kpi.astype(np.float32)), kpi_scale)
        shape = config.shape_arrays(data.channels)
        args = (inputs, config, roi_loc, roi_scale, lift, shape, counts)
        if init is not None and "roi" in init and "media_log_total" not in init:
            init = {**init, **_roi_init(init["roi"], inputs.spend_total)}
        if init is not None and "intercept" in init and "baseline_level" not in init:
            init = {**init, **_level_init(init, inputs)}
        init = {**START, **(init or {})}  # the level and geo sd start near their priors
        start = time.perf_counter()
        draws = run_inference(
            mmm_model, args, self.inference, seed=self.seed, init=init, progress=self.progress
        )
        draws = dataclasses.replace(draws, samples=draw_geo_intercepts(draws.samples, self.seed))
        self.fit_seconds_ = time.perf_counter() - start
        self.config_, self.scaling_, self.draws_, self.n_lift_tests_ = (
            config,
            scaling,
            draws,
            len(lift_tests),
        )
        self.fitted_shape_ = (fitted.n_geos, fitted.n_times)
        start = time.perf_counter()
        self.summary_ = summarize(draws.samples, fitted, inputs, scaling, config)
        self.diagnostics_ = self._diagnose(data, fitted, warnings)
        self.summary_seconds_ = time.perf_counter() - start
        return self

    def _diagnose(
        self, data: MarketingData, fitted: MarketingData, warnings: list[str]
    ) -> dict[str, Any]:
        draws, config = self.draws_, self.config_
        result = convergence(draws)
        rng = np.random.default_rng(self.seed)
        predictive = self._predictive(self.predict(fitted), rng)
        in_sample = fit_quality(fitted.kpi, predictive)
        series = national_series(fitted.kpi, predictive)
        p_value = ppc_p_value(fitted.kpi, predictive)
        conflict = self._conflict(fitted, predictive)
        del predictive  # (draws, geos, weeks): free it before the holdout's
        shift, prior_warnings = prior_shift(draws.samples["roi"], data.channels, config)
        holdout = held_series = None
        if self.holdout_weeks:
            full = self._predictive(self.predict(data), rng)[:, :, fitted.n_times :]
            holdout = fit_quality(data.kpi[:, fitted.n_times :], full)
            held_series = national_series(data.kpi[:, fitted.n_times :], full)
        if "phi" in draws.samples:
            result["dispersion"] = dispersion_json(draws.samples["phi"])
        loud = [conflict.message()] if conflict.detected else []
        result["warnings"] = loud + warnings + result["warnings"] + prior_warnings
        result.update({
            "method": draws.method,
            "fit": in_sample,
            "holdout": holdout,
            "holdout_mape": None if holdout is None else holdout["mape"],
            "holdout_r2": None if holdout is None else holdout["r2"],
            "posterior_prior_sd_ratio": shift,
            "prior_data_conflict": conflict.to_json(),
            "model_fit": model_fit(in_sample, holdout, series, held_series, p_value),
        })  # fmt: skip
        return result

    def _conflict(
        self, fitted: MarketingData, predictive: npt.NDArray[np.float64]
    ) -> PriorDataConflict:
        """Whether the ROI prior fought the data (:mod:`margin.mmm.conflict`)."""
        medians = np.asarray([self.config_.roi_prior(c).median for c in fitted.channels])
        inputs = model_inputs(fitted, self.scaling_)
        share = self.summary_.totals.media_share.mean
        return check_conflict(fitted, inputs, medians, predictive, share)

    def _predictive(
        self, mean: npt.NDArray[np.float64], rng: np.random.Generator
    ) -> npt.NDArray[np.float64]:
        """Posterior predictive draws: ``mean`` ``(n_samples, g, t)`` plus observation noise."""
        samples = self.draws_.samples
        if "phi" in samples:  # negative binomial: counts around the (floored) mean
            phi = np.broadcast_to(samples["phi"].reshape(-1)[:, None, None], mean.shape)
            positive = np.asarray(count_mean(jnp.asarray(mean, jnp.float32)), np.float64)
            rate = rng.gamma(phi, positive / phi)  # Gamma-Poisson: exact at any phi
            return rng.poisson(rate).astype(np.float64)
        sigma = samples["sigma"].reshape(-1)[:, None, None]
        scale = sigma * self.scaling_.share[None, :, None] * self.scaling_.kpi_scale
        if "nu" in samples:
            nu = samples["nu"].reshape(-1)[:, None, None]
            noise = rng.standard_t(np.broadcast_to(nu, mean.shape))
        else:
            noise = rng.standard_normal(mean.shape)
        noise *= scale  # in place: these are (draws, geos, weeks), ~100 MB at 40 geos
        noise += mean
        return noise

    def predict(self, data: MarketingData) -> npt.NDArray[np.float64]:
        """Expected KPI per draw, ``(n_samples, n_geos, n_times)``, in KPI units.

        ``data`` must share the fitted panel's geos and channels; its weeks may extend past
        the fitted window (carry-over starts from its own first week).
        """
        if not hasattr(self, "draws_"):
            raise NotFittedError("this MarketingMixModel is not fitted yet; call fit(data) first")
        params = flat_params(self.draws_.samples)
        mu = predict_draws(params, model_inputs(data, self.scaling_), self.config_)
        return np.asarray(mu, dtype=np.float64) * self.scaling_.kpi_scale

    def result(self) -> RunSummary:
        """Channels, totals, baseline, method, diagnostics, fit and priors
        (``result().to_json()`` is the ``summary.json`` body)."""
        if not hasattr(self, "summary_"):
            raise NotFittedError("this MarketingMixModel is not fitted yet; call fit(data) first")
        fit = FitRecord(
            seconds=self.fit_seconds_,
            chains=self.inference.chains,
            draws=self.inference.draws,
            warmup=self.inference.warmup,
            seed=self.seed,
            method=self.draws_.method,
            holdout_weeks=self.holdout_weeks,
            lift_tests=self.n_lift_tests_,
        )
        priors = self.config_.priors_json(tuple(self.summary_.channels))
        return RunSummary(self.summary_, self.draws_.method, self.diagnostics_, fit, priors)

    def summary(self) -> pd.DataFrame:
        """One row per channel (index ``channel``): spend, then mean, p05 and p95 of ROI,
        marginal ROI, contribution and contribution share (as lifetimes' ``summary``)."""
        import pandas as pd

        rows = []
        for name, c in self.result().channels.items():
            row: dict[str, Any] = {"channel": name, "spend": c.spend}
            for key in ("roi", "mroi", "contribution", "contribution_share"):
                stat = getattr(c, key)
                row |= {f"{key}_mean": stat.mean, f"{key}_p05": stat.p05, f"{key}_p95": stat.p95}
            rows.append(row)
        return pd.DataFrame(rows).set_index("channel")


def check_counts(data: MarketingData) -> None:
    """The negative-binomial likelihood's data: a conversions KPI of whole counts >= 0.

    Raises:
        ConfigError: the KPI is not ``conversions``, or a value is negative or fractional
            (the first such geo and week named).
    """
    fix = 'or set [model] likelihood = "normal" (or "student_t")'
    if data.kpi_type != "conversions":
        raise ConfigError(
            f'[model] likelihood = "negative_binomial" models counts, but the KPI '
            f"{data.kpi_name!r} is {data.kpi_type!r}; use it with a conversions KPI "
            f'([data] kpi_type = "conversions") {fix}'
        )
    kpi = data.kpi
    bad = ~np.isfinite(kpi) | (kpi < 0) | (kpi != np.round(kpi))
    if bad.any():
        g, t = (int(i[0]) for i in np.nonzero(bad))
        raise ConfigError(
            f'[model] likelihood = "negative_binomial" needs the KPI {data.kpi_name!r} as '
            f"whole counts >= 0; geo {data.geos[g]!r}, week {data.dates[t]} has "
            f"{kpi[g, t]!r} ({int(bad.sum())} such value(s)): give conversion counts {fix}"
        )


def dispersion_json(phi: npt.NDArray[np.float64]) -> dict[str, Any]:
    """The negative binomial's concentration ``phi`` for ``diagnostics.dispersion``: its
    mean and 90% interval (variance ``mean + mean²/phi``: larger is closer to Poisson)."""
    return {
        "likelihood": "negative_binomial",
        "phi": Interval.of(np.asarray(phi, np.float64).reshape(-1)).to_json(),
        "unit": "concentration (variance = mean + mean²/phi, in conversions²)",
    }


def _roi_init(value: npt.ArrayLike, spend_total: jnp.ndarray) -> dict[str, jnp.ndarray]:
    """Starting ROIs given as ``roi`` (sampled as total and split) in the sampled coordinates."""
    roi = jnp.asarray(value, dtype=jnp.float32)
    if roi.shape != spend_total.shape:
        raise ConfigError(
            f"init value for 'roi' has shape {roi.shape}; the model expects {spend_total.shape}"
        )
    if not bool(jnp.all(jnp.isfinite(roi) & (roi > 0))):
        raise ConfigError("init value for 'roi' lies outside the site's support (ROI > 0)")
    return roi_latents(roi, spend_total)


def _level_init(init: Mapping[str, npt.ArrayLike], inputs: ModelInputs) -> dict[str, float]:
    """A starting ``intercept`` given as such, in the sampled coordinate ``baseline_level``
    (needs the starting ROIs or media total; without them the intercept is not used)."""
    if "media_log_total" not in init:
        return {}
    media_total = float(np.exp(np.asarray(init["media_log_total"], dtype=np.float64)))
    trend = float(np.asarray(init.get("trend", 0.0), dtype=np.float64))
    offset = float(level_offset(jnp.asarray(trend), jnp.asarray(media_total), inputs))
    return {"baseline_level": float(np.asarray(init["intercept"], dtype=np.float64)) + offset}
