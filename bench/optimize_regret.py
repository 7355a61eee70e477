"""Regret of MMM-recommended plans on simulated worlds, scored with the simulator's truth.

One command::

    .venv/bin/python bench/optimize_regret.py --seeds 0 1 2 --methods nuts approximate

For each world (national by default, ``--geos N`` for N geos; 104 weeks; the default 5
channels) and fit method: fit the MMM,
save the run, load it as a response model (``load_response``), recommend a plan for the
current budget (last 13 weeks' average weekly spend × 13) over 13 weeks, then score it
with the simulator's true response (``parametric_from_world``, spread 0): the plan's TRUE
gain over the current plan (13 weeks plus carry-over tail), and the true optimum's gain
(the optimizer on the true response, same budget). Regret = 1 − true gain / optimum gain;
the issue's bar is a true gain of at least 90% of the optimum's (regret <= 10%).

Each fitted run is planned four ways (``VARIANTS``): the posterior-mean objective with no
bounds; the same with every channel bounded to 0.5–2× its current spend (common practice);
CVaR (mean of the worst 10% of draws) with no bounds; and mean − 1 sd over draws.
``--shape-priors truth`` fits with every channel's adstock decay and Hill
half-saturation and slope known (tight priors at the simulator's values; see
``bench/mmm_recovery.py``), to see what is left when only the channels' effect sizes are
unknown. ``--calibrate`` fits with the world's own geo lift tests (the simulator's TV heavy-up and
search go-dark), as a user of a geo panel would. The true optimum is always the unbounded
one, so bounded plans are scored against the best plan without bounds. Every variant
lifts the planner's default bounds (±50% of current spend; ``max_change=None``): the
"no bounds" plans are the unbounded optimum, and the published figures stay reproducible.
Beside the plans, each fit is scored on what allocation acts on: how many channels' true
marginal ROI at current spend (13 weeks plus tail, from the true response) lies inside
the fitted 90% interval ("true mROI in 90%"), next to the same count for the average ROI.
Prints a Markdown table and writes JSON (``--out``); ``--keep DIR`` keeps the run folders.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import numpyro  # type: ignore[import-untyped]
import scipy
from mmm_recovery import truth_shape_priors  # bench/ is on the path of its scripts

import margin
from margin.data.panel.spec import DataSpec, Spec
from margin.data.simulator import World, WorldParams, simulate_world
from margin.data.simulator.response import parametric_from_world
from margin.mmm import LiftTest, MarketingMixModel, read_lift_tests_csv, save_run
from margin.mmm.response import MMMResponse, load_response
from margin.optimize import ParametricResponse, allocate, scenario
from margin.optimize.request import PlanRequest, current_budget, plan

WEEKS = 13
VARIANTS: dict[str, dict[str, Any]] = {
    "mean": {},
    "mean, bounds 0.5-2x": {"bounds": "all"},
    "cvar 10%": {"risk": "cvar", "cvar_alpha": 0.1},
    "mean - sd": {"risk": "mean_sd", "risk_aversion": 1.0},
}
BAR = 0.9
"""The issue's bar: the plan's true gain is at least this share of the optimum's."""


def fit_settings(method: str, args: argparse.Namespace, world: World) -> dict[str, Any]:
    from margin.mmm import ModelConfig

    shape = {}
    if args.shape_priors == "truth":
        shape = truth_shape_priors(world, world.marketing_data())
    config = {"config": ModelConfig(seasonality=args.seasonality, shape=shape)}
    if method == "nuts":
        return {"method": "nuts", "chains": args.chains, "draws": args.draws,
                "warmup": args.warmup, **config}  # fmt: skip
    return {"method": "approximate", "chains": 1, "draws": args.chains * args.draws, **config}


def request_for(variant: str, channels: tuple[str, ...]) -> PlanRequest:
    options = dict(VARIANTS[variant])
    if options.pop("bounds", None) == "all":
        options["bounds"] = dict.fromkeys(channels, (0.5, 2.0))
    # max_change=None: no default ±50% bounds, as the tables in docs/benchmarks.md were measured.
    return PlanRequest(weeks=WEEKS, max_change=None, **options)


