"""Experiments: ``margin experiment design | analyze | list | ab``."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from margin.cli.console import console, fmt_number, status, write_json
from margin.cli.options import OutOption, WorkspaceOption
from margin.errors import ConfigError

if TYPE_CHECKING:
    from margin.experiments.panel import GeoPanel

__all__ = ["ab", "analyze", "design", "experiment", "list_"]

PanelOption = Annotated[
    Path | None,
    typer.Option("--panel", help="Panel CSV: date, geo, kpi[, spend] (default: the workspace)."),
]
KpiOption = Annotated[
    str, typer.Option("--kpi", help="KPI to read from the workspace (or the panel's KPI column).")
]
DateFormatOption = Annotated[
    str | None, typer.Option("--date-format", help="Date format of the panel, e.g. %d/%m/%y.")
]
GeoColumnOption = Annotated[str, typer.Option("--geo-column", help="Geo column of the panel CSV.")]
LevelOption = Annotated[float, typer.Option("--level", help="Interval level (0.9 = 90%).")]
MethodOption = Annotated[
    str,
    typer.Option(
        "--method", help="ascm (synthetic control, default), geolift (GeoLift's estimator) or tbr."
    ),
]
InferenceOption = Annotated[
    str | None,
    typer.Option(help="placebo_t (default), conformal, or analytic_t (tbr only)."),
]


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _range(text: str, option: str) -> tuple[int, ...]:
    """``"4:8"`` → (4, …, 8); ``"6"`` → (6,)."""
    try:
        parts = [int(p) for p in text.split(":")]
    except ValueError as err:
        raise ConfigError(
            f"{option}={text!r}: use N or LOW:HIGH with whole numbers, e.g. 4:8"
        ) from err
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or parts[0] < 1 or parts[1] < parts[0]:
        raise ConfigError(f"{option}={text!r}: use N or LOW:HIGH with 1 <= LOW <= HIGH, e.g. 4:8")
    return tuple(range(parts[0], parts[1] + 1))


def _panel(
    panel: Path | None,
    workspace: Path | None,
    kpi: str,
    date_format: str | None,
    geo_column: str,
    channel: str | None,
) -> GeoPanel:
    from margin.experiments.panel import load_panel_csv, load_panel_workspace

    if panel is not None:
        return load_panel_csv(panel, date_format=date_format, geo_column=geo_column, kpi_column=kpi)
    from margin.data.workspace.store import Workspace, resolve_path

    with Workspace(resolve_path(workspace), read_only=True) as ws:
        return load_panel_workspace(ws, kpi, channel=channel)


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise ConfigError(f"{option}={text!r} is not a date; use YYYY-MM-DD") from err


def _show(value: float | None, unit: str) -> str:
    return "unbounded" if value is None else f"{fmt_number(value)}{unit}"


def _print_estimate(name: str, payload: dict[str, Any], unit: str = "") -> None:
    keys = [k for k in payload if k != "mean"]
    low, high = (payload[k] for k in keys)
    text = f"  {name:<20} {_show(payload['mean'], unit)}  ({keys[0]} {_show(low, unit)}, {keys[1]} {_show(high, unit)})"
    console.print(text, markup=False)


experiment = typer.Typer(
    help="Geo experiments: design with power, analyse lift, keep the lift registry.",
    no_args_is_help=True,
)
"""``margin experiment …``."""


@experiment.command("design")
def design(
    channel: Annotated[str, typer.Option("--channel", help="Channel to test, e.g. tv.")],
    panel: PanelOption = None,
    workspace: WorkspaceOption = None,
    kpi: KpiOption = "kpi",
    budget: Annotated[float | None, typer.Option(help="Spend available for the test.")] = None,
    roi: Annotated[
        float | None, typer.Option(help="Assumed incremental KPI per unit of spend.")
    ] = None,
    weeks: Annotated[str, typer.Option(help="Test length range in weeks, LOW:HIGH.")] = "4:8",
    n_treated: Annotated[
        str, typer.Option("--n-treated", help="Number of treated geos, N or LOW:HIGH.")
    ] = "2",
    must_treat: Annotated[str | None, typer.Option(help="Geos that must be treated (a,b).")] = None,
    never_treat: Annotated[str | None, typer.Option(help="Geos never treated (a,b).")] = None,
    kind: Annotated[str, typer.Option(help="heavy_up, go_dark or holdout.")] = "heavy_up",
    method: MethodOption = "ascm",
    inference: InferenceOption = None,
    level: LevelOption = 0.9,
    power: Annotated[float, typer.Option(help="Target power.")] = 0.8,
    candidates: Annotated[int, typer.Option(help="Candidate treated sets per size.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the candidate draw.")] = 0,
    date_format: DateFormatOption = None,
    geo_column: GeoColumnOption = "geo",
    out: OutOption = None,
) -> None:
    """Choose treated geos and a test length, with power and minimum detectable lift."""
    from margin.experiments.design import DesignSpec, design_test

    geo_panel = _panel(panel, workspace, kpi, date_format, geo_column, channel)
    per_week = 7 // geo_panel.grain_days
    spec = DesignSpec(
        channel=channel,
        lengths=tuple(w * per_week for w in _range(weeks, "--weeks")),
        n_treated=_range(n_treated, "--n-treated"),
        must_treat=tuple(_split(must_treat)),
        never_treat=tuple(_split(never_treat)),
        budget=budget,
        roi=roi,
        kind=kind,
        method=method,
        inference=inference or "placebo_t",
        level=level,
        target_power=power,
        n_candidates=candidates,
        seed=seed,
    )
    with status("simulating power on the history…"):
        result = design_test(geo_panel, spec)
    payload = result.to_json()
    power_json = payload["power"]
    console.print(
        f"design {result.design_id}: treat {', '.join(result.treated)} for "
        f"{result.length} period(s) ({result.length * result.grain_days} days), "
        f"{len(result.controls)} control geos, method {spec.method}"
    )
    _print_estimate("min detectable lift", power_json["mde_percent"], "%")
    _print_estimate("false-positive rate", power_json["false_positive_rate"])
    if payload["spend_needed"] is not None:
        _print_estimate(f"spend for MDE @ROI {roi}", payload["spend_needed"])
    if payload["min_detectable_roi"] is not None:
        _print_estimate("min detectable ROI", payload["min_detectable_roi"])
        how = f"--test-se {channel}={payload['roi_se']:.3g}"
        if out is not None:
            how = f"--test-design {out} (this test in its geos and weeks) or {how}"
        console.print(
            f"the test would read {channel}'s return with a standard error of about "
            f"{payload['roi_se']:.3g} (ROI units); what that is worth to a plan: margin "
            f"optimize --run RUN {how}"
        )
    if payload["power_at_budget"] is not None:
        _print_estimate("power at the budget", payload["power_at_budget"])
    if out is not None:
        write_json(out, payload)
        console.print(f"wrote {out}")


@experiment.command("analyze")
def analyze(
    panel: PanelOption = None,
    workspace: WorkspaceOption = None,
    kpi: KpiOption = "kpi",
    design: Annotated[
        Path | None, typer.Option(help="design.json from 'experiment design'.")
    ] = None,
    treated: Annotated[
        str | None, typer.Option(help="Treated geos (a,b), without --design.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="First day of the test (YYYY-MM-DD).")] = None,
    end: Annotated[
        str | None, typer.Option(help="Last day of the test (default: design's length).")
    ] = None,
    channel: Annotated[str | None, typer.Option(help="Channel tested (for the registry).")] = None,
    spend_delta: Annotated[
        float | None, typer.Option(help="Extra spend of the test (negative: go-dark).")
    ] = None,
    method: Annotated[
        str | None,
        typer.Option("--method", help="ascm, geolift or tbr (default: the design's, else ascm)."),
    ] = None,
    inference: InferenceOption = None,
    level: LevelOption = 0.9,
    record: Annotated[
        bool, typer.Option(help="Store the result in the workspace's lift registry.")
    ] = True,
    date_format: DateFormatOption = None,
    geo_column: GeoColumnOption = "geo",
    out: OutOption = None,
) -> None:
    """Measure a test's lift with an interval and a p-value (and record it)."""
    from margin.experiments.analysis import analyze as run_analysis
    from margin.experiments.analysis import counterfactual_for

    plan = _read_design(design) if design else {}
    geos = _split(treated) or plan.get("treatment_geos", [])
    if not geos:
        raise ConfigError("name the treated geos: --design design.json or --treated G1,G2")
    channel = channel or plan.get("channel")
    chosen = method or plan.get("method", "ascm")
    counterfactual_for(chosen)  # an unknown method fails before any output
    if record and channel is None:  # checked before analysing, not after printing the lift
        raise ConfigError("recording needs the channel tested: pass --channel (or --no-record)")
    geo_panel = _panel(
        panel, workspace, kpi, date_format, geo_column, channel if panel is None else None
    )
    first, last = _test_window(plan, start, end, geo_panel.grain_days)
    controls = [g for g in plan.get("control_geos", []) if g not in geos] or None
    with status("analysing…"):
        result = run_analysis(
            geo_panel,
            geos,
            first,
            last,
            method=chosen,
            inference=inference or plan.get("inference", "placebo_t"),
            level=level,
            controls=controls,
            spend_delta=spend_delta,
        )
    payload = result.to_json()
    _print_lift(payload)
    if record:
        payload["registry"] = _record(workspace, result, channel, kpi, plan.get("design_id"))
    if out is not None:
        write_json(out, payload)
        console.print(f"wrote {out}")


