"""Analyse a geo test: lift with an interval and a p-value that agree, fit and placebo checks.

:func:`analyze` takes a :class:`GeoPanel`, the treated geos and the test window and
returns a frozen :class:`LiftResult`. ``method="ascm"`` (augmented synthetic control, the
default), ``method="geolift"`` (GeoLift's default synthetic control with fixed effects) or
``method="tbr"`` (time-based regression); ``inference="placebo_t"`` (default: the
placebo-in-time errors' scale with a Student-t reference), ``"conformal"`` (placebo-in-time
rank test, inverted) or ``"analytic_t"`` (TBR's predictive t). Every procedure gives the
interval and the p-value from one reference distribution, so they agree. The pre-period is every period before the test; periods after
the test's end are ignored.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np

from margin.errors import ConfigError, DataValidationError
from margin.experiments.estimators import (
    geolift_counterfactual,
    scm_counterfactual,
    tbr_counterfactual,
)
from margin.experiments.inference import (
    Counterfactual,
    TestStatistic,
    conformal_statistic,
    min_placebo_windows,
    placebo_errors,
    placebo_t_statistic,
    tbr_statistic,
)
from margin.experiments.panel import GeoPanel
from margin.types import FloatArray, Interval

__all__ = [
    "DEFAULT_LEVEL",
    "METHODS",
    "Estimate",
    "LiftResult",
    "analyze",
    "analyze_window",
    "counterfactual_for",
    "interval_keys",
    "placebo_in_space",
]


METHODS = ("ascm", "tbr", "geolift")
INFERENCES = ("placebo_t", "conformal", "analytic_t")
"""Inference procedures: placebo-in-time t (default), placebo-in-time conformal, TBR's t."""
MIN_PLACEBO_T_WINDOWS = 3
MAX_SPACE_PLACEBOS = 40
"""Placebo-in-space uses at most this many control geos (the first by name)."""


def counterfactual_for(method: str, n_treated: int = 1) -> Counterfactual:
    """The counterfactual function of ``method`` (one of :data:`METHODS`).

    ``n_treated`` is how many geos the treated series sums (``geolift`` fits their average).
    """
    if method == "ascm":
        return scm_counterfactual
    if method == "tbr":
        return tbr_counterfactual
    if method == "geolift":
        return functools.partial(geolift_counterfactual, n_treated=n_treated)
    raise ConfigError(f"method={method!r} is not known; use one of {', '.join(METHODS)}")


DEFAULT_LEVEL = 0.9
"""The default interval level: the span of :data:`margin.types.LEVELS` (5th to 95th)."""


def interval_keys(level: float) -> tuple[str, str]:
    """JSON keys of an interval's ends: ``("p05", "p95")`` for ``level=0.9``."""
    lower = round(100 * (1 - level) / 2, 1)
    upper = round(100 - lower, 1)
    return _quantile_key(lower), _quantile_key(upper)


def _quantile_key(percent: float) -> str:
    return f"p{int(percent):02d}" if float(percent).is_integer() else f"p{percent:g}"


def _normal_quantile(level: float) -> float:
    from scipy.stats import norm  # type: ignore[import-untyped,unused-ignore]

    return float(norm.ppf(0.5 + level / 2.0))


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class Estimate:
    """A frequentist estimate with its ``level`` interval (``low``/``high``; may be infinite).

    Not an :class:`~margin.types.Interval`: a test's interval is a confidence interval at
    the level the analysis asked for (90% by default, any level allowed) and may be
    unbounded, where an :class:`~margin.types.Interval` is the fixed 5th-95th percentile
    summary of draws. At the default level the two agree: :meth:`interval` converts, and
    the JSON keys are then the same (``mean``, ``p05``, ``p95``).
    """

    mean: float
    low: float
    high: float
    level: float = DEFAULT_LEVEL

    def scaled(self, factor: float) -> Estimate:
        """Every number times ``factor`` (the ends re-ordered for a negative factor)."""
        ends = sorted((self.low * factor, self.high * factor))
        return Estimate(self.mean * factor, ends[0], ends[1], self.level)

    def interval(self) -> Interval:
        """This estimate as an :class:`~margin.types.Interval` (only at the 90% level).

        Raises:
            ConfigError: the level is not 90% (an Interval's ends are the 5th and 95th).
        """
        if not math.isclose(self.level, DEFAULT_LEVEL):
            raise ConfigError(
                f"an estimate at level {self.level} is not an Interval (5th-95th "
                f"percentiles); analyse at level={DEFAULT_LEVEL} to get one"
            )
        return Interval(self.mean, self.low, self.high)

    def to_json(self) -> dict[str, float | None]:
        """``{"mean", <lower key>, <upper key>}`` (``p05``/``p95`` at 90%); an infinite end is null."""
        lo, hi = interval_keys(self.level)
        return {"mean": self.mean, lo: _finite(self.low), hi: _finite(self.high)}


