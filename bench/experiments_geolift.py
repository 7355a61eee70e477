"""Benchmark: margin's design and analysis on GeoLift's data (and Google's TBR data).

Usage: .venv/bin/python bench/experiments_geolift.py

Data (read from ../shared/data, never copied into the repo), each analysed with
``geolift`` (GeoLift's default estimator), ``ascm`` and ``tbr``:

* ``geolift/GeoLift_Test.csv``: GeoLift's walkthrough (``vignettes/GeoLift_Walkthrough.md``):
  chicago and portland treated from 2021-04-01 to 2021-04-15 (times 91-105). Published:
  4,667 incremental units, 5.4% lift, ATT 155.6.
* ``geolift/data_positiveGLv1.csv``: the MMM-calibration whitepaper's standard study
  (``Whitepapers/MMM Calibration/GeoLift_Calibration.pdf``): the 20 cities its text
  names are treated from 2021-09-01 to 2021-09-15. Published: 7,159,530 incremental.
  The whitepaper gives no investment for this study.
* ``geolift/data_negativeGLv2.csv``: the whitepaper's go-dark (negative) study: 10 cities go
  dark from 2021-09-01 to 2021-09-15 (exactly the 10 cities absent from
  ``geolift/test_investment_by_city_v2.csv``, which holds the other 30 cities' Meta
  investment). Published: -3,366,433, the top synthetic-control weights, iROAS 1.6
  (|ATT| · 15 over the weighted investment of the synthetic control) and 11,015,655
  incremental for the whole investment (6,884,784 × 1.6).
* ``matched_markets/salesandcost.csv``: 100 geos × 93 days; the 50 geos with cost form the
  treatment group from 2015-02-16 for 28 days. margin analyses it (incremental sales and
  iROAS) and designs a 1–2 week test on the 42 pre-test days.

GeoLift is an R package (CRAN is not reachable here), so it is not run; the reference
numbers come from its walkthrough and whitepaper.
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np

from margin.errors import DataValidationError
from margin.experiments import DesignSpec, analyze, design_test, load_panel_csv, panel_from_frame
from margin.experiments.estimators import geolift_weights
from margin.experiments.panel import GeoPanel

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
METHODS = ("geolift", "ascm", "tbr")
POSITIVE_TREATED = [
    "atlanta",
    "austin",
    "boston",
    "chicago",
    "columbus",
    "denver",
    "detroit",
    "indianapolis",
    "jacksonville",
    "kansas city",
    "las vegas",
    "milwaukee",
    "new orleans",
    "oakland",
    "oklahoma city",
    "orlando",
    "phoenix",
    "reno",
    "saint paul",
    "san francisco",
]
"""The whitepaper's standard study: the 20 cities its text selects."""
NEGATIVE_TREATED = [
    "boston",
    "columbus",
    "detroit",
    "jacksonville",
    "kansas city",
    "milwaukee",
    "new orleans",
    "orlando",
    "saint paul",
    "salt lake city",
]
"""The whitepaper's go-dark study (its market selection's rank-3 set)."""
HEADER = (
    "| data | method | incremental (90% CI) | lift % (90% CI) | ATT | p | iROAS (90% CI) | pre R² "
    "| placebo-in-time p |\n|---|---|---|---|---|---|---|---|---|"
)


def _history(panel: GeoPanel, before: date) -> GeoPanel:
    keep = sum(d < before for d in panel.dates)
    spend = None if panel.spend is None else panel.spend[:, :keep]
    return GeoPanel(
        panel.dates[:keep],
        panel.geos,
        panel.kpi[:, :keep],
        spend,
        panel.grain_days,
        panel.source + " (pre-test)",
    )


def _row(name: str, method: str, result: object) -> str:
    from margin.experiments.analysis import LiftResult

    assert isinstance(result, LiftResult)
    c, p = result.cumulative_lift, result.percent_lift
    roi = result.incremental_roi
    roi_text = "–" if roi is None else f"{roi.mean:.3g} ({roi.low:.3g} to {roi.high:.3g})"
    return (
        f"| {name} | {method} | {c.mean:,.0f} ({c.low:,.0f} to {c.high:,.0f}) | "
        f"{p.mean:.2f}% ({p.low:.2f} to {p.high:.2f}) | {result.att.mean:,.1f} | "
        f"{result.p_value:.3f} | {roi_text} | {result.pre_r2:.3f} | {_p(result.placebo_in_time)} |"
    )


def _p(check: dict[str, float]) -> str:
    return f"{check['p_value']:.2f}" if "p_value" in check else "– (pre-period too short)"


def _whitepaper_panel(name: str) -> GeoPanel:
    return load_panel_csv(
        SHARED / "geolift" / name, date_format="%d/%m/%y", geo_column="location", kpi_column="Y"
    )


def walkthrough() -> None:
    panel = load_panel_csv(
        SHARED / "geolift" / "GeoLift_Test.csv", geo_column="location", kpi_column="Y"
    )
    print("### GeoLift walkthrough: chicago + portland, 2021-04-01 to 2021-04-15\n")
    print("GeoLift (published): 4,667 incremental, 5.4% lift, ATT 155.6, p 0.01\n")
    print(HEADER)
    for method in METHODS:
        result = analyze(
            panel, ["chicago", "portland"], date(2021, 4, 1), date(2021, 4, 15), method=method
        )
        print(_row("GeoLift_Test", method, result))


def positive() -> None:
    panel = _whitepaper_panel("data_positiveGLv1.csv")
    print("\n### whitepaper, standard study: 20 cities, 2021-09-01 to 2021-09-15\n")
    print("GeoLift (published): 7,159,530 incremental\n")
    print(HEADER)
    for method in METHODS:
        result = analyze(
            panel, POSITIVE_TREATED, date(2021, 9, 1), date(2021, 9, 15), method=method
        )
        print(_row("positiveGLv1", method, result))
    _design(panel)


