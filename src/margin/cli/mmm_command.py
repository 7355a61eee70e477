"""``margin mmm fit``: fit the Bayesian MMM and write ``summary.json`` and ``posterior.npz``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from margin.cli.console import FitBar, console, status
from margin.cli.options import WorkspaceOption
from margin.mmm.settings import Nuts, inference_for

if TYPE_CHECKING:
    from margin.mmm.settings import Inference
    from margin.mmm.summary import RunSummary
    from margin.types import Interval

__all__ = ["FitSources", "fit", "mmm"]

_DEFAULT = Nuts()


mmm = typer.Typer(help="Bayesian marketing mix model.", no_args_is_help=True)
"""``margin mmm …``."""


@dataclass(frozen=True)
class FitSources:
    """Where ``margin mmm fit`` reads: the spec, the data (a file or the workspace) and
    the lift tests (a CSV, the workspace's, or none when not calibrating)."""

    spec: Path
    data: Path | None
    workspace: Path | None
    lift_tests: Path | None
    calibrate: bool


@mmm.command("fit")
def fit(
    spec: Annotated[Path, typer.Option("--spec", help="Spec TOML (sections data, model, priors).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the run's files.")],
    data: Annotated[
        Path | None, typer.Option("--data", help="Wide CSV/Parquet (default: the workspace).")
    ] = None,
    workspace: WorkspaceOption = None,
    lift_tests: Annotated[
        Path | None,
        typer.Option("--lift-tests", help="Lift tests CSV (default: workspace experiments)."),
    ] = None,
    chains: Annotated[int, typer.Option(help="NUTS chains (vectorised).")] = _DEFAULT.chains,
    draws: Annotated[int, typer.Option(help="Draws per chain after warm-up.")] = _DEFAULT.draws,
    warmup: Annotated[int, typer.Option(help="Warm-up iterations per chain.")] = _DEFAULT.warmup,
    seed: Annotated[int, typer.Option(help="Seed: same inputs and seed, same numbers.")] = 0,
    holdout_weeks: Annotated[int, typer.Option(help="Last weeks held out for MAPE/R².")] = 0,
    method: Annotated[
        str, typer.Option(help="'nuts' or 'approximate' (mode + Laplace: fast, approximate).")
    ] = "nuts",
    calibrate: Annotated[
        bool, typer.Option(help="Use lift tests from the workspace or --lift-tests.")
    ] = True,
) -> None:
    """Fit the MMM: ROI, marginal ROI and contributions per channel, with 90% intervals."""
    inference = inference_for(method, chains=chains, draws=draws, warmup=warmup)
    sources = FitSources(spec, data, workspace, lift_tests, calibrate)
    _fit(sources, inference, out, seed=seed, holdout_weeks=holdout_weeks, method=method)


def _fit(
    sources: FitSources,
    inference: Inference,
    out: Path,
    *,
    seed: int,
    holdout_weeks: int,
    method: str,
) -> None:
    from contextlib import ExitStack

    from margin.cli.common import existing_workspace
    from margin.data.panel.marketing_data import load_panel
    from margin.data.panel.spec import load_spec
    from margin.data.workspace.store import Workspace
    from margin.mmm import MarketingMixModel, model_config, record_run
    from margin.refresh.fit import save_fit

    spec = load_spec(sources.spec)
    with ExitStack() as stack:
        ws = None
        if sources.data is None:  # the data come from the workspace: it must exist
            ws = stack.enter_context(Workspace(existing_workspace(sources.workspace)))
        elif sources.workspace is not None:  # data from a file; the run is recorded here
            ws = stack.enter_context(Workspace(sources.workspace))
        with status("loading data"):
            source = {"data": sources.data} if sources.data else {"workspace": ws}
            panel = load_panel(spec, **source)
        config = model_config(spec.raw, panel.channels)
        tests = _lift_tests(sources, ws, panel.kpi_name)
        bar = FitBar()
        model = MarketingMixModel(
            config, inference=inference, seed=seed, holdout_weeks=holdout_weeks,
            progress=bar,
        )  # fmt: skip
        console.print(
            f"fitting {panel.n_geos} geo(s) × {panel.n_times} weeks × {panel.n_channels} "
            f"channels ({method}, {len(tests)} lift test(s))"
        )
        _warn_prior_scale(panel, config)
        with bar:
            model.fit(panel, tests)
        record = save_fit(model, panel, spec, out)
        if ws is not None:
            record_run(ws, record)
    _report(model.result(), out)


def _warn_prior_scale(panel: Any, config: Any) -> None:
    """Before a long fit: say at once when the ROI prior is off the data's scale."""
    import numpy as np
    from rich.markup import escape

    from margin.mmm.conflict import prior_check

    medians = np.asarray([config.roi_prior(c).median for c in panel.channels])
    message = prior_check(panel, medians)
    if message is not None:
        console.print(f"[bold red]before fitting: {escape(message)}[/bold red]")


def _lift_tests(sources: FitSources, ws: Any, kpi: str) -> list[Any]:
    from margin.mmm import read_lift_tests_csv, read_lift_tests_workspace

    if not sources.calibrate:
        return []
    if sources.lift_tests is not None:
        return list(read_lift_tests_csv(sources.lift_tests))
    return [] if ws is None else list(read_lift_tests_workspace(ws, kpi=kpi))


def _report(result: RunSummary, out: Path) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"ROI per channel ({result.method}; mean and 90% interval)")
    for column in ("channel", "spend", "ROI", "mROI", "contribution"):
        table.add_column(column, justify="right" if column != "channel" else "left")
    for name, c in result.channels.items():
        table.add_row(name, f"{c.spend:,.0f}", _fmt(c.roi), _fmt(c.mroi),
                      _fmt(c.contribution, ",.0f"))  # fmt: skip
    console.print(table)
    diagnostics = result.diagnostics
    if diagnostics["max_rhat"] is not None:
        verdict = "converged" if diagnostics["converged"] else "[bold red]NOT converged[/bold red]"
        if diagnostics["converged"] and (diagnostics.get("prior_data_conflict") or {}).get(
            "detected"
        ):
            verdict = (
                "converged [bold red](but the ROI prior fights the data: see below)[/bold red]"
            )
        console.print(
            f"{verdict}: max R-hat {diagnostics['max_rhat']:.3f}, min bulk ESS "
            f"{diagnostics['min_ess_bulk']:.0f}, divergences {diagnostics['divergences']}"
        )
    else:
        console.print(
            "[yellow]approximate fit (posterior mode + Laplace): intervals are not NUTS posteriors[/yellow]"
        )
    conflict = diagnostics.get("prior_data_conflict") or {}
    for warning in diagnostics["warnings"]:
        if conflict.get("detected") and warning.startswith("PRIOR-DATA CONFLICT"):
            console.print("[bold red]!!! do not trust these numbers !!![/bold red]")
            console.print(f"[bold red]{escape(warning)}[/bold red]")
        else:
            console.print(f"[yellow]warning:[/yellow] {warning}")
    console.print(
        f"wrote {out / 'summary.json'}, {out / 'posterior.npz'}, {out / 'curves.json'} "
        "(response and adstock curves) and model.json/model.npz (to plan with: "
        f"margin optimize --run {out})"
    )


def _fmt(stat: Interval, spec: str = ".2f") -> str:
    return f"{stat.mean:{spec}} [{stat.p05:{spec}}, {stat.p95:{spec}}]"
