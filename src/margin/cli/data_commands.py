"""Know: ``margin init``, ``ingest``, ``import``, ``check`` and ``status``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from margin.cli.console import console, status, write_json
from margin.cli.options import OutOption, WorkspaceOption

if TYPE_CHECKING:
    from margin.data.findings import Report
    from margin.data.ingest import IngestResult

__all__ = ["print_ingest", "print_report", "register"]


def register(app: typer.Typer) -> None:
    """Add the data commands to ``app``."""

    @app.command()
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
        from margin.cli.hash_key_commands import announce_key
        from margin.data.hashing import ensure_key
        from margin.data.workspace import Workspace, WorkspaceSettings, resolve_path

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

    @app.command()
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
        from margin.cli.hash_key_commands import open_with_key
        from margin.data.ingest import ingest_file
        from margin.data.readers import ReadOptions, parse_mapping
        from margin.data.taxonomy import load_taxonomy

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

    @app.command("import")
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
        from margin.cli.hash_key_commands import open_with_key
        from margin.data.importers import import_meridian, import_pymc, import_robyn
        from margin.data.ingest import ingest_frames
        from margin.data.readers import file_sha256
        from margin.errors import ConfigError

        readers = {"meridian": import_meridian, "robyn": import_robyn, "pymc": import_pymc}
        if fmt.lower() not in readers:
            raise ConfigError(f"format {fmt!r} is not known; use one of {', '.join(readers)}")
        with status(f"reading {file} as {fmt}"):
            imported = readers[fmt.lower()](file)
        frames = dict(imported.tables)
        if "spend" in frames:
            frames["spend"] = frames["spend"].assign(currency=currency.upper())
        with open_with_key(workspace) as ws, status("writing to the workspace"):
            results = ingest_frames(
                ws, frames, file=file, sha256=file_sha256(file), source=imported.source
            )
        for result in results:
            print_ingest(result, ws.path)
        for note in imported.notes:
            console.print(f"  note: {note}", markup=False)
        if spec_out:
            from margin.data.spec import dump_spec

            spec_out.write_text(dump_spec(imported.spec), encoding="utf-8")
            console.print(f"suggested spec written to {spec_out}")
        if out:
            write_json(out, {"loads": [r.to_dict() for r in results], "spec": imported.spec})

    @app.command()
    def check(
        workspace: WorkspaceOption = None,
        out: OutOption = None,
        strict: Annotated[bool, typer.Option(help="Exit with code 1 on warnings too.")] = False,
    ) -> None:
        """Run the data-quality rules over the workspace and print what they found."""
        from margin.data.validation import check_workspace
        from margin.data.workspace import Workspace

        with Workspace(workspace, read_only=True) as ws, status("checking the workspace"):
            report = check_workspace(ws)
        print_report(report)
        if out:
            write_json(out, report.to_dict())
        if not report.ok or (strict and report.warnings):
            raise typer.Exit(1)

    @app.command("status")
    def status_(workspace: WorkspaceOption = None) -> None:
        """Show what the workspace holds: rows per table, loads and settings."""
        from rich.table import Table

        from margin.data.workspace import Workspace

        with Workspace(workspace, read_only=True) as ws:
            s = ws.settings
            console.print(
                f"workspace {ws.path}: schema v{ws.schema_version}, currency {s.currency}, weeks start {s.week_start}"
            )
            table = Table("table", "rows", "first", "last")
            spans = {
                "events": "ts",
                "transactions": "ts",
                "experiments": "start",
                "runs": "created",
            }
            for name, n in ws.counts().items():
                col = spans.get(name, "date")
                row = ws.fetch(
                    f'SELECT CAST(min("{col}") AS DATE), CAST(max("{col}") AS DATE) FROM {name}'
                )[0]
                table.add_row(name, f"{n:,}", str(row[0] or ""), str(row[1] or ""))
            console.print(table)


def print_ingest(result: IngestResult, workspace: Path) -> None:
    """A few lines on what one load did."""
    span = f", {result.first_date} to {result.last_date}" if result.first_date else ""
    grain = f" ({result.grain} rows; weekly views roll them up)" if result.grain == "daily" else ""
    replaced = f", replaced {result.rows_replaced:,} earlier rows" if result.rows_replaced else ""
    layout = (
        f" ({result.layout} layout)" if result.layout != "generic" or result.kind == "spend" else ""
    )
    console.print(
        f"[green]loaded[/] {Path(result.file).name} → {result.kind}"
        f"{layout}: {result.rows_read:,} rows read, "
        f"{result.rows_written:,} written{replaced}{span}{grain}"
    )
    if result.unmapped_campaigns:
        shown = ", ".join(result.unmapped_campaigns[:8])
        more = (
            f" and {len(result.unmapped_campaigns) - 8} more"
            if len(result.unmapped_campaigns) > 8
            else ""
        )
        console.print(
            f"[yellow]unmapped campaigns[/] (given the platform's channel; add taxonomy rules): {shown}{more}",
            markup=True,
        )
    for finding in result.findings:
        console.print(f"  [yellow]{finding.severity}[/] ", end="")
        console.print(finding.describe(), markup=False)


def print_report(report: Report) -> None:
    """The data-quality report: one short block per finding, errors first."""
    from rich.text import Text

    colours = {"error": "bold red", "warning": "yellow", "info": "cyan"}
    for f in report.findings:
        where = f.table + (f".{f.column}" if f.column else "")
        head = Text.assemble(
            (f"{f.severity:<8}", colours[f.severity]), (f"{f.rule}", "bold"), f"  {where}"
        )
        if f.rows:
            more = f" (+{f.n_rows - len(f.rows)} more)" if f.n_rows > len(f.rows) else ""
            head.append(f"  rows: {', '.join(str(r) for r in f.rows[:5])}{more}", style="dim")
        console.print(head)
        console.print(Text(f"         {f.message}"))
        console.print(Text(f"         fix: {f.fix}", style="green"))
    summary = (
        f"{len(report.errors)} error(s), {len(report.warnings)} warning(s), "
        f"{len(report.findings) - len(report.errors) - len(report.warnings)} note(s); "
        f"{len(report.checked)} rules checked"
    )
    console.print(Text(summary, style="bold green" if not report.findings else "bold"))
