"""``margin reconcile``: MMM ROI, attributed ROAS and lift-test iROAS side by side, per channel."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from margin.cli.console import console, status, write_json
from margin.cli.options import OutOption, WorkspaceOption

if TYPE_CHECKING:
    from margin.loop.reconcile import ChannelReconciliation, Reconciliation
    from margin.types import Interval

__all__ = ["print_reconciliation", "reconcile"]


def reconcile(
    workspace: WorkspaceOption = None,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="MMM run id or run folder (default: the workspace's latest usable run).",
            show_default=False,
        ),
    ] = None,
    models: Annotated[
        str,
        typer.Option(
            "--models",
            help="Attribution models to reconcile, comma-separated (e.g. last_touch,markov,shapley).",
        ),
    ] = "last_touch,markov",
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap replicates of the attribution's intervals.")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the attribution's bootstrap.")] = 0,
    out: OutOption = None,
) -> None:
    """Reconcile the MMM, attribution and lift tests: each channel's return under each, and
    the incrementality factor (incremental ÷ attributed) that calibrates attribution.
    """
    from margin.cli.common import existing_workspace
    from margin.loop.reconcile import check_models, reconcile_workspace

    path = existing_workspace(workspace)
    names = check_models(models.split(","))
    with status("reconciling the MMM, attribution and lift tests"):
        table = reconcile_workspace(path, run, names, n_bootstrap=bootstrap, seed=seed)
    print_reconciliation(table)
    if out:
        write_json(out, table.to_json())
        console.print(f"wrote {out}")


def _cell(stat: Interval | None) -> str:
    from margin.wording import span

    if stat is None:
        return "–"
    return span(stat, lambda x: f"{x:.2f}").replace(" [", "\n[")


def _cells(row: ChannelReconciliation, models: tuple[str, ...]) -> list[str]:
    """channel, MMM ROI, ROAS per model, lift iROAS, factor per model (MMM; lift below), flags."""
    cells = [row.channel, _cell(row.mmm_roi)]
    for m in models:
        roas = row.attributed[m]
        if roas.value is not None and roas.interval is None:
            cells.append(f"{roas.value:.2f}\n(no interval)")
        else:
            cells.append(_cell(roas.interval))
    tests = f"\n{len(row.lift_tests)} test(s)" if row.lift_tests else ""
    cells.append(_cell(None if row.lift is None else row.lift.iroas) + tests)
    for m in models:
        text = _cell(row.factor_mmm.get(m))
        lift = row.factor_lift.get(m)
        if lift is not None:
            text += "\nlift: " + _cell(lift).replace("\n", " ")
        cells.append(text)
    cells.append(", ".join(sorted({f.kind.replace("_", " ") for f in row.flags})))
    return cells


def print_reconciliation(table: Reconciliation) -> None:
    """The table (channel, MMM ROI, ROAS per model, lift iROAS, factor per model, flags),
    then each flag's reason and the notes, one line each."""
    from rich.markup import escape
    from rich.table import Table

    from margin.wording import per_money

    unit = per_money(table.currency)
    grid = Table(
        title=f"Return per channel ({unit}; mean, 90% interval below)",
        show_lines=True,
        title_justify="left",
    )
    headers = ["channel", "MMM ROI"]
    headers += [f"ROAS {m}" for m in table.models]
    headers += ["lift iROAS"]
    headers += [f"factor {m}" for m in table.models]
    headers += ["flag"]
    for h in headers:
        grid.add_column(h, justify="left" if h in ("channel", "flag") else "right")
    for row in table.rows:
        grid.add_row(*(escape(c) for c in _cells(row, table.models)))
    console.print(grid)
    console.print(
        f"ROI, ROAS and iROAS in {table.unit} ({unit}); factor = incremental ÷ attributed "
        "(MMM ROI ÷ ROAS; lift: lift iROAS ÷ ROAS): multiply a campaign's attributed ROAS "
        "by its channel's factor to calibrate it.",
        highlight=False,
    )
    for row in table.rows:
        for flag in row.flags:
            console.print(
                f"[yellow]flag:[/] {escape(row.channel)}: {escape(flag.reason)}", highlight=False
            )
    for note in table.notes:
        console.print(f"note: {escape(note)}", highlight=False)
