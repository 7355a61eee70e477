"""Benchmark: margin's design and analysis on GeoLift's whitepaper data (and Google's TBR data).

Usage: .venv/bin/python bench/experiments_geolift.py

Data (read from ../shared/data, never copied into the repo):

* ``geolift/data_positiveGLv1.csv``: 40 cities × 105 days (2021-06-03 … 2021-09-15).
  ``geolift/test_investment_by_city_v2.csv`` says 30 cities received investment from
  2021-09-01 to 2021-09-15 (the other 10 are controls). margin analyses that test (ASCM and
  TBR, spend = the file's investment), and designs a test on the 90 pre-test days.
* ``matched_markets/salesandcost.csv``: 100 geos × 93 days; the 50 geos with cost form the
  treatment group from 2015-02-16 for 28 days. margin analyses it (incremental sales and
  iROAS) and designs a 1–2 week test on the 42 pre-test days.

GeoLift is an R package (CRAN and GitHub are not reachable here), so it is not run; the
reference numbers in docs/benchmarks.md come from its documentation.
"""

from __future__ import annotations

import csv
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

from margin.errors import DataValidationError
from margin.experiments import DesignSpec, analyze, design_test, load_panel_csv, panel_from_frame
from margin.experiments.panel import GeoPanel

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


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
        f"{p.mean:.2f}% ({p.low:.2f} to {p.high:.2f}) | {result.p_value:.3f} | {roi_text} | "
        f"{result.pre_r2:.3f} | {_p(result.placebo_in_time)} |"
    )


def _p(check: dict[str, float]) -> str:
    return f"{check['p_value']:.2f}" if "p_value" in check else "– (pre-period too short)"


def geolift() -> None:
    panel = load_panel_csv(
        SHARED / "geolift" / "data_positiveGLv1.csv",
        date_format="%d/%m/%y",
        geo_column="location",
        kpi_column="Y",
    )
    spend: dict[str, float] = defaultdict(float)
    with open(SHARED / "geolift" / "test_investment_by_city_v2.csv", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            spend[row["location"]] += float(row["investment"])
    treated = sorted(spend)
    print("### analysis: 30 invested cities vs 10, 2021-09-01 to 2021-09-15\n")
    print(
        "| data | method | incremental Y (90% CI) | lift % (90% CI) | p | iROAS (90% CI) | pre R² | placebo-in-time p |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for method in ("ascm", "tbr"):
        result = analyze(
            panel,
            treated,
            date(2021, 9, 1),
            date(2021, 9, 15),
            method=method,
            spend_delta=sum(spend.values()),
        )
        print(_row("GeoLift positive", method, result))
    history = _history(panel, date(2021, 9, 1))
    spec = DesignSpec(
        channel="media", lengths=(14, 21), n_treated=(2, 3, 4, 5), n_candidates=10, seed=0
    )
    start = time.perf_counter()
    design = design_test(history, spec)
    elapsed = time.perf_counter() - start
    mde = design.power.to_json()["mde_percent"]
    print(f"\n### design on the 90 pre-test days: {elapsed:.1f} s\n")
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
    print(
        "| data | method | incremental sales (90% CI) | lift % (90% CI) | p | iROAS (90% CI) | pre R² | placebo-in-time p |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for method in ("ascm", "tbr"):
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
    geolift()
    matched_markets()
