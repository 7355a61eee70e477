"""``margin ltv …``: customer value (fit the models, value by channel, the holdout check,
exports for the ad platforms). See docs/ltv.md."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from margin.cli.console import console, status, write_json
from margin.cli.options import WorkspaceOption

if TYPE_CHECKING:
    from margin.ltv.channels import ValueByChannel
    from margin.ltv.results import HoldoutCheck, LtvFit
    from margin.ltv.summary import CustomerSummary, SummarySettings
    from margin.types import Interval

__all__ = ["by_channel", "export", "fit", "holdout", "ltv"]

ltv = typer.Typer(
    help="Customer value: fit BG/NBD, Pareto/NBD, Gamma-Gamma or sBG; value by acquisition "
    "channel; the holdout check; exports for Meta and Google.",
    no_args_is_help=True,
)
"""``margin ltv …``."""

TransactionsOption = Annotated[
    Path | None,
    typer.Option(
        "--transactions",
        help="Transactions file: CSV/Parquet with customer_id (or customer_key), ts, amount "
        "[, acquisition_channel] (default: the workspace's transactions table).",
        show_default=False,
    ),
]
LayoutOption = Annotated[
    str,
    typer.Option(
        "--layout", help="Layout of --transactions: table (CSV/Parquet) or cdnow (CDNOW's text)."
    ),
]
CalibrationOption = Annotated[
    str | None,
    typer.Option(
        "--calibration-end",
        help="Last day of the calibration period (ISO date); later purchases are the holdout.",
        show_default=False,
    ),
]
PeriodOption = Annotated[
    str, typer.Option("--period", help="Purchases in one day or week count once: day or week.")
]
OutDirOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Folder to write the JSON files into.")
]
CurrencyOption = Annotated[
    str | None,
    typer.Option(
        "--currency",
        help="Currency of a file's amounts (default: the workspace's; USD without one).",
        show_default=False,
    ),
]
UNITS = {
    "r": "shape", "alpha": "{time}", "a": "shape", "b": "shape", "s": "shape",
    "beta": "{time}", "p": "shape", "q": "shape", "gamma": "{money}",
}  # fmt: skip
"""What each parameter is measured in (shapes have no unit)."""


def _settings(calibration_end: str | None, period: str) -> SummarySettings:
    from margin.ltv.summary import SummarySettings

    return SummarySettings(period=period, calibration_end=calibration_end)  # type: ignore[arg-type]


def _check_layout(layout: str, transactions: Path | None) -> None:
    from margin.errors import ConfigError

    if layout not in ("table", "cdnow"):
        raise ConfigError(f"--layout {layout!r} is not known; use table or cdnow")
    if layout == "cdnow" and transactions is None:
        raise ConfigError("--layout cdnow reads a --transactions FILE; pass one")


def _currency(workspace: Path | None, given: str | None) -> str:
    """``given``, else the workspace's currency, else USD."""
    from margin.data.workspace.store import Workspace, resolve_path

    if given is not None:
        from margin.data.workspace.store import WorkspaceSettings

        return WorkspaceSettings(currency=given.strip().upper()).currency
    path = resolve_path(workspace)
    if not path.exists():
        return "USD"
    with Workspace(path, read_only=True) as ws:
        return ws.settings.currency


def _print_fit(fit: LtvFit, time: str, money: str) -> None:
    from rich.table import Table

    from margin.cli.console import fmt_number

    grid = Table(title=f"{fit.model}: {fit.n_customers:,.0f} customers, log-likelihood "
                 f"{fit.loglik:,.1f}", title_justify="left")  # fmt: skip
    for name in ("parameter", "estimate", "90% interval", "unit"):
        grid.add_column(name, justify="left" if name in ("parameter", "unit") else "right")
    for name, p in fit.params.items():
        unit = UNITS.get(name, "shape").format(time=time, money=money)
        if fit.model == "sbg":
            unit = "shape"
        grid.add_row(name, fmt_number(p.estimate),
                     f"[{fmt_number(p.p05)}, {fmt_number(p.p95)}]", unit)  # fmt: skip
    console.print(grid)


