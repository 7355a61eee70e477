"""``margin attribute``: multi-touch attribution credits per channel, with intervals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from margin.cli.console import console, status, write_json
from margin.cli.options import OutOption

if TYPE_CHECKING:
    from margin.attribution import AttributionResult

__all__ = ["attribute", "print_credits"]


def attribute(
    events: Annotated[
        Path | None, typer.Option("--events", help="Events file (CSV or Parquet).")
    ] = None,
    workspace: Annotated[
        str | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Read the workspace events table (PATH; '' or '.' for $MARGIN_WORKSPACE or ./margin.duckdb).",
            show_default=False,
        ),
    ] = None,
    paths: Annotated[
        Path | None,
        typer.Option(
            "--paths",
            help="Aggregated paths in ChannelAttribution's layout (path 'a > b', total_conversions, total_conversion_value, total_null).",
        ),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            help="first_touch, last_touch, last_non_direct, linear, time_decay, position_based, markov, shapley, or all (comma-separate several)."
        ),
    ] = "all",
    order: Annotated[int, typer.Option(help="Markov chain order (1 to 6).")] = 1,
    engine: Annotated[str, typer.Option(help="duckdb (in-process) or spark.")] = "duckdb",
    lookback_days: Annotated[
        float, typer.Option(help="How long before a conversion a touch can earn credit.")
    ] = 30.0,
    collapse_repeats: Annotated[
        bool, typer.Option(help="Merge consecutive touches of the same channel.")
    ] = False,
    drop_direct: Annotated[
        bool, typer.Option(help="Remove direct touches from every journey.")
    ] = False,
    direct: Annotated[
        str, typer.Option(help="Channel names counted as direct (comma-separated).")
    ] = "direct",
    level: Annotated[str, typer.Option(help="Credit 'channel' or 'campaign'.")] = "channel",
    half_life_days: Annotated[float, typer.Option(help="Time-decay half-life in days.")] = 7.0,
    position_weights: Annotated[
        str, typer.Option(help="Position-based shares first,middle,last.")
    ] = "0.4,0.2,0.4",
    bootstrap: Annotated[
        int, typer.Option(help="Bootstrap replicates for p05/p95 (0: none).")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    out: OutOption = None,
) -> None:
    """Credit conversions to channels under rule-based, Markov and Shapley models.

    Attribution is correlational credit along observed paths, not causal effect.
    """
    from margin.errors import ConfigError

    sources = [s for s in (events, workspace, paths) if s is not None]
    if len(sources) != 1:
        raise ConfigError(
            "give exactly one input: --events FILE, --workspace [PATH] or --paths FILE"
        )
    from margin.attribution import MODELS, JourneySettings, ModelSettings

    names = MODELS if model.strip().lower() == "all" else _models(model)
    journey = JourneySettings(
        lookback_days=lookback_days,
        collapse_repeats=collapse_repeats,
        drop_direct=drop_direct,
        direct_channels=tuple(d for d in direct.split(",") if d.strip()),
        level=level.lower(),
    )
    settings = ModelSettings(
        half_life_days=half_life_days,
        position_weights=_weights(position_weights),
        order=order,
        n_bootstrap=bootstrap,
        seed=seed,
    )
    result = _run(events, workspace, paths, engine, journey, settings, names)
    print_credits(result)
    if out:
        write_json(out, result.to_dict())
        console.print(f"wrote {out}")


def _models(text: str) -> tuple[str, ...]:
    return tuple(m.strip().lower() for m in text.split(",") if m.strip())


def _weights(text: str) -> tuple[float, float, float]:
    from margin.errors import ConfigError

    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError as err:
        raise ConfigError(
            f"--position-weights {text!r}: expected three numbers first,middle,last such as 0.4,0.2,0.4"
        ) from err
    if len(parts) != 3:
        raise ConfigError(f"--position-weights {text!r}: expected three numbers, e.g. 0.4,0.2,0.4")
    return parts[0], parts[1], parts[2]


def _run(
    events: Path | None,
    workspace: str | None,
    paths: Path | None,
    engine: str,
    journey: object,
    settings: object,
    names: tuple[str, ...],
) -> AttributionResult:
    from margin.attribution import (
        Aggregates,
        JourneySettings,
        ModelSettings,
        PathTable,
        attribute,
        collapse_repeats,
        journeys_from_file,
        journeys_from_workspace,
        read_paths,
    )
    from margin.engines import ENGINES
    from margin.errors import ConfigError

    assert isinstance(journey, JourneySettings)
    assert isinstance(settings, ModelSettings)
    if engine.lower() not in ENGINES:
        raise ConfigError(f"--engine {engine!r} is not known; use one of {', '.join(ENGINES)}")
    data: PathTable | Aggregates
    with status(f"building journeys on {engine}"):
        if paths is not None:
            table = read_paths(paths)
            data = collapse_repeats(table) if journey.collapse_repeats else table
        elif events is not None:
            data = journeys_from_file(
                events,
                engine=engine.lower(),
                journey=journey,
                order=settings.order,
                half_life_days=settings.half_life_days,
            )
        else:
            data = journeys_from_workspace(
                None if workspace in (None, "", ".") else workspace,
                engine=engine.lower(),
                journey=journey,
                order=settings.order,
                half_life_days=settings.half_life_days,
            )
    with status("crediting channels"):
        return attribute(data, names, settings, journey)


_SHORT = {
    "first_touch": "first",
    "last_touch": "last",
    "last_non_direct": "last non-direct",
    "linear": "linear",
    "time_decay": "time decay",
    "position_based": "position",
    "markov": "markov order",
    "shapley": "shapley",
}


_PER_TABLE = 4


def print_credits(result: AttributionResult) -> None:
    """A side-by-side table: conversions credited per channel (rows) and model (columns),
    each with its p05–p95 interval underneath."""
    from rich.table import Table

    from margin.attribution import NOTE

    models = list(result.credits)
    for start in range(0, len(models), _PER_TABLE):
        group = models[start : start + _PER_TABLE]
        title = "Conversions credited per channel (p05–p95 below)" if start == 0 else None
        table = Table(title=title, show_lines=True, title_justify="left")
        table.add_column("channel", overflow="fold", max_width=24)
        for m in group:
            header = _SHORT.get(m, m)
            if m == "markov":
                header += f" {result.settings.get('order')}"
            table.add_column(header, justify="right", no_wrap=True)
        for ch in result.channels:
            cells = []
            for m in group:
                c = result.credits[m][ch]
                cell = f"{c.conversions:,.0f}"
                if c.p05 is not None and c.p95 is not None:
                    cell += f"\n{c.p05:,.0f}–{c.p95:,.0f}"
                cells.append(cell)
            table.add_row(ch, *cells)
        console.print(table)
    totals = result.totals
    line = (
        f"{totals['conversions']:,.0f} conversions (value {totals['value']:,.2f}) on "
        f"{totals['journeys']:,.0f} journeys, {totals['paths']:,.0f} distinct paths"
    )
    if totals.get("unattributed_conversions"):
        line += (
            f"; {totals['unattributed_conversions']:,.0f} conversions had no touch in the "
            "lookback window and are credited to no channel"
        )
    console.print(line)
    console.print(f"[bold]Note:[/bold] {NOTE}")