@dataclass(frozen=True)
class LiftResult:
    """Measured lift of one geo test (KPI units, summed over the treated geos).

    ``end`` is the last day of the test. ``lift_se`` is the normal-equivalent standard
    error (interval half-width over ``z_{(1+level)/2}``), what a Normal calibration
    likelihood needs. ``percent_lift`` divides by the counterfactual total, treated as
    known. ``series_observed`` / ``series_counterfactual`` are ``(n_times,)`` over the
    analysed periods (pre-period and test window) for the treated geos combined.
    """

    method: str
    level: float
    treated: tuple[str, ...]
    controls: tuple[str, ...]
    start: date
    end: date
    n_pre: int
    n_test: int
    cumulative_lift: Estimate
    percent_lift: Estimate
    att: Estimate
    p_value: float
    lift_se: float
    counterfactual_total: float
    pre_rmse: float
    pre_r2: float
    spend_delta: float | None
    incremental_roi: Estimate | None
    placebo_in_time: dict[str, float] = field(default_factory=dict)
    placebo_in_space: dict[str, float] = field(default_factory=dict)
    series_observed: FloatArray = field(default_factory=lambda: np.zeros(0))
    series_counterfactual: FloatArray = field(default_factory=lambda: np.zeros(0))
    inference: str = "placebo_t"

    def to_json(self) -> dict[str, Any]:
        """The ``lift.json`` contract (plus fit, checks and the series)."""
        payload: dict[str, Any] = {
            "method": self.method,
            "inference": self.inference,
            "level": self.level,
            "treatment_geos": list(self.treated),
            "control_geos": list(self.controls),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "n_pre_periods": self.n_pre,
            "n_test_periods": self.n_test,
            "cumulative_lift": self.cumulative_lift.to_json(),
            "percent_lift": self.percent_lift.to_json(),
            "att": self.att.to_json(),
            "p_value": self.p_value,
            "lift_se": self.lift_se,
            "counterfactual_total": self.counterfactual_total,
            "pre_fit": {"rmse": self.pre_rmse, "r2": self.pre_r2},
            "placebo_in_time": self.placebo_in_time,
            "placebo_in_space": self.placebo_in_space,
            "series": {
                "observed": self.series_observed.tolist(),
                "counterfactual": self.series_counterfactual.tolist(),
            },
        }
        if self.spend_delta is not None:
            payload["spend_delta"] = self.spend_delta
        if self.incremental_roi is not None:
            payload["incremental_roi"] = self.incremental_roi.to_json()
        return payload


def analyze_window(
    y: FloatArray,
    controls: FloatArray,
    pre_end: int,
    end: int,
    method: str,
    level: float,
    inference: str = "placebo_t",
    n_treated: int = 1,
) -> tuple[TestStatistic, FloatArray]:
    """Cumulative effect over ``[pre_end, end)`` and the counterfactual ``(end,)``.

    ``y`` is the treated sum ``(n_times,)`` of ``n_treated`` geos, ``controls``
    ``(n_controls, n_times)``; ``inference`` one of :data:`INFERENCES` (``analytic_t``
    only with ``tbr``).
    """
    y, controls = y[:end], controls[:, :end]
    fit_mask = np.arange(end) < pre_end
    estimator = counterfactual_for(method, n_treated)
    counterfactual = estimator(y, controls, fit_mask)
    if inference == "analytic_t":
        if method != "tbr":
            raise ConfigError("inference='analytic_t' exists for method='tbr' only")
        return tbr_statistic(y, controls.sum(axis=0), pre_end, end, level), counterfactual
    if inference not in INFERENCES:
        raise ConfigError(f"inference={inference!r}: use one of {', '.join(INFERENCES)}")
    length = end - pre_end
    errors = placebo_errors(y, controls, pre_end, length, estimator)
    needed = min_placebo_windows(level) if inference == "conformal" else MIN_PLACEBO_T_WINDOWS
    if errors.shape[0] < needed:
        raise DataValidationError(
            f"the pre-period has {pre_end} periods, which gives {errors.shape[0]} placebo "
            f"windows of the test's length {length}; {inference} inference at level {level:.0%} "
            f"needs at least {needed} (a pre-period of at least {length + needed - 1 + 4} "
            "periods). Use a longer history or a shorter test"
        )
    estimate = float((y[pre_end:] - counterfactual[pre_end:]).sum())
    if inference == "conformal":
        return conformal_statistic(estimate, errors, level), counterfactual
    return placebo_t_statistic(estimate, errors, pre_end, length, level), counterfactual


