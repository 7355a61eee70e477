"""Benchmark: interval coverage and false-positive rate of the geo-lift analysis.

Usage: .venv/bin/python bench/experiments_coverage.py [--seeds 500] [--largest]

For each seed, a small simulated geo panel (``margin.experiments.simulate_geo_panel``:
10 geos, 60 days, 2 treated, a 10-day test) gets a known 5% lift, and an independent one
no lift. ASCM, GeoLift's synthetic control (``geolift``) and TBR analyse them at level
0.9 with placebo-in-time t inference (the default), and for comparison ASCM and geolift
with placebo-in-time conformal and TBR with its classic predictive t. Prints coverage of
the true cumulative lift and the false-positive rate (p <= 0.10 at zero lift) with 90%
Wilson intervals, the median width of the 90% interval relative to the true lift, and
checks that power curves on the histories are monotone.

``--largest`` treats the two geos with the highest pre-period mean instead of two at
random (the lift is applied to them in the window): the case where the treated series
swings more than any convex combination of the controls can, which a synthetic control
without rescaling cannot match.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np

from margin.experiments import SimulatedTest, analyze, simulate_geo_panel, simulate_power
from margin.experiments.power import wilson_interval

LEVEL = 0.9
N_GEOS, N_TIMES, LENGTH, LIFT = 10, 60, 10, 0.05


def _panel(seed: int, lift: float, largest: bool) -> SimulatedTest:
    """One simulated test; with ``largest`` the two biggest geos are the treated ones."""
    if not largest:
        return simulate_geo_panel(N_GEOS, N_TIMES, seed=seed, lift=lift, test_length=LENGTH)
    sim = simulate_geo_panel(N_GEOS, N_TIMES, seed=seed, lift=0.0, test_length=LENGTH)
    kpi = sim.panel.kpi.copy()
    treated = np.sort(np.argsort(-kpi[:, : N_TIMES - LENGTH].mean(axis=1))[:2])
    window = slice(N_TIMES - LENGTH, N_TIMES)
    true_lift = float(lift * kpi[treated, window].sum())
    kpi[treated, window] *= 1.0 + lift
    return replace(
        sim,
        panel=replace(sim.panel, kpi=kpi),
        treated=tuple(sim.panel.geos[i] for i in treated),
        true_lift=true_lift,
    )


def _analyze(sim: SimulatedTest, method: str, inference: str) -> tuple[float, float, float]:
    """``(low, high, p_value)`` of the cumulative lift."""
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
    return result.cumulative_lift.low, result.cumulative_lift.high, result.p_value


def _monotone(null: SimulatedTest, method: str, inference: str) -> bool:
    idx = [null.panel.geos.index(g) for g in null.treated]
    rest = [i for i in range(null.panel.n_geos) if i not in idx]
    curve = simulate_power(
        null.panel.kpi[idx].sum(0),
        null.panel.kpi[rest],
        LENGTH,
        method=method,
        inference=inference,
        min_pre=25,
        stride=5,
        n_treated=len(idx),
    )
    return bool(np.all(np.diff(curve.power) >= 0))


def run(seeds: int, method: str, inference: str, largest: bool = False) -> dict[str, float]:
    covered = rejected = 0
    monotone = True
    widths = []
    for seed in range(seeds):
        sim = _panel(seed, LIFT, largest)
        low, high, _ = _analyze(sim, method, inference)
        covered += low <= sim.true_lift <= high
        widths.append((high - low) / sim.true_lift)
        null = _panel(1_000_000 + seed, 0.0, largest)
        rejected += _analyze(null, method, inference)[2] <= 1 - LEVEL
        if seed < 20:
            monotone &= _monotone(null, method, inference)
    return {
        "coverage": covered / seeds,
        "fpr": rejected / seeds,
        "monotone": float(monotone),
        "covered": covered,
        "rejected": rejected,
        "width": float(np.median(widths)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=500)
    parser.add_argument("--largest", action="store_true", help="treat the two largest geos")
    args = parser.parse_args()
    print(
        "| method | inference | seeds | coverage of 90% interval (90% CI) | FPR at zero lift (90% CI) "
        "| median interval width / true lift | power curves monotone | time |"
    )
    print("|---|---|---|---|---|---|---|---|")
    pairs = [
        ("ascm", "placebo_t"),
        ("geolift", "placebo_t"),
        ("tbr", "placebo_t"),
        ("ascm", "conformal"),
        ("geolift", "conformal"),
        ("tbr", "analytic_t"),
    ]
    for method, inference in pairs:
        start = time.perf_counter()
        out = run(args.seeds, method, inference, args.largest)
        elapsed = time.perf_counter() - start
        c_low, c_high = wilson_interval(out["covered"], args.seeds)
        f_low, f_high = wilson_interval(out["rejected"], args.seeds)
        print(
            f"| {method} | {inference} | {args.seeds} | {out['coverage']:.3f} ({c_low:.3f}–{c_high:.3f}) | "
            f"{out['fpr']:.3f} ({f_low:.3f}–{f_high:.3f}) | {out['width']:.2f} | "
            f"{'yes' if out['monotone'] else 'NO'} | {elapsed:.1f} s |"
        )


if __name__ == "__main__":
    main()
