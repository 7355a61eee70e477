"""Fit lifetimes' BG/NBD and Gamma-Gamma on a transactions Parquet file; write JSON.

Run by ``bench/ltv_scale.py`` with the ``ltv-lifetimes`` venv's python, in its own process::

    python bench/peers/ltv_lifetimes_runner.py --data TRANSACTIONS.parquet --out RESULT.json

Stages, as lifetimes' documentation does them: read the file with pandas (pyarrow),
``summary_data_from_transaction_data`` (daily periods, ``freq_multiplier=7``: recency and
T in weeks, as margin's), ``BetaGeoFitter().fit`` on every customer and
``GammaGammaFitter().fit`` on the repeat customers. lifetimes gives no intervals by
default; its parameters' standard errors are reported where it has them.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import write_result
from lifetimes import BetaGeoFitter, GammaGammaFitter
from lifetimes.utils import summary_data_from_transaction_data


def _params(fitter: BetaGeoFitter | GammaGammaFitter, rename: dict[str, str]) -> dict:
    out = {}
    errors = getattr(fitter, "standard_errors_", None)
    for name, value in fitter.params_.items():
        entry = {"estimate": float(value)}
        if errors is not None and name in errors:
            entry["se"] = float(errors[name])
        out[rename.get(name, name)] = entry
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    stages: dict[str, float] = {}
    t0 = t = time.perf_counter()
    tx = pd.read_parquet(args.data)
    stages["read_s"], t = time.perf_counter() - t, time.perf_counter()
    summary = summary_data_from_transaction_data(
        tx, "customer_id", "ts", monetary_value_col="amount", freq="D", freq_multiplier=7
    )
    stages["summary_s"], t = time.perf_counter() - t, time.perf_counter()
    bg = BetaGeoFitter().fit(summary["frequency"], summary["recency"], summary["T"])
    stages["bgnbd_s"], t = time.perf_counter() - t, time.perf_counter()
    repeat = summary[summary["frequency"] > 0]
    gg = GammaGammaFitter().fit(repeat["frequency"], repeat["monetary_value"])
    stages["gamma_gamma_s"] = time.perf_counter() - t
    n = len(summary)
    write_result(
        args.out,
        {
            "stages": stages,
            "pipeline_s": time.perf_counter() - t0,
            "n_customers": n,
            "n_transactions": len(tx),
            "n_repeat": len(repeat),
            "params": {"bgnbd": _params(bg, {}), "gamma_gamma": _params(gg, {"v": "gamma"})},
            # lifetimes stores the mean negative log-likelihood per customer.
            "loglik": {"bgnbd": float(-bg._negative_log_likelihood_ * n)},
            "summary_means": {k: float(np.mean(summary[k])) for k in ("frequency", "recency", "T")},
        },
    )


if __name__ == "__main__":
    main()
