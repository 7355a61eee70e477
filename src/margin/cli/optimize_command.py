"""``margin optimize``, ``margin scenario`` and ``margin frontier`` on a fitted MMM run.

Thin: each command loads the run (:func:`margin.mmm.response.load_response`), builds a
request, calls :mod:`margin.optimize`, prints a table and writes JSON (and a CSV plan).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from margin.cli.common import (
    existing_workspace,
    interval,
    load_run_response,
    print_information,
    print_notes,
    print_plan,
    read_plan_csv,
)
from margin.cli.console import console, fmt_number, progress, status, write_json
from margin.cli.options import (
    MAX_DRAWS,
    ControlsOption,
    DrawsOption,
    OutOption,
    RunOption,
    WeeksOption,
    WorkspaceOption,
)

if TYPE_CHECKING:
    from margin.mmm.response import MMMResponse
    from margin.optimize.planned_test import PlannedTest
    from margin.optimize.request import PlanRequest

__all__ = ["frontier", "optimize", "scenario_command"]


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
    max_change: Annotated[
        str | None,
        typer.Option(
            "--max-change",
            help="Each channel without --bounds moves at most this share of its current "
            "spend (default 50%; e.g. 100%, or none).",
        ),
    ] = None,
    unbounded: Annotated[
        bool,
        typer.Option("--unbounded", help="No default bounds; explicit --bounds still apply."),
    ] = False,
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
    customer_value: Annotated[
        Path | None,
        typer.Option(
            "--customer-value",
            help="by_channel.json (margin ltv by-channel --out DIR), or its folder: a run "
            "whose KPI counts new customers is planned in their lifetime value.",
        ),
    ] = None,
    max_draws: DrawsOption = MAX_DRAWS,
    out: OutOption = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Recommend where the budget should go: gain with its 90% interval, P(beats current)."""
    from margin.errors import ConfigError
    from margin.optimize.information import parse_test_se
    from margin.optimize.planned_test import read_design
    from margin.optimize.request import (
        DEFAULT_MAX_CHANGE,
        PlanRequest,
        parse_bounds,
        parse_max_change,
    )

    if unbounded and max_change is not None:
        raise ConfigError("--unbounded and --max-change contradict each other; give one of them")
    moves = (
        None if unbounded else parse_max_change(max_change) if max_change else DEFAULT_MAX_CHANGE
    )
    # objective and risk are checked by PlanRequest, which names the allowed values
    request = PlanRequest(
        budget=budget, weeks=weeks, bounds=dict(parse_bounds(text) for text in bounds or []),
        bounds_relative=not bounds_absolute, objective=cast(Any, objective), margin=margin,
        target_kpi=target_kpi, min_roi=min_roi, risk=cast(Any, risk), risk_aversion=risk_aversion,
        cvar_alpha=cvar_alpha, locked=tuple(lock or ()), by_geo=by_geo, max_change=moves,
    )  # fmt: skip
    tests = dict(parse_test_se(text) for text in test_se or [])
    designs = [read_design(path) for path in test_design or []]
    valuing = value_of_information or bool(tests) or bool(designs)
    if workspace is not None:  # recording a plan never creates a workspace
        workspace = existing_workspace(workspace)
    response = load_run_response(run, max_draws, controls)
    if customer_value is not None:
        response = _valued(response, run, customer_value)
    _optimize(response, request, tests, designs, valuing=valuing, run=run, out=out,
              workspace=workspace)  # fmt: skip


def _valued(response: MMMResponse, run: Path, path: Path) -> MMMResponse:
    """The run's model with each channel's new customers valued at their customer value
    (``by_channel.json``); the run's KPI must count customers (conversions)."""
    from margin.data.workspace.runs import load_summary, read_json_object
    from margin.errors import ConfigError
    from margin.ltv.channels import value_draws

    kpi = load_summary(run)["kpi"]
    if kpi["type"] != "conversions":
        raise ConfigError(
            f"--customer-value values new customers, but this run's KPI {kpi['name']!r} is "
            f"{kpi['type']}; fit a run whose KPI counts new customers (kpi_type conversions)"
        )
    file = path / "by_channel.json" if path.is_dir() else path
    body = read_json_object(
        file, "customer values", "write it with margin ltv by-channel --out DIR"
    )
    values, baseline, horizon = value_draws(body, response.channels, response.n_draws)
    console.print(
        f"each channel's {kpi['name']} valued at the value of a customer it acquires over "
        f"{horizon:g} weeks ({file}; its interval is carried into every figure)",
        markup=False,
    )
    return response.with_channel_values(values, baseline, f"customer value ({horizon:g} weeks)")


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


