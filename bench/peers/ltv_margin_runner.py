"""Run margin's customer-value pipeline on a transactions Parquet file; write JSON.

Run by ``bench/ltv_scale.py`` with the project venv's python, in its own process::

    .venv/bin/python bench/peers/ltv_margin_runner.py --data TRANSACTIONS.parquet --out RESULT.json

Stages: :func:`margin.ltv.summary.summarize_file` on DuckDB (DuckDB reads the Parquet
file itself: reading, id hashing, the per-customer SQL and the collapse into weighted
``(frequency, recency, T)`` rows are one stage, ``summary_s``), :func:`margin.ltv.fit_bgnbd`
on the weighted rows and :func:`margin.ltv.fit_gamma_gamma` on the repeat customers, both
with Laplace intervals. Cold: no JAX compilation cache, so both fits include compiling
their likelihoods (``*_refit_s`` repeats each fit in the same process, compiled). The
weighted rows and the repeat customers' spend are saved beside the result (``.rows.npz``,
``.spend.npz``) so the bench can score every tool's parameters on the same likelihoods.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from common import write_result

from margin.cli.main import configure_jax

os.environ.setdefault("MARGIN_JAX_CACHE", "0")  # cold compile, as every peer runs
configure_jax()  # the XLA settings the margin command runs with, before JAX starts

from margin.ltv import fit_bgnbd, fit_gamma_gamma  # noqa: E402
from margin.ltv.summary import SummarySettings, summarize_file  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    stages: dict[str, float] = {}
    t0 = t = time.perf_counter()
    summary = summarize_file(args.data, SummarySettings(period="day", unit="weeks"))
    stages["summary_s"], t = time.perf_counter() - t, time.perf_counter()
    w = summary.weighted
    rows = (w["frequency"].to_numpy(), w["recency"].to_numpy(), w["T"].to_numpy())
    weights = w["weight"].to_numpy(np.float64)
    bg = fit_bgnbd(*rows, weights=weights)
    stages["bgnbd_s"], t = time.perf_counter() - t, time.perf_counter()
    c = summary.customers
    repeat = c["frequency"].to_numpy() > 0
    spend = (c["frequency"].to_numpy()[repeat], c["monetary_value"].to_numpy()[repeat])
    gg = fit_gamma_gamma(*spend)
    stages["gamma_gamma_s"] = time.perf_counter() - t
    pipeline = time.perf_counter() - t0
    t = time.perf_counter()
    fit_bgnbd(*rows, weights=weights)
    stages["bgnbd_refit_s"], t = time.perf_counter() - t, time.perf_counter()
    fit_gamma_gamma(*spend)
    stages["gamma_gamma_refit_s"] = time.perf_counter() - t
    np.savez(args.out.with_suffix(".rows.npz"), *rows, weights)
    np.savez(args.out.with_suffix(".spend.npz"), *spend)
    write_result(
        args.out,
        {
            "stages": stages,
            "pipeline_s": pipeline,
            "n_customers": summary.n_customers,
            "n_transactions": summary.n_transactions,
            "n_rows": len(w),
            "n_repeat": int(repeat.sum()),
            "params": {"bgnbd": bg.to_json()["params"], "gamma_gamma": gg.to_json()["params"]},
            "loglik": {"bgnbd": bg.loglik, "gamma_gamma": gg.loglik},
            "interval_method": bg.interval_method,
            "summary_means": {k: float(np.mean(c[k])) for k in ("frequency", "recency", "T")},
        },
    )


if __name__ == "__main__":
    main()
