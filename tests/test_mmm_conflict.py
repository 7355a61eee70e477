"""Prior–data conflict: spend in other units than the KPI must not pass as a good fit."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest

from margin.mmm.conflict import (
    MAX_PRIOR_SHARE,
    MAX_SHORTFALL,
    MIN_MEDIA_GAIN,
    MIN_MEDIA_SHARE,
    MIN_PRIOR_SHARE,
    PriorDataConflict,
    _adjusted_r2,
    fit_reason,
    prior_check,
    prior_reason,
    prior_share,
    share_reason,
)


def test_prior_share_is_roi_times_spend_over_revenue() -> None:
    share = prior_share(np.array([1.0, 2.0]), np.array([10.0, 5.0]), 200.0)
    assert share == pytest.approx(0.1)
    assert math.isnan(prior_share(np.array([1.0]), np.array([1.0]), 0.0))


def test_prior_reason_flags_a_prior_off_the_data_scale() -> None:
    assert prior_reason(MIN_PRIOR_SHARE * 0.9) is not None
    assert prior_reason(MIN_PRIOR_SHARE * 1.1) is None
    assert prior_reason(MAX_PRIOR_SHARE * 0.9) is None
    assert prior_reason(MAX_PRIOR_SHARE * 1.1) is not None
    assert prior_reason(float("nan")) is None


def test_share_reason_flags_media_that_explain_almost_nothing() -> None:
    assert share_reason(MIN_MEDIA_SHARE * 0.9) is not None
    assert share_reason(MIN_MEDIA_SHARE * 1.1) is None
    assert share_reason(float("nan")) is None


def test_fit_reason_flags_a_model_that_misses_what_spend_explains() -> None:
    base, gain = 0.3, MIN_MEDIA_GAIN * 2
    missed = MAX_SHORTFALL * gain
    assert fit_reason(base + gain - missed * 1.1, base, base + gain) is not None
    assert fit_reason(base + gain - missed * 0.9, base, base + gain) is None
    # spend adds too little R² to speak of a conflict, however poor the model
    assert fit_reason(0.0, base, base + MIN_MEDIA_GAIN * 0.9) is None
    assert fit_reason(float("nan"), base, base + gain) is None


def test_adjusted_r2_of_an_exact_line_is_one_and_needs_enough_rows() -> None:
    x = np.column_stack([np.ones(20), np.arange(20.0)])
    assert _adjusted_r2(3.0 + 2.0 * x[:, 1], x) == pytest.approx(1.0)
    assert math.isnan(_adjusted_r2(np.arange(2.0), x[:2]))


def test_message_names_the_units_and_the_fix() -> None:
    conflict = PriorDataConflict(
        prior_share=1e-4, media_share=1e-4, r2_model=0.3, r2_baseline=0.28,
        r2_with_media=0.91, median_spend=0.31, median_kpi=5163.0,
        reasons=("media explain nothing",),
    )  # fmt: skip
    assert conflict.detected
    message = conflict.message()
    assert "median weekly spend 0.31 vs KPI 5,163" in message
    assert "multiply it by 1,000" in message
    assert "[priors.roi]" in message
    assert conflict.to_json()["detected"] is True
    clean = dataclasses.replace(conflict, reasons=(), r2_baseline=float("nan"))
    assert not clean.detected
    assert clean.to_json()["r2_baseline"] is None


@pytest.mark.shared_data
def test_pymc_example_as_imported_is_flagged_and_rescaled_spend_is_not(
    tmp_path: Path, shared_data: Path
) -> None:
    from margin.data.ingest.importers import import_pymc
    from margin.data.panel.marketing_data import load_panel
    from margin.data.panel.spec import dump_spec, load_spec
    from margin.mmm import MarketingMixModel, model_config

    source = shared_data / "pymc-marketing" / "mmm_example.csv"
    imported = import_pymc(source)
    assert "per week" in imported.units
    assert "'y' as revenue" in imported.units
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(dump_spec(imported.spec), encoding="utf-8")
    spec = load_spec(spec_path)
    panel = load_panel(spec, data=source)
    found = {}
    for scale in (1.0, 1000.0):
        scaled = dataclasses.replace(panel, spend=panel.spend * scale)
        model = MarketingMixModel(
            model_config(spec.raw, scaled.channels), method="approximate", chains=1,
            draws=100, approximate_steps=1000, seed=0,
        )  # fmt: skip
        medians = np.full(
            scaled.n_channels, model_config(spec.raw, scaled.channels).roi_prior("x1").median
        )
        assert (prior_check(scaled, medians) is None) == (scale > 1)
        diagnostics = model.fit(scaled).diagnostics_
        found[scale] = diagnostics
    as_imported = found[1.0]
    assert as_imported["prior_data_conflict"]["detected"]
    assert len(as_imported["prior_data_conflict"]["reasons"]) == 3
    assert as_imported["warnings"][0].startswith("PRIOR-DATA CONFLICT")
    assert "multiply it by 1,000" in as_imported["warnings"][0]
    rescaled = found[1000.0]
    assert not rescaled["prior_data_conflict"]["detected"]
    assert not any("PRIOR-DATA CONFLICT" in w for w in rescaled["warnings"])


@pytest.mark.shared_data
def test_cli_import_says_units_and_fit_warns_loudly(tmp_path: Path, shared_data: Path) -> None:
    from _cli import margin, words

    ws, spec, run = tmp_path / "w.duckdb", tmp_path / "spec.toml", tmp_path / "run"
    source = shared_data / "pymc-marketing" / "mmm_example.csv"
    imported = margin("import", "pymc", str(source), "-w", str(ws), "--spec-out", str(spec))
    assert imported.returncode == 0, imported.stderr
    assert "units: spend columns (x1, x2) read as USD per week" in words(imported.stdout)
    fit = margin(
        "mmm", "fit", "--spec", str(spec), "-w", str(ws), "-o", str(run),
        "--method", "approximate", "--chains", "1", "--draws", "100",
    )  # fmt: skip
    assert fit.returncode == 0, fit.stderr
    out = words(fit.stdout)
    assert "do not trust these numbers" in out
    assert out.index("before fitting: PRIOR-DATA CONFLICT") < out.index("ROI per channel")
    assert "median weekly spend 0.3134 vs KPI 5,163" in out
    assert "multiply it by 1,000" in out
    assert "[priors.roi]" in out
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    assert summary["diagnostics"]["prior_data_conflict"]["detected"] is True


def test_report_headline_does_not_call_a_conflicted_fit_trustworthy() -> None:
    from margin.report.views import health_view

    conflict = {"detected": True, "reasons": ["media explain nothing"]}
    summary = {
        "method": "nuts",
        "diagnostics": {"converged": True, "warnings": [], "prior_data_conflict": conflict},
    }
    health = health_view(summary)
    assert health["state"] == "bad"
    assert "fights the data" in health["headline"]
