"""Reading input files into a staging table, and typing their columns with clear errors.

Files are read by DuckDB (fast, parallel, streaming) into a temporary table whose first
column ``_row`` is the 1-based data-row number in the file (line ``_row + 1`` of a CSV
with a header). CSV columns are staged as text, so a value that does not parse is
reported with its row, column and text instead of failing somewhere deep inside.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from margin.data.findings import MAX_ROWS_LISTED
from margin.errors import ConfigError, DataValidationError, InputFileError

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "CSV_SUFFIXES",
    "PARQUET_SUFFIXES",
    "ReadOptions",
    "StagedFile",
    "drop_relation",
    "file_sha256",
    "parse_date_column",
    "parse_mapping",
    "parse_number_column",
    "parse_timestamp_column",
    "quote_identifier",
    "quote_literal",
    "require_columns",
    "stage_file",
]

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
_DATE_FORMATS = (
    "%Y-%m-%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%Y/%m/%d",
    "%d.%m.%Y",
    "%Y%m%d",
    "%d/%m/%y",
    "%m/%d/%y",
)
_MISSING = ("", "--", "NA", "N/A", "null", "NULL", "None")
"""Texts read as a missing value (ad-platform exports write ``--`` for none)."""


@dataclass(frozen=True)
class ReadOptions:
    """How to read a CSV: ``None`` means detect it."""

    delimiter: str | None = None
    encoding: str | None = None
    date_format: str | None = None


@dataclass(frozen=True)
class StagedFile:
    """A file staged in a temporary table ``relation`` of the connection."""

    path: Path
    relation: str
    columns: tuple[str, ...]
    n_rows: int
    sha256: str
    is_csv: bool

    @property
    def name(self) -> str:
        return self.path.name

    def find(self, *candidates: str) -> str | None:
        """The staged column matching one of ``candidates`` (case- and space-insensitive)."""
        wanted = [_norm(c) for c in candidates]
        by_norm = {_norm(c): c for c in self.columns}
        for w in wanted:
            if w in by_norm:
                return by_norm[w]
        return None


def _norm(name: str) -> str:
    return " ".join(name.strip().lower().replace("_", " ").split())


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: str | Path,
    relation: str = "_stage",
    options: ReadOptions | None = None,
) -> StagedFile:
    """Read a CSV or Parquet file into the temporary table ``relation``.

    Raises:
        InputFileError: the file is missing, empty, not UTF-8 (without ``encoding``), has
            duplicate or blank headers, or seems to use another delimiter.
    """
    path = Path(path)
    options = options or ReadOptions()
    if not path.is_file():
        raise InputFileError(f"file {path} does not exist (or is not a file); check the path")
    name = path.name.lower()
    is_parquet = name.endswith(PARQUET_SUFFIXES)
    if not is_parquet and not name.endswith(CSV_SUFFIXES):
        raise InputFileError(
            f"file {path}: cannot tell its format from the extension; margin reads CSV "
            f"({', '.join(CSV_SUFFIXES)}) and Parquet ({', '.join(PARQUET_SUFFIXES)}); rename it"
        )
    if path.stat().st_size == 0:
        raise InputFileError(f"file {path} is empty; export it again with a header row and data")
    drop_relation(con, relation)
    if is_parquet:
        _stage_parquet(con, path, relation)
    else:
        _stage_csv(con, path, relation, options)
    columns = tuple(
        str(r[0]) for r in con.execute(f"DESCRIBE {relation}").fetchall() if r[0] != "_row"
    )
    count = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
    n_rows = int(count[0]) if count else 0
    if n_rows == 0:
        raise InputFileError(
            f"file {path} has a header ({', '.join(columns)}) but no data rows; export it again with data"
        )
    return StagedFile(path, relation, columns, n_rows, file_sha256(path), not is_parquet)


def drop_relation(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Drop the temporary table or view ``name`` if it exists."""
    row = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main' "
        "AND table_catalog = 'temp'",
        [name],
    ).fetchall()
    if row:
        kind = "VIEW" if row[0][0] == "VIEW" else "TABLE"
        con.execute(f"DROP {kind} {name}")


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path, relation: str) -> None:
    import duckdb

    try:
        # A view, not a copy: Parquet is typed and columnar, so it is scanned in place.
        con.execute(
            f"CREATE TEMP VIEW {relation} AS SELECT file_row_number + 1 AS _row, * "
            f"EXCLUDE (file_row_number) FROM read_parquet({quote_literal(str(path))}, file_row_number = true)"
        )
    except duckdb.Error as err:
        raise InputFileError(
            f"file {path} cannot be read as Parquet: {str(err).splitlines()[0]}. "
            "Check that it is a complete Parquet file (or rename a CSV to .csv)"
        ) from err