def _investment() -> dict[str, float]:
    spend: dict[str, float] = defaultdict(float)
    with open(SHARED / "geolift" / "test_investment_by_city_v2.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            spend[row["location"]] += float(row["investment"])
    return spend


def negative() -> None:
    panel = _whitepaper_panel("data_negativeGLv2.csv")
    spend = _investment()
    absent = sorted(set(panel.geos) - set(spend))
    print("\n### whitepaper, go-dark study: 10 cities dark, 2021-09-01 to 2021-09-15\n")
    print(
        f"cities absent from the investment file = the go-dark cities: {absent == NEGATIVE_TREATED}"
    )
    t_idx = panel.geo_indices(NEGATIVE_TREATED, "treated")
    c_idx = [i for i in range(panel.n_geos) if i not in t_idx]
    pre = np.arange(panel.n_times) < panel.time_index(date(2021, 9, 1), "start")
    weights = geolift_weights(panel.kpi[t_idx].mean(axis=0), panel.kpi[c_idx], pre)
    top = np.argsort(-weights)[:8]
    print("geolift weights: " + ", ".join(f"{panel.geos[c_idx[i]]} {weights[i]:.4f}" for i in top))
    synthetic = float(sum(w * spend.get(panel.geos[c_idx[i]], 0.0) for i, w in enumerate(weights)))
    # the test cities' forgone investment: their synthetic control's, per city, times 10
    delta = -len(t_idx) * synthetic
    print(f"synthetic investment per city {synthetic:,.0f}; forgone investment {-delta:,.0f}")
    print(
        "GeoLift (published): -3,366,433; weights minneapolis 0.5032, cleveland 0.1222, "
        "los angeles 0.1206, memphis 0.1046, oakland 0.0831, phoenix 0.0342, las vegas 0.0197, "
        "new york 0.0124; iROAS 1.6; 11,015,655 for the whole investment\n"
    )
    print(HEADER)
    total = sum(spend.values())
    scaled = []
    for method in METHODS:
        result = analyze(
            panel,
            NEGATIVE_TREATED,
            date(2021, 9, 1),
            date(2021, 9, 15),
            method=method,
            spend_delta=delta,
        )
        print(_row("negativeGLv2", method, result))
        assert result.incremental_roi is not None
        scaled.append(f"{method} {result.incremental_roi.mean * total:,.0f}")
    print(f"\niROAS × the whole investment ({total:,.0f}): " + ", ".join(scaled))


def _design(panel: GeoPanel) -> None:
    history = _history(panel, date(2021, 9, 1))
    spec = DesignSpec(
        channel="media", lengths=(14, 21), n_treated=(2, 3, 4, 5), n_candidates=10, seed=0
    )
    start = time.perf_counter()
    design = design_test(history, spec)
    elapsed = time.perf_counter() - start
    mde = design.power.to_json()["mde_percent"]
    print(f"\ndesign on the 90 pre-test days: {elapsed:.1f} s; ", end="")
    print(
        f"treated {', '.join(design.treated)} for {design.length} days; MDE {mde['mean']:.2f}% "
        f"(p05 {mde['p05']:.2f}, p95 {mde['p95']:.2f}); false-positive rate on the history "
        f"{design.power.false_positive_rate:.2f} over {design.power.n_windows} windows"
    )


def _complete_geos(path: Path) -> GeoPanel:
    """The panel of the geos that have a row for every day (the others are dropped)."""
    import pandas as pd

    frame = pd.read_csv(path, dtype={"geo": str}).rename(columns={"sales": "kpi", "cost": "spend"})
    counts = frame.groupby("geo")["date"].nunique()
    complete = counts[counts == frame["date"].nunique()].index
    print(f"kept {len(complete)} of {len(counts)} geos (those with every day)")
    return panel_from_frame(frame[frame["geo"].isin(complete)], f"file {path} (complete geos)")


def matched_markets() -> None:
    path = SHARED / "matched_markets" / "salesandcost.csv"
    try:
        load_panel_csv(path, kpi_column="sales", spend_column="cost")
    except DataValidationError as err:  # the file has geos with missing days
        print(f"\nmargin refuses the raw file: {err}")
    panel = _complete_geos(path)
    assert panel.spend is not None
    treated = [g for i, g in enumerate(panel.geos) if panel.spend[i].sum() > 0]
    print(
        f"\n### Google matched_markets salesandcost.csv: {len(treated)} geos with cost, "
        "2015-02-16 to 2015-03-15\n"
    )
    print(HEADER)
    for method in METHODS:
        result = analyze(panel, treated, date(2015, 2, 16), date(2015, 3, 15), method=method)
        print(_row("salesandcost", method, result))
    history = _history(panel, date(2015, 2, 16))
    spec = DesignSpec(channel="search", lengths=(7, 14), n_treated=(5, 10), n_candidates=5, seed=0)
    start = time.perf_counter()
    design = design_test(history, spec)
    elapsed = time.perf_counter() - start
    mde = design.power.to_json()["mde_percent"]
    print(
        f"\ndesign on the 42 pre-test days ({history.n_geos} geos): {elapsed:.1f} s; treated {len(design.treated)} geos "
        f"for {design.length} days; MDE {mde['mean']:.2f}% (p05 {mde['p05']:.2f}, p95 {mde['p95']:.2f})"
    )


if __name__ == "__main__":
    walkthrough()
    positive()
    negative()
    matched_markets()
