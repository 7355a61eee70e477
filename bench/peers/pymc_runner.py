"""Fit PyMC-Marketing's ``MMM`` on one bench dataset; write the result as JSON.

Run by ``bench/mmm_peers.py`` with the PyMC venv's python (never imports margin)::

    python bench/peers/pymc_runner.py --data DESC.json --out RESULT.json --sampler pymc

Model: ``GeometricAdstock(l_max=8)`` (normalised, as margin's), ``LogisticSaturation()``
(PyMC-Marketing's default saturation), ``yearly_seasonality=2``, the dataset's controls
plus a linear trend column scaled to [0, 1]; geo worlds use ``dims=("geo",)``. Sampler:
``nuts_sampler="pymc"`` with ``cores=2`` (this machine's cores) or ``"numpyro"``, stated
explicitly so nutpie is never picked silently. Wall time covers the whole ``fit`` call
(model compilation, sampling, deterministics). ROI = channel contributions in original
scale summed over the window (and geos) / spend.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
from common import runner_parser, write_result
from diag import summarize

MEDIA_VARS = ("adstock_alpha", "saturation_lam", "saturation_beta")


def main() -> None:
    parser = runner_parser(__doc__ or "")
    parser.add_argument("--sampler", choices=["pymc", "numpyro"], default="pymc")
    parser.add_argument("--cores", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()

    import pymc as pm
    import pymc_marketing
    from pymc_marketing.mmm import MMM, GeometricAdstock, LogisticSaturation

    desc = json.loads(args.data.read_text())
    frame = pd.read_csv(desc["csv"], parse_dates=[desc["date"]])
    geo_world = desc["n_geos"] > 1
    dates = np.sort(frame[desc["date"]].unique())
    frame["trend"] = frame[desc["date"]].map({d: i for i, d in enumerate(dates)}) / (len(dates) - 1)
    channels = desc["spend_columns"]
    controls = [*desc["controls"], "trend"]
    columns = [desc["date"], *([desc["geo"]] if geo_world else []), *channels, *controls]
    x = frame[columns]
    y = frame[desc["kpi"]].rename("y")

    mmm = MMM(
        date_column=desc["date"],
        channel_columns=channels,
        control_columns=controls,
        adstock=GeometricAdstock(l_max=8),
        saturation=LogisticSaturation(),
        yearly_seasonality=2,
        dims=(desc["geo"],) if geo_world else None,
    )
    start = time.perf_counter()
    mmm.build_model(x, y)
    mmm.add_original_scale_contribution_variable(var=["channel_contribution"])
    kwargs = {}
    if args.sampler == "pymc":
        kwargs["cores"] = args.cores
    idata = mmm.fit(
        x,
        y,
        chains=args.chains,
        draws=args.draws,
        tune=args.warmup,
        nuts_sampler=args.sampler,
        random_seed=args.seed,
        progressbar=False,
        **kwargs,
    )
    wall = time.perf_counter() - start

    posterior = idata.posterior
    media = {v: posterior[v].to_numpy() for v in MEDIA_VARS}
    contribution = posterior["channel_contribution_original_scale"]
    other = [d for d in contribution.dims if d not in ("chain", "draw", "channel")]
    total = contribution.sum(dim=other).transpose("chain", "draw", "channel")
    roi = {}
    for name, column in zip(desc["channels"], channels, strict=True):
        spend = float(frame[column].sum())
        values = total.sel(channel=column).to_numpy().reshape(-1) / spend
        roi[name] = {
            "mean": float(values.mean()),
            "p05": float(np.quantile(values, 0.05)),
            "p95": float(np.quantile(values, 0.95)),
        }
    divergences = int(idata.sample_stats["diverging"].to_numpy().sum())
    import pytensor

    sampler = (
        f"PyMC NUTS, cores={args.cores}"
        if args.sampler == "pymc"
        else "NumPyro NUTS via PyMC (chain_method parallel)"
    )
    out = {
        "peer": "pymc" if args.sampler == "pymc" else "pymc-numpyro",
        "sampler": sampler,
        "wall_s": wall,
        **summarize(media),
        "divergences": divergences,
        "roi": roi,
        "versions": {
            "pymc-marketing": pymc_marketing.__version__,
            "pymc": pm.__version__,
            "pytensor": pytensor.__version__,
        },
        "settings": "GeometricAdstock(l_max=8), LogisticSaturation(), yearly_seasonality=2, "
        "controls + trend",
    }
    write_result(args.out, out)


if __name__ == "__main__":
    main()
