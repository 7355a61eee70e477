"""Know: ``margin init``, ``ingest``, ``import``, ``check`` and ``status``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from margin.cli.common import announce_key, open_with_key, print_ingest, print_report
from margin.cli.console import console, status, write_json
from margin.cli.options import OutOption, WorkspaceOption

if TYPE_CHECKING:
    from margin.data.workspace.status import WorkspaceStatus

__all__ = ["check", "import_", "ingest", "init", "print_status", "status_"]


def init(
    workspace: WorkspaceOption = None,
    currency: Annotated[
        str, typer.Option(help="Currency all money is converted to (ISO 4217).")
    ] = "USD",
    week_start: Annotated[
        str, typer.Option(help="Weekday weeks start on (monday = ISO weeks).")
    ] = "monday",
) -> None:
    """Create a workspace with its currency, week start and the key that hashes ids
    (ingest creates one with defaults)."""
    from margin.data.workspace.hashing import ensure_key
    from margin.data.workspace.store import Workspace, WorkspaceSettings, resolve_path

    path = resolve_path(workspace)
    settings = WorkspaceSettings(currency=currency.upper(), week_start=week_start.lower())
    existed = path.exists()
    with Workspace(path, settings=settings) as ws:
        verb = "uses" if existed else "created:"
        console.print(
            f"workspace {ws.path} {verb} currency {settings.currency}, weeks start {settings.week_start}"
        )
        key, created = ensure_key(ws)
        if created:
            announce_key(key, ws.path)
        else:
            console.print(f"ids are hashed with the key in {key.source}", markup=False)


def ingest(
    kind: Annotated[
        str,
        typer.Argument(
            help="Table: spend, outcomes, controls, events, experiments, transactions or fx_rates."
        ),
    ],
    files: Annotated[list[Path], typer.Argument(help="CSV or Parquet file(s).")],
    workspace: WorkspaceOption = None,
    layout: Annotated[
        str, typer.Option(help="Spend layout: auto, google_ads, meta_ads, tiktok_ads, generic.")
    ] = "auto",
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="CANONICAL=COLUMN for other column names (repeatable)."),
    ] = None,
    taxonomy: Annotated[
        Path | None, typer.Option(help="Taxonomy TOML: channel aliases and campaign rules.")
    ] = None,
    currency: Annotated[
        str | None,
        typer.Option(help="Currency of spend rows that name none (default: the workspace's)."),
    ] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="CSV delimiter (default: detected).")
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="CSV encoding, e.g. latin-1 (default: utf-8).")
    ] = None,
    date_format: Annotated[
        str | None, typer.Option(help="Date format, e.g. %d/%m/%Y (default: detected).")
    ] = None,
    prehashed: Annotated[
        bool,
        typer.Option(
            help="Events/transactions: the id column holds margin's hashes already (32 hex "
            "characters), e.g. exported from this workspace; other values are refused. "
            "Without it every id is hashed, whatever its column is called."
        ),
    ] = False,
    out: OutOption = None,
) -> None:
    """Load files into a workspace table, all in one transaction: every file or none."""
    from margin.data.ingest.pipeline import ingest_file
    from margin.data.ingest.readers import ReadOptions, parse_mapping
    from margin.data.ingest.taxonomy import load_taxonomy

    options = ReadOptions(delimiter=delimiter, encoding=encoding, date_format=date_format)
    rules = load_taxonomy(taxonomy)
    mapping = parse_mapping(map_)
    results = []
    with open_with_key(workspace) as ws:
        with ws.transaction():  # a bad file leaves the files before it unloaded too
            for file in files:
                with status(f"ingesting {file} into {kind}"):
                    results.append(
                        ingest_file(
                            ws,
                            kind.lower(),
                            file,
                            layout=layout,
                            mapping=mapping,
                            taxonomy=rules,
                            currency=currency.upper() if currency else None,
                            options=options,
                            prehashed=prehashed,
                        )
                    )
        for result in results:
            print_ingest(result, ws.path)
    if out:
        write_json(out, {"loads": [r.to_dict() for r in results]})


def import_(
    fmt: Annotated[
        str, typer.Argument(metavar="FORMAT", help="Peer layout: meridian, robyn or pymc.")
    ],
    file: Annotated[Path, typer.Argument(help="The peer tool's CSV.")],
    workspace: WorkspaceOption = None,
    currency: Annotated[str, typer.Option(help="Currency of the file's spend.")] = "USD",
    spec_out: Annotated[
        Path | None, typer.Option(help="Write a suggested spec TOML for this data here.")
    ] = None,
    out: OutOption = None,
) -> None:
    """Import a dataset in Meridian's, Robyn's or PyMC-Marketing's layout (one transaction)."""
    from margin.data.ingest.importers import import_meridian, import_pymc, import_robyn
    from margin.data.ingest.pipeline import ingest_frames
    from margin.data.ingest.readers import file_sha256
    from margin.errors import ConfigError

    readers = {"meridian": import_meridian, "robyn": import_robyn, "pymc": import_pymc}
    if fmt.lower() not in readers:
        raise ConfigError(f"format {fmt!r} is not known; use one of {', '.join(readers)}")
    with status(f"reading {file} as {fmt}"):
        imported = readers[fmt.lower()](file, currency=currency.upper())
    frames = dict(imported.tables)
    if "spend" in frames:
        frames["spend"] = frames["spend"].assign(currency=currency.upper())
    with open_with_key(workspace) as ws, status("writing to the workspace"):
        results = ingest_frames(
            ws, frames, file=file, sha256=file_sha256(file), source=imported.source
        )
    for result in results:
        print_ingest(result, ws.path)
    console.print(f"  units: {imported.units}", markup=False)
    for note in imported.notes:
        console.print(f"  note: {note}", markup=False)
    if spec_out:
        from margin.data.panel.spec import dump_spec

        spec_out.write_text(dump_spec(imported.spec), encoding="utf-8")
        console.print(f"suggested spec written to {spec_out}")
    if out:
        write_json(out, {"loads": [r.to_dict() for r in results], "spec": imported.spec})


def check(
    workspace: WorkspaceOption = None,
    out: OutOption = None,
    strict: Annotated[bool, typer.Option(help="Exit with code 1 on warnings too.")] = False,
) -> None:
    """Run the data-quality rules over the workspace and print what they found."""
    from margin.data.rules.validation import check_workspace
    from margin.data.workspace.store import Workspace

    with Workspace(workspace, read_only=True) as ws, status("checking the workspace"):
        report = check_workspace(ws)
    print_report(report)
    if out:
        write_json(out, report.to_dict())
    if not report.ok or (strict and report.warnings):
        raise typer.Exit(1)


def status_(workspace: WorkspaceOption = None) -> None:
    """Show what the workspace holds: rows per table, loads and settings."""
    from margin.data.workspace.status import workspace_status
    from margin.data.workspace.store import Workspace

    with Workspace(workspace, read_only=True) as ws:
        print_status(workspace_status(ws))


def print_status(found: WorkspaceStatus) -> None:
    """The workspace's settings, then one row per table: rows, first and last day."""
    from rich.table import Table

    console.print(
        f"workspace {found.path}: schema v{found.schema_version}, currency {found.currency}, "
        f"weeks start {found.week_start}"
    )
    table = Table("table", "rows", "first", "last")
    for t in found.tables:
        table.add_row(t.name, f"{t.rows:,}", str(t.first or ""), str(t.last or ""))
    console.print(table)