def _fit_input(
    model: str, summary: Path | None, survival: Path | None, transactions: Path | None
) -> None:
    from margin.errors import ConfigError
    from margin.ltv.pipeline import MODELS

    if model not in MODELS:
        raise ConfigError(f"--model {model!r} is not known; use one of {', '.join(MODELS)}")
    given = [n for n, v in (("--summary", summary), ("--survival", survival),
                            ("--transactions", transactions)) if v is not None]  # fmt: skip
    if len(given) > 1:
        raise ConfigError(f"pass one input, not {' and '.join(given)}")
    if (model == "sbg") != (survival is not None):
        raise ConfigError(
            "the sBG model reads a cohort's survival counts: pass --model sbg with --survival "
            "FILE (period, alive), and the other models with --transactions, --summary or -w"
        )


def _fit_files(
    model: str, summary: Path | None, survival: Path | None, customers: CustomerSummary | None
) -> tuple[LtvFit, dict[str, Any], Any]:
    """(the asked fit, the run files, the predictions or None)."""
    from margin.ltv.pipeline import (
        PURCHASE_MODELS,
        fit_frame,
        holdout_for,
        ltv_body,
        p_alive_body,
        predicted_values,
        read_summary_file,
        read_survival_file,
    )
    from margin.ltv.sbg import fit_sbg

    if survival is not None:
        main = fit_sbg(read_survival_file(survival))
        return main, {"ltv": ltv_body(main, None, None)}, None
    frame = read_summary_file(summary) if summary is not None else None
    rows = frame if frame is not None else customers.customers  # type: ignore[union-attr]
    main, spend = fit_frame(model, rows)
    files: dict[str, Any] = {"ltv": ltv_body(main, spend, customers)}
    predictions = None
    if model in PURCHASE_MODELS:
        files["p_alive"] = p_alive_body(main, rows)
        check = None if customers is None else holdout_for(main, customers)
        if check is not None:
            files["holdout"] = check.to_json()
        if customers is not None and spend is not None:
            predictions = predicted_values((main, spend), customers, 52.0)
    return main, files, predictions


def _write(out: Path | None, files: dict[str, Any]) -> None:
    if out is None:
        return
    for name, body in files.items():
        write_json(out / f"{name}.json", body)
    console.print(f"wrote {', '.join(f'{n}.json' for n in files)} to {out}", highlight=False)


@ltv.command("fit")
def fit(
    model: Annotated[str, typer.Option("--model", help="bgnbd, pareto_nbd, gamma_gamma or sbg.")],
    transactions: TransactionsOption = None,
    layout: LayoutOption = "table",
    summary: Annotated[
        Path | None,
        typer.Option("--summary", help="Summary file: frequency, recency, T[, monetary_value]."),
    ] = None,
    survival: Annotated[
        Path | None,
        typer.Option("--survival", help="sBG: a cohort's survival counts (period, alive)."),
    ] = None,
    calibration_end: CalibrationOption = None,
    period: PeriodOption = "day",
    currency: CurrencyOption = None,
    workspace: WorkspaceOption = None,
    out: OutDirOption = None,
) -> None:
    """Fit a customer-value model and print its parameters with 90% intervals; from the
    workspace, record the run (margin ltv export reads it)."""
    from margin.cli.common import existing_workspace
    from margin.ltv.pipeline import summary_of

    _fit_input(model, summary, survival, transactions)
    _check_layout(layout, transactions)
    from_workspace = summary is None and survival is None and transactions is None
    path = existing_workspace(workspace) if from_workspace else workspace
    money = _currency(path, currency)
    customers = None
    with status(f"fitting {model}"):
        if summary is None and survival is None:
            customers = summary_of(transactions, path, layout, _settings(calibration_end, period))
        main, files, predictions = _fit_files(model, summary, survival, customers)
    time = "periods" if customers is None else customers.unit
    _print_fit(main, time, money)
    if "holdout" in files:
        console.print("holdout check written with the run (see margin ltv holdout)")
    if from_workspace:
        _record(path, files, predictions, f"{model} on {main.n_customers:,.0f} customers")
    _write(out, files)


