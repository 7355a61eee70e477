"""``margin forecast``: the next weeks' KPI for a spend plan, or a backtest on held-out weeks.

Thin, as the planning commands: load the run, build the spend plan (the current plan, a
what-if or a CSV plan), call :func:`margin.optimize.forecast` (or
:func:`margin.optimize.backtest` on the weeks the fit held out), print a weekly table and
write JSON.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from margin.cli.common import load_run_response, print_notes, read_plan_csv
from margin.cli.console import console, fmt_number, status, write_json
from margin.cli.options import (
    MAX_DRAWS,
    ControlsOption,
    DrawsOption,
    OutOption,
    RunOption,
    WeeksOption,
)

__all__ = ["forecast_command"]


def forecast_command(
    run: RunOption,
    weeks: WeeksOption = 13,
    change: Annotated[
        list[str] | None,
        typer.Option("--change", help="Forecast a what-if, e.g. social=+20% (repeatable)."),
    ] = None,
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="Forecast a CSV plan: week, channel, spend [, geo]."),
    ] = None,
    controls: ControlsOption = None,
    backtest: Annotated[
        bool,
        typer.Option(
            "--backtest",
            help="Forecast the weeks the fit held out (mmm fit --holdout-weeks) from their "
            "actual spend and controls, and score it against the KPI that happened.",
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the observation-noise draws.")] = 0,
    max_draws: DrawsOption = MAX_DRAWS,
    out: OutOption = None,
) -> None:
    """Forecast the next weeks' KPI (baseline + media) with 90% bands, or backtest it."""
    if backtest:
        if change or plan is not None or controls is not None:
            from margin.errors import ConfigError

            raise ConfigError(
                "--backtest forecasts the held-out weeks from the spend and controls that "
                "actually ran in them; give it without --change, --plan or --controls"
            )
        document = _backtest(run, seed, max_draws)
    else:
        document = _forecast(run, weeks, change, plan, controls, seed, max_draws)
    _print(document)
    if out is not None:
        write_json(out, document)
        console.print(f"wrote {out}")


def _forecast(
    run: Path,
    weeks: int,
    changes: list[str] | None,
    plan: Path | None,
    controls: Path | None,
    seed: int,
    max_draws: int,
) -> dict[str, Any]:
    from margin.errors import ConfigError
    from margin.optimize.request import forecast_request

    if changes and plan is not None:
        raise ConfigError(
            "give spend changes (--change social=+20%) or a plan (--plan plan.csv), not both"
        )
    response = load_run_response(run, max_draws, controls)
    parsed = None
    if changes:
        from margin.optimize.scenario import parse_changes

        parsed = parse_changes(changes, response.channels)
    frame = read_plan_csv(plan) if plan is not None else None
    with status("forecasting"):
        document = forecast_request(
            response, weeks=weeks, changes=parsed, plan_frame=frame, seed=seed
        )
    if plan is not None:
        document["spend_plan"] = f"the plan in {plan.name}"
    return document


def _backtest(run: Path, seed: int, max_draws: int) -> dict[str, Any]:
    from margin.mmm.response import holdout_response
    from margin.optimize.request import backtest_document

    with status(f"loading the run in {run}"):
        response, spend, actual = holdout_response(run, max_draws=max_draws)
    with status("backtesting on the held-out weeks"):
        return backtest_document(response, spend, actual, seed=seed)


def _print(document: dict[str, Any]) -> None:
    from rich.table import Table

    backtesting = document["kind"] == "backtest"
    title = "backtest on the held-out weeks" if backtesting else "forecast"
    table = Table(title=f"{title}: KPI per week, all geos (90% band: where the KPI should fall)")
    columns = ["week", "KPI", "90% band", "baseline", "media", *(["actual"] if backtesting else [])]
    for column in columns:
        table.add_column(column, justify="left" if column == "week" else "right")
    total = document["total"]
    for k, week in enumerate(document["dates"]):
        row = [
            week,
            fmt_number(total["mean"][k]),
            f"{fmt_number(total['p05'][k])} to {fmt_number(total['p95'][k])}",
            fmt_number(document["baseline"][k]),
            fmt_number(document["media"][k]),
        ]
        if backtesting:
            row.append(fmt_number(document["actual"][k]))
        table.add_row(*row)
    console.print(table)
    horizon = document["horizon_total"]
    console.print(
        f"{document['weeks']} weeks together: KPI {fmt_number(horizon['mean'])} "
        f"[{fmt_number(horizon['p05'])}, {fmt_number(horizon['p95'])}] (90% band)"
    )
    if backtesting:
        console.print(
            f"actual {fmt_number(sum(document['actual']))}; {document['coverage']:.0%} of the "
            "geo-weeks inside their 90% band (about 90% if the model is calibrated); weekly "
            f"error {document['mape']:.1%} on average, bias {document['bias']:+.1%} "
            "(forecast above actual when positive)"
        )
    print_notes(document["caveats"])
    console.print(f"[dim]spend: {document['spend_plan']}; {document['baseline_note']}[/]")
