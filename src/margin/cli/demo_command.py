"""``margin simulate`` and ``margin demo``: the loop that exists so far, on a simulated world."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from margin.cli.console import console, status
from margin.cli.options import WorkspaceOption
from margin.mmm.settings import Laplace

if TYPE_CHECKING:
    from margin.data.panel import MarketingData
    from margin.data.simulator import World
    from margin.data.spec import Spec
    from margin.data.workspace import Workspace
    from margin.optimize.information import InformationValue
    from margin.optimize.protocol import ResponseModel
    from margin.optimize.request import PlanRequest
    from margin.optimize.results import AllocationResult

__all__ = ["register"]

DEMO_INFERENCE = Laplace(chains=1, draws=500)
"""MMM settings of the demo: the approximate fit (posterior mode + Laplace), labelled so, to keep the demo short."""
DEMO_SEED = 0
"""Seed of the demo's MMM fit."""
DEMO_WEEKS = 13
"""Planning horizon of the demo's reallocation."""
KEEP_HINT = ": pass --workspace demo.duckdb to keep the demo's files"
"""Said beside files the demo writes into its temporary folder."""
DEMO_TEST_WEEKS_OF_SPEND = 2
"""The demo designs its next test to spend this many weeks of the channel's current
national spend on top of it (a doubling in about a third of the market for 6 weeks)."""
DEMO_TEST_WEEKS = (4, 5, 6, 7, 8)
"""Test lengths (weeks) the demo's design considers (``margin experiment design`` default)."""
DEMO_TEST_CANDIDATES = 8
"""Candidate treated sets the demo's design simulates (the CLI's default is 20)."""
DEMO_TEST_MIN_ROI = 0.2
"""The ROI the design assumes is the channel's expected marginal ROI, at least this."""

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
        report: Annotated[
            Path, typer.Option(help="Where to write the HTML report of the demo's run.")
        ] = Path("margin-demo-report.html"),
    ) -> None:
        """Run the whole loop on a simulated world, say what it did, and write the report."""
        with tempfile.TemporaryDirectory(prefix="margin-demo-") as tmp:
            folder = data_dir or Path(tmp) / "world"
            ws_path = workspace or Path(tmp) / "demo.duckdb"
            _run_demo(folder, ws_path, seed, keep=workspace is not None, report=report)


def _simulate(out: Path, *, seed: int, geos: int, weeks: int, users: int) -> dict[str, Path]:
    return _simulate_world(out, seed=seed, geos=geos, weeks=weeks, users=users)[1]


def _simulate_world(
    out: Path, *, seed: int, geos: int, weeks: int, users: int
) -> tuple[World, dict[str, Path]]:
    from margin.data.simulator import WorldParams, simulate_world, write_world

    params = WorldParams(n_geos=geos, n_weeks=weeks, n_users=users)
    with status(f"simulating a world of {geos} geo(s) × {weeks} weeks (seed {seed})"):
        world = simulate_world(params, seed=seed)
        return world, write_world(world, out)


def _run_demo(folder: Path, ws_path: Path, seed: int, *, keep: bool, report: Path) -> None:
    from margin.cli.data_commands import print_ingest, print_report
    from margin.data.ingest import ingest_file
    from margin.data.panel import load_panel
    from margin.data.spec import load_spec
    from margin.data.validation import check_workspace
    from margin.data.workspace import Workspace

    console.rule("[bold]1. simulate[/] a world with known truth")
    world, paths = _simulate_world(folder, seed=seed, geos=6, weeks=104, users=20_000)
    console.print(f"files in {folder}")
    console.rule("[bold]2. know[/]: ingest into the workspace")
    with Workspace(ws_path) as ws, _demo_key(ws, keep=keep):
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
    # a kept workspace keeps its run beside it (runs/), where the dashboard finds it
    run_dir = (ws_path.parent / "runs" / "demo") if keep else folder / "mmm-run"
    missed = _demo_mmm(panel, spec, ws_path, run_dir, paths["truth"])
    document = _demo_optimize(run_dir, world, folder, missed, ws_path, keep=keep)
    _demo_report(run_dir, document, ws_path, report)
    if keep:
        console.print(
            f"\n[bold green]demo finished[/]: workspace kept at {ws_path}. The dashboard: "
            f"margin keys create --role admin -w {ws_path}, then margin serve -w {ws_path} "
            "and open http://127.0.0.1:8765 (log in with the key)."
        )
    else:
        console.print(
            "\n[bold green]demo finished[/]: the workspace was temporary; to browse it in the "
            "dashboard, run margin demo --workspace demo.duckdb, then margin keys create "
            "--role admin -w demo.duckdb and margin serve -w demo.duckdb."
        )


