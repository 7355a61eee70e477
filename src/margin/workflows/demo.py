"""The demo: the loop that exists so far, run on a simulated world with known truth.

:func:`run_demo` simulates a world, loads it into a workspace, checks it, builds the panel,
attributes, measures the simulated lift tests, fits the MMM calibrated with them, plans the
current budget, values and designs the next test, scores the plan under the true response
and writes the report. It says what each step found to a :class:`DemoReporter` (the CLI's
prints it); it prints nothing itself. :func:`simulate` is ``margin simulate``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from margin.mmm.settings import Laplace

if TYPE_CHECKING:
    from margin.attribution import AttributionResult
    from margin.data.ingest.pipeline import IngestResult
    from margin.data.panel.marketing_data import MarketingData
    from margin.data.panel.spec import Spec
    from margin.data.rules.findings import Report
    from margin.data.simulator import World
    from margin.data.workspace.hashing import HashKey
    from margin.data.workspace.store import Workspace
    from margin.experiments.analysis import LiftResult
    from margin.mmm.response import MMMResponse
    from margin.mmm.summary import RunSummary
    from margin.optimize.information import InformationValue
    from margin.optimize.request import PlanRequest
    from margin.optimize.results import AllocationResult

__all__ = [
    "DEMO_INFERENCE", "DEMO_LOOP_CYCLES", "DEMO_LOOP_GEOS", "DEMO_SEED", "DEMO_TEST_CANDIDATES", "DEMO_TEST_MIN_ROI",
    "DEMO_TEST_WEEKS", "DEMO_TEST_WEEKS_OF_SPEND", "DEMO_WEEKS", "DemoReporter",
    "DesignedTest", "FittedDemo", "PlanScore", "demo_key", "run_demo", "simulate",
]  # fmt: skip

DEMO_INFERENCE = Laplace(chains=1, draws=500)
"""MMM settings of the demo: the approximate fit (posterior mode + Laplace), labelled so, to keep the demo short."""
DEMO_SEED = 0
"""Seed of the demo's MMM fit."""
DEMO_WEEKS = 13
"""Planning horizon of the demo's reallocation."""
DEMO_TEST_WEEKS_OF_SPEND = 2
"""The demo designs its next test to spend this many weeks of the channel's current
national spend on top of it (a doubling in about a third of the market for 6 weeks)."""
DEMO_TEST_WEEKS = (4, 5, 6, 7, 8)
"""Test lengths (weeks) the demo's design considers (``margin experiment design`` default)."""
DEMO_TEST_CANDIDATES = 8
"""Candidate treated sets the demo's design simulates (the CLI's default is 20)."""
DEMO_TEST_MIN_ROI = 0.2
"""The ROI the design assumes is the channel's expected marginal ROI, at least this."""
DEMO_LOOP_CYCLES = 3
"""Cycles of 13 weeks the demo's learning loop runs (``margin demo --cycles``; 0 skips it)."""
DEMO_LOOP_GEOS = 6
"""Geos of the world the demo's learning loop plays against (no users: quicker steps)."""

_LOAD_ORDER = (
    ("spend", "spend.csv"),
    ("outcomes", "outcomes.csv"),
    ("controls", "controls.csv"),
    ("experiments", "experiments.csv"),
    ("events", "events.parquet"),
    ("transactions", "transactions.csv"),
)

Status = Callable[[str], AbstractContextManager[None]]
"""Called with a step's description; the step runs inside the context it returns."""
Counting = Callable[[str], AbstractContextManager[Callable[[int, int], None]]]
"""As :data:`Status`, for a step that counts what it has done: ``(done, total)``."""


@dataclass(frozen=True)
class FittedDemo:
    """The demo's MMM fit: its summary, the true ROI per channel and the channels whose
    true ROI fell outside the 90% interval."""

    result: RunSummary
    true_roi: dict[str, float]
    missed: tuple[str, ...]
    fit_seconds: float
    run_dir: Path


@dataclass(frozen=True)
class DesignedTest:
    """The next test the demo designed: ``design.json``'s body, where it is, the ROI it
    assumed and the test budget."""

    design: dict[str, Any]
    path: Path
    roi: float
    budget: float
    target_power: float


