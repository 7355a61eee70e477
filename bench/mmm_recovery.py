"""Recovery of known truth by ``MarketingMixModel`` on simulated worlds, several seeds.

One command::

    .venv/bin/python bench/mmm_recovery.py --seeds 0 1 2 --worlds national geo

For each world it reports wall time (compilation included), max R-hat, min bulk ESS,
ESS per second, divergences, ROI MAPE against the truth, how many true ROIs fall in the
90% interval, and total media contribution error; beside the ROI MAPE, the MAPE of
guessing every channel's ROI prior median without looking at the data ("prior guess"). Prints a Markdown table and writes
JSON (``--out``).

``--shape-priors truth`` fits with each channel's adstock decay, Hill half-saturation and
slope known: tight priors (``[priors.decay]`` etc.) centred on the simulator's true
values. What error is left is the data's, not the curves' shapes'.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from margin.data.panel.marketing_data import MarketingData
from margin.data.simulator import World, WorldParams, simulate_world
from margin.mmm import MarketingMixModel, ModelConfig, ShapePrior

TRUTH_SPREAD = {"decay": 0.01, "half_saturation": 0.02, "slope": 0.02}
"""Sd (decay) and log-sd (the others) of the priors that make the true shapes known."""


def truth_shape_priors(world: World, data: MarketingData) -> dict[str, dict[str, ShapePrior]]:
    """The simulator's true decay, half-saturation and slope per channel as tight priors
    (``ModelConfig.shape``). The model's half-saturation is in multiples of the channel's
    mean national weekly spend over the fitted weeks (``margin.mmm.inputs``)."""
    scale = dict(zip(data.channels, data.spend.sum(axis=0).mean(axis=0), strict=True))
    out: dict[str, dict[str, ShapePrior]] = {site: {} for site in TRUTH_SPREAD}
    for c in world.params.channels:
        centres = {"decay": c.decay, "half_saturation": c.half_saturation / scale[c.name],
                   "slope": c.slope}  # fmt: skip
        for site, centre in centres.items():
            out[site][c.name] = ShapePrior(site, float(centre), TRUTH_SPREAD[site])
    return out


def run_world(kind: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    n_geos = 1 if kind == "national" else args.geos
    params = WorldParams(n_geos=n_geos, n_weeks=args.weeks, n_users=max(200, 10 * n_geos))
    world = simulate_world(params, seed=seed)
    data = world.marketing_data()
    shape = truth_shape_priors(world, data) if args.shape_priors == "truth" else {}
    model = MarketingMixModel(chains=args.chains, draws=args.draws, warmup=args.warmup,
                              seed=seed, config=ModelConfig(shape=shape))  # fmt: skip
    start = time.perf_counter()
    model.fit(data)
    wall = time.perf_counter() - start
    result = model.result()
    truth = world.truth["channels"]
    errors, prior_errors, inside = [], [], 0
    for name, channel in result["channels"].items():
        roi, true = channel["roi"], truth[name]["roi"]
        errors.append(abs(roi["mean"] - true) / true)
        prior_errors.append(abs(result["priors"][name]["roi"]["median"] - true) / true)
        inside += int(roi["p05"] <= true <= roi["p95"])
    true_media = float(world.arrays.media.sum())
    diagnostics = result["diagnostics"]
    return {
        "world": kind, "seed": seed, "geos": n_geos, "weeks": args.weeks,
        "shape_priors": args.shape_priors,
        "load_after": Path("/proc/loadavg").read_text().split()[0],
        "channels": len(truth), "wall_s": wall, "max_rhat": diagnostics["max_rhat"],
        "min_ess_bulk": diagnostics["min_ess_bulk"],
        "ess_per_s": diagnostics["min_ess_bulk"] / wall,
        "divergences": diagnostics["divergences"], "roi_mape": float(np.mean(errors)),
        "prior_mape": float(np.mean(prior_errors)),
        "roi": {c: {"truth": truth[c]["roi"], **v["roi"]} for c, v in result["channels"].items()},
        "roi_in_90": inside,
        "media_error": result["totals"]["contribution"]["mean"] / true_media - 1,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--worlds", nargs="+", default=["national", "geo"])
    parser.add_argument("--geos", type=int, default=6)
    parser.add_argument("--weeks", type=int, default=156)
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument(
        "--out", type=Path, default=Path.home() / ".cache" / "margin-bench" / "mmm_recovery.json"
    )
    parser.add_argument(
        "--shape-priors", choices=("default", "truth"), default="default",
        help="truth: fit with the true adstock and saturation shapes known (tight priors)",
    )  # fmt: skip
    parser.add_argument(
        "--warm-cache", action="store_true",
        help="use margin's persistent compilation cache (default: cold, compilation timed)",
    )  # fmt: skip
    args = parser.parse_args()
    if not args.warm_cache:
        os.environ["MARGIN_JAX_CACHE"] = "0"
    from margin.cli.main import configure_jax

    configure_jax()  # as the margin command: one CPU device per chain, compile cache
    if args.warm_cache:  # JAX is imported above, so its cache settings are set directly
        import jax

        jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    print(f"load average at start: {Path('/proc/loadavg').read_text().split()[:3]}", flush=True)
    rows = []
    for kind in args.worlds:
        for seed in args.seeds:
            rows.append(run_world(kind, seed, args))
            print(json.dumps(rows[-1]), flush=True)
    header = "| world | seed | geos×weeks×channels | wall s | max R-hat | min ESS | ESS/s | div | ROI MAPE | prior guess MAPE | true ROI in 90% | media error |"
    print(header)
    print("|" + "---|" * 12)
    for r in rows:
        print(f"| {r['world']} | {r['seed']} | {r['geos']}×{r['weeks']}×{r['channels']} | "
              f"{r['wall_s']:.0f} | {r['max_rhat']:.3f} | {r['min_ess_bulk']:.0f} | "
              f"{r['ess_per_s']:.1f} | {r['divergences']} | {r['roi_mape']:.0%} | "
              f"{r['prior_mape']:.0%} | "
              f"{r['roi_in_90']}/{r['channels']} | {r['media_error']:+.0%} |")  # fmt: skip
    covered = sum(r["roi_in_90"] for r in rows) / sum(r["channels"] for r in rows)
    print(f"true ROI inside the 90% interval: {covered:.0%} of channels")
    print(
        f"mean ROI MAPE {np.mean([r['roi_mape'] for r in rows]):.1%}, prior guess "
        f"{np.mean([r['prior_mape'] for r in rows]):.1%}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "processor": platform.processor(), "args": vars(args)}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
