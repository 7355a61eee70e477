"""Diagnostics that protect the user: convergence, fit, holdout, prior dominance, data.

Thresholds are named constants; each problem becomes a plain-language warning with
advice, collected in ``diagnostics["warnings"]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from margin.data.panel.marketing_data import MarketingData
from margin.mmm.config import ModelConfig
from margin.mmm.inference import Draws
from margin.types import quantiles

__all__ = [
    "MAX_RHAT",
    "MIN_ESS",
    "convergence",
    "data_checks",
    "fit_quality",
    "prior_shift",
]

MAX_RHAT = 1.01
MIN_ESS = 400.0
MIN_SPEND_CV = 0.1
"""A channel whose weekly national spend varies less than this (sd/mean) is hard to read."""
MAX_CORRELATION = 0.9
"""Channels whose weekly spends correlate beyond ±this cannot be told apart."""
PRIOR_DOMINANCE = 0.7
"""Posterior sd of log ROI above this fraction of the prior's: the answer is mostly prior."""
_CHECKED_SITES = ("roi", "decay", "adstock_shape", "adstock_scale", "half_saturation", "slope",
                  "rate", "intercept", "sigma", "phi")  # fmt: skip


def data_checks(data: MarketingData) -> list[str]:
    """Warnings on spend that barely varies and on near-collinear channels (before fitting).

    Channels are near-collinear when their national weekly spend correlates beyond
    ±:data:`MAX_CORRELATION`: moving together, their effects trade off; moving against
    each other, their sum is nearly constant and its level trades off with the baseline.
    """
    weekly = data.spend.sum(axis=0)  # (n_times, n_channels)
    warnings = []
    mean = weekly.mean(axis=0)
    cv = weekly.std(axis=0) / np.where(mean > 0, mean, 1.0)
    for name, value in zip(data.channels, cv, strict=True):
        if value < MIN_SPEND_CV:
            warnings.append(
                f"channel {name!r}: weekly spend barely varies (sd/mean {value:.2f} < "
                f"{MIN_SPEND_CV}); its ROI will mostly reflect the prior: vary its spend or "
                "run a lift test"
            )
    if data.n_channels > 1:
        corr: npt.NDArray[np.float64] = np.atleast_2d(np.corrcoef(weekly.T))
        for i in range(data.n_channels):
            for j in range(i + 1, data.n_channels):
                if np.isfinite(corr[i, j]) and abs(corr[i, j]) > MAX_CORRELATION:
                    how = "together" if corr[i, j] > 0 else "against each other"
                    warnings.append(
                        f"channels {data.channels[i]!r} and {data.channels[j]!r} move {how} "
                        f"(correlation {corr[i, j]:.2f}); the model cannot split their effects: "
                        "run a lift test on one, or combine them"
                    )
    return warnings


def _split_stats(values: npt.NDArray[np.float64]) -> tuple[float, float, float]:
    """Max R-hat, min bulk ESS, min tail ESS of ``(chains, draws, ...)``."""
    from arviz_stats.base import array_stats  # type: ignore[attr-defined]

    flat = values.reshape(values.shape[0], values.shape[1], -1)
    axes = {"chain_axis": 0, "draw_axis": 1}
    rhat = np.asarray(array_stats.rhat(flat, **axes))  # type: ignore[no-untyped-call]
    bulk = np.asarray(array_stats.ess(flat, method="bulk", **axes))  # type: ignore[no-untyped-call]
    tail = np.asarray(
        array_stats.ess(flat, method="tail", prob=(0.05, 0.95), **axes)  # type: ignore[no-untyped-call]
    )
    return float(np.nanmax(rhat)), float(np.nanmin(bulk)), float(np.nanmin(tail))


