"""Recovery of known truth by ``MarketingMixModel`` on simulated worlds, several seeds.

One command::

    .venv/bin/python bench/mmm_recovery.py --seeds 0 1 2 --worlds national geo

For each world it reports wall time (compilation included), max R-hat, min bulk ESS,
ESS per second, divergences, ROI MAPE against the truth, how many true ROIs fall in the
90% interval, and total media contribution error. Prints a Markdown table and writes
JSON (``--out``).
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

from margin.data.simulator import WorldParams, simulate_world
from margin.mmm import MarketingMixModel


def run_world(kind: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    n_geos = 1 if kind == "national" else args.geos
    params = WorldParams(n_geos=n_geos, n_weeks=args.weeks, n_users=max(200, 10 * n_geos))
    world = simulate_world(params, seed=seed)
    model = MarketingMixModel(chains=args.chains, draws=args.draws, warmup=args.warmup, seed=seed)
    start = time.perf_counter()
    model.fit(world.marketing_data())
    wall = time.perf_counter() - start
    result = model.result()
    truth = world.truth["channels"]
    errors, inside = [], 0
    for name, channel in result["channels"].items():
        roi, true = channel["roi"], truth[name]["roi"]
        errors.append(abs(roi["mean"] - true) / true)
        inside += int(roi["p05"] <= true <= roi["p95"])
    true_media = float(world.arrays.media.sum())
    diagnostics = result["diagnostics"]
    return {
        "world": kind, "seed": seed, "geos": n_geos, "weeks": args.weeks,
        "load_after": Path("/proc/loadavg").read_text().split()[0],
        "channels": len(truth), "wall_s": wall, "max_rhat": diagnostics["max_rhat"],
        "min_ess_bulk": diagnostics["min_ess_bulk"],
        "ess_per_s": diagnostics["min_ess_bulk"] / wall,
        "divergences": diagnostics["divergences"], "roi_mape": float(np.mean(errors)),
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
    header = "| world | seed | geos×weeks×channels | wall s | max R-hat | min ESS | ESS/s | div | ROI MAPE | true ROI in 90% | media error |"
    print(header)
    print("|" + "---|" * 11)
    for r in rows:
        print(f"| {r['world']} | {r['seed']} | {r['geos']}×{r['weeks']}×{r['channels']} | "
              f"{r['wall_s']:.0f} | {r['max_rhat']:.3f} | {r['min_ess_bulk']:.0f} | "
              f"{r['ess_per_s']:.1f} | {r['divergences']} | {r['roi_mape']:.0%} | "
              f"{r['roi_in_90']}/{r['channels']} | {r['media_error']:+.0%} |")  # fmt: skip
    covered = sum(r["roi_in_90"] for r in rows) / sum(r["channels"] for r in rows)
    print(f"true ROI inside the 90% interval: {covered:.0%} of channels")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.platform(), "processor": platform.processor(), "args": vars(args)}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
