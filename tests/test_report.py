"""The static report: view-model numbers, one offline file, bad inputs, the CLI end to end."""

from __future__ import annotations

import itertools
import json
import re
import shutil
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from _cli import margin
from margin.data.rules.quality import workspace_quality
from margin.errors import ConfigError
from margin.report import build_report, build_view
from margin.report.html import CHART_JS, json_for_script, static_text
from margin.report.views import read_run, scale

PAYLOAD = re.compile(r'<script type="application/json" id="margin-view">(.*?)</script>', re.S)


def payload_of(html: str) -> dict[str, Any]:
    """The view-model embedded in a report, parsed back."""
    match = PAYLOAD.search(html)
    assert match, "no view-model payload in the report"
    body: dict[str, Any] = json.loads(match.group(1))
    return body


@pytest.fixture(scope="module")
def summary(fitted_run_dir: Path) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((fitted_run_dir / "summary.json").read_text())
    return body


@pytest.fixture(scope="module")
def html(fitted_run_dir: Path, fitted_plan: dict[str, Any]) -> str:
    findings, currency = workspace_quality(fitted_run_dir.parent / "ws.duckdb")
    return build_report(fitted_run_dir, plan=fitted_plan, data_quality=findings, currency=currency)


def test_view_numbers_equal_the_summary(summary: dict[str, Any]) -> None:
    view = build_view(summary)
    totals = summary["totals"]
    assert view["summary"]["roi"] == totals["roi"]
    assert view["summary"]["spend"] == totals["spend"]
    assert view["summary"]["baseline_share"] == summary["baseline"]["share"]
    revenue = view["summary"]["incremental_revenue"]
    for key in ("mean", "p05", "p95"):
        assert revenue[key] == pytest.approx(totals["roi"][key] * totals["spend"], rel=1e-12)
    assert [r["channel"] for r in view["channels"]] == summary["channels_order"]
    for row in view["channels"]:
        channel = summary["channels"][row["channel"]]
        for key in ("roi", "mroi", "contribution", "contribution_share"):
            assert row[key] == channel[key]
        assert row["revenue"]["p05"] == pytest.approx(channel["roi"]["p05"] * channel["spend"])
        assert row["revenue"]["p05"] <= row["revenue"]["mean"] <= row["revenue"]["p95"]
        assert f"{channel['roi']['mean']:.2f}×" in row["verdict"]
    # for a revenue KPI, money caused is the media contribution (ROI × spend per draw)
    if summary["kpi"]["type"] == "revenue":
        assert revenue["mean"] == pytest.approx(totals["contribution"]["mean"], rel=1e-6)


def test_waterfall_adds_up_to_the_predicted_kpi(summary: dict[str, Any]) -> None:
    steps = build_view(summary)["waterfall"]["steps"]
    assert [s["label"] for s in steps] == ["baseline", *summary["channels_order"], "predicted"]
    assert steps[0]["end"] == summary["baseline"]["kpi"]["mean"]
    for before, step in itertools.pairwise(steps[:-1]):
        assert step["start"] == before["end"]
    predicted = summary["totals"]["kpi_predicted"]["mean"]
    assert steps[-2]["end"] == pytest.approx(predicted, rel=1e-9)
    assert steps[-1]["value"] == summary["totals"]["kpi_predicted"]


def test_over_time_uses_the_run_dates(summary: dict[str, Any]) -> None:
    over_time = build_view(summary)["over_time"]
    first = summary["channels_order"][0]
    weekly = summary["channels"][first]["weekly_contribution"]
    assert over_time["series"][0]["mean"] == weekly["mean"]
    assert len(over_time["labels"]) == len(weekly["mean"])
    if "dates" in summary:
        assert over_time["labels"] == summary["dates"]
    undated = {k: v for k, v in summary.items() if k != "dates"}
    assert build_view(undated)["over_time"]["labels"][0] == "week 1"