def _test_window(
    plan: dict[str, Any], start: str | None, end: str | None, grain_days: int
) -> tuple[date, date]:
    """First and last day of the test; the end defaults to the design's length."""
    if start is None:
        raise ConfigError("--start is required: the first day of the test (YYYY-MM-DD)")
    first = _date(start, "--start")
    if end is not None:
        return first, _date(end, "--end")
    if "length_periods" not in plan:
        raise ConfigError("--end is required without --design (the last day of the test)")
    return first, first + timedelta(days=plan["length_periods"] * grain_days - 1)


def _read_design(path: Path) -> dict[str, Any]:
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(
            f"--design {path}: cannot read it as JSON ({err}); pass the file 'experiment design --out' wrote"
        ) from err
    if not isinstance(plan, dict) or "treatment_geos" not in plan:
        raise ConfigError(
            f"--design {path}: no 'treatment_geos'; pass the file 'experiment design --out' wrote"
        )
    return plan


def _print_lift(payload: dict[str, Any]) -> None:
    console.print(
        f"{payload['method']}: {', '.join(payload['treatment_geos'])} vs "
        f"{len(payload['control_geos'])} controls, {payload['start']} to {payload['end']}"
    )
    _print_estimate("cumulative lift", payload["cumulative_lift"])
    _print_estimate("percent lift", payload["percent_lift"], "%")
    if "incremental_roi" in payload:
        _print_estimate("incremental ROI", payload["incremental_roi"])
    console.print(f"  p-value            {payload['p_value']:.4g}")
    console.print(
        f"  pre-period fit     RMSE {fmt_number(payload['pre_fit']['rmse'])}, R² {payload['pre_fit']['r2']:.3f}"
    )


