"""User-level holdout (A/B) lift for platform tests: conversions or values per user.

* :func:`proportion_lift`: two-proportion z-test (pooled under the null) with a Wald
  interval for the difference; the p-value and the interval use the same normal
  approximation, but the interval uses the unpooled variance (standard practice), so the
  two can disagree at the boundary.
* :func:`mean_lift`: Welch's t-test; interval and p-value from the same Welch t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from margin.errors import ConfigError

__all__ = ["AbLift", "mean_lift", "proportion_lift"]


@dataclass(frozen=True)
class AbLift:
    """Absolute lift (treated − holdout) per user with its ``level`` interval and p-value.

    ``relative`` is the lift over the holdout mean; ``incremental`` the absolute lift times
    the number of treated users (with its interval).
    """

    method: str
    level: float
    treated_mean: float
    holdout_mean: float
    lift: float
    low: float
    high: float
    p_value: float
    relative: float
    incremental: float
    incremental_low: float
    incremental_high: float

    def to_json(self) -> dict[str, Any]:
        from margin.experiments.analysis import interval_keys

        lo, hi = interval_keys(self.level)
        return {
            "method": self.method,
            "level": self.level,
            "treated_mean": self.treated_mean,
            "holdout_mean": self.holdout_mean,
            "lift": {"mean": self.lift, lo: self.low, hi: self.high},
            "relative_lift": self.relative,
            "p_value": self.p_value,
            "incremental": {
                "mean": self.incremental,
                lo: self.incremental_low,
                hi: self.incremental_high,
            },
        }


def _check_counts(**counts: float) -> None:
    for name, value in counts.items():
        if value < 0 or not math.isfinite(value):
            raise ConfigError(f"{name}={value}: counts must be finite and non-negative")


def proportion_lift(
    treated_conversions: int,
    treated_users: int,
    holdout_conversions: int,
    holdout_users: int,
    level: float = 0.9,
) -> AbLift:
    """Conversion-rate lift of treated users over the holdout (two-proportion z-test)."""
    from scipy.stats import norm  # type: ignore[import-untyped,unused-ignore]

    _check_counts(
        treated_conversions=treated_conversions,
        treated_users=treated_users,
        holdout_conversions=holdout_conversions,
        holdout_users=holdout_users,
    )
    if treated_users == 0 or holdout_users == 0:
        raise ConfigError("both groups need at least one user (treated_users, holdout_users)")
    if treated_conversions > treated_users or holdout_conversions > holdout_users:
        raise ConfigError(
            "conversions exceed users in a group; pass users who converted, not events"
        )
    p1, p0 = treated_conversions / treated_users, holdout_conversions / holdout_users
    pooled = (treated_conversions + holdout_conversions) / (treated_users + holdout_users)
    se_null = math.sqrt(pooled * (1 - pooled) * (1 / treated_users + 1 / holdout_users))
    se = math.sqrt(p1 * (1 - p1) / treated_users + p0 * (1 - p0) / holdout_users)
    diff = p1 - p0
    p_value = float(2 * norm.sf(abs(diff) / se_null)) if se_null > 0 else (0.0 if diff else 1.0)
    z = float(norm.ppf(0.5 + level / 2))
    return _result("two_proportion_z", level, p1, p0, diff, z * se, p_value, treated_users)


def mean_lift(
    treated_mean: float,
    treated_sd: float,
    treated_users: int,
    holdout_mean: float,
    holdout_sd: float,
    holdout_users: int,
    level: float = 0.9,
) -> AbLift:
    """Lift of the mean value per user (Welch's t-test) from group summaries."""
    from scipy.stats import t as student_t  # type: ignore[import-untyped,unused-ignore]

    _check_counts(
        treated_sd=treated_sd,
        holdout_sd=holdout_sd,
        treated_users=treated_users,
        holdout_users=holdout_users,
    )
    if treated_users < 2 or holdout_users < 2:
        raise ConfigError("Welch's test needs at least 2 users per group")
    v1, v0 = treated_sd**2 / treated_users, holdout_sd**2 / holdout_users
    se = math.sqrt(v1 + v0)
    if se == 0:
        raise ConfigError("both groups have zero variance; the test cannot tell anything apart")
    dof = (v1 + v0) ** 2 / (v1**2 / (treated_users - 1) + v0**2 / (holdout_users - 1))
    diff = treated_mean - holdout_mean
    p_value = float(2 * student_t.sf(abs(diff) / se, dof))
    half = float(student_t.ppf(0.5 + level / 2, dof)) * se
    return _result("welch_t", level, treated_mean, holdout_mean, diff, half, p_value, treated_users)


def _result(
    method: str,
    level: float,
    treated: float,
    holdout: float,
    diff: float,
    half: float,
    p_value: float,
    n_treated: int,
) -> AbLift:
    relative = diff / holdout if holdout else math.nan
    return AbLift(
        method,
        level,
        treated,
        holdout,
        diff,
        diff - half,
        diff + half,
        p_value,
        relative,
        diff * n_treated,
        (diff - half) * n_treated,
        (diff + half) * n_treated,
    )
