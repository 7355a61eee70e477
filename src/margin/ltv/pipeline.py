"""The steps ``margin ltv`` chains: read inputs, fit, and assemble a run's files.

- inputs: transactions (a file, CDNOW's text layout, or the workspace) become a
  :class:`~margin.ltv.summary.CustomerSummary`; a summary file (lifetimes' layout
  ``frequency, recency, T[, monetary_value]``, or CDNOW's ``x, t_x, T, zbar``) or a
  survival file (``period, alive``) are read as they are;
- fits: :func:`fit_frame` fits the asked model on per-customer rows (identical rows
  collapsed), plus Gamma-Gamma where spend is known;
- files: :func:`ltv_body` (``ltv.json``), :func:`p_alive_body` (``p_alive.json``),
  :func:`holdout_for` (``holdout.json``), :func:`predicted_values` (each customer's
  predicted value, for the platform exports).

Every money amount is in the transactions' currency; time in weeks unless the summary
says otherwise.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.errors import DataValidationError, InputFileError

if TYPE_CHECKING:
    import pandas as pd

    from margin.ltv.channels import ValueByChannel
    from margin.ltv.results import HoldoutCheck, LtvFit
    from margin.ltv.summary import CustomerSummary, SummarySettings

__all__ = [
    "MODELS",
    "PURCHASE_MODELS",
    "fit_frame",
    "holdout_for",
    "ltv_body",
    "p_alive_body",
    "predicted_values",
    "read_cdnow",
    "read_summary_file",
    "read_survival_file",
    "summary_of",
]

MODELS = ("bgnbd", "pareto_nbd", "gamma_gamma", "sbg")
PURCHASE_MODELS = ("bgnbd", "pareto_nbd")
_CDNOW_NAMES = {"x": "frequency", "t_x": "recency", "zbar": "monetary_value"}
RECENT_DAYS = 7
"""Customers acquired this many days before the calibration end or later are valued as new
customers of their channel (their own history is too short to say more)."""


def _table(path: str | os.PathLike[str], what: str) -> pd.DataFrame:
    """A CSV or Parquet file as a frame; raises naming the file."""
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise InputFileError(
            f"{what} file {file} does not exist (or is not a file); check the path"
        )
    try:
        if file.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(file)
        return pd.read_csv(file)
    except (ValueError, OSError) as err:
        raise InputFileError(f"cannot read {what} file {file}: {err}; use CSV or Parquet") from err


def _numeric(frame: pd.DataFrame, columns: list[str], file: Path) -> pd.DataFrame:
    import pandas as pd

    for name in columns:
        values = pd.to_numeric(frame[name], errors="coerce")
        bad = values.isna() & frame[name].notna() | frame[name].isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # the header is line 1
            raise DataValidationError(
                f"{file}: line {row}, column {name}: {frame[name].iloc[row - 2]!r} is not a "
                "number; fix the row"
            )
        frame[name] = values.astype(float)
    return frame


def read_summary_file(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Per-customer rows ``frequency, recency, T`` (and ``monetary_value`` when given)
    from lifetimes' layout or CDNOW's (``x, t_x, T, zbar``), in the file's time unit.

    Raises:
        InputFileError: missing or unreadable file, or missing columns.
        DataValidationError: a value that is not a number (line and column named).
    """
    file = Path(path)
    frame = _table(file, "summary").rename(columns=_CDNOW_NAMES)
    missing = [c for c in ("frequency", "recency", "T") if c not in frame]
    if missing:
        raise InputFileError(
            f"summary file {file} lacks column(s) {missing}; it has {list(frame.columns)}. "
            "Expected lifetimes' layout: frequency, recency, T[, monetary_value] (or CDNOW's "
            "x, t_x, T, zbar)"
        )
    columns = [c for c in ("frequency", "recency", "T", "monetary_value") if c in frame]
    frame = _numeric(frame[columns].copy(), columns, file)
    late = (frame["recency"] > frame["T"]).to_numpy()
    if late.any():
        line = int(np.flatnonzero(late)[0]) + 2  # the header is line 1
        raise DataValidationError(
            f"summary file {file}: line {line} has recency {frame['recency'].iloc[line - 2]:g} "
            f"> T {frame['T'].iloc[line - 2]:g} ({int(late.sum())} such rows); recency (first to "
            "last purchase) cannot exceed the customer's age T: fix those rows"
        )
    return frame


