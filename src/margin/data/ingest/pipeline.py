"""Loading files into the workspace: read, normalise, harmonise, validate, write.

One call of :func:`ingest_file` is one transaction. Rows replace earlier rows with the
same natural key (``schema.TABLES[kind].key``) and re-ingesting the same file replaces
that file's earlier rows, so loads are idempotent and never double count. If anything
fails (a value that does not parse, a missing FX rate, a validation error) the
workspace is left exactly as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.data.ingest.layouts import spend_select
from margin.data.ingest.normalize import (
    controls_select,
    events_select,
    experiments_select,
    fx_select,
    outcomes_select,
    transactions_select,
)
from margin.data.ingest.readers import (
    ReadOptions,
    StagedFile,
    drop_relation,
    quote_identifier,
    stage_file,
)
from margin.data.ingest.sniff import excerpt
from margin.data.ingest.taxonomy import Taxonomy
from margin.data.rules.findings import Finding
from margin.data.workspace.hashing import ID_COLUMNS, HashKey, load_key
from margin.data.workspace.schema import TABLES
from margin.errors import ConfigError, DataValidationError, LoadRejectedError, WorkspaceError

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from margin.data.workspace.store import Workspace

__all__ = ["FX_MAX_AGE_DAYS", "INGESTABLE", "IngestResult", "ingest_file", "ingest_frames"]

INGESTABLE = ("spend", "outcomes", "controls", "events", "experiments", "transactions", "fx_rates")
FX_MAX_AGE_DAYS = 7
"""A rate is used for dates up to this many days after it (weekly rates cover their week)."""
_NORMALIZED = "_normalized"
_SCRATCH = ("_stage", "_raw", _NORMALIZED)
"""The temporary tables of one load."""


@dataclass(frozen=True)
class IngestResult:
    """What one load did."""

    kind: str
    file: str
    layout: str
    rows_read: int
    rows_written: int
    rows_replaced: int
    load_id: int
    findings: tuple[Finding, ...] = ()
    unmapped_campaigns: tuple[str, ...] = ()
    first_date: date | None = None
    last_date: date | None = None
    grain: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "layout": self.layout,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_replaced": self.rows_replaced,
            "load_id": self.load_id,
            "first_date": self.first_date.isoformat() if self.first_date else None,
            "last_date": self.last_date.isoformat() if self.last_date else None,
            "grain": self.grain,
            "unmapped_campaigns": list(self.unmapped_campaigns),
            "findings": [f.to_dict() for f in self.findings],
        }


def ingest_file(
    workspace: Workspace,
    kind: str,
    path: str | Path,
    *,
    layout: str = "auto",
    mapping: dict[str, str] | None = None,
    taxonomy: Taxonomy | None = None,
    currency: str | None = None,
    options: ReadOptions | None = None,
    prehashed: bool = False,
) -> IngestResult:
    """Load one CSV or Parquet file into the workspace table ``kind``.

    Args:
        kind: one of :data:`INGESTABLE`.
        layout: for spend, ``auto`` or a name in :data:`margin.data.ingest.layouts.LAYOUTS`.
        mapping: canonical column → the file's column, for other names.
        taxonomy: channel aliases and campaign rules.
        currency: the currency of spend rows that do not name one (default: the workspace's).
        prehashed: events and transactions: the id column already holds margin's hashes
            (checked, not hashed again). Otherwise every id is hashed with the workspace's
            key (:mod:`margin.data.workspace.hashing`), whatever its column is called.

    Raises:
        InputFileError: the file cannot be read as a table.
        DataValidationError: a value does not parse, a column or FX rate is missing.
        LoadRejectedError: validation rules found errors (``.findings``).
        WorkspaceError: events or transactions, and the workspace's hashing key is absent,
            lost or not its own (the message says how to create or restore it).
    """
    if kind not in INGESTABLE:
        hint = " (runs are written by margin itself)" if kind == "runs" else ""
        raise ConfigError(
            f"kind {kind!r} cannot be ingested{hint}; use one of {', '.join(INGESTABLE)}"
        )
    options = options or ReadOptions()
    mapping = mapping or {}
    taxonomy = taxonomy or Taxonomy()
    import duckdb

    con = workspace.con
    try:
        staged = stage_file(con, path, "_stage", options)
        select, used_layout = _select(
            workspace, kind, staged, layout, mapping, currency, options, prehashed
        )
        con.execute(f"DROP TABLE IF EXISTS _raw; CREATE TEMP TABLE _raw AS {select}")
        unmapped = _harmonise_channels(
            con, kind, "_raw", taxonomy, default=_platform_channel(used_layout)
        )
        _to_normalized(workspace, kind, staged)
        notes = [replace(note, table=kind) for note in staged.notes]
        result = _validate_and_write(
            workspace, kind, staged, used_layout, unmapped, notes, options.today
        )
    except duckdb.IOException as err:
        _drop_scratch(con, _SCRATCH, failing=True)
        raise _io_error(workspace, path, err) from err
    except BaseException:
        _drop_scratch(con, _SCRATCH, failing=True)
        raise
    _drop_scratch(con, _SCRATCH, failing=False)
    return result


def _drop_scratch(con: duckdb.DuckDBPyConnection, names: tuple[str, ...], *, failing: bool) -> None:
    """Drop a load's temporary tables; after a failure, never hide the error being raised.

    A DuckDB error inside a transaction aborts it: every statement is refused until the
    caller's ROLLBACK, which drops the temporary tables anyway. So when ``failing``, a
    cleanup that cannot run is skipped rather than allowed to replace the real error.
    """
    import duckdb

    for name in names:
        try:
            drop_relation(con, name)
        except duckdb.Error:
            if not failing:
                raise
            return


def _io_error(workspace: Workspace, path: str | Path, err: Exception) -> WorkspaceError:
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    return WorkspaceError(
        f"loading {path} into workspace {workspace.path} failed on a read or write "
        f"({first[:300]}); nothing was written. Check that the disk holding the workspace has "
        "free space and that the file is readable, then run the command again"
    )


def _platform_channel(layout: str) -> str | None:
    return {"google_ads": "google_ads", "meta_ads": "meta", "tiktok_ads": "tiktok"}.get(layout)


def _select(
    workspace: Workspace,
    kind: str,
    staged: StagedFile,
    layout: str,
    mapping: dict[str, str],
    currency: str | None,
    options: ReadOptions,
    prehashed: bool = False,
) -> tuple[str, str]:
    con, fmt = workspace.con, options.date_format
    if kind == "spend":
        chosen = spend_select(
            con,
            staged,
            layout=layout,
            mapping=mapping,
            currency=currency or workspace.settings.currency,
            date_format=fmt,
        )
        return chosen.sql, chosen.layout
    if layout not in ("auto", "generic"):
        raise ConfigError(
            f"--layout {layout!r} applies to spend files only; leave it out for {kind}"
        )

    def ids() -> HashKey | None:  # None: the ids are margin's hashes already (checked)
        return None if prehashed else load_key(workspace)

    builders = {
        "outcomes": lambda: outcomes_select(con, staged, mapping, fmt),
        "controls": lambda: controls_select(con, staged, mapping, fmt),
        "fx_rates": lambda: fx_select(con, staged, mapping, fmt),
        "events": lambda: events_select(con, staged, mapping, ids()),
        "transactions": lambda: transactions_select(con, staged, mapping, ids()),
        "experiments": lambda: experiments_select(con, staged, mapping, fmt),
    }
    return builders[kind](), "generic"


def _harmonise_channels(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    relation: str,
    taxonomy: Taxonomy,
    default: str | None,
) -> tuple[str, ...]:
    """Rewrite the channel column through the taxonomy; return campaigns no rule mapped."""
    column = {
        "spend": "channel",
        "events": "channel",
        "experiments": "channel",
        "transactions": "acquisition_channel",
    }.get(kind)
    if column is None:
        return ()
    has_campaign = kind in ("spend", "events")
    campaign = "campaign" if has_campaign else "NULL"
    pairs = con.execute(f"SELECT DISTINCT {column}, {campaign} FROM {relation}").fetchall()
    rows: list[tuple[str | None, str | None, str | None]] = []
    unmapped: set[str] = set()
    for channel, camp in pairs:
        mapped = taxonomy.channel_for(channel, camp)
        if mapped is None and default is not None:
            mapped = default
            if camp:
                unmapped.add(str(camp))
        rows.append((channel, camp, mapped))
    if all(raw == mapped for raw, _, mapped in rows):
        return tuple(sorted(unmapped))  # names already harmonised: no rewrite
    con.execute(
        "DROP TABLE IF EXISTS _channels; CREATE TEMP TABLE _channels (raw VARCHAR, campaign VARCHAR, mapped VARCHAR)"
    )
    if rows:
        con.executemany("INSERT INTO _channels VALUES (?, ?, ?)", rows)
    join = f"r.{column} IS NOT DISTINCT FROM c.raw" + (
        " AND r.campaign IS NOT DISTINCT FROM c.campaign" if has_campaign else ""
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {relation} AS SELECT r.* REPLACE (c.mapped AS {column}) "
        f"FROM {relation} r LEFT JOIN _channels c ON {join}"
    )
    con.execute("DROP TABLE _channels")
    return tuple(sorted(unmapped))


def _to_normalized(workspace: Workspace, kind: str, staged: StagedFile) -> None:
    """Build ``_normalized`` (the table's columns plus ``_row``), converting spend currency."""
    con = workspace.con
    if kind != "spend":
        con.execute(f"DROP TABLE IF EXISTS {_NORMALIZED}; ALTER TABLE _raw RENAME TO {_NORMALIZED}")
        return
    target = workspace.settings.currency
    _check_fx(con, staged, target)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_NORMALIZED} AS
        SELECT r._row, r.date, r.geo, r.channel, r.campaign, r.currency,
               CASE WHEN r.currency = '{target}' THEN r.spend_original ELSE r.spend_original * f.rate END AS spend,
               r.spend_original, r.impressions, r.clicks, '{"spend"}' AS source
        FROM _raw r ASOF LEFT JOIN fx_rates f ON r.currency = f.currency AND r.date >= f.date"""
    )


def _check_fx(con: duckdb.DuckDBPyConnection, staged: StagedFile, target: str) -> None:
    malformed = con.execute(
        "SELECT _row, currency FROM _raw WHERE currency IS NOT NULL AND "
        "NOT regexp_full_match(currency, '[A-Z]{3}') ORDER BY _row LIMIT 1"
    ).fetchone()
    if malformed is not None:
        raise DataValidationError(
            f"file {staged.path}, row {malformed[0]}: the currency {excerpt(str(malformed[1]))} is not "
            "an ISO 4217 code; write three letters such as USD or EUR (or drop the currency column "
            "and pass --currency)"
        )
    missing = con.execute(
        f"""SELECT r.currency, min(r.date), max(r.date), count(DISTINCT r.date),
                   list(DISTINCT r.date ORDER BY r.date)[1:5]
        FROM _raw r ASOF LEFT JOIN fx_rates f ON r.currency = f.currency AND r.date >= f.date
        WHERE r.currency <> '{target}' AND (f.rate IS NULL OR r.date - f.date > {FX_MAX_AGE_DAYS})
        GROUP BY r.currency ORDER BY r.currency"""
    ).fetchall()
    if missing:
        parts = [
            f"{cur}: {n} date(s) from {lo} to {hi} (first: {', '.join(str(d) for d in first)})"
            for cur, lo, hi, n, first in missing
        ]
        raise DataValidationError(
            f"file {staged.path}: no exchange rate to {target} for {'; '.join(parts)}. "
            f"Ingest rates first (margin ingest fx_rates FILE with columns date, currency, rate = "
            f"{target} per unit; a rate covers {FX_MAX_AGE_DAYS} days after its date)"
        )


def _validate(
    workspace: Workspace,
    kind: str,
    relation: str,
    path: Path | str,
    layout: str,
    today: date | None = None,
) -> list[Finding]:
    """Run the load rules on ``relation``; raise :class:`LoadRejectedError` on errors."""
    from margin.data.rules.validation import validate_load

    con = workspace.con
    if kind == "spend":
        con.execute(f"UPDATE {relation} SET source = ?", [layout])
    findings = validate_load(
        con, kind, relation, file=str(path), currency=workspace.settings.currency, today=today
    )
    findings = sorted(findings, key=lambda f: {"error": 0, "warning": 1, "info": 2}[f.severity])
    errors = [f for f in findings if f.severity == "error"]
    if len(errors) == 1:  # one error, one line
        raise LoadRejectedError(
            f"{path} was not loaded (nothing was written): {errors[0].describe()}", tuple(findings)
        )
    if errors:
        text = "\n".join(f"  - {f.describe()}" for f in errors)
        raise LoadRejectedError(
            f"{path} was not loaded: {len(errors)} validation error(s); nothing was written.\n{text}",
            tuple(findings),
        )
    return findings


def _validate_and_write(
    workspace: Workspace,
    kind: str,
    staged: StagedFile,
    layout: str,
    unmapped: tuple[str, ...],
    notes: list[Finding] | None = None,
    today: date | None = None,
) -> IngestResult:
    path, sha256, rows_read = staged.path, staged.sha256, staged.n_rows
    findings = _validate(workspace, kind, _NORMALIZED, path, layout, today) + list(notes or ())
    with workspace.transaction():
        load_id, written, replaced = _write(
            workspace, kind, _NORMALIZED, str(path), sha256, layout, rows_read
        )
    first, last, grain = _date_span(workspace.con, kind, _NORMALIZED)
    return IngestResult(
        kind,
        str(path),
        layout,
        rows_read,
        written,
        replaced,
        load_id,
        tuple(findings),
        unmapped,
        first,
        last,
        grain,
    )


def _aggregated_insert(kind: str, relation: str, load_id: int) -> str:
    """Rows of ``relation`` as INSERT-able rows; duplicate keys within a file are combined."""
    table = TABLES[kind]
    columns = [c for c in table.column_names if c != "load_id"]
    if not table.key or kind == "experiments":
        select = ", ".join(quote_identifier(c) for c in columns)
        return f"SELECT {select}, {load_id} FROM {relation}"
    agg = {"spend": "sum", "outcomes": "sum", "controls": "avg", "fx_rates": "avg"}[kind]
    exprs = []
    for c in columns:
        if c in table.key:
            exprs.append(quote_identifier(c))
        elif c == "currency":
            exprs.append(f"any_value({c})")
        else:
            exprs.append(f"{agg}({quote_identifier(c)})")
    keys = ", ".join(quote_identifier(c) for c in table.key)
    return f"SELECT {', '.join(exprs)}, {load_id} FROM {relation} GROUP BY {keys}"


def _write(
    workspace: Workspace,
    kind: str,
    relation: str,
    file: str,
    sha256: str,
    layout: str,
    rows_read: int,
) -> tuple[int, int, int]:
    """Replace and insert (inside the caller's transaction); returns (load_id, written, replaced)."""
    table = TABLES[kind]
    con = workspace.con
    before = _count(con, kind)
    con.execute(
        f"DELETE FROM {kind} WHERE load_id IN (SELECT load_id FROM loads WHERE kind = ? AND sha256 = ?)",
        [kind, sha256],
    )
    con.execute("DELETE FROM loads WHERE kind = ? AND sha256 = ?", [kind, sha256])
    if table.key:
        match = " AND ".join(
            f"t.{quote_identifier(k)} IS NOT DISTINCT FROM n.{quote_identifier(k)}"
            for k in table.key
        )
        con.execute(f"DELETE FROM {kind} t WHERE EXISTS (SELECT 1 FROM {relation} n WHERE {match})")
    replaced = before - _count(con, kind)
    row = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM loads").fetchone()
    load_id = int(row[0]) if row else 1
    con.execute(f"INSERT INTO {kind} {_aggregated_insert(kind, relation, load_id)}")
    written = _count(con, kind) - (before - replaced)
    con.execute(
        "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, now())",
        [load_id, kind, Path(file).name, sha256, layout, rows_read, written],
    )
    return load_id, written, replaced


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
    return int(row[0]) if row else 0


def _date_span(
    con: duckdb.DuckDBPyConnection, kind: str, relation: str
) -> tuple[date | None, date | None, str | None]:
    column = {"events": "ts", "transactions": "ts", "experiments": "start"}.get(kind, "date")
    row = con.execute(
        f"SELECT CAST(min({quote_identifier(column)}) AS DATE), CAST(max({quote_identifier(column)}) AS DATE), "
        f"count(DISTINCT dayofweek({quote_identifier(column)})) FROM {relation}"
    ).fetchone()
    if row is None or row[0] is None:
        return None, None, None
    grain = None
    if kind in ("spend", "outcomes", "controls"):
        grain = "weekly" if int(row[2]) == 1 else "daily"
    return row[0], row[1], grain


def ingest_frames(
    workspace: Workspace,
    frames: dict[str, pd.DataFrame],
    *,
    file: str | Path,
    sha256: str,
    source: str,
    taxonomy: Taxonomy | None = None,
) -> list[IngestResult]:
    """Load canonical long frames (e.g. from a peer importer), all in one transaction.

    Each frame has the table's columns less ``load_id`` (spend: ``date, geo, channel,
    campaign, currency, spend, impressions, clicks``, spend in ``currency``). Every frame
    is validated before anything is written; any error leaves the workspace unchanged.
    """
    con = workspace.con
    taxonomy = taxonomy or Taxonomy()
    staged: list[tuple[str, str, int, tuple[str, ...], list[Finding]]] = []
    try:
        for kind, frame in frames.items():
            relation = f"_normalized_{kind}"
            unmapped = _stage_frame(workspace, kind, frame, file, taxonomy)
            con.execute(f"ALTER TABLE {_NORMALIZED} RENAME TO {relation}")
            findings = _validate(workspace, kind, relation, file, source)
            staged.append((kind, relation, len(frame), unmapped, findings))
        results = []
        with workspace.transaction():
            for kind, relation, n, unmapped, findings in staged:
                load_id, written, replaced = _write(
                    workspace, kind, relation, str(file), f"{sha256}:{kind}", source, n
                )
                first, last, grain = _date_span(con, kind, relation)
                results.append(
                    IngestResult(
                        kind,
                        str(file),
                        source,
                        n,
                        written,
                        replaced,
                        load_id,
                        tuple(findings),
                        unmapped,
                        first,
                        last,
                        grain,
                    )
                )
    except BaseException:
        _drop_scratch(con, _frame_scratch(frames), failing=True)
        raise
    _drop_scratch(con, _frame_scratch(frames), failing=False)
    return results


def _frame_scratch(frames: dict[str, pd.DataFrame]) -> tuple[str, ...]:
    return (*(f"_normalized_{kind}" for kind in frames), "_raw", _NORMALIZED)


def _stage_frame(
    workspace: Workspace, kind: str, frame: pd.DataFrame, file: str | Path, taxonomy: Taxonomy
) -> tuple[str, ...]:
    """Put one canonical frame into ``_normalized`` (via ``_raw``); return unmapped campaigns."""
    if kind not in INGESTABLE:
        raise ConfigError(
            f"cannot load a frame into table {kind!r}; use one of {', '.join(INGESTABLE)}"
        )
    if kind == "spend":
        columns = [
            "date",
            "geo",
            "channel",
            "campaign",
            "currency",
            "spend_original",
            "impressions",
            "clicks",
        ]
        frame = frame.rename(columns={"spend": "spend_original"})
    else:
        columns = [c for c in TABLES[kind].column_names if c != "load_id"]
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DataValidationError(f"{file}: the {kind} rows lack columns {absent}")
    con = workspace.con
    ids = ""
    if kind in ID_COLUMNS:  # a frame's ids are hashed like a file's
        text = f"NULLIF(trim(CAST({ID_COLUMNS[kind]} AS VARCHAR)), '')"
        ids = f" REPLACE ({load_key(workspace).sql(text)} AS {ID_COLUMNS[kind]})"
    con.complete()  # register() refuses while an earlier result is unread (DuckDB 2)
    con.register("_frame", frame[columns])
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT row_number() OVER () AS _row, *{ids} FROM _frame"
        )
    finally:
        con.unregister("_frame")
    unmapped = _harmonise_channels(con, kind, "_raw", taxonomy, default=None)
    _to_normalized(
        workspace, kind, StagedFile(Path(file), "_raw", tuple(columns), len(frame), "", False)
    )
    return unmapped
