"""How good are margin's KPI forecasts? Backtests on simulated worlds, several seeds.

One command::

    .venv/bin/python bench/forecast_backtest.py --seeds 0 1 2 3 4 --worlds national geo

For each world the MMM is fitted (NUTS, margin's defaults) on all but the last
``--holdout`` weeks, saved as a run folder, and ``margin forecast --backtest``'s
computation (:func:`margin.mmm.response.holdout_response`,
:func:`margin.optimize.request.backtest_document`) forecasts the held-out weeks from the
spend and controls that ran in them. Reported: the share of geo-weeks whose actual KPI
falls inside its 90% predictive band (a calibrated forecast: about 90%), the mean absolute
percentage error of the weekly all-geo KPI and its bias, against two references: the
seasonal-naive forecast (the same week a year earlier) and the simulator's own expected
KPI (the error no forecast can beat: the KPI's noise). Prints a Markdown table and
writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SEASON = 52
"""Weeks back of the seasonal-naive forecast."""


def _mape(forecast: np.ndarray, actual: np.ndarray) -> float:
    return float(np.mean(np.abs(forecast - actual) / actual))


def run_world(kind: str, seed: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from margin.data.panel.spec import DataSpec, Spec
    from margin.data.simulator import WorldParams, simulate_world
    from margin.mmm import MarketingMixModel, ModelConfig, save_run
    from margin.mmm.response import holdout_response
    from margin.optimize.request import backtest_document

    n_geos = 1 if kind == "national" else args.geos
    params = WorldParams(n_geos=n_geos, n_weeks=args.weeks, n_users=max(200, 10 * n_geos))
    world = simulate_world(params, seed=seed)
    data = world.marketing_data()
    model = MarketingMixModel(
        config=ModelConfig(seasonality=args.seasonality), holdout_weeks=args.holdout, seed=seed
    )
    start = time.perf_counter()
    model.fit(data)
    fit_s = time.perf_counter() - start
    run = folder / f"{kind}-{seed}"
    save_run(model, data, Spec(DataSpec(kpi="revenue", media=data.channels)), run)
    response, spend, actual = holdout_response(run)
    document = backtest_document(response, spend, actual, seed=seed)
    held = slice(args.weeks - args.holdout, args.weeks)
    weekly = data.kpi[:, held].sum(axis=0)
    naive = data.kpi[:, args.weeks - args.holdout - SEASON : args.weeks - SEASON].sum(axis=0)
    expected = world.arrays.expected[:, held].sum(axis=0)
    diagnostics = model.result()["diagnostics"]
    return {
        "world": kind, "seed": seed, "geos": n_geos, "holdout_weeks": args.holdout,
        "seasonality": args.seasonality,
        "fit_s": fit_s, "max_rhat": diagnostics["max_rhat"],
        "coverage": document["coverage"], "mape": document["mape"], "bias": document["bias"],
        "naive_mape": _mape(naive, weekly), "noise_mape": _mape(expected, weekly),
        "horizon_total": document["horizon_total"], "actual_total": float(weekly.sum()),
    }  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| world | seed | geos | fit s | 90% band covers | weekly MAPE | bias | seasonal-naive MAPE "
        "| noise floor MAPE | horizon KPI, 90% band | actual |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        h = r["horizon_total"]
        inside = "yes" if h["p05"] <= r["actual_total"] <= h["p95"] else "no"
        lines.append(
            f"| {r['world']} | {r['seed']} | {r['geos']} | {r['fit_s']:.0f} | {r['coverage']:.0%} "
            f"| {r['mape']:.1%} | {r['bias']:+.1%} | {r['naive_mape']:.1%} "
            f"| {r['noise_mape']:.1%} | {h['mean']:,.0f} ({h['p05']:,.0f} to {h['p95']:,.0f}) "
            f"| {r['actual_total']:,.0f} ({inside}) |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--worlds", nargs="+", default=["national", "geo"])
    parser.add_argument("--geos", type=int, default=6)
    parser.add_argument("--weeks", type=int, default=156)
    parser.add_argument("--holdout", type=int, default=13)
    parser.add_argument(
        "--seasonality",
        choices=("additive", "multiplicative"),
        default="additive",
        help="the model's seasonality (spec key model.seasonality)",
    )
    parser.add_argument(
        "--out", type=Path,
        default=Path.home() / ".cache" / "margin-bench" / "forecast_backtest.json",
    )  # fmt: skip
    args = parser.parse_args()
    os.environ.setdefault("MARGIN_JAX_CACHE", "0")
    from margin.cli.main import configure_jax

    configure_jax()  # as the margin command: chains in parallel over host devices
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.worlds:
            for seed in args.seeds:
                row = run_world(kind, seed, args, Path(tmp))
                print(json.dumps(row, default=float), flush=True)
                rows.append(row)
    print(table(rows))
    inside = sum(r["coverage"] for r in rows) / len(rows)
    print(f"mean coverage of the 90% bands: {inside:.0%} of geo-weeks")
    meta = {"machine": platform.platform(), "processor": platform.processor(), "args": vars(args)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
