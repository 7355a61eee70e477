"""The holdout check: predicted vs actual repeat transactions per calibration frequency
(Fader, Hardie & Lee 2005, Figure 4; lifetimes' ``plot_calibration_purchases_vs_holdout_purchases``).

Customers are grouped by their calibration-period frequency (0, 1, …, ``max_bucket``+);
per group, the mean actual holdout transactions is set beside the mean conditional
expectation of the fitted purchase model over the holdout's length, with a 90% interval
from the parameters' uncertainty. The chart lives in ``margin.report``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from margin.errors import ConfigError, DataValidationError
from margin.ltv.inputs import check_customers
from margin.ltv.mle import DRAWS, predict
from margin.ltv.results import HoldoutCheck, LtvFit
from margin.ltv.value import PURCHASE_MODELS
from margin.types import FloatArray

__all__ = ["holdout_check"]


def holdout_check(
    fit: LtvFit,
    calibration: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    holdout_transactions: npt.ArrayLike,
    holdout_length: float,
    *,
    max_bucket: int = 7,
    draws: int = DRAWS,
    seed: int = 0,
) -> HoldoutCheck:
    """Predicted vs actual mean holdout transactions per calibration frequency bucket.

    Args:
        fit: a BG/NBD or Pareto/NBD fit on the calibration period.
        calibration: ``(frequency, recency, T)`` per customer in the calibration period,
            ``(n_customers,)`` each.
        holdout_transactions: each customer's actual transactions in the holdout period,
            ``(n_customers,)``.
        holdout_length: the holdout period's length, in the summaries' time unit.
        max_bucket: the last bucket holds frequencies ``>= max_bucket`` (FHL: 7+).
        draws, seed: parameter draws behind the intervals.
    """
    if fit.model not in PURCHASE_MODELS:
        raise ConfigError(f"the holdout check needs a BG/NBD or Pareto/NBD fit; got {fit.model!r}.")
    if not (np.isfinite(holdout_length) and holdout_length > 0) or max_bucket < 1:
        raise ConfigError(
            f"holdout_length must be > 0 and max_bucket >= 1; got {holdout_length!r}, {max_bucket!r}."
        )
    rows = check_customers(*calibration, where="calibration summary")
    actual = np.asarray(holdout_transactions, dtype=np.float64)
    if (
        actual.shape != rows.frequency.shape
        or not np.all(np.isfinite(actual))
        or np.any(actual < 0)
    ):
        raise DataValidationError(
            "holdout transactions must be one finite count >= 0 per calibration customer "
            f"({rows.frequency.size}); got shape {actual.shape}."
        )
    bucket = np.minimum(rows.frequency, max_bucket).astype(np.int64)
    present = np.unique(bucket)
    conditional = PURCHASE_MODELS[fit.model][1]

    def bucket_means(params: dict[str, Any]) -> FloatArray:
        each = conditional(params, holdout_length, rows.frequency, rows.recency, rows.age)
        return np.array([each[bucket == b].mean() for b in present])

    predicted = predict(fit, bucket_means, "mean holdout transactions", draws, seed)
    labels = tuple(f"{b}+" if b == max_bucket else str(b) for b in present)
    return HoldoutCheck(
        model=fit.model,
        holdout_length=float(holdout_length),
        buckets=labels,
        customers=tuple(float((bucket == b).sum()) for b in present),
        actual=tuple(float(actual[bucket == b].mean()) for b in present),
        predicted=tuple(float(v) for v in predicted.estimate),
        predicted_p05=tuple(float(v) for v in predicted.p05),
        predicted_p95=tuple(float(v) for v in predicted.p95),
    )