def test_plan_and_curves_views(
    fitted_run_dir: Path, summary: dict[str, Any], fitted_plan: dict[str, Any]
) -> None:
    _, curves = read_run(fitted_run_dir)
    assert curves is not None, "save_run writes curves.json"
    view = build_view(summary, curves=curves, plan=fitted_plan)
    plan = view["plan"]
    assert plan["expected_gain"] == fitted_plan["expected_gain"]
    assert plan["expected_gain_value"] == scale(
        fitted_plan["expected_gain"], fitted_plan["kpi_value"]
    )
    assert plan["p_beats_current"] == fitted_plan["p_beats_current"]
    assert sum(r["spend"] for r in plan["rows"]) == pytest.approx(fitted_plan["budget"], rel=1e-6)
    assert f"{100 * fitted_plan['p_beats_current']:.0f}%" in plan["verdict"]
    assert plan["caveats"] == fitted_plan["caveats"]
    information = fitted_plan["value_of_information"]
    assert [r["channel"] for r in plan["information"]["rows"]] == list(information["channels"])
    assert plan["information"]["best"] == information["best"]
    for row in plan["rows"]:
        gain = fitted_plan["allocation"][row["channel"]]["gain"]
        assert row["gain_value"] == scale(gain, fitted_plan["kpi_value"])
    for curve in view["curves"]["channels"]:
        allocated = fitted_plan["allocation"][curve["channel"]]["spend"]
        assert curve["recommended_weekly_spend"] == pytest.approx(allocated / fitted_plan["weeks"])
        assert (
            curve["current_weekly_spend"]
            == curves["channels"][curve["channel"]]["current_weekly_spend"]
        )


def test_health_in_plain_words(summary: dict[str, Any]) -> None:
    health = build_view(summary)["health"]
    assert health["warnings"] == summary["diagnostics"]["warnings"]
    assert health["state"] == "approximate"
    assert "--method nuts" in health["headline"]
    names = [c["name"] for c in health["checks"]]
    assert "holdout MAPE" in names
    nuts = json.loads(json.dumps(summary))
    nuts["method"] = "nuts"
    nuts["diagnostics"] |= {"converged": False, "max_rhat": 1.08, "min_ess_bulk": 40.0,
                            "divergences": 3}  # fmt: skip
    bad = build_view(nuts)["health"]
    assert bad["state"] == "bad"
    assert "did NOT converge" in bad["headline"]
    rhat = next(c for c in bad["checks"] if c["name"] == "max R-hat")
    assert rhat["ok"] is False
    assert "1.080" in rhat["text"]


def test_trust_needs_convergence_and_fit(summary: dict[str, Any]) -> None:
    """ "The intervals can be trusted" only when the sampler converged AND the fit check
    passed; a poor fit says so in the headline however well the chains agree."""
    nuts = json.loads(json.dumps(summary))
    nuts["method"] = "nuts"
    nuts["diagnostics"] |= {"converged": True, "max_rhat": 1.002, "min_ess_bulk": 900.0,
                            "divergences": 0}  # fmt: skip
    headlines = {}
    for level in ("good", "fair", "poor"):
        nuts["diagnostics"]["model_fit"]["level"] = level
        health = build_view(nuts)["health"]
        headlines[level] = (health["state"], health["headline"])
    assert headlines["good"][0] == "ok"
    assert "can be trusted" in headlines["good"][1]
    assert headlines["fair"][0] == "fit"
    assert "only fairly" in headlines["fair"][1]
    assert headlines["poor"][0] == "bad"
    assert "cannot be trusted" in headlines["poor"][1]
    old = json.loads(json.dumps(nuts))
    del old["diagnostics"]["model_fit"]  # runs saved before the fit check
    health = build_view(old)["health"]
    assert health["fit"] is None
    assert (
        health["headline"] == "The sampler converged: the intervals can be trusted as posteriors."
    )


def test_fit_view_draws_actual_fitted_and_residuals(summary: dict[str, Any]) -> None:
    fit = build_view(summary)["health"]["fit"]
    model_fit = summary["diagnostics"]["model_fit"]
    series = model_fit["series"]
    assert fit["level"] == model_fit["level"]
    assert fit["text"] == model_fit["text"]
    assert fit["actual"] == series["actual"]
    assert fit["p05"] == series["p05"]
    assert fit["p95"] == series["p95"]
    held = summary["fit"]["holdout_weeks"]
    assert fit["holdout_weeks"] == held
    assert len(fit["labels"]) == len(series["actual"])
    assert fit["labels"][-1] == f"holdout {held}"
    if "dates" in summary:
        assert fit["labels"][:-held] == summary["dates"]
    for residual, actual, mean in zip(
        fit["residuals"], series["actual"], series["mean"], strict=True
    ):
        assert residual == pytest.approx(actual - mean)
    names = [c["name"] for c in build_view(summary)["health"]["checks"]]
    assert {"in-sample R²", "in-sample 90% band coverage"} <= set(names)


