"""Fit PyMC-Marketing's CLV BetaGeoModel and GammaGammaModel by MAP on a transactions
Parquet file; write JSON.

Run by ``bench/ltv_scale.py`` with the ``ltv-pymc`` venv's python, in its own process::

    python bench/peers/ltv_pymc_runner.py --data TRANSACTIONS.parquet --out RESULT.json

Stages: read the file with pandas (pyarrow), ``clv.rfm_summary`` (daily periods,
``time_scaler=7``: recency and T in weeks, as margin's), ``BetaGeoModel().fit(method="map")``
on every customer and ``GammaGammaModel().fit(method="map")`` on the repeat customers,
with the models' default priors (MAP: a point estimate, no interval; MCMC is what gives
PyMC-Marketing its intervals and is not run here).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import write_result
from pymc_marketing import clv


def _params(model: clv.BetaGeoModel | clv.GammaGammaModel, names: dict[str, str]) -> dict:
    post = model.fit_result
    return {mine: {"estimate": float(post[theirs].mean())} for mine, theirs in names.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    stages: dict[str, float] = {}
    t0 = t = time.perf_counter()
    tx = pd.read_parquet(args.data)
    stages["read_s"], t = time.perf_counter() - t, time.perf_counter()
    summary = clv.rfm_summary(
        tx, "customer_id", "ts", monetary_value_col="amount", time_unit="D", time_scaler=7
    )
    stages["summary_s"], t = time.perf_counter() - t, time.perf_counter()
    bg = clv.BetaGeoModel()
    bg.fit(summary[["customer_id", "frequency", "recency", "T"]], method="map", progressbar=False)
    stages["bgnbd_s"], t = time.perf_counter() - t, time.perf_counter()
    repeat = summary[summary["frequency"] > 0][["customer_id", "frequency", "monetary_value"]]
    gg = clv.GammaGammaModel()
    gg.fit(repeat, method="map", progressbar=False)
    stages["gamma_gamma_s"] = time.perf_counter() - t
    write_result(
        args.out,
        {
            "stages": stages,
            "pipeline_s": time.perf_counter() - t0,
            "n_customers": len(summary),
            "n_transactions": len(tx),
            "n_repeat": len(repeat),
            "params": {
                "bgnbd": _params(bg, {k: k for k in ("r", "alpha", "a", "b")}),
                "gamma_gamma": _params(gg, {"p": "p", "q": "q", "gamma": "v"}),
            },
            "summary_means": {k: float(np.mean(summary[k])) for k in ("frequency", "recency", "T")},
        },
    )


if __name__ == "__main__":
    main()
