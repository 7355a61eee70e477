"""``margin forecast``: the next weeks' KPI for a spend plan, or a backtest on held-out weeks.

Thin, as the planning commands: load the run, build the spend plan (the current plan, a
what-if or a CSV plan), call :func:`margin.optimize.forecast` (or
:func:`margin.optimize.backtest` on the weeks the fit held out), print a weekly table and
write JSON.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from margin.cli.console import console, fmt_number, status, write_json
from margin.cli.optimize_command import (
    MAX_DRAWS,
    DrawsOption,
    RunOption,
    WeeksOption,
    load_run_response,
    print_notes,
    read_plan_csv,
)
from margin.cli.options import OutOption

__all__ = ["register"]

CURRENT_PLAN = "the current plan: the last 13 weeks' average weekly spend, every week"


def register(app: typer.Typer) -> None:
    @app.command("forecast")
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
        backtest: Annotated[
            bool,
            typer.Option(
                "--backtest",
                help="Forecast the weeks the fit held out (mmm fit --holdout-weeks) from their "
                "actual spend, and score the forecast against the KPI that happened.",
            ),
        ] = False,
        seed: Annotated[int, typer.Option(help="Seed of the observation-noise draws.")] = 0,
        max_draws: DrawsOption = MAX_DRAWS,
        out: OutOption = None,
    ) -> None:
        """Forecast the next weeks' KPI (baseline + media) with 90% bands, or backtest it."""
        if backtest:
            document = _backtest(run, change, plan, seed, max_draws)
        else:
            document = _forecast(run, weeks, change, plan, seed, max_draws)
        _print(document)
        if out is not None:
            write_json(out, document)
            console.print(f"wrote {out}")


def _forecast(
    run: Path,
    weeks: int,
    changes: list[str] | None,
    plan: Path | None,
    seed: int,
    max_draws: int,
) -> dict[str, Any]:
    from margin.errors import ConfigError
    from margin.optimize.forecast import forecast
    from margin.optimize.problem import current_plan

    if changes and plan is not None:
        raise ConfigError(
            "give spend changes (--change social=+20%) or a plan (--plan plan.csv), not both"
        )
    response = load_run_response(run, max_draws)
    with status("forecasting"):
        if changes or plan is not None:
            from margin.optimize.request import scenario_request
            from margin.optimize.scenario import parse_changes

            if plan is not None:
                what_if = scenario_request(response, weeks=weeks, plan_frame=read_plan_csv(plan))
                source = f"the plan in {plan.name}"
            else:
                parsed = parse_changes(changes or [], response.channels)
                what_if = scenario_request(response, weeks=weeks, changes=parsed)
                source = "the current plan with " + ", ".join(changes or [])
            spend, caveats = what_if.plan, list(what_if.caveats)
        else:
            spend, source, caveats = current_plan(response, weeks), CURRENT_PLAN, []
        result = forecast(response, spend, seed=seed)
    return {
        "kind": "forecast",
        **_header(response.run_id, response.start, weeks, response.channels, spend),
        "spend_plan": source,
        "baseline_note": response.baseline_note,
        "caveats": caveats,
        "seed": seed,
        **result.to_dict(),
    }


def _backtest(
    run: Path, changes: list[str] | None, plan: Path | None, seed: int, max_draws: int
) -> dict[str, Any]:
    from margin.errors import ConfigError
    from margin.mmm.artifacts import load_run
    from margin.mmm.response import response_from_run
    from margin.optimize.forecast import backtest

    if changes or plan is not None:
        raise ConfigError(
            "--backtest forecasts the held-out weeks from the spend that actually ran in them; "
            "give it without --change or --plan"
        )
    with status(f"loading the run in {run}"):
        saved = load_run(run)
    held_out = int(saved.meta.get("holdout_weeks") or 0)
    if held_out == 0:
        raise ConfigError(
            f"the run in {run} was fitted on every week, so no week is left to backtest on: "
            "refit with margin mmm fit --holdout-weeks 13 (the last 13 weeks are then left "
            "out of the fit), then backtest that run"
        )
    end = int(saved.meta["fitted_weeks"])
    response = response_from_run(saved, end=end, max_draws=max_draws)
    spend = saved.arrays["spend"][:, end:, :]
    with status("backtesting on the held-out weeks"):
        scored = backtest(response, spend, saved.arrays["kpi"][:, end:], seed=seed)
    return {
        "kind": "backtest",
        **_header(response.run_id, response.start, held_out, response.channels, spend),
        "spend_plan": "the spend that actually ran in the held-out weeks",
        "baseline_note": response.baseline_note,
        "caveats": [],
        "seed": seed,
        **scored.forecast.to_dict(),
        "actual": scored.actual.sum(axis=0).tolist(),
        "coverage": scored.coverage,
        "mape": scored.mape,
        "bias": scored.bias,
    }


def _header(
    run_id: str, start: date, weeks: int, channels: tuple[str, ...], spend: Any
) -> dict[str, Any]:
    totals = spend.sum(axis=(0, 1))
    return {
        "run_id": run_id,
        "start": start.isoformat(),
        "weeks": weeks,
        "dates": [(start + timedelta(weeks=k)).isoformat() for k in range(weeks)],
        "spend": {name: float(totals[c]) for c, name in enumerate(channels)},
    }


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
