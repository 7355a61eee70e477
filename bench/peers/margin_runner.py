"""Fit margin's ``MarketingMixModel`` on one bench dataset; write the result as JSON.

Run by ``bench/mmm_peers.py`` with the project venv's python, in its own process::

    .venv/bin/python bench/peers/margin_runner.py --data DESC.json --out RESULT.json

``DESC.json`` (written by ``mmm_peers.py``) names the wide CSV and its columns. Wall time
(``wall_s``) covers what the peers' timers cover: the model's set-up and sampling,
compilation and the posterior's deterministic sites included, with the XLA settings of
the ``margin`` command (:func:`margin.cli.main.configure_jax`) and no compilation cache;
``fit_total_s`` adds the summaries and diagnostics margin's ``fit`` computes from the draws
(ROI, marginal ROI, contributions, R-hat and ESS, posterior predictive checks), which the
peers' timers leave out.
margin's own ESS and R-hat are reported too (``margin_*``), but the table uses
``diag.py`` over the media sites (ROI, adstock decay, half-saturation, slope), as for
every peer.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pandas as pd
from common import runner_parser, write_result
from diag import summarize

from margin.cli.main import configure_jax

os.environ.setdefault("MARGIN_JAX_CACHE", "0")  # cold compile, as every peer runs
configure_jax()  # the XLA settings `margin mmm fit` runs with, before JAX starts

from margin.data.panel.marketing_data import MarketingData  # noqa: E402
from margin.mmm import MarketingMixModel  # noqa: E402

MEDIA_SITES = ("roi", "decay", "adstock_shape", "adstock_scale", "half_saturation", "slope", "rate")


def panel(desc: dict) -> MarketingData:
    frame = pd.read_csv(desc["csv"], parse_dates=[desc["date"]])
    frame = frame.sort_values([desc["geo"], desc["date"]])
    geos = list(dict.fromkeys(frame[desc["geo"]].astype(str)))
    dates = np.sort(frame[desc["date"]].unique()).astype("datetime64[D]")
    n_g, n_t = len(geos), len(dates)

    def cube(columns: list[str]) -> np.ndarray:
        values = frame[columns].to_numpy(dtype=np.float64)
        return values.reshape(n_g, n_t, len(columns))

    population = frame.groupby(desc["geo"], sort=False)[desc["population"]].first()
    return MarketingData(
        dates=dates,
        geos=tuple(geos),
        channels=tuple(desc["channels"]),
        control_names=tuple(desc["controls"]),
        spend=cube(desc["spend_columns"]),
        kpi=cube([desc["kpi"]])[:, :, 0],
        controls=cube(desc["controls"]),
        population=population.to_numpy(dtype=np.float64),
    )


def main() -> None:
    args = runner_parser(__doc__ or "").parse_args()
    desc = json.loads(args.data.read_text())
    data = panel(desc)
    model = MarketingMixModel(
        chains=args.chains, draws=args.draws, warmup=args.warmup, seed=args.seed
    )
    start = time.perf_counter()
    model.fit(data)
    total = time.perf_counter() - start
    # Like the peers' timers (model build + sampling, compilation included): the posterior
    # summaries and diagnostics margin's fit computes afterwards are reported apart.
    wall = total - model.summary_seconds_
    result = model.result()
    diagnostics = result["diagnostics"]
    import jax

    out = {
        "peer": "margin",
        "sampler": f"numpyro NUTS (dense mass), {jax.local_device_count()} JAX devices",
        "wall_s": wall,
        "fit_total_s": total,
        **summarize({k: v for k, v in model.draws_.samples.items() if k in MEDIA_SITES}),
        "margin_min_ess_bulk": diagnostics["min_ess_bulk"],
        "margin_max_rhat": diagnostics["max_rhat"],
        "divergences": diagnostics["divergences"],
        "roi": {
            name: {k: channel["roi"][k] for k in ("mean", "p05", "p95")}
            for name, channel in result["channels"].items()
        },
        "settings": "geometric adstock max_lag 8, Hill saturation, 2 Fourier terms, trend, "
        "log-normal ROI priors (margin defaults)",
    }
    write_result(args.out, out)


if __name__ == "__main__":
    main()
