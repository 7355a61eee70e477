"""The reconciliation table (issue 22, "Unified measurement"): MMM ROI, attributed ROAS,
lift-test iROAS and the incrementality factor per channel, with intervals and flags.

Oracles: the factor's interval against the analytic log-normal ratio (both sides
log-normal, so the ratio is log-normal with ``mu1 - mu2`` and ``sqrt(s1² + s2²)``) and a
direct Monte Carlo in this file for a normal numerator; the inverse-variance formula for
several lift tests; the simulator's true ROI for the direction of search's factor.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _cli import margin, words
from margin.attribution import AttributionResult, ChannelCredit
from margin.errors import ConfigError, DataValidationError
from margin.loop.reconcile import (
    Z90,
    check_models,
    combine_lifts,
    lift_estimate,
    reconcile,
    reconcile_workspace,
)
from margin.types import Interval

MC = 0.02
"""Monte-Carlo tier: relative tolerance of a 20,000-draw percentile against its oracle."""


def _summary(**rois: tuple[float, float, float]) -> dict[str, Any]:
    return {
        "run": {"id": "mmm-test"},
        "kpi": {"name": "revenue", "type": "revenue"},
        "channels": {
            c: {"roi": {"mean": m, "p05": lo, "p95": hi}} for c, (m, lo, hi) in rois.items()
        },
    }


def _attribution(
    credits: dict[str, dict[str, tuple[float, float, float | None, float | None]]],
) -> AttributionResult:
    """model → channel → (conversions, value, p05, p95)."""
    channels = sorted({c for by in credits.values() for c in by})
    return AttributionResult(
        channels=tuple(channels),
        credits={
            model: {
                c: ChannelCredit(conversions=n, value=v, share=0.0, p05=lo, p95=hi)
                for c, (n, v, lo, hi) in by.items()
            }
            for model, by in credits.items()
        },
        removal_effects={},
        totals={"conversions": 1.0, "value": 1.0},
    )


def _lift(channel: str, lift: float, se: float, delta: float, id: str = "t") -> dict[str, Any]:
    return {"id": id, "channel": channel, "kpi": "revenue", "lift": lift, "lift_se": se,
            "spend_delta": delta, "start": "2024-03-04", "end": "2024-03-31"}  # fmt: skip


def _lognormal(p05: float, p95: float) -> tuple[float, float]:
    mu = (math.log(p05) + math.log(p95)) / 2
    return mu, (math.log(p95) - math.log(p05)) / (2 * Z90)


# -- the numbers -------------------------------------------------------------------------


def test_factor_is_roi_over_roas_with_the_lognormal_ratio_interval() -> None:
    attribution = _attribution({"last_touch": {"search": (100.0, 5000.0, 90.0, 110.0)}})
    table = reconcile(
        _summary(search=(2.0, 1.5, 2.6)), attribution, [], attribution_spend={"search": 2000.0}
    )
    row = table.row("search")
    roas = row.attributed["last_touch"].estimate
    assert roas == Interval(2.5, 2.25, 2.75)  # 5000 / 2000, bootstrap ends scaled alike
    factor = row.factor_mmm["last_touch"]
    assert factor is not None
    assert factor.mean == pytest.approx(2.0 / 2.5, rel=1e-12)
    mu_roi, s_roi = _lognormal(1.5, 2.6)
    mu_roas, s_roas = _lognormal(2.25, 2.75)
    mu, sigma = mu_roi - mu_roas, math.hypot(s_roi, s_roas)
    assert factor.p05 == pytest.approx(math.exp(mu - Z90 * sigma), rel=MC)
    assert factor.p95 == pytest.approx(math.exp(mu + Z90 * sigma), rel=MC)
    # the seed is fixed: the same inputs give the same interval
    again = reconcile(
        _summary(search=(2.0, 1.5, 2.6)), attribution, [], attribution_spend={"search": 2000.0}
    )
    assert again.row("search").factor_mmm["last_touch"] == factor


def test_lift_precision_weighting_is_the_inverse_variance_formula() -> None:
    rows = [_lift("tv", 3000.0, 600.0, 1000.0, "a"), _lift("tv", -5000.0, 1500.0, -2000.0, "b")]
    tests = [lift_estimate(r, kpi_value=2.0) for r in rows]
    x = np.array([3000.0 * 2 / 1000, -5000.0 * 2 / -2000])
    se = np.array([600.0 * 2 / 1000, 1500.0 * 2 / 2000])
    assert [t.iroas.mean for t in tests] == pytest.approx(list(x))
    assert [t.se for t in tests] == pytest.approx(list(se))
    combined = combine_lifts(tests)
    assert combined is not None
    w = 1 / se**2
    mean, sd = float((w * x).sum() / w.sum()), float(w.sum() ** -0.5)
    assert combined.iroas.mean == pytest.approx(mean, rel=1e-12)
    assert combined.se == pytest.approx(sd, rel=1e-12)
    assert combined.iroas.p05 == pytest.approx(mean - 1.6448536 * sd, rel=1e-6)
    assert combine_lifts(tests[:1]) == tests[0]
    assert combine_lifts([]) is None


def test_lift_factor_matches_a_direct_monte_carlo() -> None:
    attribution = _attribution({"markov": {"tv": (50.0, 10_000.0, 45.0, 55.0)}})
    table = reconcile(
        _summary(tv=(1.0, 0.8, 1.25)),
        attribution,
        [_lift("tv", 6000.0, 1500.0, 4000.0)],
        attribution_spend={"tv": 5000.0},
    )
    factor = table.row("tv").factor_lift["markov"]
    assert factor is not None
    rng = np.random.default_rng(12345)  # another seed than the module's
    iroas = rng.normal(1.5, 1500 / 4000, 400_000)
    mu, sigma = _lognormal(1.8, 2.2)
    ratio = iroas / np.exp(rng.normal(mu, sigma, 400_000))
    assert factor.mean == pytest.approx(1.5 / 2.0)
    assert factor.p05 == pytest.approx(float(np.quantile(ratio, 0.05)), rel=MC)
    assert factor.p95 == pytest.approx(float(np.quantile(ratio, 0.95)), rel=MC)


@pytest.mark.parametrize(
    ("roi_p95", "flagged"),
    [(2.17, True), (2.18, False)],  # the lift interval starts at 3 - 1.645 * 0.5 = 2.1776
)
def test_mmm_vs_lift_flag_fires_exactly_when_intervals_do_not_overlap(
    roi_p95: float, flagged: bool
) -> None:
    table = reconcile(_summary(tv=(1.5, 1.0, roi_p95)), None, [_lift("tv", 1500, 250, 500)])
    kinds = [f.kind for f in table.row("tv").flags]
    assert kinds == (["mmm_vs_lift"] if flagged else [])
    if flagged:
        assert "do not overlap" in table.flags[0].reason
        assert "overstates" not in table.flags[0].reason  # the model says less than the test


def test_attribution_flag_fires_exactly_when_the_factor_interval_excludes_one() -> None:
    attribution = _attribution(
        {
            "last_touch": {"search": (100.0, 9000.0, 95.0, 105.0), "tv": (10.0, 900.0, 5.0, 15.0)},
            "markov": {"search": (100.0, 3000.0, 95.0, 105.0), "tv": (10.0, 1000.0, 9.0, 11.0)},
        }
    )
    table = reconcile(
        _summary(search=(1.0, 0.9, 1.1), tv=(1.0, 0.5, 2.0)),
        attribution,
        [],
        attribution_spend={"search": 3000.0, "tv": 1000.0},
    )
    for row in table.rows:
        for model in table.models:
            factor = row.factor_mmm[model]
            assert factor is not None
            fired = any(f.kind == "attribution_vs_mmm" and f.model == model for f in row.flags)
            assert fired == (not factor.contains(1.0))
    search = table.row("search")
    assert search.factor_mmm["last_touch"] is not None
    assert search.factor_mmm["last_touch"].p95 < 1  # ROAS 3 against ROI 1
    reasons = [f.reason for f in search.flags]
    assert len(reasons) == 1
    assert "over-credits" in reasons[0]
    assert "last_touch" in reasons[0]
    assert table.row("tv").flags == ()  # wide intervals: no disagreement


def test_channels_missing_from_one_source_appear_with_nulls() -> None:
    attribution = _attribution(
        {"last_touch": {"search": (10.0, 100.0, 8.0, 12.0), "direct": (5.0, 50.0, 4.0, 6.0)}}
    )
    table = reconcile(
        _summary(tv=(1.2, 0.8, 1.6), search=(2.0, 1.5, 2.5)),
        attribution,
        [_lift("social", 100.0, 20.0, 50.0)],
        attribution_spend={"search": 40.0},
    )
    assert [r.channel for r in table.rows] == ["tv", "search", "direct", "social"]
    body = json.loads(json.dumps(table.to_json(), allow_nan=False))
    channels = body["channels"]
    assert channels["tv"]["attributed"]["last_touch"]["roas"] is None
    assert channels["tv"]["lift"] == {"iroas": None, "se": None, "tests": []}
    assert channels["tv"]["factor"]["last_touch"] == {"mmm": None, "lift": None}
    assert channels["direct"]["mmm_roi"] is None
    assert channels["direct"]["attributed"]["last_touch"]["roas"] is None  # no spend
    assert "no spend" in channels["direct"]["attributed"]["last_touch"]["note"]
    assert channels["social"]["mmm_roi"] is None
    assert channels["social"]["lift"]["iroas"]["mean"] == pytest.approx(2.0)
    assert channels["search"]["attributed"]["last_touch"]["roas"]["mean"] == pytest.approx(2.5)
    assert body["unit"] == "currency of KPI value per currency of spend"
    assert body["format"] == "margin-reconciliation"
    assert body["run_id"] == "mmm-test"


def test_roas_without_a_bootstrap_has_no_interval_and_says_so() -> None:
    attribution = _attribution({"linear": {"tv": (10.0, 300.0, None, None)}})
    table = reconcile(
        _summary(tv=(2.0, 1.0, 3.0)), attribution, [], attribution_spend={"tv": 100.0}
    )
    entry = table.to_json()["channels"]["tv"]["attributed"]["linear"]
    assert entry["roas"] == {"mean": 3.0, "p05": None, "p95": None}
    assert entry["interval"] is None
    assert "without a bootstrap" in entry["note"]
    factor = table.row("tv").factor_mmm["linear"]
    assert factor is not None
    assert factor.mean == pytest.approx(2.0 / 3.0)
    assert factor.p05 == pytest.approx(1.0 / 3.0, rel=MC)  # only the ROI varies


def test_scale_and_kpi_value_enter_as_stated() -> None:
    attribution = _attribution({"last_touch": {"tv": (10.0, 300.0, 9.0, 11.0)}})
    table = reconcile(
        _summary(tv=(2.0, 1.0, 3.0)),
        attribution,
        [_lift("tv", 100.0, 10.0, 1000.0)],
        attribution_spend={"tv": 1000.0},
        kpi_value=4.0,
        attribution_scale=10.0,
    )
    row = table.row("tv")
    assert row.attributed["last_touch"].value == pytest.approx(300.0 * 10 / 1000)
    assert row.lift is not None
    assert row.lift.iroas.mean == pytest.approx(100.0 * 4 / 1000)


def test_bad_inputs_raise_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="unknown attribution model"):
        check_models(["last_touch", "magic"])
    with pytest.raises(ConfigError, match="kpi_value"):
        reconcile(_summary(tv=(1.0, 0.5, 1.5)), None, [], kpi_value=0.0)
    row = _lift("tv", 1.0, 1.0, 1.0)
    del row["lift_se"]
    with pytest.raises(DataValidationError, match="lift_se"):
        reconcile(_summary(tv=(1.0, 0.5, 1.5)), None, [row])
    with pytest.raises(DataValidationError, match="spend change other than 0"):
        lift_estimate(_lift("tv", 1.0, 1.0, 0.0))
    # a registry row without its spend change (an imported test) is left out, with a note
    table = reconcile(_summary(tv=(1.0, 0.5, 1.5)), None, [_lift("tv", 1.0, 1.0, math.nan)])
    assert table.row("tv").lift is None
    assert any("spend_delta" in note and "left out" in note for note in table.notes)
    with pytest.raises(DataValidationError, match="channels"):
        reconcile({"kpi": {"name": "revenue"}}, None, [])


# -- known truth -------------------------------------------------------------------------


def test_attribution_over_credits_search_in_the_simulator() -> None:
    """With the true ROI as the 'MMM', search's factor is below 1 under last touch and Markov:
    attribution hands search organic conversions that follow its touches."""
    from margin.attribution import ModelSettings, attribute, journeys_from_table
    from margin.data.simulator import WorldParams, simulate_world
    from margin.data.simulator.params import DEFAULT_CHANNELS

    params = WorldParams.national(n_weeks=104, channels=DEFAULT_CHANNELS[:3], n_users=300)
    world = simulate_world(params, seed=3)
    result = attribute(
        journeys_from_table(world.events), ("last_touch", "markov"), ModelSettings(n_bootstrap=50)
    )
    truth = world.truth["channels"]
    conversions = world.events[world.events["event"] == "conversion"]
    scale = float(world.arrays.observed.sum()) / float(conversions["value"].sum())
    summary = _summary(**{c: (t["roi"],) * 3 for c, t in truth.items()})
    table = reconcile(
        summary,
        result,
        [],
        attribution_spend={c: t["spend"] for c, t in truth.items()},
        attribution_scale=scale,
    )
    for model in ("last_touch", "markov"):
        factor = table.row("search").factor_mmm[model]
        assert factor is not None
        assert factor.p95 < 1, (model, factor)


# -- the workspace and the CLI -----------------------------------------------------------


@pytest.fixture
def fitted_ws(fitted_run_dir: Path, tmp_path: Path) -> Path:
    """A copy of the shared fitted workspace (its run row points at the shared run folder)."""
    copy = tmp_path / "ws.duckdb"
    shutil.copyfile(fitted_run_dir.parent / "ws.duckdb", copy)
    return copy


def test_cli_prints_the_table_and_writes_json(fitted_ws: Path, tmp_path: Path) -> None:
    from margin.data.ingest.pipeline import ingest_file
    from margin.data.workspace.store import Workspace

    tests = tmp_path / "tests.csv"
    tests.write_text(
        "id,channel,kpi,treatment_geos,control_geos,start,end,spend_delta,lift,lift_se\n"
        "s1,search,revenue,national,,2024-03-04,2024-03-31,-200000,-500000,100000\n",
        encoding="utf-8",
    )
    with Workspace(fitted_ws) as ws:
        ingest_file(ws, "experiments", tests)
    out = tmp_path / "rec.json"
    result = margin("reconcile", "-w", str(fitted_ws), "--bootstrap", "30", "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = words(result.stdout)
    assert "Return per channel" in text
    assert "factor = incremental ÷ attributed" in text
    body = json.loads(out.read_text(encoding="utf-8"))
    assert body["models"] == ["last_touch", "markov"]
    assert list(body["channels"]) == ["tv", "search", "social"]
    search = body["channels"]["search"]
    assert search["lift"]["iroas"]["mean"] == pytest.approx(2.5)
    assert search["mmm_roi"]["p05"] <= search["mmm_roi"]["mean"] <= search["mmm_roi"]["p95"]
    for model in ("last_touch", "markov"):
        roas = search["attributed"][model]["roas"]
        assert roas["p05"] <= roas["mean"] <= roas["p95"]
        # the fitted MMM agrees with the truth: attribution over-credits search
        assert search["factor"][model]["mmm"]["mean"] < 1
    assert any("rescaled" in note for note in body["notes"])
    # the library function gives the same table (up to the bootstrap: path order may differ)
    table = reconcile_workspace(fitted_ws, models=("last_touch", "markov"), n_bootstrap=30)
    assert table.run_id == body["run_id"]
    assert list(table.models) == body["models"]
    for row in table.rows:
        assert row.mmm_roi is not None
        assert row.mmm_roi.to_json() == body["channels"][row.channel]["mmm_roi"]
        for model, factor in row.factor_mmm.items():
            expected = body["channels"][row.channel]["factor"][model]["mmm"]
            assert factor is not None
            assert factor.to_json() == pytest.approx(expected, rel=MC)


def test_cli_without_events_shows_mmm_and_lift_only(fitted_ws: Path, tmp_path: Path) -> None:
    from margin.data.workspace.store import Workspace

    with Workspace(fitted_ws) as ws:
        ws.con.execute("DELETE FROM events")
    out = tmp_path / "rec.json"
    result = margin("reconcile", "-w", str(fitted_ws), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "attribution needs events" in words(result.stdout)
    body = json.loads(out.read_text(encoding="utf-8"))
    assert body["models"] == []
    assert all(c["attributed"] == {} and c["mmm_roi"] for c in body["channels"].values())


def test_cli_bad_inputs_are_one_line_errors(ws: Any, fitted_ws: Path) -> None:
    ws.close()
    cases = [
        (("-w", str(ws.path)), "has no usable MMM run"),
        (("-w", str(fitted_ws), "--models", "last_touch,magic"), "unknown attribution model"),
        (("-w", str(fitted_ws), "--run", "mmm-nope"), "neither a run id"),
        (("-w", str(fitted_ws.parent / "absent.duckdb")), "does not exist"),
    ]
    for args, message in cases:
        result = margin("reconcile", *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in words(result.stderr), (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.stderr