def fit_saved(
    world: World,
    seed: int,
    settings: dict[str, Any],
    folder: Path,
    tag: str,
    *,
    calibrate: bool,
    max_draws: int,
) -> tuple[MarketingMixModel, MMMResponse, float, int]:
    """Fit the MMM on ``world`` (with the world's own lift tests, read from its
    ``experiments.csv`` as a user would, when ``calibrate``), save the run under
    ``folder / tag`` and load it as a response model: model, response, fit seconds and
    the number of lift tests."""
    data = world.marketing_data()
    lift_tests: list[LiftTest] = []
    folder.mkdir(parents=True, exist_ok=True)
    if calibrate:
        world.experiments.to_csv(folder / f"experiments-{tag}.csv", index=False)
        lift_tests = read_lift_tests_csv(folder / f"experiments-{tag}.csv")
    model = MarketingMixModel(seed=seed, **settings)
    start = time.perf_counter()
    model.fit(data, lift_tests)
    fit_s = time.perf_counter() - start
    save_run(model, data, Spec(DataSpec(kpi="revenue", media=data.channels)), folder / tag)
    return model, load_response(folder / tag, max_draws=max_draws), fit_s, len(lift_tests)


def true_response(world: World) -> ParametricResponse:
    """The simulator's true response of ``world``, as a one-draw response model."""
    spend = world.marketing_data().spend
    return parametric_from_world(world.params, spend, n_draws=1, spread=0.0, seed=0)


def bench_meta(args: argparse.Namespace) -> dict[str, Any]:
    """Machine, versions and arguments of a benchmark run (its JSON's ``meta``)."""
    return {
        "machine": platform.platform(), "processor": platform.machine(),
        "python": platform.python_version(), "margin": margin.__version__,
        "jax": jax.__version__, "numpyro": numpyro.__version__, "numpy": np.__version__,
        "scipy": scipy.__version__, "args": vars(args),
    }  # fmt: skip


