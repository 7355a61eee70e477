"""``margin simulate`` and ``margin demo``: the loop that exists so far, on a simulated world.

Thin: the demo is :func:`margin.workflows.demo.run_demo`; this module parses the options
and prints what the demo tells it (:class:`DemoPrinter`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from margin.cli.common import (
    announce_key,
    cycle_line,
    print_information,
    print_ingest,
    print_plan,
    print_planned_tests,
    print_report,
)
from margin.cli.console import console, fmt_number, progress, status
from margin.cli.options import WorkspaceOption

if TYPE_CHECKING:
    from margin.attribution import AttributionResult
    from margin.data.ingest.pipeline import IngestResult
    from margin.data.panel.marketing_data import MarketingData
    from margin.data.rules.findings import Report
    from margin.data.workspace.hashing import HashKey
    from margin.experiments.analysis import LiftResult
    from margin.mmm.response import MMMResponse
    from margin.optimize.information import InformationValue
    from margin.optimize.request import PlanRequest
    from margin.optimize.results import AllocationResult
    from margin.workflows.demo import DesignedTest, FittedDemo, PlanScore

__all__ = ["DemoPrinter", "demo", "simulate"]

KEEP_HINT = ": pass --workspace demo.duckdb to keep the demo's files"
"""Said beside files the demo writes into its temporary folder."""

SECTIONS = {
    "simulate": "[bold]1. simulate[/] a world with known truth",
    "know": "[bold]2. know[/]: ingest into the workspace",
    "check": "[bold]3. check[/] the data",
    "panel": "[bold]4. panel[/]: the model-ready arrays",
    "attribution": "[bold]5. attribution[/]: credit along the observed paths",
    "experiments": "[bold]6. experiments[/]: the simulated geo lift tests, measured",
    "measure": "[bold]7. measure[/]: the Bayesian MMM, calibrated with the lift tests",
    "decide": "[bold]8. decide[/]: reallocate the current budget over the next 13 weeks",
    "show": "[bold]9. show[/]: the report",
    "learn": "[bold]10. learn[/]: the loop, quarter after quarter, against a world that reacts",
}
"""The heading of each step of the demo."""


def simulate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the files and truth.json.")],
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same world.")] = 0,
    geos: Annotated[int, typer.Option(help="Number of geos (1 = national).")] = 6,
    weeks: Annotated[int, typer.Option(help="Number of weeks.")] = 104,
    users: Annotated[int, typer.Option(help="Users simulated for touchpoint events.")] = 20_000,
) -> None:
    """Generate one causal world (spend, outcomes, events, customers, lift tests) and its truth."""
    from margin.workflows.demo import simulate as simulate_world

    _, paths = simulate_world(out, seed=seed, geos=geos, weeks=weeks, users=users, status=status)
    for name, path in sorted(paths.items()):
        console.print(f"  {name:<14} {path}")
    console.print(f"truth (the parameters every model should recover): {paths['truth']}")


def demo(
    workspace: WorkspaceOption = None,
    seed: Annotated[int, typer.Option(help="Seed of the simulated world.")] = 0,
    data_dir: Annotated[
        Path | None,
        typer.Option(help="Keep the simulated files here (default: a temp folder)."),
    ] = None,
    report: Annotated[
        Path, typer.Option(help="Where to write the HTML report of the demo's run.")
    ] = Path("margin-demo-report.html"),
    cycles: Annotated[
        int,
        typer.Option(
            min=0,
            max=12,
            help="Cycles of 13 weeks of the learning loop at the end (0 skips it).",
        ),
    ] = 3,
) -> None:
    """Run the whole loop on a simulated world, say what it did, and write the report."""
    from margin.workflows.demo import run_demo

    keep = workspace is not None
    with tempfile.TemporaryDirectory(prefix="margin-demo-") as tmp:
        folder = data_dir or Path(tmp) / "world"
        ws_path = workspace or Path(tmp) / "demo.duckdb"
        printer = DemoPrinter(keep=keep)
        run_demo(folder, ws_path, seed, keep=keep, report=report, show=printer, cycles=cycles)


class DemoPrinter:
    """Prints what :func:`margin.workflows.demo.run_demo` tells (a ``DemoReporter``).

    ``keep``: the demo's workspace and files are kept (else said to be removed at the end).
    """

    def __init__(self, *, keep: bool) -> None:
        self.keep = keep
        self.removed = "" if keep else f" (removed at the end{KEEP_HINT})"

    def status(self, message: str) -> AbstractContextManager[None]:
        """A spinner while a step runs."""
        return status(message)

    def counting(self, message: str) -> AbstractContextManager[Callable[[int, int], None]]:
        """A spinner counting the steps done."""
        return progress(message)

    def section(self, step: str) -> None:
        """The heading of a step."""
        console.rule(SECTIONS[step])

    def simulated(self, folder: Path) -> None:
        """Where the simulated files are."""
        console.print(f"files in {folder}")

    def key_created(self, key: HashKey, workspace: Path, *, keep: bool) -> None:
        """The key that hashes the demo's ids was made (a temporary one goes after the loads)."""
        if keep:
            announce_key(key, workspace)
            return
        console.print(
            f"key that hashes the ids of this temporary workspace: {key.source} (removed after "
            f"the loads{KEEP_HINT})",
            markup=False,
        )

    def ingested(self, result: IngestResult, workspace: Path) -> None:
        """One load."""
        print_ingest(result, workspace)

    def checked(self, report: Report) -> None:
        """The data-quality report."""
        print_report(report)

    def panel(self, panel: MarketingData, truth: dict[str, Any]) -> None:
        """The panel's shape, then the simulator's truth per channel."""
        console.print(
            f"MarketingData: {panel.n_geos} geos × {panel.n_times} weeks × "
            f"{panel.n_channels} channels ({', '.join(panel.channels)}), KPI "
            f"{panel.kpi_name!r}, controls {list(panel.control_names)}"
        )
        _print_truth(truth.get("channels", {}))

    def attributed(self, result: AttributionResult, caused: dict[str, int]) -> None:
        """Credits of last touch and Markov beside the conversions each channel caused."""
        from rich.table import Table

        from margin.attribution import NOTE

        table = Table("channel", "last touch", "Markov", "caused (simulator truth)")
        for channel in result.channels:
            cells = []
            for model in ("last_touch", "markov"):
                c = result.credits[model][channel]
                cells.append(f"{c.conversions:,.0f} [{c.p05:,.0f}, {c.p95:,.0f}]")
            table.add_row(channel, *cells, f"{caused.get(channel, 0):,}")
        console.print(table)
        console.print(f"[dim]{NOTE} (conversions, mean [90% interval])[/]")

    def lift(self, test: dict[str, Any], lift: LiftResult) -> None:
        """One simulated lift test, measured, beside its true lift."""
        cum = lift.cumulative_lift
        console.print(
            f"{test['id']}: measured lift {cum.mean:,.0f} [{cum.low:,.0f}, {cum.high:,.0f}] "
            f"(90% interval, p = {lift.p_value:.3f}); true lift in the window "
            f"{test['lift_window']:,.0f}"
        )

    def fitted(self, fit: FittedDemo) -> None:
        """ROI per channel against the truth, and what the approximate fit is."""
        from rich.table import Table

        table = Table(
            title="ROI per channel: MMM estimate (mean [90% interval]) vs simulator truth"
        )
        for column in ("channel", "ROI estimate", "true ROI", "inside?"):
            table.add_column(column, justify="left" if column == "channel" else "right")
        for name, c in fit.result.channels.items():
            roi, true = c.roi, fit.true_roi[name]
            inside = "no" if name in fit.missed else "yes"
            table.add_row(
                name, f"{roi.mean:.2f} [{roi.p05:.2f}, {roi.p95:.2f}]", f"{true:.2f}", inside
            )
        console.print(table)
        console.print(
            f"[yellow]approximate fit (Laplace, {fit.fit_seconds:.0f} s): intervals are not NUTS "
            "posteriors; margin mmm fit uses NUTS by default[/]. Run folder: "
            f"{fit.run_dir} (summary.json, posterior.npz, curves.json, model.json/npz)"
        )

    def planned(
        self,
        document: dict[str, Any],
        result: AllocationResult,
        response: MMMResponse,
        request: PlanRequest,
        budget: float,
    ) -> None:
        """The plan."""
        print_plan(document, result, response, request, budget)

    def valued(self, information: InformationValue) -> None:
        """What learning each channel's return is worth."""
        print_information(information)

    def designing(self, channel: str, budget: float) -> None:
        """The next test is being designed."""
        from margin.workflows.demo import DEMO_TEST_WEEKS_OF_SPEND

        console.print(
            f"[bold]next test[/]: designing a {channel} heavy-up worth "
            f"{DEMO_TEST_WEEKS_OF_SPEND} weeks of its current spend ({budget:,.0f})"
        )

    def designed(self, test: DesignedTest) -> None:
        """The design: its geos, length and what it detects."""
        design, detects = test.design, test.design["min_detectable_roi"]
        console.print(
            f"design {design['design_id']}: treat {', '.join(design['treatment_geos'])} for "
            f"{design['length_periods'] * design['grain_days'] // 7} weeks against "
            f"{len(design['control_geos'])} control geos; it detects an ROI of "
            f"{detects['mean']:.2f} [{detects['p05']:.2f}, {detects['p95']:.2f}] or more with "
            f"{test.target_power:.0%} power; wrote {test.path}{self.removed}"
        )

    def test_valued(self, test: DesignedTest, information: InformationValue) -> None:
        """The designed test's worth to the plan, and how to run it on real data."""
        channel = test.design["channel"]
        print_planned_tests(information)
        console.print(
            f"on real data: margin experiment design --channel {channel} --budget "
            f"{test.budget:.0f} --roi {test.roi:.2f} --out design.json; run the test; margin "
            "experiment analyze --design design.json --start DATE --spend-delta SPEND records "
            "its lift, and the next margin mmm fit is calibrated by it"
        )

    def not_designed(self, channel: str, error: Exception) -> None:
        """No test could be designed for ``channel``."""
        console.print(f"[yellow]no test designed for {channel}[/]: {error}")

    def plan_written(self, plan_dir: Path) -> None:
        """Where the plan's files are."""
        console.print(f"wrote {plan_dir / 'plan.json'} and {plan_dir / 'plan.csv'}{self.removed}")

    def plan_recorded(self, plan_id: str, workspace: Path) -> None:
        """The plan's row in ``runs``."""
        console.print(f"recorded plan {plan_id} in {workspace}")

    def scored(self, score: PlanScore) -> None:
        """The plan's gain, and what it truly gains against the true optimum."""
        gain = score.document["expected_gain"]
        console.print(
            f"[bold]recommended reallocation[/]: expected gain {fmt_number(gain['mean'])} "
            f"[{fmt_number(gain['p05'])}, {fmt_number(gain['p95'])}] (90% interval), "
            f"P(beats current) = {score.document['p_beats_current']:.0%}"
        )
        if score.best_gain <= 0:
            console.print("simulation truth: the current plan is already the best possible plan")
            return
        true_gain, best_gain = score.true_gain, score.best_gain
        console.print(
            f"simulation truth: this plan truly gains {fmt_number(true_gain)}; the true optimum "
            f"gains {fmt_number(best_gain)} (known by construction, no interval), so the plan "
            f"gets {true_gain / best_gain:.0%} of the best possible gain (regret "
            f"{1 - true_gain / best_gain:.0%})"
        )
        if true_gain < 0.9 * best_gain:
            _print_below_bar(score)

    def report_written(self, out: Path, size: int) -> None:
        """Where the report is."""
        console.print(
            f"wrote {out} ({size / 1e6:.1f} MB, one file, works offline): open "
            f"{out.resolve().as_uri()} in a browser"
        )

    def learning(self, cycle: dict[str, Any]) -> None:
        """One cycle of the learning loop: its line (moves, tests, gain; truth's share)."""
        console.print(cycle_line(cycle), markup=False, soft_wrap=True)

    def learned(self, cycles: list[dict[str, Any]], workspace: Path, report: Path) -> None:
        """What the loop's plans truly gained over the status quo, and where its report is."""
        true = [c["true"] for c in cycles if c.get("true")]
        if true:
            currency = cycles[-1]["currency"]
            chosen = sum(t.get("allocation_gain", t["gain"]) for t in true)
            best = sum(t["oracle_gain"] for t in true)
            net = sum(t.get("net_gain", t["gain"]) for t in true)
            share = f" ({chosen / best:.0%} of what the oracle, knowing the truth, gained)"
            console.print(
                f"simulation truth: over {len(true)} cycle(s) margin's plans gained "
                f"{fmt_number(chosen)} {currency} over the status quo"
                f"{share if best > 0 else ''}; with the tests' returns, less their extra "
                f"spend: {fmt_number(net)} {currency} (known by construction, no interval)",
                markup=False,
                soft_wrap=True,
            )
        console.print(
            f"wrote {report} (the learning report: budget, ROI intervals and tests cycle by "
            f"cycle); the loop's workspace: {workspace}" + ("" if self.keep else self.removed),
            markup=False,
            soft_wrap=True,
        )

    def finished(self, workspace: Path) -> None:
        """How to go on: browse the kept workspace, or keep one next time."""
        if self.keep:
            console.print(
                f"\n[bold green]demo finished[/]: workspace kept at {workspace}. The dashboard: "
                f"margin keys create --role admin -w {workspace}, then margin serve -w "
                f"{workspace} and open http://127.0.0.1:8765 (log in with the key)."
            )
        else:
            console.print(
                "\n[bold green]demo finished[/]: the workspace was temporary; to browse it in "
                "the dashboard, run margin demo --workspace demo.duckdb, then margin keys "
                "create --role admin -w demo.duckdb and margin serve -w demo.duckdb."
            )


def _print_below_bar(score: PlanScore) -> None:
    missed = score.missed
    outside = f"; true ROI outside the MMM's interval: {', '.join(missed)}" if missed else ""
    if score.top is None:
        test = "calibrate with lift tests at more spend levels"
    elif score.designed:
        test = (
            f"run the {score.top} test designed above (worth most to this plan) so it "
            "calibrates the next fit"
        )
    else:
        test = f"calibrate with a lift test on {score.top} (worth most to this plan, above)"
    console.print(
        "[yellow]below the 90% bar[/]: the plan follows the MMM's marginal ROIs, which "
        "data like these pin down too loosely for that: on such 6-geo worlds even a "
        "planner that knew every true response curve reaches the bar about one time in "
        "five from the data alone (docs/benchmarks.md, 'What plan the data allow')"
        f"{outside}. Before acting on a plan, fit with NUTS (margin mmm fit), {test}, and "
        "bound the moves (--bounds)."
    )


def _print_truth(channels: dict[str, Any]) -> None:
    from rich.table import Table

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
