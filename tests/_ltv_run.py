"""A fixture factory of customer-value runs: the bodies ``margin ltv by-channel`` records
(``ltv``, ``by_channel``, ``holdout``, ``p_alive``), computed for real by
:mod:`margin.ltv` on transactions simulated here from known BG/NBD and spend parameters,
and a workspace holding such a run (recorded through :func:`margin.ltv.runs.save_ltv_run`).

Two acquisition channels: ``search`` (600 customers: its own fits) and ``social`` (60
customers: too few, so the pooled fits, ``pooled: true``); spend for both, an
incrementality factor for ``search`` only.
"""

from __future__ import annotations

import copy
import functools
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np

CUSTOMERS = {"search": 600, "social": 60}
SPEND = {"search": 24_000.0, "social": 9_000.0}
START = date(2025, 1, 6)
CALIBRATION_END = date(2025, 9, 28)  # 38 weeks after START
OBSERVATION_END = date(2026, 3, 29)  # 26 weeks of holdout


def _transactions(seed: int = 3) -> Any:
    """Transactions (``customer_id, ts, amount, acquisition_channel``): each customer's
    first purchase in the first 26 weeks, repeat purchases at Poisson rate λ ~ Gamma(0.8,
    1/4) per week until a dropout (probability p ~ Beta(1, 3) after each purchase)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows: list[tuple[str, str, float, str]] = []
    horizon = (OBSERVATION_END - START).days / 7.0
    for channel, n in CUSTOMERS.items():
        scale = 40.0 if channel == "search" else 25.0
        for i in range(n):
            start = rng.uniform(0, 26)
            rate, drop = rng.gamma(0.8, 1 / 4.0), rng.beta(1.0, 3.0)
            mean_spend = rng.gamma(6.0, scale / 6.0)
            t = start
            while t <= horizon:
                day = START + timedelta(days=int(t * 7))
                rows.append((f"{channel}-{i}", day.isoformat(), round(rng.gamma(4, mean_spend / 4), 2),
                             channel))  # fmt: skip
                if t > start and rng.random() < drop:
                    break
                t += rng.exponential(1 / max(rate, 1e-6))
    return pd.DataFrame(rows, columns=["customer_id", "ts", "amount", "acquisition_channel"])


@functools.cache
def _bodies() -> dict[str, Any]:
    from margin.ltv.bgnbd import p_alive
    from margin.ltv.channels import value_by_channel
    from margin.ltv.holdout import holdout_check
    from margin.ltv.runs import p_alive_json
    from margin.ltv.summary import SummarySettings, summarize_table
    from margin.types import Interval

    settings = SummarySettings(calibration_end=CALIBRATION_END, observation_end=OBSERVATION_END)
    summary = summarize_table(_transactions(), settings)
    values = value_by_channel(
        summary, 52.0, spend=SPEND, incrementality={"search": Interval(0.6, 0.45, 0.75)},
        currency="USD", draws=200, seed=1,
    )  # fmt: skip
    c = summary.customers
    calibration = (c["frequency"], c["recency"], c["T"])
    holdout = holdout_check(values.purchases, calibration, c["frequency_holdout"],
                            summary.holdout_duration, draws=200)  # fmt: skip
    alive = p_alive(values.purchases.estimates(), *calibration)
    ltv = {
        **values.purchases.to_json(),
        "spend": values.spend_model.to_json(),
        "summary": {
            "unit": summary.unit, "period": summary.period,
            "calibration_end": summary.calibration_end.isoformat(),
            "observation_end": summary.observation_end.isoformat(),
            "n_customers": summary.n_customers, "n_transactions": summary.n_transactions,
        },
    }  # fmt: skip
    return {
        "ltv": ltv,
        "by_channel": values.to_json(),
        "holdout": holdout.to_json(),
        "p_alive": p_alive_json(alive, c["acquisition_channel"]),
    }


def make_ltv_run() -> dict[str, Any]:
    """The four bodies of a customer-value run (a fresh copy each call)."""
    return copy.deepcopy(_bodies())


def record_ltv_run(path: Path, files: dict[str, Any] | None = None) -> str:
    """Record ``files`` (default: :func:`make_ltv_run`) as a run of the workspace at
    ``path`` (created if missing); returns the run id."""
    from margin.data.workspace.store import Workspace
    from margin.ltv.runs import save_ltv_run

    Workspace(path).close()
    return save_ltv_run(path, files or make_ltv_run(), message="test fixture: 2 channels")
