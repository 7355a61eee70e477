"""``margin optimize``, ``margin scenario`` and ``margin frontier`` on a fitted MMM run.

Thin: each command loads the run (:func:`margin.mmm.response.load_response`), builds a
request, calls :mod:`margin.optimize`, prints a table and writes JSON (and a CSV plan).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from margin.cli.console import console, fmt_number, progress, status, write_json
from margin.cli.options import OutOption, WorkspaceOption

if TYPE_CHECKING:
    from margin.mmm.response import MMMResponse
    from margin.optimize.information import InformationValue
    from margin.optimize.request import PlanRequest
    from margin.optimize.results import AllocationResult

__all__ = ["register"]

MAX_DRAWS = 1000
"""Posterior draws used for planning by default (evenly thinned when the run has more)."""

RunOption = Annotated[
    Path, typer.Option("--run", help="Run folder written by margin mmm fit --out.")
]
WeeksOption = Annotated[int, typer.Option("--weeks", help="Planning horizon in weeks.")]
DrawsOption = Annotated[
    int, typer.Option("--max-draws", help="Use at most this many posterior draws (thinned).")
]
ControlsOption = Annotated[
    Path | None,
    typer.Option(
        "--controls",
        help="Known future controls (holidays, prices): CSV with date, name, value (and geo).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add ``optimize``, ``scenario`` and ``frontier`` to ``app``."""

    @app.command()
    def optimize(
        run: RunOption,
        budget: Annotated[
            float | None,
            typer.Option(help="Total spend over the horizon (default: the current plan's)."),
        ] = None,
        weeks: WeeksOption = 13,
        bounds: Annotated[
            list[str] | None,
            typer.Option("--bounds", help="channel=low:high, multiples of current spend."),
        ] = None,
        bounds_absolute: Annotated[
            bool, typer.Option(help="Bounds are currency totals over the horizon.")
        ] = False,
        lock: Annotated[
            list[str] | None, typer.Option("--lock", help="Hold a channel at current spend.")
        ] = None,
        objective: Annotated[str, typer.Option(help="'kpi' or 'profit'.")] = "kpi",
        margin: Annotated[
            float, typer.Option(help="Profit margin on KPI value, (0, 1] (profit).")
        ] = 1.0,
        target_kpi: Annotated[
            float | None, typer.Option(help="Least spend reaching this KPI over the horizon.")
        ] = None,
        min_roi: Annotated[
            float | None, typer.Option(help="Most KPI keeping media ROI at or above this.")
        ] = None,
        risk: Annotated[str, typer.Option(help="'mean', 'mean_sd' or 'cvar'.")] = "mean",
        risk_aversion: Annotated[float, typer.Option(help="λ of mean − λ·sd.")] = 1.0,
        cvar_alpha: Annotated[float, typer.Option(help="Tail share of CVaR.")] = 0.1,
        by_geo: Annotated[bool, typer.Option(help="Allocate each geo × channel.")] = False,
        controls: ControlsOption = None,
        value_of_information: Annotated[
            bool,
            typer.Option(
                "--value-of-information",
                help="Also value learning each channel's return (which lift test is worth most).",
            ),
        ] = False,
        test_se: Annotated[
            list[str] | None,
            typer.Option(
                "--test-se",
                help="channel=SE: a planned test's standard error (ROI units) to value too.",
            ),
        ] = None,
        test_design: Annotated[
            list[Path] | None,
            typer.Option(
                "--test-design",
                help="design.json of a planned geo test (margin experiment design --budget) "
                "to value as the model says it would read.",
            ),
        ] = None,
        max_draws: DrawsOption = MAX_DRAWS,
        out: OutOption = None,
        workspace: WorkspaceOption = None,
    ) -> None:
        """Recommend where the budget should go: gain with its 90% interval, P(beats current)."""
        _optimize(locals())

    @app.command("scenario")
    def scenario_command(
        run: RunOption,
        change: Annotated[
            list[str] | None, typer.Option("--change", help="e.g. social=+20% (repeatable).")
        ] = None,
        plan: Annotated[
            Path | None, typer.Option("--plan", help="CSV plan: week, channel, spend [, geo].")
        ] = None,
        weeks: WeeksOption = 13,
        controls: ControlsOption = None,
        max_draws: DrawsOption = MAX_DRAWS,
        out: OutOption = None,
    ) -> None:
        """Predict a what-if (spend changes or a full plan) against the current plan."""
        _scenario(run, change, plan, weeks, max_draws, out, controls)

    @app.command()
    def frontier(
        run: RunOption,
        start: Annotated[float, typer.Option("--from", help="Lowest total budget.")],
        stop: Annotated[float, typer.Option("--to", help="Highest total budget.")],
        points: Annotated[int, typer.Option(help="Number of budgets.")] = 20,
        weeks: WeeksOption = 13,
        margin: Annotated[
            float, typer.Option(help="Profit margin used to pick the recommended point.")
        ] = 1.0,
        max_draws: DrawsOption = MAX_DRAWS,
        out: OutOption = None,
    ) -> None:
        """The best plan's KPI and ROI against total budget, with 90% bands."""
        _frontier(run, start, stop, points, weeks, margin, max_draws, out)


