"""Benchmark: design of a test on a 40-geo, 90-day panel, power simulation included.

Usage: .venv/bin/python bench/experiments_design.py

A simulated 40-geo daily panel of 90 days (``simulate_geo_panel``, seed 0); the design
compares 2, 3 and 4 treated geos (20 candidate sets each) and 2- to 4-week tests, with a
budget and an ROI assumption. Prints the wall time (target: under 60 s) and the design.
"""

from __future__ import annotations

import platform
import time

import numpy as np

from margin.experiments import DesignSpec, design_test, simulate_geo_panel


def main() -> None:
    sim = simulate_geo_panel(40, 90, seed=0, test_length=14)
    spec = DesignSpec(
        channel="tv",
        lengths=(14, 21, 28),
        n_treated=(2, 3, 4),
        budget=20_000.0,
        roi=1.5,
        n_candidates=20,
        seed=0,
    )
    start = time.perf_counter()
    design = design_test(sim.panel, spec)
    elapsed = time.perf_counter() - start
    power = design.power.to_json()
    mde = power["mde_percent"]
    print(
        f"machine: {platform.machine()}, python {platform.python_version()}, numpy {np.__version__}"
    )
    print(
        f"| 40 geos × 90 days, 3 sizes × 20 sets × 3 lengths | {elapsed:.1f} s | treat "
        f"{', '.join(design.treated)} for {design.length} days | MDE {mde['mean']:.2f}% "
        f"({mde['p05']:.2f}–{mde['p95']:.2f}) | power at budget {design.power_at_budget} |"
    )


if __name__ == "__main__":
    main()