@dataclass(frozen=True)
class PlanScore:
    """The plan scored under the simulator's true response (known by construction)."""

    document: dict[str, Any]
    true_gain: float
    best_gain: float
    missed: tuple[str, ...]
    top: str | None
    designed: bool


class DemoReporter(Protocol):
    """What :func:`run_demo` tells as it goes (the CLI prints each)."""

    def status(self, message: str) -> AbstractContextManager[None]: ...
    def counting(self, message: str) -> AbstractContextManager[Callable[[int, int], None]]: ...
    def section(self, step: str) -> None: ...
    def simulated(self, folder: Path) -> None: ...
    def key_created(self, key: HashKey, workspace: Path, *, keep: bool) -> None: ...
    def ingested(self, result: IngestResult, workspace: Path) -> None: ...
    def checked(self, report: Report) -> None: ...
    def panel(self, panel: MarketingData, truth: dict[str, Any]) -> None: ...
    def attributed(self, result: AttributionResult, caused: dict[str, int]) -> None: ...
    def lift(self, test: dict[str, Any], lift: LiftResult) -> None: ...
    def fitted(self, fit: FittedDemo) -> None: ...
    def planned(
        self,
        document: dict[str, Any],
        result: AllocationResult,
        response: MMMResponse,
        request: PlanRequest,
        budget: float,
    ) -> None: ...
    def valued(self, information: InformationValue) -> None: ...
    def designing(self, channel: str, budget: float) -> None: ...
    def designed(self, test: DesignedTest) -> None: ...
    def test_valued(self, test: DesignedTest, information: InformationValue) -> None: ...
    def not_designed(self, channel: str, error: Exception) -> None: ...
    def plan_written(self, plan_dir: Path) -> None: ...
    def plan_recorded(self, plan_id: str, workspace: Path) -> None: ...
    def scored(self, score: PlanScore) -> None: ...
    def report_written(self, out: Path, size: int) -> None: ...
    def learning(self, cycle: dict[str, Any]) -> None: ...
    def learned(self, cycles: list[dict[str, Any]], workspace: Path, report: Path) -> None: ...
    def finished(self, workspace: Path) -> None: ...


def simulate(
    out: Path, *, seed: int, geos: int, weeks: int, users: int, status: Status | None = None
) -> tuple[World, dict[str, Path]]:
    """Simulate a world and write its files and ``truth.json`` into ``out``; returns the
    world and the files' paths by name."""
    from margin.data.simulator import WorldParams, simulate_world, write_world

    params = WorldParams(n_geos=geos, n_weeks=weeks, n_users=users)
    with (status or _quiet)(f"simulating a world of {geos} geo(s) × {weeks} weeks (seed {seed})"):
        world = simulate_world(params, seed=seed)
        return world, write_world(world, out)


def _quiet(message: str) -> AbstractContextManager[None]:
    return nullcontext()


@contextmanager
def demo_key(
    ws: Workspace, *, keep: bool, created: Callable[[HashKey], None] | None = None
) -> Iterator[None]:
    """The key that hashes the demo's ids, made explicitly: a kept workspace gets its own key
    file; a temporary one's key file is removed after the loads (the ids stay hashed; no key
    piles up in the config folder). ``created`` is called with a key made now."""
    from margin.data.workspace.hashing import delete_key_file, ensure_key

    key, made = ensure_key(ws)
    if made and created is not None:
        created(key)
    try:
        yield
    finally:
        if made and not keep:
            delete_key_file(ws)