def load_run_response(run: Path, max_draws: int, controls: Path | None = None) -> MMMResponse:
    """The run's response model; with ``controls``, the known future controls it names
    (their weeks' baseline then uses them instead of the 13-week mean)."""
    from margin.mmm.response import load_response

    with status(f"loading the run in {run}"):
        response = load_response(run, max_draws=max_draws)
    return response if controls is None else _with_controls(response, controls)


def _with_controls(response: MMMResponse, path: Path) -> MMMResponse:
    import pandas as pd

    from margin.errors import DataValidationError, InputFileError

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise InputFileError(
            f"cannot read the controls file {path}: {err}; give a CSV with columns date, "
            "[geo,] name, value"
        ) from err
    try:
        return response.with_controls(frame)
    except DataValidationError as err:
        raise DataValidationError(f"{path}: {err}") from err


def print_notes(caveats: list[str]) -> None:
    """A plan's or scenario's caveats, one ``note:`` line each."""
    from rich.markup import escape

    for caveat in caveats:
        console.print(f"[yellow]note:[/] {escape(caveat)}", highlight=False)


def _interval(stat: dict[str, float]) -> str:
    return f"{fmt_number(stat['mean'])} [{fmt_number(stat['p05'])}, {fmt_number(stat['p95'])}]"


def _request(options: dict[str, Any]) -> PlanRequest:
    from margin.optimize.request import PlanRequest, parse_bounds

    bounds = dict(parse_bounds(text) for text in options["bounds"] or [])
    return PlanRequest(
        budget=options["budget"], weeks=options["weeks"], bounds=bounds,
        bounds_relative=not options["bounds_absolute"], objective=options["objective"],
        margin=options["margin"], target_kpi=options["target_kpi"], min_roi=options["min_roi"],
        risk=options["risk"], risk_aversion=options["risk_aversion"],
        cvar_alpha=options["cvar_alpha"], locked=tuple(options["lock"] or ()),
        by_geo=options["by_geo"],
    )  # fmt: skip


def _optimize(options: dict[str, Any]) -> None:
    from margin.optimize.information import check_request, check_tests, parse_test_se
    from margin.optimize.planned_test import read_design
    from margin.optimize.request import current_budget, plan, plan_document
    from margin.optimize.results import write_plan_csv

    request = _request(options)
    tests = dict(parse_test_se(text) for text in options["test_se"] or [])
    designs = [read_design(path) for path in options["test_design"] or []]
    valuing = options["value_of_information"] or bool(tests) or bool(designs)
    response = load_run_response(options["run"], options["max_draws"], options["controls"])
    check_tests(response, tests, designs)
    if valuing:
        check_request(response, request)  # before planning, not after printing the plan
    current = current_budget(response, request.weeks)
    with status(f"optimising {len(response.channels)} channels over {request.weeks} weeks"):
        result = plan(response, request)
        document = plan_document(result, response, request)
    print_plan(document, result, response, request, current)
    if valuing:
        from margin.optimize.information import value_of_information

        steps = f"valuing what a test of each of {len(response.channels)} channels would teach"
        with progress(steps) as step:
            information = value_of_information(
                response, result, request, test_se=tests, tests=designs, progress=step
            )
        document["value_of_information"] = information.to_json()
        print_information(information)
    if options["out"] is None and options["workspace"] is not None:
        # a recorded plan keeps its file (a refresh scores it), where the API keeps it
        from margin.data.runs import plan_id, plan_path

        options["out"] = plan_path(options["run"], plan_id(document))
    if options["out"] is not None:
        out: Path = options["out"]
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, document)
        csv_path = write_plan_csv(result, out.with_suffix(".csv"), start=response.start)
        console.print(f"wrote {out} and {csv_path} (week × geo × channel spend)")
    if options["workspace"] is not None:
        record_plan(options["workspace"], options["run"], document, options["out"])