@contextmanager
def _demo_key(ws: Workspace, *, keep: bool) -> Iterator[None]:
    """The key that hashes the demo's ids, made explicitly: a kept workspace gets its own key
    file (said, as by ``margin init``); a temporary one's key file is removed after the loads
    (the ids stay hashed; no key piles up in the config folder)."""
    from margin.cli.hash_key_commands import announce_key
    from margin.data.hashing import delete_key_file, ensure_key

    key, created = ensure_key(ws)
    if keep:
        if created:
            announce_key(key, ws.path)
        yield
        return
    if created:
        console.print(
            f"key that hashes the ids of this temporary workspace: {key.source} (removed after "
            f"the loads{KEEP_HINT})",
            markup=False,
        )
    try:
        yield
    finally:
        if created:
            delete_key_file(ws)


def _demo_report(run_dir: Path, plan: dict[str, Any], ws_path: Path, out: Path) -> None:
    from margin.data.quality import workspace_quality
    from margin.report import build_report

    console.rule("[bold]9. show[/]: the report")
    with status("writing the HTML report"):
        findings, currency = workspace_quality(ws_path)
        html = build_report(run_dir, plan=plan, data_quality=findings, currency=currency)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    console.print(
        f"wrote {out} ({len(html) / 1e6:.1f} MB, one file, works offline): open "
        f"{out.resolve().as_uri()} in a browser"
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


def _demo_mmm(
    panel: MarketingData, spec: Spec, ws_path: Path, run_dir: Path, truth: Path
) -> list[str]:
    """Fit, save (into ``run_dir``) and record the MMM; show ROI against the truth; return
    the channels whose true ROI fell outside the interval."""
    from rich.table import Table

    from margin.data.workspace import Workspace
    from margin.mmm import MarketingMixModel, read_lift_tests_workspace, record_run
    from margin.refresh.fit import save_fit

    console.rule("[bold]7. measure[/]: the Bayesian MMM, calibrated with the lift tests")
    with Workspace(ws_path, read_only=True) as ws:
        lift_tests = read_lift_tests_workspace(ws, kpi=panel.kpi_name)
    model = MarketingMixModel(inference=DEMO_INFERENCE, seed=DEMO_SEED)
    with status(
        f"fitting the MMM ({DEMO_INFERENCE.method}: posterior mode + Laplace; "
        f"{len(lift_tests)} lift test(s))"
    ):
        model.fit(panel, lift_tests)
        record = save_fit(model, panel, spec, run_dir)
    with Workspace(ws_path) as ws:
        record_run(ws, record)
    true_roi = json.loads(truth.read_text(encoding="utf-8"))["channels"]
    result = model.result()
    table = Table(title="ROI per channel: MMM estimate (mean [90% interval]) vs simulator truth")
    for column in ("channel", "ROI estimate", "true ROI", "inside?"):
        table.add_column(column, justify="left" if column == "channel" else "right")
    missed = []
    for name, c in result.channels.items():
        roi, true = c.roi, true_roi[name]["roi"]
        inside = "yes" if roi.contains(true) else "no"
        if inside == "no":
            missed.append(name)
        table.add_row(name, f"{roi.mean:.2f} [{roi.p05:.2f}, {roi.p95:.2f}]", f"{true:.2f}", inside)
    console.print(table)
    console.print(
        f"[yellow]approximate fit (Laplace, {model.fit_seconds_:.0f} s): intervals are not NUTS "
        "posteriors; margin mmm fit uses NUTS by default[/]. Run folder: "
        f"{run_dir} (summary.json, posterior.npz, curves.json, model.json/npz)"
    )
    return missed


def _demo_optimize(
    run_dir: Path, world: World, folder: Path, missed: list[str], ws_path: Path, *, keep: bool
) -> dict[str, Any]:
    """Plan the current budget on the fitted run; value a test of each channel, design the
    one worth most and value it as designed; score the plan with the simulator's truth.

    With a kept workspace the plan (and the design) is also written into the run folder
    and the plan recorded in ``runs`` (kind 'plan'), so a later ``margin refresh`` scores it.
    """
    from margin.cli.console import fmt_number, progress, write_json
    from margin.cli.optimize_command import print_information, print_plan
    from margin.data.simulator.response import parametric_from_world
    from margin.mmm.response import load_response
    from margin.optimize import allocate, scenario, write_plan_csv
    from margin.optimize.information import value_of_information
    from margin.optimize.request import PlanRequest, current_budget, plan, plan_document

    console.rule("[bold]8. decide[/]: reallocate the current budget over the next 13 weeks")
    response = load_response(run_dir)
    request = PlanRequest(weeks=DEMO_WEEKS)
    budget = current_budget(response, DEMO_WEEKS)
    with status("optimising the allocation"):
        result = plan(response, request)
        document = plan_document(result, response, request)
    print_plan(document, result, response, request, budget)
    with progress("valuing what a lift test of each channel would teach this plan") as step:
        information = value_of_information(response, result, request, progress=step)
    print_information(information)
    plan_dir = run_dir / "plans" / "demo" if keep else folder
    removed = "" if keep else f" (removed at the end{KEEP_HINT})"
    top, designed = information.best, False
    if top is not None:
        from margin.errors import ConfigError

        try:
            information = _demo_next_test(
                top.channel, information, world, response, result, request, ws_path, plan_dir,
                removed,
            )  # fmt: skip
            designed = True
        except ConfigError as error:  # a design the model cannot place: say so, go on
            console.print(f"[yellow]no test designed for {top.channel}[/]: {error}")
    document["value_of_information"] = information.to_json()
    write_json(plan_dir / "plan.json", document)
    write_plan_csv(result, plan_dir / "plan.csv", start=response.start)
    console.print(f"wrote {plan_dir / 'plan.json'} and {plan_dir / 'plan.csv'}{removed}")
    if keep:
        from margin.cli.optimize_command import record_plan

        record_plan(ws_path, run_dir, document, plan_dir / "plan.json")
    truth = parametric_from_world(world.params, world.arrays.spend, n_draws=1, spread=0.0, seed=0)
    with status("scoring the plan under the simulator's true response"):
        best = allocate(truth, budget, DEMO_WEEKS)
        scored = scenario(truth, DEMO_WEEKS, plan=result.plan, reference=result.current_plan)
    true_gain = scored.gain.mean
    best_gain = best.expected_gain.mean
    gain = document["expected_gain"]
    console.print(
        f"[bold]recommended reallocation[/]: expected gain {fmt_number(gain['mean'])} "
        f"[{fmt_number(gain['p05'])}, {fmt_number(gain['p95'])}] (90% interval), "
        f"P(beats current) = {document['p_beats_current']:.0%}"
    )
    if best_gain <= 0:
        console.print("simulation truth: the current plan is already the best possible plan")
        return document
    console.print(
        f"simulation truth: this plan truly gains {fmt_number(true_gain)}; the true optimum "
        f"gains {fmt_number(best_gain)} (known by construction, no interval), so the plan gets "
        f"{true_gain / best_gain:.0%} of the best possible gain (regret "
        f"{1 - true_gain / best_gain:.0%})"
    )
    if true_gain < 0.9 * best_gain:
        outside = f"; true ROI outside the MMM's interval: {', '.join(missed)}" if missed else ""
        if top is None:
            test = "calibrate with lift tests at more spend levels"
        elif designed:
            test = (
                f"run the {top.channel} test designed above (worth most to this plan) so it "
                "calibrates the next fit"
            )
        else:
            test = f"calibrate with a lift test on {top.channel} (worth most to this plan, above)"
        console.print(
            "[yellow]below the 90% bar[/]: the plan follows the MMM's marginal ROIs, which "
            "data like these pin down too loosely for that: on such 6-geo worlds even a "
            "planner that knew every true response curve reaches the bar about one time in "
            "five from the data alone (docs/benchmarks.md, 'What plan the data allow')"
            f"{outside}. Before acting on a plan, fit with NUTS (margin mmm fit), {test}, and "
            "bound the moves (--bounds)."
        )
    return document


def _demo_next_test(
    channel: str,
    information: InformationValue,
    world: World,
    response: ResponseModel,
    result: AllocationResult,
    request: PlanRequest,
    ws_path: Path,
    plan_dir: Path,
    removed: str,
) -> InformationValue:
    """Design a heavy-up test of ``channel`` (two weeks of its current national spend,
    powered at its expected marginal ROI) on the workspace's history, and value it as
    designed.

    Returns ``information`` (the channels' values, kept) with the designed test's value and
    expected read (what ``margin optimize --test-design`` reports). ``removed`` is said after the
    design's path (empty when the demo's files are kept)."""
    from margin.cli.console import write_json
    from margin.cli.optimize_command import print_planned_tests
    from margin.data.workspace import Workspace
    from margin.experiments import load_panel_workspace
    from margin.experiments.design import DesignSpec, design_test
    from margin.optimize.information import value_of_information
    from margin.optimize.planned_test import PlannedTest

    c = response.channels.index(channel)
    budget = round(DEMO_TEST_WEEKS_OF_SPEND * result.current_plan[:, :, c].sum() / result.weeks, -3)
    roi = next(a.current_mroi.mean for a in result.allocation if a.channel == channel)
    console.print(
        f"[bold]next test[/]: designing a {channel} heavy-up worth "
        f"{DEMO_TEST_WEEKS_OF_SPEND} weeks of its current spend ({budget:,.0f})"
    )
    with Workspace(ws_path, read_only=True) as ws:
        panel = load_panel_workspace(ws, world.params.kpi_name, channel=channel)
    spec = DesignSpec(
        channel=channel,
        lengths=tuple(w * (7 // panel.grain_days) for w in DEMO_TEST_WEEKS),
        budget=budget,
        roi=max(roi, DEMO_TEST_MIN_ROI),
        n_candidates=DEMO_TEST_CANDIDATES,
    )
    with status(f"simulating the power of candidate {channel} tests on the history"):
        design = design_test(panel, spec).to_json()
    path = plan_dir / "design.json"
    write_json(path, design)
    detects = design["min_detectable_roi"]
    console.print(
        f"design {design['design_id']}: treat {', '.join(design['treatment_geos'])} for "
        f"{design['length_periods'] * design['grain_days'] // 7} weeks against "
        f"{len(design['control_geos'])} control geos; it detects an ROI of "
        f"{detects['mean']:.2f} [{detects['p05']:.2f}, {detects['p95']:.2f}] or more with "
        f"{spec.target_power:.0%} power; wrote {path}{removed}"
    )
    with status("valuing the designed test for this plan"):
        information = value_of_information(
            response, result, request, tests=[PlannedTest.from_design(design, str(path))],
            known=information,
        )  # fmt: skip
    print_planned_tests(information)
    console.print(
        f"on real data: margin experiment design --channel {channel} --budget {budget:.0f} "
        f"--roi {spec.roi:.2f} --out design.json; run the test; margin experiment analyze "
        "--design design.json --start DATE --spend-delta SPEND records its lift, and the "
        "next margin mmm fit is calibrated by it"
    )
    return information