def _header(path: Path, encoding: str, delimiter: str) -> list[str]:
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        first = handle.readline()
    text = first.decode(encoding, errors="replace").lstrip("\ufeff")
    return next(csv.reader(io.StringIO(text), delimiter=delimiter), [])


def _stage_csv(
    con: duckdb.DuckDBPyConnection, path: Path, relation: str, options: ReadOptions
) -> None:
    import duckdb

    src = quote_literal(str(path))
    args = ["all_varchar = true", "header = true", "skip = 0", "strict_mode = true"]
    encoding = options.encoding or "utf-8"
    if options.encoding:
        args.append(f"encoding = {quote_literal(options.encoding)}")
    try:
        delimiter = options.delimiter or _guess_delimiter(path, encoding)
        header = _header(path, encoding, delimiter)
        _check_header(path, header, delimiter)
        con.execute(
            f"CREATE TEMP TABLE {relation} AS SELECT row_number() OVER () AS _row, * "
            f"FROM read_csv({src}, {', '.join(args)}, delim = {quote_literal(delimiter)})"
        )
    except duckdb.Error as err:
        raise _csv_error(path, err) from err
    staged = [r[0] for r in con.execute(f"DESCRIBE {relation}").fetchall()][1:]
    if len(staged) != len(header):
        con.execute(f"DROP TABLE {relation}")
        raise InputFileError(
            f"file {path}: the header has {len(header)} column(s) but the rows have {len(staged)}; "
            "every row needs as many fields as the header (check the delimiter and quoting)"
        )