def _record(path: Path | None, files: dict[str, Any], predictions: Any, message: str) -> None:
    from margin.ltv.runs import save_ltv_run

    run_id = save_ltv_run(path or Path(), files, message=message, predictions=predictions)
    console.print(f"recorded customer-value run {run_id}", highlight=False)


def _incrementality(path: Path) -> dict[str, Interval] | None:
    """Channel → incremental ÷ attributed (last touch), from ``margin reconcile``; None
    when the workspace has no MMM run or attributed conversions."""
    from margin.errors import MarginError
    from margin.loop.reconcile import reconcile_workspace

    try:
        table = reconcile_workspace(path, None, ("last_touch",), n_bootstrap=50)
    except MarginError:
        return None
    found = {r.channel: r.factor_mmm.get("last_touch") for r in table.rows}
    factors = {k: v for k, v in found.items() if v is not None}
    return factors or None


def _spend(path: Path, customers: CustomerSummary) -> dict[str, float] | None:
    from margin.data.workspace.store import Workspace
    from margin.ltv.runs import channel_spend

    first = customers.customers["acquired_at"].min().date()
    with Workspace(path, read_only=True) as ws:
        return channel_spend(ws, first, customers.calibration_end) or None


def _cell(stat: Interval | None, unit: str = "") -> str:
    from margin.cli.console import fmt_number

    if stat is None:
        return "–"
    return f"{fmt_number(stat.mean)}{unit} [{fmt_number(stat.p05)}, {fmt_number(stat.p95)}]"


def _print_channels(table: ValueByChannel) -> None:
    from rich.markup import escape
    from rich.table import Table

    from margin.cli.console import fmt_number

    money = table.currency
    grid = Table(
        title=f"Value of a new customer over {table.horizon_weeks:g} weeks ({money}, first "
        "purchase included; mean [90% interval])",
        title_justify="left",
    )
    heads = ("channel", f"value ({money})", "customers", f"CAC ({money})", "LTV:CAC",
             f"incremental CAC ({money})", "payback (weeks)")  # fmt: skip
    for h in heads:
        grid.add_column(h, justify="left" if h == "channel" else "right")
    for c in table.channels:
        cac = "–" if c.cac is None else fmt_number(c.cac)
        name = c.channel + (" (pooled fit)" if c.pooled else "")
        grid.add_row(escape(name), _cell(c.value), f"{c.customers:,}", cac,
                     _cell(c.ltv_cac), _cell(c.incremental_cac),
                     _cell(c.payback_weeks))  # fmt: skip
    console.print(grid)


@ltv.command("by-channel")
def by_channel(
    horizon_weeks: Annotated[
        float, typer.Option("--horizon-weeks", help="Weeks of value after the acquisition.")
    ] = 52.0,
    discount: Annotated[
        float, typer.Option("--discount", help="Annual discount rate (0.1 = 10% a year).")
    ] = 0.0,
    transactions: TransactionsOption = None,
    layout: LayoutOption = "table",
    calibration_end: CalibrationOption = None,
    period: PeriodOption = "day",
    currency: CurrencyOption = None,
    workspace: WorkspaceOption = None,
    out: OutDirOption = None,
) -> None:
    """Value of a new customer per acquisition channel, with CAC, LTV:CAC, incremental CAC
    and payback; from the workspace, spend comes from its spend table and the run is recorded."""
    from margin.cli.common import existing_workspace
    from margin.ltv.channels import value_by_channel
    from margin.ltv.pipeline import summary_of

    _check_layout(layout, transactions)
    path = existing_workspace(workspace) if transactions is None else workspace
    money = _currency(path, currency)
    with status("summarising customers"):
        customers = summary_of(transactions, path, layout, _settings(calibration_end, period))
    spend = _spend(path, customers) if transactions is None and path is not None else None
    factors = None if transactions is not None or path is None else _incrementality(path)
    with status("fitting BG/NBD and Gamma-Gamma per channel"):
        table = value_by_channel(customers, horizon_weeks, spend=spend, incrementality=factors,
                                 annual_discount_rate=discount, currency=money)  # fmt: skip
        files, predictions = _channel_files(table, customers, horizon_weeks, discount)
    _print_channels(table)
    if spend is None:
        console.print("CAC: needs spend per channel (the workspace's spend table)")
    if factors is None:
        console.print("incremental CAC: needs an MMM run and attributed conversions")
    if transactions is None:
        _record(path, files, predictions, f"value by channel over {horizon_weeks:g} weeks")
    _write(out, files)