def read_survival_file(path: str | os.PathLike[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A cohort's survivors per period from ``period, alive`` (period 0 = the cohort).

    Raises:
        InputFileError: missing file or columns.
        DataValidationError: periods that are not 0, 1, 2, … in order, or non-numbers.
    """
    file = Path(path)
    frame = _table(file, "survival")
    missing = [c for c in ("period", "alive") if c not in frame]
    if missing:
        raise InputFileError(
            f"survival file {file} lacks column(s) {missing}; it has {list(frame.columns)}. "
            "Expected period, alive (customers still active at the end of each period; "
            "period 0 = the cohort)"
        )
    frame = _numeric(frame[["period", "alive"]].copy(), ["period", "alive"], file)
    expected = np.arange(len(frame), dtype=np.float64)
    if not np.array_equal(frame["period"].to_numpy(), expected):
        raise DataValidationError(
            f"survival file {file}: column period must be 0, 1, 2, … in order (one row per "
            f"period, 0 = the cohort); got {frame['period'].tolist()[:8]}"
        )
    return np.asarray(frame["alive"].to_numpy(), dtype=np.float64)


def read_cdnow(path: str | os.PathLike[str]) -> pd.DataFrame:
    """CDNOW's text files as transactions (``customer_id, ts, amount``): the sample
    (``id, new id, yyyymmdd, CDs, amount``) or the master file (``id, yyyymmdd, CDs,
    amount``, with or without its header line), whitespace-separated.

    Raises:
        InputFileError: missing file, or another number of columns.
        DataValidationError: a date or amount that cannot be read (line named).
    """
    import pandas as pd

    file = Path(path)
    if not file.is_file():
        raise InputFileError(f"CDNOW file {file} does not exist (or is not a file); check the path")
    raw = pd.read_csv(file, sep=r"\s+", header=None, dtype=str, comment="#")
    if len(raw) and not str(raw.iloc[0, -1]).replace(".", "", 1).isdigit():
        raw = raw.iloc[1:]  # the master file's header line
    if raw.shape[1] not in (4, 5):
        raise InputFileError(
            f"CDNOW file {file} has {raw.shape[1]} columns; expected the sample's 5 (id, new "
            "id, yyyymmdd, CDs, amount) or the master file's 4 (id, yyyymmdd, CDs, amount)"
        )
    dates = pd.to_datetime(raw.iloc[:, -3], format="%Y%m%d", errors="coerce")
    amounts = pd.to_numeric(raw.iloc[:, -1], errors="coerce")
    bad = dates.isna() | amounts.isna()
    if bad.any():
        line = int(np.flatnonzero(bad.to_numpy())[0]) + 1 + (1 if raw.index[0] == 1 else 0)
        raise DataValidationError(
            f"CDNOW file {file}: line {line} has no yyyymmdd date or amount where expected"
        )
    return pd.DataFrame(
        {"customer_id": raw.iloc[:, 0].str.strip().to_numpy(), "ts": dates.to_numpy(),
         "amount": amounts.astype(float).to_numpy()}
    )  # fmt: skip


def summary_of(
    transactions: Path | None, workspace: Path | None, layout: str, settings: SummarySettings
) -> CustomerSummary:
    """Customer summaries from a transactions file (``layout`` ``table``: CSV/Parquet;
    ``cdnow``: CDNOW's text) or, without a file, from the workspace's ``transactions``."""
    from margin.ltv.summary import summarize_file, summarize_table, summarize_workspace

    if transactions is None:
        return summarize_workspace(workspace, settings)
    if layout == "cdnow":
        return summarize_table(read_cdnow(transactions), settings)
    return summarize_file(transactions, settings)


def fit_frame(model: str, frame: pd.DataFrame) -> tuple[LtvFit, LtvFit | None]:
    """Fit ``model`` on per-customer rows (``frequency, recency, T[, monetary_value]``);
    with a purchase model, also Gamma-Gamma when spend is given and someone repeated.

    Returns:
        (the asked fit, the Gamma-Gamma fit or ``None``).
    """
    from margin.ltv.bgnbd import fit_bgnbd
    from margin.ltv.gamma_gamma import fit_gamma_gamma
    from margin.ltv.inputs import check_customers, collapse_rows
    from margin.ltv.pareto_nbd import fit_pareto_nbd

    check_customers(frame["frequency"], frame["recency"], frame["T"])
    has_spend = "monetary_value" in frame and bool((frame["frequency"] > 0).any())
    if model == "gamma_gamma":
        if "monetary_value" not in frame:
            raise DataValidationError(
                "the Gamma-Gamma model needs spend: a monetary_value column (mean repeat "
                "purchase value) or transactions with amounts"
            )
        zeros = np.zeros(len(frame))
        rows, weights = collapse_rows(frame["frequency"], frame["monetary_value"], zeros)
        return fit_gamma_gamma(rows[0], rows[1], weights), None
    rows, weights = collapse_rows(frame["frequency"], frame["recency"], frame["T"])
    fitter = fit_bgnbd if model == "bgnbd" else fit_pareto_nbd
    purchases = fitter(rows[0], rows[1], rows[2], weights)
    if not has_spend:
        return purchases, None
    zeros = np.zeros(len(frame))
    spend_rows, spend_weights = collapse_rows(frame["frequency"], frame["monetary_value"], zeros)
    return purchases, fit_gamma_gamma(spend_rows[0], spend_rows[1], spend_weights)


def ltv_body(fit: LtvFit, spend: LtvFit | None, summary: CustomerSummary | None) -> dict[str, Any]:
    """``ltv.json``: the fit's JSON, with ``spend`` (Gamma-Gamma) and ``summary`` (what the
    summaries were: unit, period, ends, customers, transactions) where known."""
    body = fit.to_json()
    body["spend"] = None if spend is None else spend.to_json()
    if summary is not None:
        body["summary"] = {
            "unit": summary.unit, "period": summary.period,
            "calibration_end": summary.calibration_end.isoformat(),
            "observation_end": summary.observation_end.isoformat(),
            "n_customers": summary.n_customers, "n_transactions": summary.n_transactions,
        }  # fmt: skip
    return body


def _p_alive(fit: LtvFit, customers: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    from margin.ltv import bgnbd, pareto_nbd

    chance = bgnbd.p_alive if fit.model == "bgnbd" else pareto_nbd.p_alive
    found = chance(fit.estimates(), customers["frequency"], customers["recency"], customers["T"])
    return np.asarray(found, dtype=np.float64)


def p_alive_body(fit: LtvFit, customers: pd.DataFrame) -> dict[str, Any]:
    """``p_alive.json``: customers per P(alive) bin at the calibration end, overall and by
    acquisition channel (when the rows have one)."""
    from margin.ltv.runs import p_alive_json

    channels = customers.get("acquisition_channel")
    return p_alive_json(_p_alive(fit, customers), channels)


def holdout_for(fit: LtvFit, summary: CustomerSummary) -> HoldoutCheck | None:
    """The FHL 2005 Figure 4 check of ``fit`` on the summary's holdout (``None``: none)."""
    from margin.ltv.holdout import holdout_check

    if summary.holdout_duration <= 0 or fit.model not in PURCHASE_MODELS:
        return None
    c = summary.customers
    calibration = (c["frequency"], c["recency"], c["T"])
    return holdout_check(fit, calibration, c["frequency_holdout"], summary.holdout_duration)


def predicted_values(
    fits: tuple[LtvFit, LtvFit],
    summary: CustomerSummary,
    horizon_weeks: float,
    by_channel: ValueByChannel | None = None,
    annual_discount_rate: float = 0.0,
) -> pd.DataFrame:
    """Each customer's predicted value over the horizon (money; at the fits' estimates):
    expected future purchases × expected spend (discounted), or, for customers acquired
    in the last :data:`RECENT_DAYS` days, their own first purchase plus their channel's
    expected repeat value of a new customer (its new-customer value less its mean first
    purchase).

    Returns:
        ``customer_key, acquired_at, acquisition_channel, predicted_value, basis``
        (``"history"`` or ``"new customer"``).
    """
    import pandas as pd

    from margin.ltv.gamma_gamma import conditional_expected_spend
    from margin.ltv.value import PURCHASE_MODELS as FUNCTIONS
    from margin.ltv.value import discounted_transactions

    purchases, spend = fits
    conditional = FUNCTIONS[purchases.model][1]
    c = summary.customers
    x, t_x, t = (c[k].to_numpy(np.float64) for k in ("frequency", "recency", "T"))
    ends = np.append(np.arange(1.0, math.ceil(horizon_weeks)), horizon_weeks)
    factors = (1.0 + annual_discount_rate) ** (-ends / 52.0)
    params = purchases.estimates()
    count = discounted_transactions(lambda e: conditional(params, e[:, None], x, t_x, t), ends,
                                    factors)  # fmt: skip
    each = conditional_expected_spend(
        spend.estimates(), x, c["monetary_value"].to_numpy(np.float64)
    )
    value = np.asarray(count * each, dtype=np.float64)
    basis = np.full(value.size, "history", dtype=object)
    if by_channel is not None:
        repeat = {v.channel: v.value.mean - v.first_purchase.mean for v in by_channel.channels}
        cutoff = pd.Timestamp(summary.calibration_end) - pd.Timedelta(days=RECENT_DAYS)
        recent = (c["acquired_at"] > cutoff).to_numpy()
        fresh = c["acquisition_channel"].map(repeat).to_numpy(np.float64)
        fresh = fresh + c["first_value"].to_numpy(np.float64)
        use = recent & np.isfinite(fresh)
        value, basis = np.where(use, fresh, value), np.where(use, "new customer", basis)
    return pd.DataFrame(
        {"customer_key": c["customer_key"], "acquired_at": c["acquired_at"],
         "acquisition_channel": c["acquisition_channel"], "predicted_value": value,
         "basis": basis}
    )  # fmt: skip