def test_the_report_has_the_fit_charts(html: str) -> None:
    view = payload_of(html)
    assert view["health"]["fit"]["actual"]
    for canvas in ("chart-fit", "chart-residuals"):
        assert f'<canvas id="{canvas}"' in html
        assert canvas in static_text("margin-report.js")
    assert 'id="fit-verdict"' in html
    assert unescape(view["health"]["fit"]["text"]) in unescape(html)


def test_priors_the_spec_set_are_listed_in_words(
    summary: dict[str, Any], tmp_path: Path, fitted_run_dir: Path
) -> None:
    assert build_view(summary)["health"]["priors"] == {"set": []}  # the run used the defaults
    body = json.loads(json.dumps(summary))
    first = body["channels_order"][0]
    body["priors"][first]["decay"] = {"distribution": "beta", "mean": 0.7, "sd": 0.1}
    body["priors"][first]["roi"]["median"] = 2.0
    rows = build_view(body)["health"]["priors"]["set"]
    assert rows == [
        {"channel": first, "parameter": "roi", "prior": "log-normal with median 2 and log-sd 0.9"},
        {"channel": first, "parameter": "decay", "prior": "Beta with mean 0.7 and sd 0.1"},
    ]
    run = tmp_path / "run"
    shutil.copytree(fitted_run_dir, run)
    (run / "summary.json").write_text(json.dumps(body), encoding="utf-8")
    table = build_report(run).split('id="table-priors"', 1)[1].split("</table>", 1)[0]
    assert "Beta with mean 0.7 and sd 0.1" in table
    del body["priors"]  # a run saved before summary.json listed its priors
    assert build_view(body)["health"]["priors"] is None


