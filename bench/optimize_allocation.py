"""Benchmark: budget allocation and frontier speed on the reference ParametricResponse.

Usage: .venv/bin/python bench/optimize_allocation.py [--repeats 3] [--update-docs] [--no-geo-units]

Cases (13-week horizon, adstock + Hill from the simulator's default channels; draws are
log-normal perturbations of the truth, spread 0.2, seed 1):

* 5 channels × 1 geo × 500 draws, channel allocation;
* 5 channels × 40 geos × 500 draws, channel allocation and geo × channel allocation;
* 10 channels × 1 geo × 1,000 draws: one allocation (target < 2 s) and a 20-point frontier
  (target < 20 s).

Each time is the whole public call (solve, KKT checks, mROI intervals, gain and P(beats
current)); the best of ``--repeats`` runs is reported. ``--update-docs`` rewrites the
header paragraph and the table of the ``## Optimizer`` section of docs/benchmarks.md;
the prose after the table, the subsections and the other sections stay as they are.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import scipy

from margin.data.simulator import WorldParams
from margin.data.simulator.params import DEFAULT_CHANNELS
from margin.data.simulator.response import parametric_from_world
from margin.optimize import (
    AllocationResult,
    Frontier,
    ParametricResponse,
    allocate,
    current_plan,
    efficient_frontier,
)

ROOT = Path(__file__).resolve().parents[1]
WEEKS = 13
SECTION = "## Optimizer"


def make_model(n_channels: int, n_geos: int, n_draws: int, seed: int = 1) -> ParametricResponse:
    """A model from simulator truth; channels beyond 5 are renamed copies with scaled effects."""
    channels = list(DEFAULT_CHANNELS)
    for k in range(n_channels - len(channels)):
        base = DEFAULT_CHANNELS[k % len(DEFAULT_CHANNELS)]
        channels.append(
            replace(base, name=f"{base.name}_{k + 2}", beta=base.beta * (0.6 + 0.1 * k))
        )
    params = WorldParams(
        n_geos=n_geos, n_weeks=40, channels=tuple(channels[:n_channels]), lift_tests=()
    )
    rng = np.random.default_rng(seed)
    weekly = np.array([c.weekly_spend for c in params.channels])
    share = np.array(params.population_share)[:, None, None]
    history = weekly * share * rng.uniform(0.5, 1.5, (n_geos, 16, n_channels))
    return parametric_from_world(params, history, n_draws=n_draws, spread=0.2, seed=seed)


def best_of(repeats: int, run: Callable[[], object]) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def run_cases(repeats: int, geo_units: bool = True) -> list[str]:
    rows = []
    cases = [(5, 1, 500, False), (5, 40, 500, False), (5, 40, 500, True), (10, 1, 1000, False)]
    for n_channels, n_geos, n_draws, by_geo in cases:
        if by_geo and not geo_units:
            continue
        model = make_model(n_channels, n_geos, n_draws)
        budget = float(current_plan(model, WEEKS).sum())
        seconds, result = best_of(
            repeats, lambda m=model, b=budget, g=by_geo: allocate(m, b, WEEKS, by_geo=g)
        )
        assert isinstance(result, AllocationResult)
        units = n_channels * n_geos if by_geo else n_channels
        gain = result.expected_gain
        rows.append(
            f"| allocate ({'geo × channel' if by_geo else 'channel'}) | {n_channels} ch × {n_geos} geo × "
            f"{n_draws} draws ({units} variables) | {seconds:.2f} s | {result.checks.passed} | "
            f"{result.checks.marginal_spread:.1e} | {gain.mean:,.0f} ({gain.p05:,.0f} to {gain.p95:,.0f}) |"
        )
        print(rows[-1], flush=True)
    model = make_model(10, 1, 1000)
    budget = float(current_plan(model, WEEKS).sum())
    seconds, frontier = best_of(
        1, lambda: efficient_frontier(model, WEEKS, 0.5 * budget, 2.0 * budget, n_points=20)
    )
    assert isinstance(frontier, Frontier)
    best = frontier.points[frontier.recommended]
    rows.append(
        f"| frontier, 20 points | 10 ch × 1 geo × 1000 draws | {seconds:.2f} s | | | "
        f"recommended budget {best.budget:,.0f}, profit {best.profit.mean:,.0f} "
        f"({best.profit.p05:,.0f} to {best.profit.p95:,.0f}) |"
    )
    print(rows[-1], flush=True)
    return rows


def _update_docs(rows: list[str], command: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text(encoding="utf-8")
    body = (
        f"{SECTION}\n\n"
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other work while "
        f"measured, so wall times are upper bounds), Python {platform.python_version()}, numpy "
        f"{np.__version__}, scipy {scipy.__version__}. Command: `{command}`, measured "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC (load average {os.getloadavg()[0]:.1f} at "
        "the end).\n"
        f"Reference model `ParametricResponse` (adstock + Hill, numpy, analytic gradient), "
        f"{WEEKS}-week horizon plus carry-over tail, SLSQP from two starts (geo × channel: from the channel-level optimum spread over geos; frontier points after the first: from the previous point). Time of the whole "
        "call (solve, KKT checks, mROI intervals, gain, P(beats current)), best of the repeats.\n\n"
        "| task | size | wall time | checks passed | interior mROI spread | expected gain (90% interval) |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )
    start = text.find(SECTION)
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + body
    else:  # replace the header paragraph and the table; keep the prose after it
        table = text.find("\n| task |", start)
        end = text.find("\n\n", table) if table >= 0 else -1
        if end < 0:
            ends = [text.find(m, start + len(SECTION)) for m in ("\n## ", "\n### ")]
            end = min((e for e in ends if e >= 0), default=len(text))
        text = text[:start] + body.rstrip("\n") + text[end:]
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--update-docs", action="store_true")
    parser.add_argument(
        "--no-geo-units", action="store_true",
        help="skip the geo x channel case (about 5 minutes on 2 cores)",
    )  # fmt: skip
    args = parser.parse_args()
    rows = run_cases(args.repeats, geo_units=not args.no_geo_units)
    if args.update_docs:
        _update_docs(
            rows,
            f".venv/bin/python bench/optimize_allocation.py --repeats {args.repeats} --update-docs",
        )


if __name__ == "__main__":
    main()