def run_demo(
    folder: Path,
    ws_path: Path,
    seed: int,
    *,
    keep: bool,
    report: Path,
    show: DemoReporter,
    cycles: int = DEMO_LOOP_CYCLES,
) -> dict[str, Any]:
    """Run the loop on a world simulated with ``seed`` into ``folder``, in the workspace
    ``ws_path`` (``keep``: the caller keeps it, so the run and its plan are recorded beside
    it); write the HTML report to ``report``; then run ``cycles`` cycles of the learning loop
    (:func:`learn`). Returns the plan document."""
    world, paths, panel, spec = _know(folder, ws_path, seed, keep=keep, show=show)
    truth = json.loads(paths["truth"].read_text(encoding="utf-8"))
    show.panel(panel, truth)
    _attribution(ws_path, truth, show)
    _experiments(ws_path, truth, show)
    # a kept workspace keeps its run beside it (runs/), where the dashboard finds it
    run_dir = (ws_path.parent / "runs" / "demo") if keep else folder / "mmm-run"
    fit = _measure(panel, spec, ws_path, run_dir, truth, show)
    document = _decide(run_dir, world, folder, fit.missed, ws_path, keep=keep, show=show)
    _report(run_dir, document, ws_path, report, show)
    if cycles > 0:
        loop_ws = (
            ws_path.with_name(ws_path.stem + "-loop.duckdb") if keep else folder / "loop.duckdb"
        )
        learn(loop_ws, seed, cycles, report.with_name(report.stem + "-learning.html"), show)
    show.finished(ws_path)
    return document


def learn(workspace: Path, seed: int, cycles: int, report: Path, show: DemoReporter) -> None:
    """The learning loop, short: ``cycles`` cycles of 13 weeks of the ``margin`` policy
    against margin's stepping simulator (seed ``seed``, :data:`DEMO_LOOP_GEOS` geos, three
    years of history), quick fits, each cycle scored by the world's truth; then the learning
    report (``report``). The world runs as ``python -m margin world`` with this interpreter."""
    import shlex
    import sys

    from margin.loop import LoopSettings, list_cycles, run_loop
    from margin.report import build_learning_report

    show.section("learn")
    world = shlex.join(
        [sys.executable, "-m", "margin", "world", "--seed", str(seed), "--geos",
         str(DEMO_LOOP_GEOS), "--no-users"]
    )  # fmt: skip
    settings = LoopSettings(score=True, draws=DEMO_INFERENCE.draws, test_candidates=4)
    for k in range(1, cycles + 1):
        with show.status(
            f"cycle {k} of {cycles}: ingest, analyse tests, fit, plan, design tests, step the world"
        ):
            done = run_loop(workspace, world, 1, settings)
        for body in done.cycles:
            show.learning(body)
    records = list_cycles(workspace)
    with show.status("writing the learning report"):
        html = build_learning_report(records)
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(html, encoding="utf-8")
    show.learned(records, workspace, report)


def _know(
    folder: Path, ws_path: Path, seed: int, *, keep: bool, show: DemoReporter
) -> tuple[World, dict[str, Path], MarketingData, Spec]:
    """Simulate, load, check and build the panel."""
    from margin.data.ingest.pipeline import ingest_file
    from margin.data.panel.marketing_data import load_panel
    from margin.data.panel.spec import load_spec
    from margin.data.rules.validation import check_workspace
    from margin.data.workspace.store import Workspace

    show.section("simulate")
    world, paths = simulate(folder, seed=seed, geos=6, weeks=104, users=20_000, status=show.status)
    show.simulated(folder)
    show.section("know")
    with Workspace(ws_path) as ws:
        made = partial(show.key_created, workspace=ws.path, keep=keep)
        with demo_key(ws, keep=keep, created=made):
            for kind, name in _LOAD_ORDER:
                with show.status(f"ingesting {name}"):
                    result = ingest_file(ws, kind, folder / name)
                show.ingested(result, ws.path)
            show.section("check")
            show.checked(check_workspace(ws))
            show.section("panel")
            spec = load_spec(paths["spec"])
            panel = load_panel(spec, workspace=ws)
    return world, paths, panel, spec


def _attribution(ws_path: Path, truth: dict[str, Any], show: DemoReporter) -> None:
    from margin.attribution import attribute, journeys_from_workspace

    show.section("attribution")
    with show.status("building journeys and crediting channels"):
        result = attribute(journeys_from_workspace(ws_path), models=("last_touch", "markov"))
    show.attributed(result, truth["events"]["causal_conversions"])


