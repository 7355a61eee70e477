"""How precisely could any estimator know each channel's ROI on the simulated worlds?

One command::

    .venv/bin/python bench/roi_bound.py --seeds 0 1 2 3 4 5 6 7 8 9 --worlds national geo

The simulator's KPI is ``baseline + Σ_c beta_c · z_c + noise``: given each channel's
curve (adstock decay, Hill half-saturation and slope) the media term is linear in the
effect sizes ``beta_c``, each ROI is ``beta_c`` times a known number, and the noise is
Normal with a known sd per geo. So the Fisher information for the effect sizes is exact,
and its inverse (the Cramér–Rao bound) is the smallest variance any unbiased estimator of
the ROIs can have on that world's spend, however it is fitted. Two bounds per world:

- **effect sizes only**: everything but ``beta`` known (curves, baseline, noise sd);
- **baseline unknown too**: the curves known, the baseline's coefficients not (a level
  per geo and, scaled by each geo's size, trend, the simulator's yearly Fourier terms and
  their product with the trend, holiday and price): its exact functional form known,
  which no real model has, so this too is a lower bound for a real fit.

Generalised least squares on the world's own observed KPI reaches the second bound (it is
the efficient unbiased estimator here); its ROI error on that one draw of noise is shown
beside the bound's expected error (``sqrt(2/π)·se/ROI``, the mean absolute error of an
unbiased Normal estimate). ``--check N`` redraws the noise N times and compares the
estimates' spread with the bound (it must agree to Monte Carlo error). A Bayesian fit
can be below the bound only through its prior: shrinking toward values that happen to be
right. Prints a Markdown table and writes JSON (``--out``).
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from margin.data.simulator import World, WorldParams, simulate_world
from margin.data.simulator.media import media_effects
from margin.data.simulator.outcomes import noise_sd
from margin.data.simulator.plan import seasonality, week_starts, years_elapsed

MEAN_ABS = math.sqrt(2 / math.pi)
"""E|X| / sd for a centred Normal X: the expected absolute error per unit of se."""

CHECK_SIGMAS = 5.0
"""The redrawn estimates' sd must be within this many of its own Monte Carlo standard
errors (``1/sqrt(2(N-1))`` relative) of the bound, or the bench stops."""

SPAN_RTOL = 1e-8
"""The regressors must reproduce the simulator's noise-free KPI to this relative error."""

ROI_RTOL = 1e-9
"""The ROI rebuilt from the regressors must equal the simulator's truth this closely."""


def design(world: World) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Media regressors ``(geos·weeks, channels)`` (the effect per unit of beta), nuisance
    baseline regressors ``(geos·weeks, k)``, per-row weights ``1/sd``, and ``a_c`` with
    ``ROI_c = beta_c · a_c``."""
    p, arr = world.params, world.arrays
    beta = np.array([c.beta for c in p.channels])
    z = media_effects(arr.spend, p) / beta  # (geos, weeks, channels), beta = 1
    n_geos, n_weeks, _ = z.shape
    share = np.asarray(p.population_share)[:, None]
    years = years_elapsed(p)
    days = np.asarray([(d - date(d.year, 1, 1)).days for d in week_starts(p)], dtype=np.float64)
    theta = 2 * math.pi * days / 365.25
    shared: list[np.ndarray] = [np.broadcast_to(years, (n_geos, n_weeks))]
    for k in range(1, len(p.seasonality_cos) + 1):
        for wave in (np.cos(k * theta), np.sin(k * theta)):
            shared += [np.broadcast_to(wave, (n_geos, n_weeks)),
                       np.broadcast_to(wave * years, (n_geos, n_weeks))]  # fmt: skip
    shared += [arr.holiday, arr.price]
    columns = [share * col for col in shared]
    columns += [np.eye(n_geos)[:, g][:, None] * np.ones((1, n_weeks)) for g in range(n_geos)]
    nuisance = np.stack([c.reshape(-1) for c in columns], axis=1)
    weight = np.repeat(1.0 / noise_sd(p), n_weeks)
    a = z.sum(axis=(0, 1)) * p.kpi_value / arr.spend.sum(axis=(0, 1))
    # the seasonality regressors span the simulator's own: check, so the bound's model is exact
    season = seasonality(p)
    basis = np.stack([np.cos(k * theta) for k in range(1, len(p.seasonality_cos) + 1)]
                     + [np.sin(k * theta) for k in range(1, len(p.seasonality_sin) + 1)], axis=1)  # fmt: skip
    residual = season - basis @ np.linalg.lstsq(basis, season, rcond=None)[0]
    if np.max(np.abs(residual)) > 1e-9:
        raise AssertionError("the Fourier regressors do not span the simulator's seasonality")
    # the noise-free KPI lies exactly in the span of the regressors: the bound's model is the
    # simulator's own (so generalised least squares is efficient and the bound is exact)
    media = z.reshape(-1, z.shape[2])
    x = np.hstack([media, nuisance])
    expected = arr.expected.reshape(-1)
    fit = x @ np.linalg.lstsq(x, expected, rcond=None)[0]
    if np.max(np.abs(fit - expected)) > SPAN_RTOL * np.max(np.abs(expected)):
        raise AssertionError("the regressors do not reproduce the simulator's expected KPI")
    return media, nuisance, weight, a


class Information(NamedTuple):
    """One world's regression: the effect sizes' covariances (beta units) under each bound,
    the weighted design ``(rows, channels + nuisance)``, the row weights ``1/sd``, and
    ``a`` (``ROI = beta · a``)."""

    effects_only: np.ndarray
    baseline_unknown: np.ndarray
    x: np.ndarray
    weight: np.ndarray
    a: np.ndarray


def information(world: World) -> Information:
    """The Fisher information of ``world``'s effect sizes, inverted (module docstring)."""
    z, nuisance, weight, a = design(world)
    wz = z * weight[:, None]
    x = np.hstack([z, nuisance]) * weight[:, None]
    n = z.shape[1]
    return Information(np.linalg.inv(wz.T @ wz), np.linalg.inv(x.T @ x)[:n, :n], x, weight, a)