def print_plan(
    document: dict[str, Any],
    result: AllocationResult,
    response: MMMResponse,
    request: PlanRequest,
    current: float,
) -> None:
    """Print a plan: the allocation table, KPI, gain, P(beats current) and the checks."""
    from rich.table import Table

    budget_note = (
        "budget not given: the current plan's spend"
        if request.budget is None and request.mode == "budget"
        else f"mode {result.mode}"
    )
    console.print(
        f"run {response.run_id}: {request.weeks} weeks from {response.start} "
        f"({response.n_draws} posterior draws); budget {fmt_number(result.budget)} "
        f"({budget_note}; current plan {fmt_number(current)} = last 13 weeks' average "
        "weekly spend × weeks)"
    )
    table = Table(title="recommended allocation (totals over the horizon; mROI mean [90%])")
    columns = (
        "channel", "current spend", "recommended", "change", "mROI at recommended",
        "gain of this move", "status",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("channel", "status") else "right")
    for name, a in document["allocation"].items():
        change = a["change"] / a["current_spend"] if a["current_spend"] > 0 else float("nan")
        table.add_row(
            name, fmt_number(a["current_spend"]), fmt_number(a["spend"]),
            f"{fmt_number(a['change'])} ({change:+.0%})", _interval(a["mroi"]),
            _interval(a["gain"]), a["status"],
        )  # fmt: skip
    console.print(table)
    console.print(
        f"expected KPI {_interval(document['expected_kpi'])}; current plan "
        f"{_interval(document['current_kpi'])}"
    )
    console.print(
        f"gain {_interval(document['expected_gain'])} (90% interval); "
        f"P(beats current) = {document['p_beats_current']:.0%}"
    )
    checks = document["checks"]
    spread = checks["marginal_spread"]
    console.print(
        f"optimality checks {'[green]passed[/]' if checks['passed'] else '[red]FAILED[/]'}: "
        f"budget residual {checks['budget_residual']:.1e}, bound violation "
        f"{checks['bound_violation']:.1e}, interior mROI spread "
        f"{'n/a' if spread is None else f'{spread:.1e}'} (tolerance "
        f"{checks['marginal_tolerance']:.0e}), bounds consistent {checks['bound_consistent']}, "
        f"not worse than current {checks['not_worse']}; {checks['evaluations']:,} model "
        "evaluations" + (" (stopped early at the limit)" if checks["stopped_early"] else "")
    )
    print_notes(document["caveats"])
    console.print(f"[dim]{response.baseline_note}[/]")


def print_information(information: InformationValue) -> None:
    """The value of learning each channel's return, highest first, and what to test."""
    from rich.table import Table

    table = Table(
        title=(
            f"what learning each channel's return is worth to this plan ({information.unit}, "
            f"{information.weeks} weeks + carry-over; mean [90% Monte Carlo])"
        )
    )
    columns = ["channel", "value of learning it", "above noise", "its spend if low → high"]
    tested = [c for c in information.channels if c.test_value is not None]
    if tested:
        columns.append("value of the planned test")
    for column in columns:
        table.add_column(column, justify="left" if column == "channel" else "right")
    for c in information.channels:
        row = [
            c.channel, _interval(c.value.to_json()), "yes" if c.above_floor else "no",
            f"{fmt_number(c.group_spend[0])} → {fmt_number(c.group_spend[-1])}",
        ]  # fmt: skip
        if tested:
            row.append(
                "" if c.test_value is None
                else f"{_interval(c.test_value.to_json())} (se {c.test_se:.3g}"
                f"{'' if c.test_above_floor else ', not above noise'})"
            )  # fmt: skip
        table.add_row(*row)
    console.print(table)
    print_planned_tests(information)
    floor = information.noise_floor
    console.print(
        f"noise floor (draws grouped at random) {_interval(floor.to_json())}; each row re-plans "
        f"on {information.groups} groups of the {information.draws} draws, by the channel's "
        "marginal return at current spend"
    )
    best = information.best
    if best is None:
        console.print("no channel's return is worth learning for this plan above the noise")
    else:
        console.print(
            f"a lift test on {best.channel} would inform this plan most, worth up to "
            f"{fmt_number(best.value.mean)} if it settled the channel's return: margin "
            f"experiment design --channel {best.channel}"
        )


def print_planned_tests(information: InformationValue) -> None:
    """One sentence per planned test given as a design (:attr:`ChannelInformation.test_note`)."""
    for c in information.channels:
        if c.test_note is not None:
            console.print(c.test_note)