def _experiments(ws_path: Path, truth: dict[str, Any], show: DemoReporter) -> None:
    from datetime import date

    from margin.data.workspace.store import Workspace
    from margin.experiments import analyze, load_panel_workspace

    show.section("experiments")
    with Workspace(ws_path, read_only=True) as ws:
        for test in truth["lift_tests"]:
            panel = load_panel_workspace(ws, truth["kpi"]["name"], channel=test["channel"])
            with show.status(f"analysing {test['id']}"):
                lift = analyze(
                    panel,
                    list(test["treatment_geos"]),
                    date.fromisoformat(test["start"]),
                    date.fromisoformat(test["end"]),
                    space_placebos=False,
                )
            show.lift(test, lift)


def _measure(
    panel: MarketingData,
    spec: Spec,
    ws_path: Path,
    run_dir: Path,
    truth: dict[str, Any],
    show: DemoReporter,
) -> FittedDemo:
    """Fit, save (into ``run_dir``) and record the MMM; compare its ROI with the truth."""
    from margin.data.workspace.store import Workspace
    from margin.mmm import MarketingMixModel, read_lift_tests_workspace, record_run
    from margin.refresh.fit import save_fit

    show.section("measure")
    with Workspace(ws_path, read_only=True) as ws:
        lift_tests = read_lift_tests_workspace(ws, kpi=panel.kpi_name)
    model = MarketingMixModel(inference=DEMO_INFERENCE, seed=DEMO_SEED)
    with show.status(
        f"fitting the MMM ({DEMO_INFERENCE.method}: posterior mode + Laplace; "
        f"{len(lift_tests)} lift test(s))"
    ):
        model.fit(panel, lift_tests)
        record = save_fit(model, panel, spec, run_dir)
    with Workspace(ws_path) as ws:
        record_run(ws, record)
    result = model.result()
    true_roi = {name: float(c["roi"]) for name, c in truth["channels"].items()}
    missed = tuple(
        name for name, c in result.channels.items() if not c.roi.contains(true_roi[name])
    )
    fit = FittedDemo(result, true_roi, missed, float(model.fit_seconds_), run_dir)
    show.fitted(fit)
    return fit


def _decide(
    run_dir: Path,
    world: World,
    folder: Path,
    missed: tuple[str, ...],
    ws_path: Path,
    *,
    keep: bool,
    show: DemoReporter,
) -> dict[str, Any]:
    """Plan the current budget on the fitted run; value a test of each channel, design the
    one worth most and value it as designed; score the plan with the simulator's truth.

    With a kept workspace the plan (and the design) is also written into the run folder
    and the plan recorded in ``runs`` (kind 'plan'), so a later ``margin refresh`` scores it.
    """
    from margin.mmm.response import load_response
    from margin.optimize.information import value_of_information
    from margin.optimize.request import PlanRequest, current_budget, plan, plan_document

    show.section("decide")
    response = load_response(run_dir)
    request = PlanRequest(weeks=DEMO_WEEKS)
    budget = current_budget(response, DEMO_WEEKS)
    with show.status("optimising the allocation"):
        result = plan(response, request)
        document = plan_document(result, response, request)
    show.planned(document, result, response, request, budget)
    with show.counting("valuing what a lift test of each channel would teach this plan") as step:
        information = value_of_information(response, result, request, progress=step)
    show.valued(information)
    plan_dir = run_dir / "plans" / "demo" if keep else folder
    top, designed = information.best, False
    if top is not None:
        from margin.errors import ConfigError

        try:
            information = _next_test(
                top.channel, information, world, (response, result, request), ws_path,
                plan_dir, show,
            )  # fmt: skip
            designed = True
        except ConfigError as error:  # a design the model cannot place: say so, go on
            show.not_designed(top.channel, error)
    document["value_of_information"] = information.to_json()
    _write_plan(document, result, response, plan_dir, show)
    if keep:
        _record_plan(ws_path, run_dir, document, plan_dir / "plan.json", show)
    gains = _true_gains(world, budget, result, show)
    show.scored(PlanScore(document, *gains, missed, None if top is None else top.channel, designed))
    return document