def run_world(
    seed: int, method: str, args: argparse.Namespace, folder: Path
) -> list[dict[str, Any]]:
    params = WorldParams(n_geos=args.geos, n_weeks=args.weeks, n_users=max(200, 10 * args.geos))
    world = simulate_world(params, seed=seed)
    data = world.marketing_data()
    model, response, fit_s, n_tests = fit_saved(
        world, seed, fit_settings(method, args, world), folder, f"{method}-{seed}",
        calibrate=args.calibrate, max_draws=args.max_draws,
    )  # fmt: skip
    budget = current_budget(response, WEEKS)
    truth = true_response(world)
    optimum = allocate(truth, budget, WEEKS)
    best_gain = optimum.expected_gain.mean
    roi = model.result()["channels"]
    inside = sum(
        roi[c]["roi"]["p05"] <= world.truth["channels"][c]["roi"] <= roi[c]["roi"]["p95"]
        for c in roi
    )
    true_mroi = {a.channel: a.current_mroi.mean for a in optimum.allocation}
    rows = []
    for variant in VARIANTS:
        start = time.perf_counter()
        result = plan(response, request_for(variant, data.channels))
        plan_s = time.perf_counter() - start
        mroi = {a.channel: a.current_mroi.to_dict() for a in result.allocation}
        mroi_inside = sum(mroi[c]["p05"] <= true_mroi[c] <= mroi[c]["p95"] for c in mroi)
        scored = scenario(truth, WEEKS, plan=result.plan, reference=result.current_plan)
        true_gain = scored.gain.mean
        rows.append({
            "seed": seed, "geos": args.geos, "calibrated": n_tests, "shape_priors": args.shape_priors, "method": method, "variant": variant, "fit_s": fit_s,
            "plan_s": plan_s, "budget": budget, "expected_gain": result.expected_gain.to_dict(),
            "p_beats_current": result.p_beats_current, "checks": result.checks.to_dict(),
            "true_gain": true_gain, "optimum_gain": best_gain,
            "share_of_optimum": true_gain / best_gain, "regret": 1 - true_gain / best_gain,
            "roi_in_90": inside, "mroi_in_90": mroi_inside, "current_mroi": mroi,
            "true_current_mroi": true_mroi, "spend": {a.channel: a.spend for a in result.allocation},
            "optimum_spend": {a.channel: a.spend for a in optimum.allocation},
            "current_spend": {a.channel: a.current_spend for a in result.allocation},
        })  # fmt: skip
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of ``rows`` (one per fit, seed and plan variant)."""
    lines = [
        "| fit | seed | plan | fit s | plan s | expected gain (90%) | P(beats current) | "
        "true gain | true optimum gain | share of optimum | checks | true ROI in 90% | "
        "true mROI in 90% |",
        "|" + "---|" * 13,
    ]
    for r in rows:
        g = r["expected_gain"]
        lines.append(
            f"| {r['method']}{' + lift tests' if r.get('calibrated') else ''}"
            f"{', true shapes' if r.get('shape_priors') == 'truth' else ''} | {r['seed']} | {r['variant']} | {r['fit_s']:.0f} | "
            f"{r['plan_s']:.1f} | {g['mean']:,.0f} ({g['p05']:,.0f} to {g['p95']:,.0f}) | "
            f"{r['p_beats_current']:.0%} | {r['true_gain']:,.0f} | {r['optimum_gain']:,.0f} | "
            f"{r['share_of_optimum']:.0%} | {r['checks']['passed']} | {r['roi_in_90']}/5 | "
            f"{r['mroi_in_90']}/5 |"
        )
    return "\n".join(lines)


def write_results(args: argparse.Namespace, **body: Any) -> None:
    """Write ``{"meta": ..., **body}`` to ``args.out`` and print the run's metadata."""
    meta = bench_meta(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"meta": meta, **body}, indent=2, default=str) + "\n")
    print(json.dumps(meta, default=str))


def sampler_arguments(parser: argparse.ArgumentParser) -> None:
    """The fits' NUTS settings and the draws plans use (shared by the decide benchmarks)."""
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--max-draws", type=int, default=1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["nuts", "approximate"])
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument(
        "--geos", type=int, default=1, help="geos of the simulated worlds (1: national)"
    )
    parser.add_argument(
        "--calibrate", action="store_true", help="fit with the world's lift tests (geo worlds)"
    )
    parser.add_argument(
        "--seasonality", choices=("additive", "multiplicative"), default="additive",
        help="the model's seasonality (spec key model.seasonality)",
    )  # fmt: skip
    parser.add_argument(
        "--shape-priors", choices=("default", "truth"), default="default",
        help="truth: fit with the true adstock and saturation shapes known (tight priors)",
    )  # fmt: skip
    sampler_arguments(parser)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the run folders here.")
    parser.add_argument(
        "--out", type=Path, default=Path.home() / ".cache" / "margin-bench" / "optimize_regret.json"
    )
    args = parser.parse_args()
    from margin.cli.main import configure_jax

    configure_jax()  # as the margin command: chains in parallel over host devices
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="margin-regret-") as tmp:
        folder = args.keep or Path(tmp)
        for method in args.methods:
            for seed in args.seeds:
                rows.extend(run_world(seed, method, args, folder))
                for row in rows[-len(VARIANTS) :]:
                    print(json.dumps(row, default=float), flush=True)
    print(table(rows))
    for method in args.methods:
        for variant in VARIANTS:
            mine = [r for r in rows if r["method"] == method and r["variant"] == variant]
            met = sum(r["share_of_optimum"] >= BAR for r in mine)
            print(f"{method}, {variant}: {met}/{len(mine)} worlds meet the bar "
                  f"(>= {BAR:.0%} of the optimum's gain)")  # fmt: skip
    write_results(args, rows=rows)


if __name__ == "__main__":
    main()