def record_plan(workspace: Path, run: Path, document: dict[str, Any], out: Path | None) -> None:
    """Record the plan in the workspace ``runs`` table (:func:`margin.data.runs.record_plan`)."""
    from margin.data.runs import record_plan as record
    from margin.data.workspace import Workspace

    with Workspace(workspace) as ws:
        recorded = record(ws, run, document, out)
    console.print(f"recorded plan {recorded.id} in {workspace}")


def _scenario(
    run: Path,
    changes: list[str] | None,
    plan: Path | None,
    weeks: int,
    max_draws: int,
    out: Path | None,
    controls: Path | None = None,
) -> None:
    from margin.errors import ConfigError
    from margin.optimize.request import scenario_request

    if (not changes) == (plan is None):
        raise ConfigError(
            "give spend changes (--change social=+20%, repeatable) or a plan (--plan plan.csv), "
            "not both and not neither"
        )
    response = load_run_response(run, max_draws, controls)
    with status("predicting the scenario"):
        if plan is not None:
            result = scenario_request(response, weeks=weeks, plan_frame=read_plan_csv(plan))
        else:
            from margin.optimize.scenario import parse_changes

            parsed = parse_changes(changes or [], response.channels)
            result = scenario_request(response, weeks=weeks, changes=parsed)
    document = {
        "run_id": response.run_id,
        "weeks": weeks,
        "start": response.start.isoformat(),
        "kpi_value": response.kpi_value,
        **result.to_json(),
    }
    _print_scenario(document, response)
    if out is not None:
        write_json(out, document)
        console.print(f"wrote {out}")


def read_plan_csv(path: Path) -> Any:
    import pandas as pd

    from margin.errors import InputFileError

    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise InputFileError(
            f"cannot read the plan {path}: {err}; give a CSV with columns week, channel, "
            "spend [, geo] (as margin optimize --out writes beside plan.json)"
        ) from err


def _print_scenario(document: dict[str, Any], response: MMMResponse) -> None:
    from rich.table import Table

    table = Table(
        title=f"scenario over {document['weeks']} weeks from {document['start']} (totals)"
    )
    for column in ("channel", "current spend", "scenario spend", "change"):
        table.add_column(column, justify="left" if column == "channel" else "right")
    for name in response.channels:
        now, then = document["current_spend"][name], document["spend"][name]
        table.add_row(name, fmt_number(now), fmt_number(then), fmt_number(then - now))
    console.print(table)
    console.print(
        f"KPI {_interval(document['kpi'])} vs current {_interval(document['current_kpi'])}"
    )
    console.print(
        f"gain {_interval(document['gain'])} (90% interval); P(beats current) = "
        f"{document['p_beats_current']:.0%}; media ROI {_interval(document['roi'])} vs current "
        f"{_interval(document['current_roi'])}"
    )
    print_notes(document["caveats"])
    console.print(
        "[dim]current plan: last 13 weeks' average weekly spend, every week; "
        f"{response.baseline_note}[/]"
    )


def _frontier(
    run: Path,
    start: float,
    stop: float,
    points: int,
    weeks: int,
    margin: float,
    max_draws: int,
    out: Path | None,
) -> None:
    from rich.table import Table

    from margin.optimize.frontier import efficient_frontier

    response = load_run_response(run, max_draws)
    with status(f"solving {points} budgets from {fmt_number(start)} to {fmt_number(stop)}"):
        result = efficient_frontier(response, weeks, start, stop, n_points=points, margin=margin)
    document = {
        "run_id": response.run_id,
        "start": response.start.isoformat(),
        "kpi_value": response.kpi_value,
        **result.to_json(),
    }
    table = Table(title=f"efficient frontier over {weeks} weeks (mean [90%]; * = recommended)")
    for column in ("budget", "KPI", "media ROI", "profit"):
        table.add_column(column, justify="right")
    for i, point in enumerate(document["points"]):
        mark = " *" if i == result.recommended else ""
        table.add_row(
            fmt_number(point["budget"]) + mark, _interval(point["kpi"]),
            _interval(point["roi"]), _interval(point["profit"]),
        )  # fmt: skip
    console.print(table)
    best = document["points"][result.recommended]
    console.print(
        f"recommended budget {fmt_number(best['budget'])}: the highest expected profit "
        f"(KPI value × margin {margin:g} − spend) among the points"
    )
    print_notes(document["caveats"])
    if out is not None:
        write_json(out, document)
        console.print(f"wrote {out}")