def test_report_is_one_offline_file(html: str, summary: dict[str, Any]) -> None:
    assert html.startswith("<!doctype html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<link" not in html
    assert "@import" not in html
    assert "url(" not in html
    assert static_text(CHART_JS)[:2000] in html  # the vendored Chart.js, inlined
    assert "MarginCharts" in html
    view = payload_of(html)
    assert view["summary"]["roi"] == summary["totals"]["roi"]
    assert view["plan"] is not None
    assert view["curves"] is not None
    assert view["data_quality"]["n_rules"] > 0
    assert view["meta"]["currency"] == "USD"
    assert view["meta"]["currency_symbol"] == "$"
    for section in ("summary", "plan", "contributions", "roi", "curves", "health", "data-quality"):
        assert f'id="{section}"' in html
    information = view["plan"]["information"]  # the plan's value of information, as a table
    table = html.split('id="table-information"', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + len(information["rows"])


def test_a_valued_planned_test_shows_in_the_information_table(
    fitted_run_dir: Path, fitted_plan: dict[str, Any]
) -> None:
    """A plan that valued a designed test shows its value and standard error in the table
    (channels without a test leave the cell empty), and under it the sentence the CLI
    prints: the test's geos and weeks and the ROI the model expects it to read."""
    from margin.optimize.information import ChannelInformation
    from margin.optimize.planned_test import PlannedTest
    from margin.optimize.results import Interval

    plan = json.loads(json.dumps(fitted_plan))
    channels = plan["value_of_information"]["channels"]
    first = next(iter(channels))
    valued = ChannelInformation(
        channel=first, value=Interval(5000.0, 4000.0, 6000.0), above_floor=True,
        group_mroi=(1.0, 2.0), group_spend=(10.0, 20.0), test_se=0.42,
        test_value=Interval(1234.0, 1000.0, 1500.0), test_above_floor=True,
        test=PlannedTest(channel=first, se=0.42, geos=("a", "b"), weeks=3, spend=1000.0,
                         design_id="tv-heavy_up-abc"),
        test_read=Interval(1.37, 1.1, 1.65),
    )  # fmt: skip
    channels[first] = valued.to_json()
    html = build_report(fitted_run_dir, plan=plan)
    table = unescape(html.split('id="table-information"', 1)[1].split("</table>", 1)[0])
    assert "value of the planned test" in table
    row = next(r for r in table.split("<tr>") if f"<td>{first}</td>" in r)
    assert "standard error 0.42)" in row
    other = next(r for r in table.split("<tr>")[2:] if f"<td>{first}</td>" not in r)
    assert other.rstrip().endswith("<td></td></tr>")
    notes = unescape(html.split('id="information-tests"', 1)[1].split("</ul>", 1)[0])
    assert notes.count("<li>") == 1
    assert valued.test_note is not None
    assert f"<li>{valued.test_note}</li>" in notes
    assert (
        f"planned test tv-heavy_up-abc ({first} heavy-up, +1,000 in a, b for 3 week(s)): the "
        "model expects it to read ROI 1.37 [1.10, 1.65], measured with standard error 0.42; "
        f"worth 1,234 [1,000, 1,500] to this plan (knowing {first}'s return exactly: 5,000)"
    ) == valued.test_note


def test_names_cannot_break_out_of_the_page(summary: dict[str, Any]) -> None:
    evil = "</script><script>alert(1)</script>"
    text = json_for_script({"name": evil, "x": float("nan")})
    assert "</" not in text
    assert json.loads(text) == {"name": evil, "x": None}
    body = json.loads(json.dumps(summary))
    body["kpi"]["name"] = evil
    folder_html = build_view(body)
    assert folder_html["meta"]["kpi_name"] == evil


def test_escaping_in_the_html(tmp_path: Path, fitted_run_dir: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(fitted_run_dir, run)
    body = json.loads((run / "summary.json").read_text())
    body["kpi"]["name"] = "<b>rev</b></script>"
    (run / "summary.json").write_text(json.dumps(body))
    html = build_report(run)
    assert "<b>rev</b>" not in html
    assert "&lt;b&gt;rev&lt;/b&gt;" in html
    assert payload_of(html)["meta"]["kpi_name"] == "<b>rev</b></script>"


def test_bad_run_folders(tmp_path: Path, fitted_run_dir: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        build_report(tmp_path / "missing")
    with pytest.raises(ConfigError, match=r"no summary\.json"):
        build_report(tmp_path)
    (tmp_path / "summary.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        build_report(tmp_path)
    (tmp_path / "summary.json").write_text('{"run": {}}')
    with pytest.raises(ConfigError, match="lacks"):
        build_report(tmp_path)
    with pytest.raises(ConfigError, match="plan file"):
        build_report(fitted_run_dir, plan=tmp_path / "plan.json")
    (tmp_path / "plan.json").write_text('{"budget": 1}')
    with pytest.raises(ConfigError, match="lacks"):
        build_report(fitted_run_dir, plan=tmp_path / "plan.json")
    with pytest.raises(ConfigError, match="workspace"):
        workspace_quality(tmp_path / "none.duckdb")


def test_cli_end_to_end(tmp_path: Path, fitted_run_dir: Path, fitted_plan: dict[str, Any]) -> None:
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(fitted_plan))
    out = tmp_path / "deep" / "report.html"
    workspace = fitted_run_dir.parent / "ws.duckdb"
    result = margin(
        "report", "--run", str(fitted_run_dir), "--out", str(out), "--plan", str(plan),
        "-w", str(workspace),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout
    assert out.is_file()
    assert payload_of(out.read_text(encoding="utf-8"))["plan"]["weeks"] == fitted_plan["weeks"]
    page = out.read_text(encoding="utf-8")
    if fitted_plan["caveats"]:
        assert 'id="plan-caveats"' in page
        assert f"<li>{fitted_plan['caveats'][0]}</li>" in unescape(page)
    missing = margin("report", "--run", str(tmp_path / "nope"), "--out", str(out))
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_static_files_ship_with_the_package() -> None:
    from importlib import resources

    static = resources.files("margin.report") / "static"
    for name in (CHART_JS, "vendor/chart.js/LICENSE.md", "margin-charts.js", "margin.css"):
        assert (static / name).is_file(), name
    assert "Chart.js v4" in static_text(CHART_JS)[:200]
    pages = resources.files("margin.report") / "templates" / "pages"
    for page in ("base", "login", "overview", "contributions", "roi", "curves", "planner",
                 "scenarios", "attribution", "diagnostics", "data_quality", "runs"):  # fmt: skip
        assert (pages / f"{page}.html").is_file(), page