def _channel_files(
    table: ValueByChannel, customers: CustomerSummary, horizon: float, discount: float
) -> tuple[dict[str, Any], Any]:
    from margin.ltv.pipeline import holdout_for, ltv_body, p_alive_body, predicted_values

    fits = (table.purchases, table.spend_model)
    files: dict[str, Any] = {
        "ltv": ltv_body(*fits, customers),
        "by_channel": table.to_json(),
        "p_alive": p_alive_body(table.purchases, customers.customers),
    }
    check = holdout_for(table.purchases, customers)
    if check is not None:
        files["holdout"] = check.to_json()
    return files, predicted_values(fits, customers, horizon, table, discount)


def _print_holdout(check: HoldoutCheck, unit: str) -> None:
    from rich.table import Table

    grid = Table(
        title=f"{check.model} holdout check: mean repeat purchases per customer in the "
        f"{check.holdout_length:g}-{unit.rstrip('s')} holdout, by purchases in the calibration",
        title_justify="left",
    )
    for name in ("calibration purchases", "customers", "actual", "predicted [90% interval]"):
        grid.add_column(name, justify="right")
    for i, label in enumerate(check.buckets):
        grid.add_row(label, f"{check.customers[i]:,.0f}", f"{check.actual[i]:.3f}",
                     f"{check.predicted[i]:.3f} [{check.predicted_p05[i]:.3f}, "
                     f"{check.predicted_p95[i]:.3f}]")  # fmt: skip
    console.print(grid)


@ltv.command("holdout")
def holdout(
    calibration_end: Annotated[
        str, typer.Option("--calibration-end", help="Last day of the calibration (ISO date).")
    ],
    transactions: TransactionsOption = None,
    layout: LayoutOption = "table",
    model: Annotated[str, typer.Option("--model", help="bgnbd or pareto_nbd.")] = "bgnbd",
    period: PeriodOption = "day",
    workspace: WorkspaceOption = None,
    out: OutDirOption = None,
) -> None:
    """The holdout check (Fader, Hardie & Lee 2005, Figure 4): fit on the calibration, then
    predicted vs actual repeat purchases in the holdout per calibration frequency."""
    from margin.cli.common import existing_workspace
    from margin.errors import ConfigError
    from margin.ltv.pipeline import PURCHASE_MODELS, fit_frame, holdout_for, ltv_body, summary_of

    if model not in PURCHASE_MODELS:
        raise ConfigError(f"--model {model!r}: the holdout check needs bgnbd or pareto_nbd")
    _check_layout(layout, transactions)
    path = existing_workspace(workspace) if transactions is None else workspace
    with status(f"fitting {model} on the calibration period"):
        customers = summary_of(transactions, path, layout, _settings(calibration_end, period))
        main, spend = fit_frame(model, customers.customers)
        check = holdout_for(main, customers)
    if check is None:
        raise ConfigError(
            f"no holdout: the calibration end {customers.calibration_end} is on or after the "
            "last purchase; choose an earlier --calibration-end"
        )
    _print_holdout(check, customers.unit)
    _write(out, {"ltv": ltv_body(main, spend, customers), "holdout": check.to_json()})


