"""Does the value of information pick the lift test that improves the plan most?

One command::

    .venv/bin/python bench/information_value.py --seeds 0 1 2 --geos 6

For each simulated world (``--geos`` geos × 104 weeks × the default 5 channels, run with
no lift test): fit the MMM (NUTS, 2 × (500 + 500), as ``bench/optimize_regret.py``),
recommend a plan for the current budget over 13 weeks, and value learning each channel's
return for it (``value_of_information``, the expected value of partial perfect
information), and value each channel's test as it will read (its standard error in ROI
units, ``lift_se / spend_delta``, passed as ``test_se``: the expected value of sample
information); and value each test again as a design (``PlannedTest``: its channel, geos,
weeks and spend change, read as the model says that test would read, placed at the plan's
start). Then run the same world five more times, each with one geo test on one
channel (its spend doubled in ``geos[1:3]`` for 6 weeks from week 60, the place of the
simulator's default heavy-up; a sparse channel that is off then gets its average weekly
spend added instead), fit again calibrated with that test as a user would
(the world's ``experiments.csv``), plan again, and score every plan with the simulator's
true response: its true gain as a share of the true optimum's (as
``bench/optimize_regret.py``). The question: does the channel the value of information
ranks first give the test that improves the plan most, and do the values rank the tests?

``--top K`` also runs the K channels valued highest together (the k-th in ``geos[1+2k :
3+2k]``), as a user following the ranking would, and scores that plan against the
issue's bar (90% of the optimum's gain); and, for contrast, the K valued lowest.

``--se-inflation`` sets how precise the tests are (the simulator's ``lift_se_inflation``:
1.2 a realistic synthetic-control read; 0.1 close to learning the lift exactly, the
premise of the value of perfect information). Prints a Markdown table and writes JSON
(``--out``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from scipy.stats import spearmanr  # type: ignore[import-untyped]

from margin.data.panel.marketing_data import MarketingData
from margin.data.simulator import World, WorldParams, simulate_world
from margin.data.simulator.params import LiftTestParams
from margin.optimize import allocate, scenario
from margin.optimize.information import value_of_information
from margin.optimize.planned_test import PlannedTest
from margin.optimize.request import PlanRequest, plan

sys.path.insert(0, str(Path(__file__).resolve().parent))

from optimize_regret import (
    WEEKS,
    fit_saved,
    sampler_arguments,
    true_response,
    write_results,
)

TEST_START, TEST_WEEKS, TEST_MULTIPLIER = 60, 6, 2.0


def world_params(args: argparse.Namespace, tests: tuple[LiftTestParams, ...]) -> WorldParams:
    return WorldParams(
        n_geos=args.geos, n_weeks=args.weeks, n_users=max(200, 10 * args.geos),
        lift_tests=tests, lift_se_inflation=args.se_inflation,
    )  # fmt: skip


def fit_and_score(
    world: World, seed: int, args: argparse.Namespace, folder: Path, tag: str, calibrate: bool
) -> dict[str, Any]:
    """Fit, plan and score one world; the plan's true share of the true optimum's gain."""
    settings = {"method": "nuts", "chains": args.chains, "draws": args.draws,
                "warmup": args.warmup}  # fmt: skip
    _, response, fit_s, _ = fit_saved(
        world, seed, settings, folder, tag, calibrate=calibrate, max_draws=args.max_draws
    )
    request = PlanRequest(weeks=WEEKS, max_change=None)  # unbounded, as docs/benchmarks.md measured
    result = plan(response, request)
    truth = true_response(world)
    optimum = allocate(truth, result.budget, WEEKS).expected_gain.mean
    true_gain = scenario(truth, WEEKS, plan=result.plan, reference=result.current_plan).gain.mean
    return {
        "fit_s": fit_s, "response": response, "request": request, "result": result,
        "true_gain": true_gain, "optimum_gain": optimum, "share": true_gain / optimum,
        "lift": [] if not calibrate else world.experiments.to_dict("records"),
    }  # fmt: skip


def _test(data: MarketingData, channel: str, treated: tuple[str, ...], params: WorldParams) -> Any:
    """One test on ``channel`` in ``treated``: its spend doubled for the test's weeks; a
    channel off then (a sparse one) gets its average weekly spend added instead."""
    rows = [data.geos.index(g) for g in treated]
    c = data.channels.index(channel)
    weeks = slice(TEST_START, TEST_START + TEST_WEEKS)
    if data.spend[rows, weeks, c].sum() > 0:
        return LiftTestParams(
            f"lift_{channel}_double", channel, treated, TEST_START, TEST_WEEKS,
            spend_multiplier=TEST_MULTIPLIER,
        )  # fmt: skip
    share = sum(params.population_share[r] for r in rows) / len(rows)
    weekly = params.channels[c].weekly_spend
    return LiftTestParams(
        f"lift_{channel}_added", channel, treated, TEST_START, TEST_WEEKS,
        weekly_spend_added=round(weekly * share, -3),
    )  # fmt: skip


def run_world(seed: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    untested = simulate_world(world_params(args, ()), seed=seed)
    first = fit_and_score(untested, seed, args, folder, f"{seed}-none", calibrate=False)
    geos, data = untested.params.geos, untested.marketing_data()
    treated = geos[1:3] if len(geos) >= 4 else geos[1:2]
    worlds = {
        c: simulate_world(
            world_params(args, (_test(data, c, treated, untested.params),)), seed=seed
        )
        for c in untested.params.channel_names
    }
    # each test's standard error in ROI units, as its design would promise it
    test_se = {
        c: float(w.experiments["lift_se"].iloc[0] / abs(w.experiments["spend_delta"].iloc[0]))
        for c, w in worlds.items()
    }
    start = time.perf_counter()
    info = value_of_information(
        first["response"], first["result"], first["request"], test_se=test_se
    )
    info_s = time.perf_counter() - start
    # the same tests as designs: read as the model says each would read, in its geos and
    # weeks from its own spend change (placed at the plan's start, at current spend)
    designs = [
        PlannedTest(channel=c, se=test_se[c], geos=treated, weeks=TEST_WEEKS,
                    spend=float(abs(w.experiments["spend_delta"].iloc[0])), design_id=f"lift_{c}")
        for c, w in worlds.items()
    ]  # fmt: skip
    by_design = value_of_information(
        first["response"], first["result"], first["request"], tests=designs
    )
    tested: dict[str, Any] = {}
    for channel, world in worlds.items():
        scored = fit_and_score(world, seed, args, folder, f"{seed}-{channel}", calibrate=True)
        lift = scored["lift"][0]
        tested[channel] = {
            "share": scored["share"], "true_gain": scored["true_gain"],
            "optimum_gain": scored["optimum_gain"], "fit_s": scored["fit_s"],
            "lift": lift["lift"], "lift_se": lift["lift_se"], "spend_delta": lift["spend_delta"],
        }  # fmt: skip
        print(json.dumps({"seed": seed, "channel": channel, **tested[channel]}), flush=True)
    together: dict[str, Any] = {}
    if args.top:  # the K highest- and K lowest-valued channels' tests, each in its own geos
        ranked = [c.channel for c in info.channels]
        for label, chosen in (("top", ranked[: args.top]), ("bottom", ranked[-args.top :])):
            tests = tuple(
                _test(data, c, geos[1 + 2 * k : 3 + 2 * k], untested.params)
                for k, c in enumerate(chosen)
            )
            world = simulate_world(world_params(args, tests), seed=seed)
            scored = fit_and_score(world, seed, args, folder, f"{seed}-{label}", calibrate=True)
            together[label] = {"channels": chosen, "share": scored["share"]}
            print(json.dumps({"seed": seed, label: together[label]}), flush=True)
    values = {c.channel: c.value.to_dict() for c in info.channels}
    test_values = {c.channel: c.test_value.to_dict() for c in info.channels if c.test_value}
    design_values = {c.channel: c.test_value.to_dict() for c in by_design.channels if c.test_value}
    design_reads = {c.channel: c.test_read.to_dict() for c in by_design.channels if c.test_read}
    names = list(values)
    gains = [tested[c]["share"] - first["share"] for c in names]
    rho = spearmanr([values[c]["mean"] for c in names], gains).statistic
    rho_test = spearmanr([test_values[c]["mean"] for c in names], gains).statistic
    rho_design = spearmanr([design_values[c]["mean"] for c in names], gains).statistic
    best_test = max(names, key=lambda c: tested[c]["share"])
    return {
        "seed": seed, "geos": args.geos, "fit_s": first["fit_s"], "information_s": info_s,
        "share_untested": first["share"], "values": values, "test_values": test_values,
        "test_se": test_se,
        "above_floor": {c.channel: c.above_floor for c in info.channels},
        "noise_floor": info.noise_floor.to_dict(), "best_by_value": names[0],
        "best_test": best_test, "tested": tested, "spearman": float(rho),
        "spearman_test": float(rho_test), "together": together,
        "design_values": design_values, "design_reads": design_reads,
        "spearman_design": float(rho_design),
    }  # fmt: skip


def _span(stat: dict[str, float], spec: str) -> str:
    return f"{stat['mean']:{spec}} ({stat['p05']:{spec}} to {stat['p95']:{spec}})"


def table(worlds: list[dict[str, Any]]) -> str:
    lines = [
        "| world | channel | value of learning it (90% MC) | above floor | value of its test "
        "(90% MC) | value of its test as designed (90% MC) | ROI the model expects it to read "
        "| test lift ± se | share of optimum, untested | share of optimum, with its test | "
        "change |",
        "|" + "---|" * 11,
    ]
    for w in worlds:
        for channel, value in w["values"].items():
            t = w["tested"][channel]
            lines.append(
                f"| {w['seed']} | {channel}{' (ranked first)' if channel == w['best_by_value'] else ''} | "
                f"{_span(value, ',.0f')} | {'yes' if w['above_floor'][channel] else 'no'} | "
                f"{_span(w['test_values'][channel], ',.0f')} | "
                f"{_span(w['design_values'][channel], ',.0f')} | "
                f"{_span(w['design_reads'][channel], '.2f')} | "
                f"{t['lift']:,.0f} ± {t['lift_se']:,.0f} | {w['share_untested']:.0%} | "
                f"{t['share']:.0%} | {t['share'] - w['share_untested']:+.0%} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--geos", type=int, default=6)
    parser.add_argument("--weeks", type=int, default=104)
    parser.add_argument("--se-inflation", type=float, default=1.2)
    parser.add_argument(
        "--top", type=int, default=0,
        help="also run the K most valuable channels' tests together (0: not)",
    )  # fmt: skip
    sampler_arguments(parser)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path.home() / ".cache" / "margin-bench" / "information_value.json",
    )
    args = parser.parse_args()
    from margin.cli.main import configure_jax

    configure_jax()  # as the margin command: chains in parallel over host devices
    worlds = []
    with tempfile.TemporaryDirectory(prefix="margin-information-") as tmp:
        for seed in args.seeds:
            worlds.append(run_world(seed, args, Path(tmp)))
    print(table(worlds))
    for w in worlds:
        print(
            f"world {w['seed']}: ranked first {w['best_by_value']}, best test {w['best_test']}, "
            f"Spearman(value, change) {w['spearman']:+.2f}, (test's value, change) "
            f"{w['spearman_test']:+.2f}, (test's value as designed, change) "
            f"{w['spearman_design']:+.2f}; value of information took "
            f"{w['information_s']:.1f} s"
        )
    for w in worlds:
        for label, run in w["together"].items():
            print(
                f"world {w['seed']}: the {label} {args.top} tests together "
                f"({' and '.join(run['channels'])}): {run['share']:.0%} of the optimum's gain "
                f"(untested {w['share_untested']:.0%})"
            )
    write_results(args, worlds=worlds)


if __name__ == "__main__":
    main()
