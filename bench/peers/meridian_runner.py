"""Fit Google Meridian on one bench dataset; write the result as JSON.

Run by ``bench/mmm_peers.py`` with the Meridian venv's python (never imports margin)::

    python bench/peers/meridian_runner.py --data DESC.json --out RESULT.json

Meridian 2.1 runs on its JAX backend by default (``meridian.backend.config``: JAX unless
``MERIDIAN_BACKEND=tensorflow``; float64 unless ``MERIDIAN_ENABLE_JAX_X64=false``); this
runner keeps those defaults. Model: ``ModelSpec(max_lag=7)`` (Meridian's lags run
0..max_lag, so 8 weights like margin's ``max_lag = 8``), geometric adstock, Hill
saturation, its default ROI priors, spend used as the media input. Time effects:
national worlds keep Meridian's national default (``knots=1``), with a linear trend and
2 yearly Fourier pairs added as controls (margin's baseline); geo worlds keep its geo
default (one knot per week), which absorbs trend, seasonality and the controls that do
not vary across geos (Meridian refuses those with one knot per week). Sampling:
``sample_posterior(n_chains=chains, n_adapt=warmup, n_burnin=0, n_keep=draws)``. Wall
time covers building the ``Meridian`` object and sampling. ROI: ``Analyzer.roi()``
(incremental revenue over the window / spend, aggregated over geos).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from common import runner_parser, write_result
from diag import summarize

MEDIA_VARS = ("roi_m", "alpha_m", "ec_m", "slope_m")


def _frame(desc: dict, out_dir: Path) -> tuple[Path, list[str]]:
    frame = pd.read_csv(desc["csv"])
    controls = list(desc["controls"])
    if desc["n_geos"] == 1:
        dates = pd.to_datetime(frame[desc["date"]])
        order = {d: i for i, d in enumerate(sorted(dates.unique()))}
        frame["trend"] = dates.map(order) / (len(order) - 1)
        angle = 2 * np.pi * (dates.dt.dayofyear - 1) / 365.25
        for k in (1, 2):
            frame[f"sin{k}"], frame[f"cos{k}"] = np.sin(k * angle), np.cos(k * angle)
        controls += ["trend", "sin1", "cos1", "sin2", "cos2"]
    else:  # one knot per week: Meridian refuses controls that do not vary across geos
        spread = frame.groupby(desc["date"])[controls].nunique().max()
        controls = [c for c in controls if spread[c] > 1]
    for column in desc["spend_columns"]:
        frame[f"media_{column}"] = frame[column]
    path = out_dir / f"meridian_input_{desc['world']}.csv"
    frame.to_csv(path, index=False)
    return path, controls


def main() -> None:
    args = runner_parser(__doc__ or "").parse_args()

    import jax
    import meridian
    from meridian.analysis import analyzer
    from meridian.backend import config as backend_config
    from meridian.data import load
    from meridian.model import model, spec

    desc = json.loads(args.data.read_text())
    csv, controls = _frame(desc, args.out.parent)
    spend = desc["spend_columns"]
    loader = load.CsvDataLoader(
        csv_path=str(csv),
        kpi_type="revenue",
        coord_to_columns=load.CoordToColumns(
            time=desc["date"],
            geo=desc["geo"],
            kpi=desc["kpi"],
            population=desc["population"],
            controls=controls or None,
            media=[f"media_{c}" for c in spend],
            media_spend=spend,
        ),
        media_to_channel={
            f"media_{c}": name for c, name in zip(spend, desc["channels"], strict=True)
        },
        media_spend_to_channel=dict(zip(spend, desc["channels"], strict=True)),
    )
    data = loader.load()
    start = time.perf_counter()
    mmm = model.Meridian(input_data=data, model_spec=spec.ModelSpec(max_lag=7))
    mmm.sample_posterior(
        n_chains=args.chains, n_adapt=args.warmup, n_burnin=0, n_keep=args.draws, seed=args.seed
    )
    wall = time.perf_counter() - start

    posterior = mmm.inference_data.posterior
    media = {v: posterior[v].to_numpy() for v in MEDIA_VARS if v in posterior}
    roi_draws = np.asarray(analyzer.Analyzer(mmm).roi())  # (chains, draws, channels)
    channels = [str(c) for c in data.media.coords["media_channel"].to_numpy()]
    roi = {}
    for c, name in enumerate(channels):
        values = roi_draws[..., c].reshape(-1)
        roi[name] = {
            "mean": float(values.mean()),
            "p05": float(np.quantile(values, 0.05)),
            "p95": float(np.quantile(values, 0.95)),
        }
    stats = mmm.inference_data.sample_stats
    divergences = int(stats["diverging"].to_numpy().sum()) if "diverging" in stats else None
    backend = backend_config.get_backend()
    out = {
        "peer": "meridian",
        "sampler": f"TFP windowed-adaptive NUTS, {getattr(backend, 'value', backend)} backend",
        "wall_s": wall,
        **summarize(media),
        "divergences": divergences,
        "roi": roi,
        "versions": {"meridian": meridian.__version__, "jax": jax.__version__},
        "jax_devices": jax.local_device_count(),
        "settings": "ModelSpec(max_lag=7), geometric adstock, Hill, default ROI prior; "
        + (
            "knots=1 + trend/Fourier controls"
            if desc["n_geos"] == 1
            else f"default knots, controls {controls}"
        ),
    }
    write_result(args.out, out)


if __name__ == "__main__":
    main()