def _resolve(
    panel: GeoPanel, treated: list[str], controls: list[str] | None
) -> tuple[list[int], list[int]]:
    if not treated:
        raise ConfigError("treated: no treated geos given; name at least one geo of the panel")
    t_idx = panel.geo_indices(treated, "treated")
    if controls:
        c_idx = panel.geo_indices(controls, "controls")
    else:
        c_idx = [i for i in range(panel.n_geos) if i not in t_idx]
    overlap = set(t_idx) & set(c_idx)
    if overlap:
        raise ConfigError(
            f"geo(s) {', '.join(panel.geos[i] for i in sorted(overlap))} are both treated and control; "
            "a geo can be in only one group"
        )
    if len(c_idx) < 2:
        raise ConfigError(f"only {len(c_idx)} control geo(s); a geo test needs at least 2")
    return t_idx, c_idx


def analyze(  # noqa: PLR0913 (see tests/test_architecture.py)
    panel: GeoPanel,
    treated: list[str],
    start: date,
    end: date,
    *,
    method: str = "ascm",
    level: float = DEFAULT_LEVEL,
    controls: list[str] | None = None,
    spend_delta: float | None = None,
    space_placebos: bool = True,
    inference: str = "placebo_t",
) -> LiftResult:
    """Measure the lift of a test on ``treated`` from ``start`` to ``end`` (inclusive).

    ``spend_delta`` is the extra spend of the test (negative for go-dark); when ``None``
    and the panel has spend, it is the treated geos' spend in the window minus their
    pre-period average per period times the window's length.
    """
    if not 0.5 <= level < 1.0:
        raise ConfigError(f"level={level}: use an interval level in [0.5, 1), e.g. 0.9")
    counterfactual_for(method)
    t_idx, c_idx = _resolve(panel, treated, controls)
    pre_end = panel.time_index(start, "start")
    stop = panel.time_index(end, "end") + 1
    if stop <= pre_end:
        raise ConfigError(f"end={end} is before start={start}; the test window is empty")
    if pre_end < 4:
        raise DataValidationError(
            f"start={start} leaves {pre_end} pre-period periods; at least 4 are needed (more for power)"
        )
    y = panel.kpi[t_idx].sum(axis=0)
    x = panel.kpi[c_idx]
    stat, counterfactual = analyze_window(
        y, x, pre_end, stop, method, level, inference, n_treated=len(t_idx)
    )
    return _result(
        panel,
        t_idx,
        c_idx,
        pre_end,
        stop,
        method,
        level,
        stat,
        y,
        counterfactual,
        spend_delta,
        space_placebos,
        inference,
    )


