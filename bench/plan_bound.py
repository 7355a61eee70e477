"""How close to the optimum can a plan get from what the data hold?

One command::

    .venv/bin/python bench/plan_bound.py --seeds 0 1 2 3 4 5 6 7 8 9 --geos 1 6

The worlds of ``bench/optimize_regret.py`` (104 weeks × 5 channels; national and 6
geos). The planner here is given far more than any MMM has: every channel's true curve
(adstock decay, Hill half-saturation and slope) and the baseline's exact form, and it
estimates only what the data must tell it, the effect sizes, with the efficient unbiased
estimator (generalised least squares; ``bench/roi_bound.py`` shows it reaches the
Cramér–Rao bound). Over the estimator's own sampling distribution (``--draws`` sets of
estimates per world, drawn from the bound's Normal law; negative ones clipped to zero) it
plans the current budget over 13 weeks as ``margin optimize`` does and scores every plan
with the simulator's true response: its true gain as a share of the true optimum's. Since
the KPI is linear in the effect sizes given the curves, planning on the posterior mean of
a flat-prior Bayesian fit is the same plan, so this is also the best a Bayesian planner
without outside information can expect. Two cases, as in ``bench/roi_bound.py``: only the
effect sizes unknown, and the baseline's coefficients unknown too. Prints a Markdown
table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from margin.data.simulator import WorldParams, simulate_world
from margin.data.simulator.response import parametric_from_world
from margin.optimize import allocate, scenario
from margin.optimize.parametric import ParametricResponse
from margin.optimize.request import current_budget

sys.path.insert(0, str(Path(__file__).resolve().parent))

from roi_bound import information

WEEKS = 13
BAR = 0.9
"""The issue's bar: the plan's true gain at least this share of the true optimum's."""


def run_world(n_geos: int, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    params = WorldParams(n_geos=n_geos, n_weeks=args.weeks, n_users=max(200, 10 * n_geos))
    world = simulate_world(params, seed=seed)
    truth: ParametricResponse = parametric_from_world(
        params, world.marketing_data().spend, n_draws=1, spread=0.0, seed=0
    )
    current = current_budget(truth, WEEKS)
    optimum = allocate(truth, current, WEEKS)
    best = optimum.expected_gain.mean
    beta = np.array([c.beta for c in params.channels])
    share = np.asarray(params.population_share)[None, :, None]
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"geos": n_geos, "seed": seed, "optimum_gain": best}
    info = information(world)
    cases = {"effects only": info.effects_only, "baseline unknown": info.baseline_unknown}
    for case, cov in cases.items():
        shares = []
        for estimate in rng.multivariate_normal(beta, cov, size=args.draws):
            fitted = np.clip(estimate, 0.0, None)[None, None, :] * share / params.kpi_value
            model = dataclasses.replace(
                truth, beta=np.broadcast_to(fitted, truth.beta.shape).copy()
            )
            result = allocate(model, current, WEEKS)
            gain = scenario(truth, WEEKS, plan=result.plan, reference=result.current_plan)
            shares.append(gain.gain.mean / best)
        s = np.asarray(shares)
        out[case] = {
            "mean": float(s.mean()), "median": float(np.median(s)),
            "p10": float(np.quantile(s, 0.1)), "at_bar": float(np.mean(s >= BAR)),
            "beats_current": float(np.mean(s > 0)),
        }  # fmt: skip
    return out


def table(rows: list[dict[str, Any]]) -> str:
    cases = ("effects only", "baseline unknown")
    head = ["geos", "seed", "true optimum gain"]
    for case in cases:
        head += [f"{case}: mean share (median; 10th pct)", f"{case}: P(share ≥ 90%)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [str(r["geos"]), str(r["seed"]), f"{r['optimum_gain']:,.0f}"]
        for case in cases:
            c = r[case]
            cells += [f"{c['mean']:.0%} ({c['median']:.0%}; {c['p10']:.0%})", f"{c['at_bar']:.0%}"]
        lines.append("| " + " | ".join(cells) + " |")
    for geos in dict.fromkeys(r["geos"] for r in rows):
        sel = [r for r in rows if r["geos"] == geos]
        cells = [f"{geos}, mean", "", ""]
        for case in cases:
            cells += [f"{np.mean([r[case]['mean'] for r in sel]):.0%} (median "
                      f"{np.mean([r[case]['median'] for r in sel]):.0%})",
                      f"{np.mean([r[case]['at_bar'] for r in sel]):.0%}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--geos", type=int, nargs="+", default=[1, 6])
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--draws", type=int, default=100, help="sets of estimates per world")
    parser.add_argument("--out", type=Path,
                        default=Path.home() / ".cache" / "margin-bench" / "plan_bound.json")  # fmt: skip
    args = parser.parse_args()
    rows = []
    start = time.perf_counter()
    for n_geos in args.geos:
        for seed in args.seeds:
            rows.append(run_world(n_geos, seed, args))
            print(json.dumps(rows[-1]), flush=True)
    print(table(rows))
    meta = {"python": platform.python_version(), "numpy": np.__version__,
            "seconds": time.perf_counter() - start,
            "command": " ".join(["bench/plan_bound.py", *sys.argv[1:]])}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
