"""Benchmark: interval coverage and false-positive rate of the geo-lift analysis.

Usage: .venv/bin/python bench/experiments_coverage.py [--seeds 500]

For each seed, a small simulated geo panel (``margin.experiments.simulate_geo_panel``:
10 geos, 60 days, 2 treated, a 10-day test) gets a known 5% lift, and an independent one
no lift. ASCM and TBR analyse them at level 0.9 with placebo-in-time t inference (the
default), and for comparison ASCM with placebo-in-time conformal and TBR with its
classic predictive t. Prints coverage of the true cumulative lift and
the false-positive rate (p <= 0.10 at zero lift) with 90% Wilson intervals, and checks
that power curves on the histories are monotone.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from margin.experiments import analyze, simulate_geo_panel, simulate_power
from margin.experiments.power import wilson_interval

LEVEL = 0.9


def run(seeds: int, method: str, inference: str) -> dict[str, float]:
    covered = rejected = 0
    monotone = True
    for seed in range(seeds):
        sim = simulate_geo_panel(10, 60, seed=seed, lift=0.05, test_length=10)
        result = analyze(
            sim.panel,
            list(sim.treated),
            sim.start,
            sim.end,
            method=method,
            inference=inference,
            level=LEVEL,
            space_placebos=False,
        )
        covered += result.cumulative_lift.low <= sim.true_lift <= result.cumulative_lift.high
        null = simulate_geo_panel(10, 60, seed=1_000_000 + seed, lift=0.0, test_length=10)
        zero = analyze(
            null.panel,
            list(null.treated),
            null.start,
            null.end,
            method=method,
            inference=inference,
            level=LEVEL,
            space_placebos=False,
        )
        rejected += zero.p_value <= 1 - LEVEL
        if seed < 20:
            idx = [null.panel.geos.index(g) for g in null.treated]
            rest = [i for i in range(null.panel.n_geos) if i not in idx]
            curve = simulate_power(
                null.panel.kpi[idx].sum(0),
                null.panel.kpi[rest],
                10,
                method=method,
                inference=inference,
                min_pre=25,
                stride=5,
            )
            monotone &= bool(np.all(np.diff(curve.power) >= 0))
    return {
        "coverage": covered / seeds,
        "fpr": rejected / seeds,
        "monotone": float(monotone),
        "covered": covered,
        "rejected": rejected,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=500)
    args = parser.parse_args()
    print(
        "| method | inference | seeds | coverage of 90% interval (90% CI) | FPR at zero lift (90% CI) | power curves monotone | time |"
    )
    print("|---|---|---|---|---|---|---|")
    pairs = [
        ("ascm", "placebo_t"),
        ("tbr", "placebo_t"),
        ("ascm", "conformal"),
        ("tbr", "analytic_t"),
    ]
    for method, inference in pairs:
        start = time.perf_counter()
        out = run(args.seeds, method, inference)
        elapsed = time.perf_counter() - start
        c_low, c_high = wilson_interval(out["covered"], args.seeds)
        f_low, f_high = wilson_interval(out["rejected"], args.seeds)
        print(
            f"| {method} | {inference} | {args.seeds} | {out['coverage']:.3f} ({c_low:.3f}–{c_high:.3f}) | "
            f"{out['fpr']:.3f} ({f_low:.3f}–{f_high:.3f}) | {'yes' if out['monotone'] else 'NO'} | {elapsed:.1f} s |"
        )


if __name__ == "__main__":
    main()
