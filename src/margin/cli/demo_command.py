"""``margin simulate`` and ``margin demo``: the loop that exists so far, on a simulated world."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from margin.cli.console import console, status
from margin.cli.options import WorkspaceOption

__all__ = ["register"]

_LOAD_ORDER = (
    ("spend", "spend.csv"),
    ("outcomes", "outcomes.csv"),
    ("controls", "controls.csv"),
    ("experiments", "experiments.csv"),
    ("events", "events.parquet"),
    ("transactions", "transactions.csv"),
)


def register(app: typer.Typer) -> None:
    """Add ``simulate`` and ``demo`` to ``app``."""

    @app.command()
    def simulate(
        out: Annotated[
            Path, typer.Option("--out", "-o", help="Folder for the files and truth.json.")
        ],
        seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same world.")] = 0,
        geos: Annotated[int, typer.Option(help="Number of geos (1 = national).")] = 6,
        weeks: Annotated[int, typer.Option(help="Number of weeks.")] = 104,
        users: Annotated[int, typer.Option(help="Users simulated for touchpoint events.")] = 20_000,
    ) -> None:
        """Generate one causal world (spend, outcomes, events, customers, lift tests) and its truth."""
        paths = _simulate(out, seed=seed, geos=geos, weeks=weeks, users=users)
        for name, path in sorted(paths.items()):
            console.print(f"  {name:<14} {path}")
        console.print(f"truth (the parameters every model should recover): {paths['truth']}")

    @app.command()
    def demo(
        workspace: WorkspaceOption = None,
        seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 0,
        data_dir: Annotated[
            Path | None,
            typer.Option(help="Keep the simulated files here (default: a temp folder)."),
        ] = None,
    ) -> None:
        """Run the whole loop that exists so far on a simulated world, and say what it did."""
        with tempfile.TemporaryDirectory(prefix="margin-demo-") as tmp:
            folder = data_dir or Path(tmp) / "world"
            ws_path = workspace or Path(tmp) / "demo.duckdb"
            _run_demo(folder, ws_path, seed, keep=workspace is not None)


def _simulate(out: Path, *, seed: int, geos: int, weeks: int, users: int) -> dict[str, Path]:
    from margin.data.simulator import WorldParams, simulate_world, write_world

    params = WorldParams(n_geos=geos, n_weeks=weeks, n_users=users)
    with status(f"simulating a world of {geos} geo(s) × {weeks} weeks (seed {seed})"):
        world = simulate_world(params, seed=seed)
        return write_world(world, out)


def _run_demo(folder: Path, ws_path: Path, seed: int, *, keep: bool) -> None:
    from margin.cli.data_commands import print_ingest, print_report
    from margin.data.ingest import ingest_file
    from margin.data.panel import load_panel
    from margin.data.spec import load_spec
    from margin.data.validation import check_workspace
    from margin.data.workspace import Workspace

    console.rule("[bold]1. simulate[/] a world with known truth")
    paths = _simulate(folder, seed=seed, geos=6, weeks=104, users=20_000)
    console.print(f"files in {folder}")
    console.rule("[bold]2. know[/]: ingest into the workspace")
    with Workspace(ws_path) as ws:
        for kind, name in _LOAD_ORDER:
            with status(f"ingesting {name}"):
                result = ingest_file(ws, kind, folder / name)
            print_ingest(result, ws.path)
        console.rule("[bold]3. check[/] the data")
        print_report(check_workspace(ws))
        console.rule("[bold]4. panel[/]: the model-ready arrays")
        spec = load_spec(paths["spec"])
        panel = load_panel(spec, workspace=ws)
    console.print(
        f"MarketingData: {panel.n_geos} geos × {panel.n_times} weeks × {panel.n_channels} channels "
        f"({', '.join(panel.channels)}), KPI {panel.kpi_name!r}, controls {list(panel.control_names)}"
    )
    _print_truth(paths["truth"])
    _demo_attribution(ws_path, paths["truth"])
    _demo_experiments(ws_path, paths["truth"])
    where = (
        f"workspace kept at {ws_path}"
        if keep
        else "workspace was temporary (pass --workspace to keep it)"
    )
    console.print(
        f"\n[bold green]demo finished[/]: {where}. Next: margin check / margin status -w WORKSPACE."
    )


def _print_truth(path: Path) -> None:
    from rich.table import Table

    truth = json.loads(path.read_text(encoding="utf-8"))
    channels = truth.get("channels", {})
    if not channels:
        return
    table = Table(title="simulator truth: what the MMM (next) must recover", title_justify="left")
    for column in ("channel", "spend", "contribution", "ROI", "marginal ROI"):
        table.add_column(column, justify="right" if column != "channel" else "left")
    for name, c in channels.items():
        table.add_row(
            name,
            f"{c['spend']:,.0f}",
            f"{c['contribution']:,.0f}",
            f"{c['roi']:.2f}",
            f"{c['mroi']:.2f}",
        )
    console.print(table)
    console.print(
        "(known by construction: no estimate yet, so no interval; models that estimate them report intervals)"
    )


def _demo_attribution(ws_path: Path, truth_path: Path) -> None:
    from rich.table import Table

    from margin.attribution import NOTE, attribute, journeys_from_workspace

    console.rule("[bold]5. attribution[/]: credit along the observed paths")
    with status("building journeys and crediting channels"):
        result = attribute(journeys_from_workspace(ws_path), models=("last_touch", "markov"))
    caused = json.loads(truth_path.read_text(encoding="utf-8"))["events"]["causal_conversions"]
    table = Table("channel", "last touch", "Markov", "caused (simulator truth)")
    for channel in result.channels:
        cells = []
        for model in ("last_touch", "markov"):
            c = result.credits[model][channel]
            cells.append(f"{c.conversions:,.0f} [{c.p05:,.0f}, {c.p95:,.0f}]")
        table.add_row(channel, *cells, f"{caused.get(channel, 0):,}")
    console.print(table)
    console.print(f"[dim]{NOTE} (conversions, mean [90% interval])[/]")


def _demo_experiments(ws_path: Path, truth_path: Path) -> None:
    from datetime import date

    from margin.data.workspace import Workspace
    from margin.experiments import analyze, load_panel_workspace

    console.rule("[bold]6. experiments[/]: the simulated geo lift tests, measured")
    truth = json.loads(truth_path.read_text(encoding="utf-8"))
    with Workspace(ws_path, read_only=True) as ws:
        for test in truth["lift_tests"]:
            panel = load_panel_workspace(ws, truth["kpi"]["name"], channel=test["channel"])
            with status(f"analysing {test['id']}"):
                lift = analyze(
                    panel,
                    list(test["treatment_geos"]),
                    date.fromisoformat(test["start"]),
                    date.fromisoformat(test["end"]),
                    space_placebos=False,
                )
            cum = lift.cumulative_lift
            console.print(
                f"{test['id']}: measured lift {cum.mean:,.0f} [{cum.low:,.0f}, {cum.high:,.0f}] "
                f"(90% interval, p = {lift.p_value:.3f}); true lift in the window {test['lift_window']:,.0f}"
            )
