"""``margin refresh``: the weekly refresh (new files in, refit, compare, score the last plan).

Flags given are saved as the workspace's refresh settings; later runs (cron) need none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from margin.cli.console import console, fmt_number, status
from margin.cli.options import WorkspaceOption

if TYPE_CHECKING:
    from margin.data.workspace.store import Workspace
    from margin.refresh import RefreshResult, RefreshSettings

__all__ = ["refresh"]


def refresh(
    drop: Annotated[
        Path | None,
        typer.Option("--drop", help="Drop folder: spend/, outcomes/, ... or KIND__name.csv."),
    ] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="Spec TOML the model is fitted with.")
    ] = None,
    runs: Annotated[
        Path | None,
        typer.Option("--runs", help="Folder for runs (default: runs/ beside the workspace)."),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(help="'nuts' or 'approximate' (mode + Laplace: fast, approximate)."),
    ] = None,
    chains: Annotated[int | None, typer.Option(help="NUTS chains.")] = None,
    draws: Annotated[int | None, typer.Option(help="Draws per chain.")] = None,
    warmup: Annotated[int | None, typer.Option(help="Warm-up iterations per chain.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the fit.")] = None,
    approximate_steps: Annotated[
        int | None, typer.Option(help="Optimisation steps of the approximate method.")
    ] = None,
    holdout_weeks: Annotated[
        int | None, typer.Option(help="Last weeks held out for MAPE/R².")
    ] = None,
    calibrate: Annotated[
        bool | None,
        typer.Option("--calibrate/--no-calibrate", help="Use the workspace's lift tests."),
    ] = None,
    workspace: WorkspaceOption = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the refresh result as JSON.")
    ] = False,
) -> None:
    """Load new files from the drop folder, refit, compare with the last run, score the last plan.

    Cron-safe: nothing new does nothing; a failed refresh changes no data and says why.
    """
    flags = {
        "drop": drop, "spec": spec, "runs": runs, "method": method, "chains": chains,
        "draws": draws, "warmup": warmup, "seed": seed, "approximate_steps": approximate_steps,
        "holdout_weeks": holdout_weeks, "calibrate": calibrate,
    }  # fmt: skip
    given = {name: value for name, value in flags.items() if value is not None}
    _refresh(workspace, given, as_json=as_json)


def _settings(ws: Workspace, given: dict[str, Any]) -> RefreshSettings:
    """The saved settings with the flags ``given`` on top; saved again when flags were given."""
    from dataclasses import replace

    from margin.errors import ConfigError
    from margin.refresh import RefreshSettings, load_settings, save_settings

    saved = load_settings(ws)
    if saved is None:
        missing = [f"--{name}" for name in ("drop", "spec") if name not in given]
        if missing:
            raise ConfigError(
                f"workspace {ws.path} has no refresh settings yet; give {' and '.join(missing)} "
                "(e.g. margin refresh --drop incoming/ --spec spec.toml); they are saved, so "
                "later runs (cron) need no flags"
            )
        settings = RefreshSettings(**given)
    else:
        settings = replace(saved, **given)
    return save_settings(ws, settings) if given else settings


def _refresh(workspace: Path | None, given: dict[str, Any], *, as_json: bool) -> None:
    from margin.cli.common import existing_workspace
    from margin.data.workspace.store import Workspace
    from margin.refresh import RefreshError, refresh

    if given.get("drop") is None:  # a first refresh (with --drop and --spec) may create it
        workspace = existing_workspace(
            workspace, "; a first refresh needs --drop and --spec (they are saved)"
        )
    with Workspace(workspace) as ws:
        settings = _settings(ws, given)
        try:
            result = refresh(ws, settings=settings, progress=status)
        except RefreshError as err:
            if as_json:
                console.print_json(json.dumps(err.result.to_dict(), default=str))
            raise
    if as_json:
        console.print_json(json.dumps(result.to_dict(), default=str))
    else:
        _print(result)


def _interval(stat: dict[str, float], spec: str = ".2f") -> str:
    return f"{stat['mean']:{spec}} [{stat['p05']:{spec}}, {stat['p95']:{spec}}]"


def _print(result: RefreshResult) -> None:
    from rich.text import Text

    scan = result.scan
    if scan is not None:
        console.print(
            f"drop folder {result.settings.drop}: {len(scan.new)} new file(s), "
            f"{len(scan.loaded_before)} loaded before"
        )
        for ignored in scan.ignored:
            console.print(
                Text.assemble(("  ignored ", "yellow"), f"{ignored.path}: {ignored.reason}")
            )
    for load in result.loads:
        span = f", {load.first_date} to {load.last_date}" if load.first_date else ""
        console.print(
            f"  [green]loaded[/] {Path(load.file).name} → {load.kind}: "
            f"{load.rows_written:,} rows{span}"
        )
    if result.check is not None and result.check.warnings:
        console.print(
            f"  margin check: {len(result.check.warnings)} warning(s); margin check lists them"
        )
    console.print(Text(result.message, style="bold"))
    _print_run(result)
    _print_comparison(result)
    _print_score(result)
    for note in result.notes:
        console.print(Text(f"note: {note}", style="dim"))
    if result.artifact is not None:
        console.print(f"refresh record: {result.artifact}")


def _print_run(result: RefreshResult) -> None:
    run = result.run
    if run is None:
        return
    diagnostics = run["diagnostics"]
    if diagnostics.get("max_rhat") is None:
        health = "[yellow]approximate fit (Laplace): no convergence diagnostics[/]"
    else:
        verdict = "converged" if diagnostics["converged"] else "[bold red]NOT converged[/]"
        health = (
            f"{verdict}: max R-hat {diagnostics['max_rhat']:.3f}, min bulk ESS "
            f"{diagnostics['min_ess_bulk']:.0f}, divergences {diagnostics['divergences']}"
        )
    console.print(f"[bold]new run[/] {run['id']} ({run['method']}): {health}")
    warm = result.warm_start or {}
    console.print(f"  warm start: {'yes' if warm.get('used') else 'no'} ({warm.get('reason')})")
    for name, channel in run["channels"].items():
        console.print(
            f"  {name:<12} ROI {_interval(channel['roi'])}  mROI {_interval(channel['mroi'])}  "
            f"contribution {_interval(channel['contribution'], ',.0f')} (mean [90% interval])"
        )
    console.print(f"  run folder: {run['path']}")


def _print_comparison(result: RefreshResult) -> None:
    from rich.text import Text

    comparison = result.comparison
    if comparison is None:
        return
    flagged = comparison.flagged
    console.print(
        f"compared with run {comparison.previous_run}: {len(flagged)} shift(s) beyond the "
        "90% intervals"
    )
    for shift in flagged:
        console.print(
            f"  [yellow]shift[/] {shift.channel} {shift.metric}: {_interval(shift.previous)} → "
            f"{_interval(shift.new)} ({shift.direction})"
        )
    for warning in comparison.new_warnings:
        console.print(Text.assemble(("  new warning: ", "yellow"), warning))


def _print_score(result: RefreshResult) -> None:
    score = result.plan_score
    if score is None:
        return
    plan = score.plan
    if not score.weeks:
        console.print(f"last plan {plan.plan_id}: no planned week has arrived yet")
        return
    total = score.predicted_total
    coverage = score.coverage or 0.0
    mape = "n/a" if score.mape is None else f"{score.mape:.1%}"
    bias = "n/a" if score.bias is None else f"{score.bias:+.1%}"
    console.print(
        f"last plan {plan.plan_id}: [bold]{score.verdict}[/] over {len(score.weeks)} week(s): "
        f"actual {fmt_number(score.actual_total)} vs predicted {fmt_number(total['mean'])} "
        f"[{fmt_number(total['p05'])}, {fmt_number(total['p95'])}]; weekly coverage of the 90% "
        f"band {coverage:.0%}, MAPE {mape}, bias {bias}; {len(score.pending)} week(s) to come"
    )
