"""``margin report``: one self-contained HTML file of a fitted run, readable offline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
        typer.Option("--workspace", "-w", help="Workspace file: adds its data-quality findings."),
    ] = None,
) -> None:
    """Write the run's report: money, ROI, contributions, curves, health, data quality."""
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
        html = build_report(run, plan=plan, data_quality=findings, currency=currency)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    console.print(
        f"wrote {out} ({len(html) / 1024:,.0f} KiB, one file, works offline): "
        f"open {out.resolve().as_uri()} in a browser"
    )
