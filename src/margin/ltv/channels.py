"""Value by acquisition channel: what a newly acquired customer is worth, what they cost.

Per channel (the first purchase's ``acquisition_channel``):

- **value** of a newly acquired customer over a horizon, first purchase included: the
  channel's mean first-purchase value plus its expected repeat transactions ``E[X(t)]``
  (BG/NBD) times the expected spend per transaction (Gamma-Gamma), optionally discounted.
  Each channel gets its own fits when it has :data:`MIN_CUSTOMERS` customers and
  :data:`MIN_REPEAT` repeat customers; otherwise the pooled fits of all customers, and
  ``pooled`` says so. The interval combines both fits' parameter uncertainty (Laplace draws)
  with the first purchase mean's sampling error;
- **customers** acquired (in the summary's calibration window);
- **CAC** (attributed): the channel's spend over the acquisition window ÷ customers it is
  credited with; **LTV:CAC** and the **payback period** (weeks until a customer's expected
  cumulative value reaches the CAC; ``None`` where it does not within the grid);
- **incremental CAC**: spend ÷ the customers the channel truly caused, from an
  incrementality factor (incremental ÷ attributed, from the MMM or lift tests, e.g.
  ``margin reconcile``): platform CAC flatters the channels that harvest demand that
  exists anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.errors import ConfigError, DataValidationError
from margin.types import FloatArray, Interval

if TYPE_CHECKING:
    import pandas as pd

    from margin.ltv.results import LtvFit
    from margin.ltv.summary import CustomerSummary

__all__ = [
    "MIN_CUSTOMERS",
    "MIN_REPEAT",
    "ORGANIC_LABELS",
    "ChannelValue",
    "ValueByChannel",
    "value_by_channel",
    "value_draws",
]

MIN_CUSTOMERS = 50
"""Customers a channel needs for its own fits (fewer, or fits that do not converge: the
pooled fits, and ``pooled`` says so: their value is the average customer's, not the
channel's)."""
MIN_REPEAT = 10
"""Repeat customers a channel needs for its own Gamma-Gamma fit."""
PAYBACK_WEEKS = 260
"""The payback grid's length (weeks): beyond it, the payback is not reached."""


@dataclass(frozen=True)
class ChannelValue:
    """One acquisition channel's customer value and cost (money in the summary's currency).

    Attributes:
        channel: the acquisition channel.
        customers: customers it acquired.
        value: a new customer's value over the horizon (first purchase included).
        first_purchase: the mean first purchase value (its sampling interval).
        pooled: the value uses the pooled fits (too few customers for the channel's own).
        spend: the channel's spend over the acquisition window (``None``: not given).
        cac: spend ÷ customers (attributed; ``None`` without spend).
        ltv_cac: value ÷ CAC.
        payback_weeks: weeks until expected cumulative value reaches the CAC (``None``
            where not reached within :data:`PAYBACK_WEEKS` weeks, or without spend).
        incremental_factor: incremental ÷ attributed customers (given; ``None``: unknown).
        incremental_cac: spend ÷ incremental customers.
        incremental_ltv_cac: value ÷ incremental CAC.
    """

    channel: str
    customers: int
    value: Interval
    first_purchase: Interval
    pooled: bool
    spend: float | None = None
    cac: float | None = None
    ltv_cac: Interval | None = None
    payback_weeks: Interval | None = None
    incremental_factor: Interval | None = None
    incremental_cac: Interval | None = None
    incremental_ltv_cac: Interval | None = None

    def to_json(self) -> dict[str, Any]:
        def interval(value: Interval | None) -> dict[str, float] | None:
            return None if value is None else value.to_json()

        cac = None if self.cac is None else {"mean": self.cac, "p05": self.cac, "p95": self.cac}
        return {
            "value": self.value.to_json(), "first_purchase": self.first_purchase.to_json(),
            "customers": self.customers, "pooled": self.pooled, "spend": self.spend,
            "cac": cac, "ltv_cac": interval(self.ltv_cac),
            "payback_weeks": interval(self.payback_weeks),
            "incremental_factor": interval(self.incremental_factor),
            "incremental_cac": interval(self.incremental_cac),
            "incremental_ltv_cac": interval(self.incremental_ltv_cac),
        }  # fmt: skip


@dataclass(frozen=True)
class ValueByChannel:
    """Every acquisition channel's :class:`ChannelValue`, and how they were computed.

    Attributes:
        channels: one per channel, most customers first.
        horizon_weeks: the value's horizon.
        annual_discount_rate: the discounting (0: none).
        currency: the money unit of values, spend and CAC.
        purchases, spend_model: the pooled fits (BG/NBD, Gamma-Gamma).
    """

    channels: tuple[ChannelValue, ...]
    horizon_weeks: float
    annual_discount_rate: float
    currency: str
    purchases: LtvFit
    spend_model: LtvFit

    def to_json(self) -> dict[str, Any]:
        """``by_channel.json``: ``{"<channel>": {"value", "customers", "cac", "ltv_cac", …}}``,
        each with the horizon, discount and currency."""
        meta = {
            "horizon_weeks": self.horizon_weeks, "currency": self.currency,
            "annual_discount_rate": self.annual_discount_rate,
        }  # fmt: skip
        return {c.channel: {**c.to_json(), **meta} for c in self.channels}

    def __str__(self) -> str:
        lines = [
            f"Value of a new customer over {self.horizon_weeks:g} weeks ({self.currency}, "
            "first purchase included; 90% intervals)"
        ]
        for c in self.channels:
            v = c.value
            line = f"  {c.channel:<14} {v.mean:10,.2f} [{v.p05:,.2f}, {v.p95:,.2f}]  {c.customers:,} customers"
            if c.cac is not None and c.ltv_cac is not None:
                line += f"  CAC {c.cac:,.2f}  LTV:CAC {c.ltv_cac.mean:.2f}"
            lines.append(line + ("  (pooled fit)" if c.pooled else ""))
        return "\n".join(lines)


def _fits(customers: pd.DataFrame) -> tuple[LtvFit, LtvFit | tuple[float, float]]:
    """BG/NBD and Gamma-Gamma on ``customers`` (identical rows collapsed); when Gamma-Gamma
    is not identified (few repeat customers), the mean repeat purchase instead: the value
    needs only the mean spend, which Gamma-Gamma's spread parameters do not change.

    Raises:
        LtvFitError, DataValidationError: BG/NBD cannot be fitted.
    """
    from margin.ltv.bgnbd import fit_bgnbd
    from margin.ltv.gamma_gamma import fit_gamma_gamma
    from margin.ltv.inputs import collapse_rows
    from margin.ltv.results import LtvFitError

    rows, weights = collapse_rows(customers["frequency"], customers["recency"], customers["T"])
    frequency, recency, age = rows[:3]
    purchases = fit_bgnbd(frequency, recency, age, weights)
    repeat = customers[customers["frequency"] > 0]
    try:
        return purchases, fit_gamma_gamma(repeat["frequency"], repeat["monetary_value"])
    except (LtvFitError, DataValidationError):
        if len(repeat) < 2:
            raise
    n = repeat["frequency"].to_numpy(dtype=np.float64)
    m = repeat["monetary_value"].to_numpy(dtype=np.float64)
    mean = float(np.average(m, weights=n))  # spend per repeat purchase
    se = float(np.sqrt(np.average((m - mean) ** 2, weights=n) / len(repeat)))
    return purchases, (mean, se)


def _spend_draws(spend: LtvFit | tuple[float, float], draws: int, seed: int) -> FloatArray:
    """``(draws,)`` mean spend per repeat purchase."""
    from margin.ltv.gamma_gamma import mean_spend

    if isinstance(spend, tuple):
        rng = np.random.default_rng(seed)
        out: FloatArray = np.maximum(spend[0] + spend[1] * rng.standard_normal(draws), 0.0)
        return out
    drawn = spend.draws(draws, seed)
    return np.array([mean_spend({k: v[j] for k, v in drawn.items()}) for j in range(draws)])


def _curves(
    fits: tuple[LtvFit, LtvFit | tuple[float, float]], weeks: FloatArray, discount: float,
    draws: int, seed: int,
) -> FloatArray:  # fmt: skip
    """``(draws, n_weeks)`` expected cumulative repeat value per draw at ``weeks``."""
    from margin.ltv.bgnbd import expected_transactions

    purchases, spend = fits
    p_draws, s_draws = purchases.draws(draws, seed), _spend_draws(spend, draws, seed + 1)
    factors = (1.0 + discount) ** (-weeks / 52.0)
    out = np.empty((draws, weeks.size))
    for j in range(draws):
        count = expected_transactions({k: v[j] for k, v in p_draws.items()}, weeks)
        increments = np.diff(count, prepend=0.0) * factors
        out[j] = np.cumsum(increments) * s_draws[j]
    return out


def _payback(
    curves: FloatArray, first: FloatArray, cac: FloatArray, weeks: FloatArray
) -> Interval | None:
    """Weeks until ``first + curve`` reaches ``cac`` in each draw; ``None`` when more than
    5% of draws never do within the grid."""
    reached = (first[:, None] + curves) >= cac[:, None]
    ever = reached.any(axis=1)
    if ever.mean() < 0.95:
        return None
    when = np.where(ever, weeks[np.argmax(reached, axis=1)], np.inf)
    return Interval(
        float(np.mean(when[ever])), float(np.quantile(when, 0.05)), float(np.quantile(when, 0.95))
    )


def _channel(
    name: str, rows: pd.DataFrame, fits: tuple[LtvFit, LtvFit | tuple[float, float]], pooled: bool,
    settings: tuple[float, float, int, int], spend: float | None, factor: Interval | None,
) -> ChannelValue:  # fmt: skip
    horizon, discount, draws, seed = settings
    rng = np.random.default_rng(seed)
    values = rows["first_value"].to_numpy(dtype=np.float64)
    se = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else 0.0
    first = values.mean() + se * rng.standard_normal(draws)
    weeks = np.append(np.arange(0.0, max(PAYBACK_WEEKS, np.ceil(horizon))), [horizon])
    weeks = np.unique(weeks)
    curves = _curves(fits, weeks, discount, draws, seed)
    at = int(np.searchsorted(weeks, horizon))
    value = first + curves[:, at]
    out = ChannelValue(
        channel=name, customers=len(rows), value=Interval.of(value),
        first_purchase=Interval.of(first), pooled=pooled,
    )  # fmt: skip
    if spend is None or len(rows) == 0:
        return out
    cac = spend / len(rows)
    ltv_cac = Interval.of(value / cac) if cac > 0 else None
    payback = _payback(curves, first, np.full(draws, cac), weeks) if cac > 0 else None
    extra: dict[str, Any] = {}
    if factor is not None and cac > 0:
        f = _factor_draws(factor, draws, rng)
        extra = {
            "incremental_factor": factor,
            "incremental_cac": Interval.of(cac / f),
            "incremental_ltv_cac": Interval.of(value * f / cac),
        }  # fmt: skip
    from dataclasses import replace

    return replace(out, spend=spend, cac=cac, ltv_cac=ltv_cac, payback_weeks=payback, **extra)


def _factor_draws(factor: Interval, draws: int, rng: np.random.Generator) -> FloatArray:
    """Draws of an incrementality factor: log-normal matching its mean and 90% interval
    (floored just above zero: a channel that caused nothing has an infinite CAC)."""
    low, high = max(factor.p05, 1e-6), max(factor.p95, 1e-6)
    sd = max((np.log(high) - np.log(low)) / (2 * 1.6449), 1e-9)
    centre = np.log(max(factor.mean, 1e-6)) - sd**2 / 2
    out: FloatArray = np.exp(centre + sd * rng.standard_normal(draws))
    return out


def _own_fits(
    rows: pd.DataFrame, pooled: tuple[LtvFit, LtvFit | tuple[float, float]]
) -> tuple[tuple[LtvFit, LtvFit | tuple[float, float]], bool]:
    """A channel's own fits, and ``True``; the pooled ones and ``False`` when it has too few
    customers or its purchase model cannot be fitted."""
    from margin.ltv.results import LtvFitError

    repeat = int((rows["frequency"] > 0).sum())
    if len(rows) < MIN_CUSTOMERS or repeat < MIN_REPEAT:
        return pooled, False
    try:
        return _fits(rows), True
    except (LtvFitError, DataValidationError):  # too little to identify the channel's
        return pooled, False


def _check(summary: CustomerSummary, horizon: float, discount: float, draws: int) -> None:
    if summary.unit != "weeks":
        raise ConfigError(f"value by channel needs summaries in weeks; got {summary.unit!r}")
    if not (np.isfinite(horizon) and 0 < horizon <= 520):
        raise ConfigError(f"horizon_weeks must be in (0, 520]; got {horizon!r}")
    if not (np.isfinite(discount) and discount >= 0):
        raise ConfigError(f"annual_discount_rate must be >= 0; got {discount!r}")
    if not (isinstance(draws, int) and draws >= 100):
        raise ConfigError(f"draws must be an integer >= 100; got {draws!r}")


def value_by_channel(
    summary: CustomerSummary,
    horizon_weeks: float = 52.0,
    *,
    spend: Mapping[str, float] | None = None,
    incrementality: Mapping[str, Interval] | None = None,
    annual_discount_rate: float = 0.0,
    currency: str = "",
    draws: int = 500,
    seed: int = 0,
) -> ValueByChannel:
    """Each acquisition channel's value of a new customer, customers, CAC and LTV:CAC.

    Args:
        summary: customer summaries (:mod:`margin.ltv.summary`) in weeks.
        horizon_weeks: the value's horizon (weeks after the acquisition).
        spend: channel → spend over the acquisition window (the summary's customers'
            first purchases); channels without one get no CAC.
        incrementality: channel → incremental ÷ attributed customers (from the MMM or
            lift tests), for the incremental CAC.
        annual_discount_rate: e.g. 0.1 for 10% a year.
        currency: the money unit, for the output.
        draws, seed: the draws behind the intervals.

    Raises:
        ConfigError: a summary not in weeks, a bad horizon, draws or discount rate.
    """
    _check(summary, horizon_weeks, annual_discount_rate, draws)
    customers = summary.customers
    from margin.ltv.results import LtvFitError

    pooled_fits = _fits(customers)
    pooled_spend = pooled_fits[1]
    if isinstance(pooled_spend, tuple):
        raise LtvFitError(
            f"Gamma-Gamma cannot be fitted on all {len(customers):,} customers (too few repeat "
            "customers, or spend levels that do not vary): customer value needs more history"
        )
    settings = (float(horizon_weeks), float(annual_discount_rate), draws, seed)
    out = []
    counts = customers["acquisition_channel"].value_counts()
    for i, name in enumerate(counts.index):
        rows = customers[customers["acquisition_channel"] == name]
        fits, own = _own_fits(rows, pooled_fits)
        given = None if spend is None else spend.get(str(name))
        factor = None if incrementality is None else incrementality.get(str(name))
        out.append(
            _channel(str(name), rows, fits, not own, (settings[0], settings[1], draws, seed + 7 * i),
                     given, factor)
        )  # fmt: skip
    return ValueByChannel(
        channels=tuple(out), horizon_weeks=float(horizon_weeks),
        annual_discount_rate=float(annual_discount_rate), currency=currency,
        purchases=pooled_fits[0], spend_model=pooled_spend,
    )  # fmt: skip


ORGANIC_LABELS = ("organic", "unknown", "direct", "(none)")
"""Acquisition labels read as customers no paid channel brought (the baseline's value)."""


def value_draws(
    by_channel: Mapping[str, Any], channels: tuple[str, ...], n_draws: int, seed: int = 0
) -> tuple[FloatArray, float, float]:
    """Draws of each channel's customer value for an MMM whose KPI counts new customers.

    Args:
        by_channel: ``by_channel.json``'s body (:meth:`ValueByChannel.to_json`).
        channels: the MMM's channels (matched case-insensitively).
        n_draws: the MMM's draws; seed: their seed.

    Returns:
        ``(values, baseline_value, horizon_weeks)``: ``(n_draws, n_channels)`` currency per
        customer, normal draws matching each channel's mean and 90% interval (floored at
        0, independent of the MMM's draws: the two fits share no data); the value of a
        customer no channel brought (the organic label's, else the customer-weighted
        mean); and the values' horizon.

    Raises:
        ConfigError: a channel of the MMM without a value, or a malformed body.
    """
    lower = {str(k).lower(): v for k, v in by_channel.items()}
    missing = [c for c in channels if c.lower() not in lower]
    if missing:
        raise ConfigError(
            f"customer values: no value for channel(s) {missing}; by_channel.json has "
            f"{sorted(by_channel)}. Every MMM channel needs the value of the customers it "
            "acquires (margin ltv by-channel, with acquisition channels named as the MMM's)"
        )
    rng = np.random.default_rng(seed)
    out = np.empty((n_draws, len(channels)))
    try:
        for i, name in enumerate(channels):
            value = lower[name.lower()]["value"]
            sd = (float(value["p95"]) - float(value["p05"])) / (2 * 1.6449)
            out[:, i] = np.maximum(float(value["mean"]) + sd * rng.standard_normal(n_draws), 0.0)
        organic = [lower[k] for k in ORGANIC_LABELS if k in lower]
        entries = organic or list(lower.values())
        weights = np.array([float(e["customers"]) for e in entries])
        means = np.array([float(e["value"]["mean"]) for e in entries])
        baseline = float(np.average(means, weights=weights)) if weights.sum() > 0 else 0.0
        horizon = float(next(iter(lower.values()))["horizon_weeks"])
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(
            f"customer values: not a by_channel.json body (bad or missing field {err}); write "
            "one with margin ltv by-channel --out DIR"
        ) from None
    return out, baseline, horizon
