"""``margin report``: one self-contained HTML file of a fitted run, readable offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from margin.cli.console import console, status

__all__ = ["report"]


def report(
    run: Annotated[
        Path, typer.Option("--run", help="Run folder written by `margin mmm fit --out`.")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")],
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="plan.json from `margin optimize` (adds the reallocation)."),
    ] = None,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace file: adds its data-quality findings and its newest customer-value "
            "run (margin ltv).",
        ),
    ] = None,
) -> None:
    """Write the run's report: money, ROI, contributions, curves, health, data quality,
    customer value."""
    from margin.data.rules.quality import workspace_quality
    from margin.errors import ConfigError
    from margin.report.html import build_report

    if out.is_dir():
        raise ConfigError(
            f"--out {out} is a folder; give a file name such as {out / 'report.html'}"
        )
    if plan is not None and plan.suffix.lower() == ".csv":
        raise ConfigError(
            f"--plan {plan} is the plan's CSV; pass plan.json (margin optimize --out), not the CSV"
        )
    with status(f"building the report of {run}"):
        findings, currency = workspace_quality(workspace)
        curves = _curves_to_plan(run, plan)
        html = build_report(run, plan=plan, data_quality=findings, currency=currency,
                            curves=curves, ltv=_ltv_run(workspace))  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    console.print(
        f"wrote {out} ({len(html) / 1024:,.0f} KiB, one file, works offline): "
        f"open {out.resolve().as_uri()} in a browser"
    )


def _ltv_run(workspace: Path | None) -> dict[str, Any] | None:
    """The workspace's newest customer-value run (``margin ltv``), ``None`` without one."""
    if workspace is None:
        return None
    from margin.data.workspace.runs import latest_run
    from margin.data.workspace.store import Workspace
    from margin.ltv.runs import KIND, load_ltv_run

    with Workspace(workspace, read_only=True) as ws:
        return None if latest_run(ws, kind=KIND) is None else load_ltv_run(ws)


def _curves_to_plan(run: Path, plan: Path | None) -> dict[str, Any] | None:
    """Response curves extended to 1.2× the plan's spend when ``curves.json`` stops short
    of it (so the plan's marker sits on its curve), else ``None`` (the saved curves)."""
    from margin.report.views import curve_reach, load_json, read_run

    if plan is None or not plan.is_file():
        return None
    _, saved = read_run(run)
    reach = curve_reach(saved, load_json(plan, "plan")) if saved is not None else {}
    if saved is None or not reach:
        return None
    from margin.limits import PLANNING_DRAWS
    from margin.mmm.response import load_response
    from margin.optimize.curves import response_curves

    response = load_response(run, max_draws=PLANNING_DRAWS)
    return response_curves(response, weeks=int(saved["horizon_weeks"]), reach=reach)