def _result(  # noqa: PLR0913 (see tests/test_architecture.py)
    panel: GeoPanel,
    t_idx: list[int],
    c_idx: list[int],
    pre_end: int,
    stop: int,
    method: str,
    level: float,
    stat: TestStatistic,
    y: FloatArray,
    counterfactual: FloatArray,
    spend_delta: float | None,
    space_placebos: bool,
    inference: str,
) -> LiftResult:
    cumulative = Estimate(
        stat.estimate, stat.estimate - stat.half_width, stat.estimate + stat.half_width, level
    )
    base = float(counterfactual[pre_end:stop].sum())
    length = stop - pre_end
    residual = y[:pre_end] - counterfactual[:pre_end]
    total_ss = float(((y[:pre_end] - y[:pre_end].mean()) ** 2).sum())
    if spend_delta is None and panel.spend is not None:
        spend = panel.spend[t_idx].sum(axis=0)
        spend_delta = float(spend[pre_end:stop].sum() - spend[:pre_end].mean() * length)
    roi = None
    if spend_delta is not None and spend_delta != 0.0:
        roi = cumulative.scaled(1.0 / spend_delta)
    checks_time = _placebo_in_time(
        y, panel.kpi[c_idx], pre_end, length, method, level, inference, len(t_idx)
    )
    checks_space = (
        placebo_in_space(panel.kpi, t_idx, c_idx, pre_end, stop, method, stat.estimate, base)
        if space_placebos
        else {}
    )
    return LiftResult(
        method=method,
        level=level,
        treated=tuple(panel.geos[i] for i in t_idx),
        controls=tuple(panel.geos[i] for i in c_idx),
        start=panel.dates[pre_end],
        end=panel.dates[stop - 1] + timedelta(days=panel.grain_days - 1),
        n_pre=pre_end,
        n_test=length,
        cumulative_lift=cumulative,
        percent_lift=cumulative.scaled(100.0 / base)
        if base != 0
        else Estimate(math.nan, -math.inf, math.inf, level),
        att=cumulative.scaled(1.0 / (length * len(t_idx))),
        p_value=stat.p_value,
        lift_se=stat.half_width / _normal_quantile(level),
        counterfactual_total=base,
        pre_rmse=float(np.sqrt((residual**2).mean())),
        pre_r2=1.0 - float((residual**2).sum()) / total_ss if total_ss > 0 else math.nan,
        spend_delta=spend_delta,
        incremental_roi=roi,
        placebo_in_time=checks_time,
        placebo_in_space=checks_space,
        series_observed=y[:stop].copy(),
        series_counterfactual=counterfactual[:stop].copy(),
        inference=inference,
    )


def _placebo_in_time(
    y: FloatArray,
    controls: FloatArray,
    pre_end: int,
    length: int,
    method: str,
    level: float,
    inference: str,
    n_treated: int = 1,
) -> dict[str, float]:
    """Re-run the analysis on the last pre-period window of the test's length (no effect there)."""
    fake_start = pre_end - length
    try:
        stat, counterfactual = analyze_window(
            y, controls, fake_start, pre_end, method, level, inference, n_treated
        )
    except DataValidationError:
        return {}
    base = float(counterfactual[fake_start:pre_end].sum())
    return {
        "start_index": float(fake_start),
        "cumulative_lift": stat.estimate,
        "percent_lift": 100.0 * stat.estimate / base if base else math.nan,
        "p_value": stat.p_value,
    }


def placebo_in_space(
    kpi: FloatArray,
    t_idx: list[int],
    c_idx: list[int],
    pre_end: int,
    stop: int,
    method: str,
    estimate: float,
    base: float,
) -> dict[str, float]:
    """Pretend each control geo was treated (others as controls); rank the real effect.

    ``kpi`` is ``(n_geos, n_times)``. Effects are compared as percent of counterfactual;
    ``p_value`` = share of placebos (and the real test) with at least the real magnitude.
    """
    used = c_idx[:MAX_SPACE_PLACEBOS]
    fit_mask = np.arange(stop) < pre_end
    fn = counterfactual_for(method)
    percents = []
    for geo in used:
        others = [i for i in c_idx if i != geo]
        y = kpi[geo, :stop]
        fitted = fn(y, kpi[others, :stop], fit_mask)
        denominator = float(fitted[pre_end:].sum())
        if denominator != 0:
            percents.append(float((y[pre_end:] - fitted[pre_end:]).sum()) / denominator)
    real = estimate / base if base else math.nan
    magnitudes = np.abs(np.asarray(percents))
    return {
        "n_placebos": float(len(percents)),
        "real_percent_lift": 100.0 * real,
        "placebo_percent_sd": 100.0 * float(np.std(percents)) if percents else math.nan,
        "p_value": (1.0 + float((magnitudes >= abs(real)).sum())) / (len(percents) + 1.0),
    }