def _record(
    workspace: Path | None, result: Any, channel: str | None, kpi: str, design_id: str | None
) -> dict[str, Any]:
    from margin.data.workspace.store import Workspace, resolve_path
    from margin.experiments.registry import record_experiment

    if channel is None:
        raise ConfigError("recording needs the channel tested: pass --channel (or --no-record)")
    with Workspace(resolve_path(workspace)) as ws:
        row = record_experiment(ws, result, channel=channel, kpi=kpi, design_id=design_id)
        console.print(f"recorded {row['id']} in the lift registry of {ws.path}")
    return row


@experiment.command("list")
def list_(
    workspace: WorkspaceOption = None,
    export: Annotated[
        str | None, typer.Option(help="Also export as meridian, pymc_marketing or robyn.")
    ] = None,
    out: OutOption = None,
) -> None:
    """Print the lift registry (and export it in another tool's calibration format)."""
    from rich.table import Table

    from margin.data.workspace.store import Workspace, resolve_path
    from margin.experiments.registry import export_calibration, list_experiments

    with Workspace(resolve_path(workspace), read_only=True) as ws:
        frame = list_experiments(ws)
    table = Table("id", "channel", "kpi", "treated", "window", "lift ± se", "spend Δ", "method")
    for row in frame.to_dict("records"):
        spend = "" if row["spend_delta"] is None else f"{row['spend_delta']:,.0f}"
        table.add_row(
            row["id"],
            row["channel"],
            row["kpi"],
            ",".join(row["treatment_geos"]),
            f"{row['start']}–{row['end']}",
            f"{fmt_number(row['lift'])} ± {fmt_number(row['lift_se'])}",
            spend,
            row["method"],
        )
    console.print(table if len(frame) else "the lift registry is empty")
    records = [
        {k: (v.isoformat() if isinstance(v, date) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    payload: dict[str, Any] = {"experiments": records}
    if export is not None:
        payload[export] = [
            export_calibration({str(k): v for k, v in r.items()}, export)
            for r in frame.to_dict("records")
        ]
        console.print_json(data=payload[export])
    if out is not None:
        write_json(out, payload)


@experiment.command("ab")
def ab(
    treated: Annotated[
        str, typer.Option(help="Treated group: CONVERSIONS/USERS or MEAN,SD,USERS.")
    ],
    holdout: Annotated[str, typer.Option(help="Holdout group, same form as --treated.")],
    level: LevelOption = 0.9,
    out: OutOption = None,
) -> None:
    """User-level holdout lift: two-proportion z-test (k/n) or Welch's t (mean,sd,n)."""
    from margin.experiments.abtest import mean_lift, proportion_lift

    if "/" in treated and "/" in holdout:
        (k1, n1), (k0, n0) = (_numbers(t, "/", 2) for t in (treated, holdout))
        result = proportion_lift(int(k1), int(n1), int(k0), int(n0), level=level)
    else:
        (m1, s1, n1), (m0, s0, n0) = (_numbers(t, ",", 3) for t in (treated, holdout))
        result = mean_lift(m1, s1, int(n1), m0, s0, int(n0), level=level)
    payload = result.to_json()
    console.print(
        f"{result.method}: treated {result.treated_mean:.4g} vs holdout {result.holdout_mean:.4g}"
    )
    _print_estimate("lift per user", payload["lift"])
    _print_estimate("incremental", payload["incremental"])
    console.print(f"  p-value            {result.p_value:.4g}")
    if out is not None:
        write_json(out, payload)


def _numbers(text: str, sep: str, n: int) -> list[float]:
    try:
        values = [float(v) for v in text.split(sep)]
    except ValueError:
        values = []
    if len(values) != n:
        raise ConfigError(f"{text!r}: expected {n} numbers separated by {sep!r} (k/n or mean,sd,n)")
    return values