def _write_plan(
    document: dict[str, Any],
    result: AllocationResult,
    response: MMMResponse,
    plan_dir: Path,
    show: DemoReporter,
) -> None:
    from margin.optimize import write_plan_csv

    plan_dir.mkdir(parents=True, exist_ok=True)
    (plan_dir / "plan.json").write_text(
        json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8"
    )
    write_plan_csv(result, plan_dir / "plan.csv", start=response.start)
    show.plan_written(plan_dir)


def _record_plan(
    ws_path: Path, run_dir: Path, document: dict[str, Any], path: Path, show: DemoReporter
) -> None:
    """Record the plan in ``runs`` (:func:`margin.data.workspace.runs.record_plan`)."""
    from margin.data.workspace.runs import record_plan
    from margin.data.workspace.store import Workspace

    with Workspace(ws_path) as ws:
        recorded = record_plan(ws, run_dir, document, path)
    show.plan_recorded(recorded.id, ws_path)


def _true_gains(
    world: World, budget: float, result: AllocationResult, show: DemoReporter
) -> tuple[float, float]:
    """The plan's true gain and the true optimum's, under the simulator's response."""
    from margin.data.simulator.response import parametric_from_world
    from margin.optimize import allocate, scenario

    truth = parametric_from_world(world.params, world.arrays.spend, n_draws=1, spread=0.0, seed=0)
    with show.status("scoring the plan under the simulator's true response"):
        best = allocate(truth, budget, DEMO_WEEKS)
        scored = scenario(truth, DEMO_WEEKS, plan=result.plan, reference=result.current_plan)
    return float(scored.gain.mean), float(best.expected_gain.mean)


def _next_test(
    channel: str,
    information: InformationValue,
    world: World,
    planned: tuple[MMMResponse, AllocationResult, PlanRequest],
    ws_path: Path,
    plan_dir: Path,
    show: DemoReporter,
) -> InformationValue:
    """Design a heavy-up test of ``channel`` (two weeks of its current national spend,
    powered at its expected marginal ROI) on the workspace's history, and value it as
    designed.

    Returns ``information`` (the channels' values, kept) with the designed test's value and
    expected read (what ``margin optimize --test-design`` reports)."""
    from margin.data.workspace.store import Workspace
    from margin.experiments import load_panel_workspace
    from margin.experiments.design import DesignSpec, design_test
    from margin.optimize.information import value_of_information
    from margin.optimize.planned_test import PlannedTest

    response, result, request = planned
    c = response.channels.index(channel)
    budget = round(DEMO_TEST_WEEKS_OF_SPEND * result.current_plan[:, :, c].sum() / result.weeks, -3)
    expected = next(a.current_mroi.mean for a in result.allocation if a.channel == channel)
    roi = max(expected, DEMO_TEST_MIN_ROI)
    show.designing(channel, budget)
    with Workspace(ws_path, read_only=True) as ws:
        panel = load_panel_workspace(ws, world.params.kpi_name, channel=channel)
    spec = DesignSpec(
        channel=channel,
        lengths=tuple(w * (7 // panel.grain_days) for w in DEMO_TEST_WEEKS),
        budget=budget,
        roi=roi,
        n_candidates=DEMO_TEST_CANDIDATES,
    )
    with show.status(f"simulating the power of candidate {channel} tests on the history"):
        design = design_test(panel, spec).to_json()
    path = plan_dir / "design.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(design, indent=2, default=str) + "\n", encoding="utf-8")
    test = DesignedTest(design, path, roi, budget, spec.target_power)
    show.designed(test)
    with show.status("valuing the designed test for this plan"):
        information = value_of_information(
            response, result, request, tests=[PlannedTest.from_design(design, str(path))],
            known=information,
        )  # fmt: skip
    show.test_valued(test, information)
    return information


def _report(
    run_dir: Path, plan: dict[str, Any], ws_path: Path, out: Path, show: DemoReporter
) -> None:
    from margin.data.rules.quality import workspace_quality
    from margin.report import build_report

    show.section("show")
    with show.status("writing the HTML report"):
        findings, currency = workspace_quality(ws_path)
        html = build_report(run_dir, plan=plan, data_quality=findings, currency=currency)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    show.report_written(out, len(html))