def convergence(draws: Draws) -> dict[str, Any]:
    """R-hat, bulk/tail ESS (media and noise parameters), divergences, tree-depth hits."""
    if draws.method != "nuts" or draws.diverging is None or draws.num_steps is None:
        return {"converged": None, "max_rhat": None, "min_ess_bulk": None, "min_ess_tail": None,
                "divergences": None, "tree_depth_saturation": None,
                "warnings": ["approximate fit (Laplace): no convergence diagnostics; refit with "
                             "NUTS (--method nuts) before trusting intervals"]}  # fmt: skip
    stats = [_split_stats(draws.samples[s]) for s in _CHECKED_SITES if s in draws.samples]
    max_rhat = max(s[0] for s in stats)
    min_bulk = min(s[1] for s in stats)
    min_tail = min(s[2] for s in stats)
    divergences = int(draws.diverging.sum())
    saturated = float((draws.num_steps >= 2**draws.max_tree_depth - 1).mean())
    warnings = []
    if draws.samples["roi"].shape[0] > 1 and not max_rhat <= MAX_RHAT:
        warnings.append(f"not converged: max R-hat {max_rhat:.3f} > {MAX_RHAT}; run longer "
                        "(--warmup, --draws) or tighten priors")  # fmt: skip
    if not min_bulk >= MIN_ESS:
        warnings.append(f"low effective sample size: min bulk ESS {min_bulk:.0f} < {MIN_ESS:.0f}; "
                        "increase --draws or --chains")  # fmt: skip
    if divergences:
        warnings.append(f"{divergences} divergent transitions: the posterior is hard to explore; "
                        "raise target_accept (e.g. 0.95), tighten priors, reduce max_lag, or check the data")  # fmt: skip
    if saturated > 0.05:
        warnings.append(f"{saturated:.0%} of draws hit the maximum tree depth; the sampler "
                        "struggles: rescale or simplify the model")  # fmt: skip
    converged = max_rhat <= MAX_RHAT and min_bulk >= MIN_ESS and divergences == 0
    return {"converged": bool(converged), "max_rhat": max_rhat, "min_ess_bulk": min_bulk, "min_ess_tail": min_tail,
            "divergences": divergences, "tree_depth_saturation": saturated,
            "warnings": warnings}  # fmt: skip


def fit_quality(
    observed: npt.NDArray[np.float64], predicted: npt.NDArray[np.float64]
) -> dict[str, float]:
    """MAPE and R² of the posterior-mean prediction; coverage of its 90% band.

    Args:
        observed: ``(n_geos, n_times)``; predicted: ``(n_samples, n_geos, n_times)``.
    """
    mean = predicted.mean(axis=0)
    low, high = quantiles(predicted, axis=0)
    nonzero = observed != 0
    mape = float(np.mean(np.abs(observed - mean)[nonzero] / np.abs(observed[nonzero])))
    total = float(((observed - observed.mean()) ** 2).sum())
    r2 = 1.0 - float(((observed - mean) ** 2).sum()) / total if total > 0 else float("nan")
    coverage = float(((observed >= low) & (observed <= high)).mean())
    return {"mape": mape, "r2": r2, "coverage_90": coverage}


def prior_shift(
    roi_draws: npt.NDArray[np.float64], channels: tuple[str, ...], config: ModelConfig
) -> tuple[dict[str, float], list[str]]:
    """Posterior/prior sd ratio of log ROI per channel, and warnings where it is high."""
    log_roi = np.log(roi_draws.reshape(-1, roi_draws.shape[-1]))
    ratios, warnings = {}, []
    for c, name in enumerate(channels):
        ratio = float(log_roi[:, c].std() / config.roi_prior(name).sigma)
        ratios[name] = ratio
        if ratio > PRIOR_DOMINANCE:
            warnings.append(
                f"channel {name!r}: the data barely narrowed the ROI prior (posterior/prior "
                f"sd {ratio:.2f} > {PRIOR_DOMINANCE}); its ROI is mostly the prior: run a "
                "lift test or vary its spend"
            )
    return ratios, warnings