def _export_frame(path: Path, run_id: str | None, identifiers: Path | None) -> tuple[Any, str]:
    from margin.data.workspace.hashing import load_key
    from margin.data.workspace.store import Workspace
    from margin.ltv.exports import attach_identifiers
    from margin.ltv.runs import load_ltv_run, load_predictions

    with Workspace(path, read_only=True) as ws:
        run = load_ltv_run(ws, run_id)
        currency = ws.settings.currency
        key = load_key(ws) if identifiers is not None else None
    frame = load_predictions(run)
    if identifiers is not None:
        frame = attach_identifiers(frame, identifiers, key)
    console.print(f"predictions of customer-value run {run['run_id']}", highlight=False)
    return frame, currency


@ltv.command("export")
def export(
    platform: Annotated[str, typer.Argument(help="meta or google.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the export files.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Meta: when you will upload (default: now, UTC).", show_default=False
        ),
    ] = None,
    identifiers: Annotated[
        Path | None,
        typer.Option(
            "--identifiers",
            help="CSV: customer_id (or customer_key), email, phone, "
            "gclid; hashed here, never stored.",
            show_default=False,
        ),
    ] = None,
    conversion_name: Annotated[
        str, typer.Option("--conversion-name", help="Google: the conversion action's name.")
    ] = "Predicted customer value",
    timezone: Annotated[
        str,
        typer.Option("--timezone", help="Google: the upload's time zone (+0100, Europe/Paris)."),
    ] = "+0000",
    run: Annotated[
        str | None, typer.Option("--run", help="Customer-value run id (default: the latest).")
    ] = None,
    workspace: WorkspaceOption = None,
) -> None:
    """Each customer's predicted value, as files for Meta (Conversions API events with
    predicted_ltv) or Google Ads (offline conversions, value rules). Nothing is sent."""
    from margin.cli.common import existing_workspace
    from margin.errors import ConfigError

    if platform not in ("meta", "google"):
        raise ConfigError(f"unknown platform {platform!r}; use meta or google")
    path = existing_workspace(workspace)
    frame, currency = _export_frame(path, run, identifiers)
    if platform == "meta":
        _export_meta(frame, out, as_of, currency)
    else:
        _export_google(frame, out, (conversion_name, timezone), currency)


def _export_meta(frame: Any, out: Path, as_of: str | None, currency: str) -> None:
    from datetime import UTC, datetime

    from margin.ltv.exports import write_meta_events

    when = as_of if as_of is not None else datetime.now(UTC)
    done = write_meta_events(frame, out / "meta_events.json", as_of=when, currency=currency)
    console.print(
        f"wrote {done.events:,} Meta events ({done.distinct_values:,} distinct predicted values "
        f"in {done.currency}) to {', '.join(str(p) for p in done.paths)}; skipped "
        f"{done.skipped_old:,} acquired more than 7 days before, {done.skipped_future:,} after",
        highlight=False,
    )


def _export_google(frame: Any, out: Path, names: tuple[str, str], currency: str) -> None:
    from margin.ltv.exports import write_google_conversions, write_value_rules

    rules = out / "google_value_rules.csv"
    done = write_google_conversions(frame, out, conversion_name=names[0], timezone=names[1],
                                    currency=currency)  # fmt: skip
    try:
        write_value_rules(frame, rules, currency=currency)
    except BaseException:
        for written in (done.clicks_path, done.leads_path):
            if written is not None:
                written.unlink(missing_ok=True)
        raise
    console.print(
        f"wrote {done.clicks:,} click conversions, {done.leads:,} lead conversions (values in "
        f"{currency}; {done.skipped:,} customers without a click ID, email or phone skipped) "
        f"and value multipliers per channel to {out}",
        highlight=False,
    )