def _guess_delimiter(path: Path, encoding: str) -> str:
    """The delimiter of a CSV: the most frequent of , ; tab | in its header line."""
    line = "".join(_header(path, encoding, "\x00"))
    counts = {d: line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _check_header(path: Path, header: list[str], delimiter: str) -> None:
    names = [h.strip() for h in header]
    if any(not n for n in names):
        position = [i + 1 for i, n in enumerate(names) if not n]
        if not (position == [1] and len(names) > 1):  # an unnamed index column is common
            raise InputFileError(
                f"file {path}: header has blank column names at positions {position}; name every column"
            )
    seen: dict[str, int] = {}
    for n in names:
        seen[n.lower()] = seen.get(n.lower(), 0) + 1
    dupes = sorted(n for n, k in seen.items() if k > 1 and n)
    if dupes:
        raise InputFileError(
            f"file {path}: the header repeats column names {dupes}; every column needs a distinct "
            "name (rename or drop the copies)"
        )
    if len(names) == 1:
        for other in (";", "\t", "|", ","):
            if other != delimiter and other in names[0]:
                shown = "\\t" if other == "\t" else other
                raise InputFileError(
                    f"file {path}: read as a single column {names[0]!r}, which contains {shown!r}; "
                    f"the file seems to use {shown!r} as its delimiter: pass --delimiter '{shown}'"
                )


def _csv_error(path: Path, err: Exception) -> InputFileError:
    text = str(err)
    if "invalid unicode" in text.lower():
        line = next((ln for ln in text.splitlines() if "Line" in ln), "")
        return InputFileError(
            f"file {path} is not valid UTF-8 ({line.strip() or 'invalid bytes'}); save it as UTF-8, "
            "or pass --encoding latin-1 (or utf-16) to read it as exported"
        )
    first = next((ln for ln in text.splitlines() if ln.strip()), text)
    if "not possible to automatically detect" in text:
        first = "its rows do not all have the same number of fields as the header"
    line = next(
        (ln.strip() for ln in text.splitlines() if ln.strip().startswith("CSV Error on Line")), ""
    )
    where = f" ({line})" if line else ""
    return InputFileError(
        f"file {path} cannot be read as CSV{where}: {first}. Check the delimiter (--delimiter), "
        "quoting and that every row has as many fields as the header"
    )


def _samples(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[int], list[str], int]:
    rows = con.execute(
        f"SELECT _row, v FROM ({sql}) ORDER BY _row LIMIT {MAX_ROWS_LISTED}"
    ).fetchall()
    count = con.execute(f"SELECT count(*) FROM ({sql})").fetchone()
    return [int(r[0]) for r in rows], [str(r[1]) for r in rows], int(count[0]) if count else 0


def _bad_values_error(
    staged: StagedFile,
    column: str,
    expected: str,
    fix: str,
    rows: list[int],
    values: list[str],
    n: int,
) -> DataValidationError:
    shown = ", ".join(f"row {r}: {v!r}" for r, v in zip(rows, values, strict=True))
    more = f" and {n - len(rows)} more" if n > len(rows) else ""
    return DataValidationError(
        f"file {staged.path}, column {column!r}: {n} value(s) are not {expected} ({shown}{more}). {fix}"
    )


def _cleaned(column: str) -> str:
    col = f"trim(CAST({quote_identifier(column)} AS VARCHAR))"
    missing = ", ".join(quote_literal(m) for m in _MISSING)
    return f"CASE WHEN {col} IN ({missing}) THEN NULL ELSE {col} END"


_NUMERIC_TYPES = (
    "DOUBLE",
    "FLOAT",
    "REAL",
    "INTEGER",
    "BIGINT",
    "SMALLINT",
    "TINYINT",
    "HUGEINT",
    "UBIGINT",
    "UINTEGER",
    "USMALLINT",
    "UTINYINT",
)


def _column_type(con: duckdb.DuckDBPyConnection, staged: StagedFile, column: str) -> str:
    """The DuckDB type of a staged column (``VARCHAR`` for every CSV column)."""
    rows = con.execute(f"DESCRIBE {staged.relation}").fetchall()
    kind = next((str(r[1]) for r in rows if r[0] == column), "VARCHAR")
    return "DOUBLE" if kind.startswith("DECIMAL") else kind


def parse_number_column(con: duckdb.DuckDBPyConnection, staged: StagedFile, column: str) -> str:
    """A SQL expression for ``column`` as DOUBLE; raises if any non-missing text is not a number.

    Thousands separators (``1,234.5``) are accepted; ``--``, ``NA`` and blanks are missing.
    """
    if _column_type(con, staged, column) in _NUMERIC_TYPES:
        return f"CAST({quote_identifier(column)} AS DOUBLE)"  # typed (Parquet): nothing to parse
    clean = _cleaned(column)
    grouped = f"regexp_full_match({clean}, '-?[0-9]{{1,3}}(,[0-9]{{3}})+(\\.[0-9]+)?')"
    expr = (
        f"TRY_CAST(CASE WHEN {grouped} THEN replace({clean}, ',', '') ELSE {clean} END AS DOUBLE)"
    )
    bad = f"SELECT _row, {clean} AS v FROM {staged.relation} WHERE {clean} IS NOT NULL AND {expr} IS NULL"
    rows, values, n = _samples(con, bad)
    if n:
        raise _bad_values_error(
            staged,
            column,
            "numbers",
            "Fix the values in the file (use '.' for decimals) or map another column",
            rows,
            values,
            n,
        )
    return expr


def parse_date_column(
    con: duckdb.DuckDBPyConnection, staged: StagedFile, column: str, date_format: str | None = None
) -> str:
    """A SQL expression for ``column`` as DATE; the format is detected unless given.

    Raises:
        DataValidationError: values that do not parse (rows named), or an ambiguous format.
    """
    clean = _cleaned(column)
    typed = con.execute(
        f"SELECT typeof({quote_identifier(column)}) FROM {staged.relation} LIMIT 1"
    ).fetchone()
    if typed and str(typed[0]) in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS"):
        return f"CAST({quote_identifier(column)} AS DATE)"
    formats = [date_format] if date_format else list(_DATE_FORMATS)
    chosen = _choose_format(con, staged, clean, formats, column)
    if date_format is None and chosen == "%Y-%m-%d":
        expr = f"COALESCE(TRY_CAST({clean} AS DATE), CAST(TRY_CAST({clean} AS TIMESTAMP) AS DATE))"
    else:
        expr = f"CAST(TRY_STRPTIME({clean}, {quote_literal(chosen)}) AS DATE)"
    missing = f"SELECT _row, coalesce(CAST({quote_identifier(column)} AS VARCHAR), '') AS v FROM {staged.relation} WHERE {expr} IS NULL"
    rows, values, n = _samples(con, missing)
    if n:
        raise _bad_values_error(
            staged,
            column,
            f"dates in the format {chosen}",
            "Fix or remove those rows, or pass --date-format with the file's format (e.g. %d/%m/%Y)",
            rows,
            values,
            n,
        )
    return expr


def _choose_format(
    con: duckdb.DuckDBPyConnection, staged: StagedFile, clean: str, formats: list[str], column: str
) -> str:
    counts: dict[str, int] = {}
    for fmt in formats:
        probe = (
            f"COALESCE(TRY_CAST({clean} AS DATE), CAST(TRY_CAST({clean} AS TIMESTAMP) AS DATE))"
            if fmt == "%Y-%m-%d"
            else f"TRY_STRPTIME({clean}, {quote_literal(fmt)})"
        )
        row = con.execute(f"SELECT count({probe}) FROM {staged.relation}").fetchone()
        counts[fmt] = int(row[0]) if row else 0
    best = max(counts.values())
    winners = [f for f, c in counts.items() if c == best]
    full = con.execute(f"SELECT count({clean}) FROM {staged.relation}").fetchone()
    total = int(full[0]) if full else 0
    if len(winners) > 1 and best == total and best > 0 and "%Y-%m-%d" not in winners:
        raise DataValidationError(
            f"file {staged.path}, column {column!r}: dates fit several formats ({', '.join(winners)}), "
            "so day and month cannot be told apart; pass --date-format (e.g. --date-format %d/%m/%Y)"
        )
    return winners[0]


def parse_timestamp_column(con: duckdb.DuckDBPyConnection, staged: StagedFile, column: str) -> str:
    """A SQL expression for ``column`` as a UTC TIMESTAMP (offsets are converted)."""
    typed = con.execute(
        f"SELECT typeof({quote_identifier(column)}) FROM {staged.relation} LIMIT 1"
    ).fetchone()
    kind = str(typed[0]) if typed else "VARCHAR"
    if kind.startswith("TIMESTAMP WITH TIME ZONE"):
        return f"CAST(timezone('UTC', {quote_identifier(column)}) AS TIMESTAMP)"
    if kind.startswith("TIMESTAMP") or kind == "DATE":
        return f"CAST({quote_identifier(column)} AS TIMESTAMP)"
    clean = _cleaned(column)
    expr = (
        f"COALESCE(CAST(timezone('UTC', TRY_CAST({clean} AS TIMESTAMPTZ)) AS TIMESTAMP), "
        f"TRY_CAST({clean} AS TIMESTAMP))"
    )
    bad = f"SELECT _row, coalesce({clean}, '') AS v FROM {staged.relation} WHERE {expr} IS NULL"
    rows, values, n = _samples(con, bad)
    if n:
        raise _bad_values_error(
            staged,
            column,
            "timestamps (ISO 8601, e.g. 2024-03-01 14:05:00 or 2024-03-01T14:05:00Z)",
            "Fix or remove those rows",
            rows,
            values,
            n,
        )
    return expr


def require_columns(
    staged: StagedFile, kind: str, wanted: dict[str, tuple[str, ...]]
) -> dict[str, str]:
    """Match each canonical column to a staged one; raise listing what is missing.

    Args:
        wanted: canonical name → accepted header names (first match wins).
    """
    found: dict[str, str] = {}
    missing: list[str] = []
    for canonical, candidates in wanted.items():
        hit = staged.find(canonical, *candidates)
        if hit is None:
            missing.append(canonical)
        else:
            found[canonical] = hit
    if missing:
        raise DataValidationError(
            f"file {staged.path} ({kind}): missing required column(s) {missing}; the file has "
            f"{list(staged.columns)}. Rename the columns or map them, e.g. --map {missing[0]}=YOUR_COLUMN"
        )
    return found


def parse_mapping(items: list[str] | None) -> dict[str, str]:
    """Parse ``--map canonical=source`` options into a dict."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ConfigError(
                f"--map {item!r}: expected CANONICAL=SOURCE_COLUMN, e.g. --map spend=cost"
            )
        out[key.strip().lower()] = value.strip()
    return out