def bounds(world: World, info: Information) -> dict[str, Any]:
    """The two Cramér–Rao bounds on each ROI's sd, and the GLS estimate on the world's data."""
    truth = world.truth["channels"]
    names = list(world.params.channel_names)
    roi = np.array([truth[n]["roi"] for n in names])
    beta = np.array([c.beta for c in world.params.channels])
    np.testing.assert_allclose(beta * info.a, roi, rtol=ROI_RTOL)
    only = np.sqrt(np.diag(info.effects_only)) * info.a
    full = np.sqrt(np.diag(info.baseline_unknown)) * info.a
    y = world.arrays.observed.reshape(-1) * info.weight
    estimate = np.linalg.lstsq(info.x, y, rcond=None)[0][: len(names)] * info.a
    return {
        "channels": names, "roi": roi.tolist(), "se_effects_only": only.tolist(),
        "se_baseline_unknown": full.tolist(), "gls_roi": estimate.tolist(),
        "expected_mape_effects_only": float(np.mean(MEAN_ABS * only / roi)),
        "expected_mape_baseline_unknown": float(np.mean(MEAN_ABS * full / roi)),
        "gls_mape": float(np.mean(np.abs(estimate - roi) / roi)),
    }  # fmt: skip


def check(world: World, info: Information, draws: int, seed: int) -> dict[str, Any]:
    """Redraw the noise ``draws`` times; the GLS estimates' sd against the bound."""
    n = info.a.size
    expected = world.arrays.expected.reshape(-1)
    sd = 1.0 / info.weight
    rng = np.random.default_rng(seed)
    y = expected[None, :] + sd[None, :] * rng.standard_normal((draws, expected.size))
    fits = np.linalg.lstsq(info.x, (y * info.weight).T, rcond=None)[0][:n].T * info.a
    bound = np.sqrt(np.diag(info.baseline_unknown)) * info.a
    spread = fits.std(axis=0, ddof=1)
    tolerance = CHECK_SIGMAS / math.sqrt(2 * (draws - 1))
    if np.any(np.abs(spread / bound - 1) > tolerance):
        raise AssertionError(
            f"seed {world.seed}: GLS spread / bound {np.round(spread / bound, 3).tolist()} "
            f"is not within {tolerance:.3f} of 1"
        )
    roi = np.asarray([world.truth["channels"][n]["roi"] for n in world.params.channel_names])
    return {"draws": draws, "sd_over_bound": (spread / bound).tolist(),
            "mean_over_truth": (fits.mean(axis=0) / roi).tolist()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--worlds", nargs="+", default=["national", "geo"])
    parser.add_argument("--geos", type=int, default=40)
    parser.add_argument("--weeks", type=int, default=156)
    parser.add_argument("--check", type=int, default=0, help="noise redraws to check the bound")
    parser.add_argument("--out", type=Path,
                        default=Path.home() / ".cache" / "margin-bench" / "roi_bound.json")  # fmt: skip
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for kind in args.worlds:
        for seed in args.seeds:
            n_geos = 1 if kind == "national" else args.geos
            params = WorldParams(n_geos=n_geos, n_weeks=args.weeks, n_users=max(200, 10 * n_geos))
            start = time.perf_counter()
            world = simulate_world(params, seed=seed)
            info = information(world)
            row = {"world": kind, "seed": seed, "geos": n_geos, **bounds(world, info)}
            if args.check:
                row["check"] = check(world, info, args.check, seed + 1000)
            row["seconds"] = time.perf_counter() - start
            rows.append(row)
            print(json.dumps({k: row[k] for k in ("world", "seed", "expected_mape_effects_only",
                  "expected_mape_baseline_unknown", "gls_mape")}), flush=True)  # fmt: skip
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"python": platform.python_version(), "numpy": np.__version__,
            "machine": platform.machine(), "command": " ".join(["bench/roi_bound.py", *sys.argv[1:]])}  # fmt: skip
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {args.out}")


def table(rows: list[dict[str, Any]]) -> str:
    names = rows[0]["channels"]
    head = ["world", "seed", *[f"{n}: ROI, se bound" for n in names],
            "expected MAPE, effects only", "expected MAPE, baseline unknown", "GLS MAPE"]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["world"], str(r["seed"])]
        cells += [
            f"{roi:.2f} ± {se:.2f}"
            for roi, se in zip(r["roi"], r["se_baseline_unknown"], strict=True)
        ]
        cells += [f"{r['expected_mape_effects_only']:.1%}", f"{r['expected_mape_baseline_unknown']:.1%}",
                  f"{r['gls_mape']:.1%}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    for kind in dict.fromkeys(r["world"] for r in rows):
        sel = [r for r in rows if r["world"] == kind]
        lines.append(
            f"| {kind} mean | | "
            + " | ".join("" for _ in names)
            + " | "
            + f"{np.mean([r['expected_mape_effects_only'] for r in sel]):.1%} | "
            + f"{np.mean([r['expected_mape_baseline_unknown'] for r in sel]):.1%} | "
            + f"{np.mean([r['gls_mape'] for r in sel]):.1%} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