def _optimize(
    response: MMMResponse,
    request: PlanRequest,
    tests: dict[str, float],
    designs: list[PlannedTest],
    *,
    valuing: bool,
    run: Path,
    out: Path | None,
    workspace: Path | None,
) -> None:
    from margin.optimize.information import check_request, check_tests
    from margin.optimize.request import canonical_request, current_budget, plan, plan_document
    from margin.optimize.results import write_plan_csv

    request = canonical_request(response, request)  # bounds and locks in the model's spelling
    check_tests(response, tests, designs)
    if valuing:
        check_request(response, request)  # before planning, not after printing the plan
    current = current_budget(response, request.weeks)
    with status(f"optimising {len(response.channels)} channels over {request.weeks} weeks"):
        result = plan(response, request)
        document = plan_document(result, response, request)
    units = _units(run, workspace)
    if response.kpi_name.startswith("customer value"):
        document["valued_as"] = response.kpi_name  # the KPI is in lifetime value (currency)
        units = {**units, "kpi_type": "revenue", "kpi_name": response.kpi_name,
                 "kpi_unit": units["currency"] or "money"}  # fmt: skip
    print_plan(document, result, response, request, current, units)
    if valuing:
        from margin.optimize.information import value_of_information

        steps = f"valuing what a test of each of {len(response.channels)} channels would teach"
        with progress(steps) as step:
            information = value_of_information(
                response, result, request, test_se=tests, tests=designs, progress=step
            )
        document["value_of_information"] = information.to_json()
        print_information(information)
    if out is None and workspace is not None:
        # a recorded plan keeps its file (a refresh scores it), where the API keeps it
        from margin.data.workspace.runs import plan_id, plan_path

        out = plan_path(run, plan_id(document))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_json(out, document)
        csv_path = write_plan_csv(result, out.with_suffix(".csv"), start=response.start)
        console.print(f"wrote {out} and {csv_path} (week × geo × channel spend)")
    if workspace is not None:
        _record_plan(workspace, run, document, out)


def _units(run: Path, workspace: Path | None) -> dict[str, Any]:
    """The run's units (KPI type, the workspace's currency when given), as the report and
    the dashboard label the plan (:func:`margin.report.views.units_of`)."""
    from margin.data.workspace.runs import load_summary
    from margin.report.views import units_of

    currency = None
    if workspace is not None and workspace.exists():
        from margin.data.workspace.store import Workspace

        with Workspace(workspace, read_only=True) as ws:
            currency = ws.settings.currency
    return units_of(load_summary(run), currency)


def _record_plan(workspace: Path, run: Path, document: dict[str, Any], out: Path | None) -> None:
    """Record the plan in the workspace's ``runs`` table by the one rule of
    :func:`margin.data.workspace.runs.record_plan` (the API's too)."""
    from margin.data.workspace.runs import record_plan
    from margin.data.workspace.store import Workspace

    with Workspace(workspace) as ws:
        recorded = record_plan(ws, run, document, out)
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
    from margin.optimize.request import scenario_document

    if (not changes) == (plan is None):
        raise ConfigError(
            "give spend changes (--change social=+20%, repeatable) or a plan (--plan plan.csv), "
            "not both and not neither"
        )
    response = load_run_response(run, max_draws, controls)
    with status("predicting the scenario"):
        if plan is not None:
            document = scenario_document(response, weeks=weeks, plan_frame=read_plan_csv(plan))
        else:
            from margin.optimize.scenario import parse_changes

            parsed = parse_changes(changes or [], response.channels)
            document = scenario_document(response, weeks=weeks, changes=parsed)
    _print_scenario(document, response)
    if out is not None:
        write_json(out, document)
        console.print(f"wrote {out}")


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
    console.print(f"KPI {interval(document['kpi'])} vs current {interval(document['current_kpi'])}")
    console.print(
        f"gain {interval(document['gain'])} (90% interval); P(beats current) = "
        f"{document['p_beats_current']:.0%}; media ROI {interval(document['roi'])} vs current "
        f"{interval(document['current_roi'])}"
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
            fmt_number(point["budget"]) + mark, interval(point["kpi"]),
            interval(point["roi"]), interval(point["profit"]),
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
