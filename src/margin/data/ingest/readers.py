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
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from margin.data.ingest.dates import ISO, detect_dates, read_as
from margin.data.ingest.sniff import CsvShape, diagnose_csv, excerpt, resolve_encoding, sniff_csv
from margin.data.rules.findings import MAX_ROWS_LISTED, Finding
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
MAX_TEXT_CHARS = 10_000
"""Longer values are refused: they come from broken quoting, not from marketing data."""
_CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"
"""Control characters refused in text (tab and line breaks are allowed); RE2 and Python syntax."""
_CURRENCY_SYMBOLS = "$€£¥₹"
_MISSING = ("", "--", "NA", "N/A", "null", "NULL", "None")
"""Texts read as a missing value (ad-platform exports write ``--`` for none)."""


@dataclass(frozen=True)
class ReadOptions:
    """How to read a CSV: ``None`` means detect it.

    Checked on creation: ``encoding`` becomes the reader's name for it (``utf8`` →
    ``utf-8``), a ``delimiter`` written ``\\t`` or ``tab`` becomes a tab.

    ``today``: the day after which dates count as the future (more than a year later is
    taken for a parsing error); default the real today. A simulated world passes its own
    clock (the loop: the world's current week), since its weeks may lie years ahead.

    Raises:
        ConfigError: an encoding margin cannot read, a delimiter that is not one
            character, or a date format DuckDB cannot use.
    """

    delimiter: str | None = None
    encoding: str | None = None
    date_format: str | None = None
    today: date | None = None

    def __post_init__(self) -> None:
        if self.encoding is not None:
            object.__setattr__(self, "encoding", resolve_encoding(self.encoding))
        if self.delimiter is not None:
            delimiter = "\t" if self.delimiter in ("\\t", "tab", "TAB") else self.delimiter
            if len(delimiter) != 1 or delimiter in '\r\n"':
                raise ConfigError(
                    f"--delimiter {excerpt(self.delimiter)}: expected one character such as ',', ';', "
                    "'|' or '\\t' (tab)"
                )
            object.__setattr__(self, "delimiter", delimiter)
        if self.date_format is not None:
            _check_date_format(self.date_format)


def _check_date_format(fmt: str) -> None:
    import duckdb

    problem = None if "%" in fmt else "it has no % codes"
    if problem is None:
        try:
            with duckdb.connect() as scratch:
                scratch.execute("SELECT TRY_STRPTIME('2024-01-31', ?)", [fmt])
        except duckdb.Error as err:
            problem = str(err).splitlines()[0].split(": ", 1)[-1]
    if problem:
        raise ConfigError(
            f"--date-format {excerpt(fmt)}: {problem}; write the format with strptime codes, "
            "e.g. %Y-%m-%d, %d/%m/%Y or %m/%d/%y (%y for two-digit years)"
        )


@dataclass(frozen=True)
class StagedFile:
    """A file staged in a temporary table ``relation`` of the connection."""

    path: Path
    relation: str
    columns: tuple[str, ...]
    n_rows: int
    sha256: str
    is_csv: bool
    notes: list[Finding] = field(default_factory=list, compare=False)
    """What reading the file decided that the user should know (date formats, symbols)."""

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
        InputFileError: the file is missing, empty, not CSV text or Parquet (a workbook,
            binary, truncated), not in its encoding, has duplicate or blank headers, rows
            of another width than the header, control characters or over-long values.
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
    notes: list[Finding] = []
    if is_parquet:
        _stage_parquet(con, path, relation)
    else:
        notes += _stage_csv(con, path, relation, options)
    columns = tuple(
        str(r[0]) for r in con.execute(f"DESCRIBE {relation}").fetchall() if r[0] != "_row"
    )
    count = con.execute(f"SELECT count(*) FROM {relation}").fetchone()
    n_rows = int(count[0]) if count else 0
    if n_rows == 0:
        raise InputFileError(
            f"file {path} has a header ({excerpt(', '.join(columns), 200)}) but no data rows; "
            "export it again with data"
        )
    staged = StagedFile(path, relation, columns, n_rows, file_sha256(path), not is_parquet, notes)
    _check_text(con, staged)
    return staged


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
        con.execute(f"SELECT count(*) FROM {relation}").fetchone()
    except duckdb.Error as err:
        raise _parquet_error(path, err) from err


def _parquet_error(path: Path, err: Exception) -> InputFileError:
    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(max(0, path.stat().st_size - 4))
        tail = handle.read(4)
    if head != b"PAR1":
        why = (
            f"it does not start like a Parquet file (it starts with {excerpt(head)}); if it is a "
            "CSV, rename it to .csv"
        )
    elif tail != b"PAR1":
        why = "it is truncated (its footer is missing): copy or export it again"
    else:
        why = f"{excerpt(str(err).splitlines()[0], 200)}; check that it is a complete Parquet file"
    return InputFileError(f"file {path} cannot be read as Parquet: {why}")


def _stage_csv(
    con: duckdb.DuckDBPyConnection, path: Path, relation: str, options: ReadOptions
) -> list[Finding]:
    """Stage a CSV as text columns; return notes on how it was read."""
    import duckdb

    shape = sniff_csv(path, options.encoding)
    delimiter = options.delimiter or _guess_delimiter(shape.header)
    header = next(csv.reader(io.StringIO(shape.header), delimiter=delimiter), [])
    _check_header(path, header, delimiter)
    names = [h.strip() or f"_unnamed_{i}" for i, h in enumerate(header)]
    columns = ", ".join(f"{quote_literal(n)}: 'VARCHAR'" for n in names)
    args = [  # no sniffing: margin found the dialect, and DuckDB's sniffer can take minutes
        "header = true",
        "auto_detect = false",
        f"columns = {{{columns}}}",
        "strict_mode = true",
        f"delim = {quote_literal(delimiter)}",
        "quote = '\"'",
        "escape = '\"'",
        f"encoding = {quote_literal(shape.encoding)}",
    ]
    if shape.newline == "\r":
        args.append("new_line = '\\r'")
    try:
        con.execute(
            f"CREATE TEMP TABLE {relation} AS SELECT row_number() OVER () AS _row, * "
            f"FROM read_csv({quote_literal(str(path))}, {', '.join(args)})"
        )
    except duckdb.Error as err:
        raise _csv_error(path, err, shape, delimiter, len(header)) from err
    if len(names) > 1 and names[0] == "_unnamed_0":  # an unnamed index column (R, pandas)
        con.execute(f"ALTER TABLE {relation} DROP COLUMN {quote_identifier(names[0])}")
    if not shape.from_bom:
        return []
    return [
        Finding(
            rule="encoding",
            severity="info",
            table="file",
            column=None,
            message="The file was read as UTF-16, as its byte-order mark says.",
            fix="Nothing to do; save it as UTF-8 to make it smaller.",
            file=str(path),
        )
    ]


def _guess_delimiter(header: str) -> str:
    """The delimiter of a CSV: the most frequent of , ; tab | in its header line."""
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _check_header(path: Path, header: list[str], delimiter: str) -> None:
    names = [h.strip() for h in header]
    for number, name in enumerate(names, start=1):
        if _control_at(name) is not None or len(name) > 200:
            raise InputFileError(
                f"file {path}: header column {number} ({excerpt(name)}) is not a column name "
                "(control characters or over 200 characters); check that the file is CSV text "
                "with a header row, and its encoding (--encoding)"
            )
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
                    f"file {path}: read as a single column {excerpt(names[0])}, which contains {shown!r}; "
                    f"the file seems to use {shown!r} as its delimiter: pass --delimiter '{shown}'"
                )


def _csv_error(
    path: Path, err: Exception, shape: CsvShape, delimiter: str, n_columns: int
) -> InputFileError:
    """The error for a CSV DuckDB could not read: the line and row at fault where found."""
    text = str(err)
    lower = text.lower()
    if "gzip" in lower:
        return InputFileError(
            f"file {path} is not a complete gzip file ({excerpt(text.splitlines()[0], 120)}); it may "
            "be truncated (an interrupted download or copy): fetch or export it again"
        )
    found = diagnose_csv(path, shape, delimiter, n_columns)
    if found is not None:
        return InputFileError(f"file {path}: {found}")
    if "maximum line size" in lower:
        return InputFileError(
            f"file {path} has a line longer than DuckDB's limit (2 MB); an unclosed quote (\") "
            "often makes one value swallow the rest of the file: check the quoting"
        )
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), text)
    return InputFileError(
        f"file {path} cannot be read as CSV: {excerpt(first, 200)}. Check the delimiter "
        "(--delimiter), the encoding (--encoding), the quoting and that every row has as many "
        "fields as the header"
    )


def _control_at(text: str) -> int | None:
    """The 0-based position of the first refused control character in ``text``, if any."""
    match = re.search(_CONTROL, text)
    return None if match is None else match.start()


def _check_text(con: duckdb.DuckDBPyConnection, staged: StagedFile) -> None:
    """Refuse control characters and over-long values in any text column, naming the first.

    One scan: a single regular expression over each row's texts joined, plus their lengths.
    """
    described = con.execute(f"DESCRIBE {staged.relation}").fetchall()
    texts = [str(r[0]) for r in described if r[0] != "_row" and str(r[1]) == "VARCHAR"]
    if not texts:
        return
    quoted = [quote_identifier(c) for c in texts]
    joined = f"concat_ws('', {', '.join(quoted)})"
    long = " OR ".join(f"length({q}) > {MAX_TEXT_CHARS}" for q in quoted)
    row = con.execute(
        f"SELECT _row, {', '.join(quoted)} FROM {staged.relation} "
        f"WHERE regexp_matches({joined}, '{_CONTROL}') OR {long} ORDER BY _row LIMIT 1"
    ).fetchone()
    if row is None:
        return
    for column, value in zip(texts, row[1:], strict=True):
        if value is not None and (_control_at(value) is not None or len(value) > MAX_TEXT_CHARS):
            raise _text_error(staged, int(row[0]), column, value)


def _text_error(staged: StagedFile, row: int, column: str, value: str) -> InputFileError:
    where = f"file {staged.path}, row {row}, column {column!r}"
    position = _control_at(value)
    if position is None:
        return InputFileError(
            f"{where}: a value of {len(value):,} characters (it starts {excerpt(value[:40])}…); "
            f'values are limited to {MAX_TEXT_CHARS:,} characters. An unclosed quote (") often '
            "makes one value swallow many lines: check the quoting, or drop the column"
        )
    char = value[position]
    windows = (
        " (bytes 0x80-0x9F: the file may be Windows-1252; save it as UTF-8)"
        if "\x80" <= char <= "\x9f"
        else ""
    )
    return InputFileError(
        f"{where}: the value contains the control character {char!r} at position {position + 1} "
        f"({excerpt(value)}){windows}; margin refuses control characters in text. Remove "
        "them in the source and export the file again"
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
    shown = ", ".join(f"row {r}: {excerpt(v)}" for r, v in zip(rows, values, strict=True))
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
    A currency symbol (``$1,000.00``, ``-£5``, ``12 €``) is dropped, with a note in
    ``staged.notes``: the amount's currency comes from the currency column, not the symbol.

    Raises:
        DataValidationError: values that are not numbers, or symbols of several currencies.
    """
    if _column_type(con, staged, column) in _NUMERIC_TYPES:
        return f"CAST({quote_identifier(column)} AS DOUBLE)"  # typed (Parquet): nothing to parse
    clean = _cleaned(column)
    bare = _without_symbol(con, staged, column, clean)
    grouped = f"regexp_full_match({bare}, '-?[0-9]{{1,3}}(,[0-9]{{3}})+(\\.[0-9]+)?')"
    expr = f"TRY_CAST(CASE WHEN {grouped} THEN replace({bare}, ',', '') ELSE {bare} END AS DOUBLE)"
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


def _without_symbol(
    con: duckdb.DuckDBPyConnection, staged: StagedFile, column: str, clean: str
) -> str:
    """SQL for ``clean`` less its currency symbol, if the column has any (one symbol only)."""
    symbol = f"regexp_extract({clean}, '[{_CURRENCY_SYMBOLS}]')"
    found = con.execute(
        f"SELECT {symbol} AS s, min(_row), count(*), arg_min({clean}, _row) FROM {staged.relation} "
        f"WHERE {symbol} <> '' GROUP BY s ORDER BY min(_row)"
    ).fetchall()
    if not found:
        return clean
    if len(found) > 1:
        shown = ", ".join(f"{s!r} in row {r}" for s, r, _, _ in found[:4])
        raise DataValidationError(
            f"file {staged.path}, column {column!r}: the amounts carry symbols of several currencies "
            f"({shown}); one column cannot mix currencies. Split the file by currency, or write plain "
            "numbers with a currency column (converted through fx_rates)"
        )
    sym, row, n, example = found[0]
    number = "([0-9]{1,3}(,[0-9]{3})+|[0-9]+)(\\.[0-9]+)?"
    shape = f"-?\\s*[{sym}]\\s*-?{number}|-?{number}\\s*[{sym}]"
    staged.notes.append(
        Finding(
            rule="currency_symbols",
            severity="info",
            table="file",
            column=column,
            message=(
                f"{n:,} value(s) are written with {sym!r} (row {row}: {excerpt(str(example))}); the "
                "symbol and thousands separators were dropped and the amounts read as plain numbers."
            ),
            fix=(
                "Nothing to do if the rows' currency column (or --currency, or the workspace's "
                "currency) is the currency of those amounts; the symbol itself is not used."
            ),
            rows=(int(row),),
            n_rows=int(n),
            file=str(staged.path),
        )
    )
    return (
        f"CASE WHEN regexp_full_match({clean}, '{shape}') "
        f"THEN regexp_replace({clean}, '[{sym}[:space:]]', '', 'g') ELSE {clean} END"
    )


def parse_date_column(
    con: duckdb.DuckDBPyConnection, staged: StagedFile, column: str, date_format: str | None = None
) -> str:
    """A SQL expression for ``column`` as DATE; the format is detected unless given.

    A detected format other than ISO is said in ``staged.notes`` (see :mod:`margin.data.ingest.dates`).

    Raises:
        DataValidationError: values that do not parse (rows named), an ambiguous format,
            or two-digit years read with ``%Y``.
    """
    clean = _cleaned(column)
    typed = con.execute(
        f"SELECT typeof({quote_identifier(column)}) FROM {staged.relation} LIMIT 1"
    ).fetchone()
    if typed and str(typed[0]) in ("DATE", "TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_NS"):
        return f"CAST({quote_identifier(column)} AS DATE)"
    if date_format:
        chosen, expr = date_format, read_as(clean, date_format, detected=False)
    else:
        reading = detect_dates(con, staged.relation, clean, path=staged.path, column=column)
        chosen, expr = reading.format, reading.sql
        if reading.note:
            staged.notes.append(
                Finding(
                    rule="date_format",
                    severity="info",
                    table="file",
                    column=column,
                    message=reading.note[0].upper() + reading.note[1:] + ".",
                    fix="Nothing to do if that is right; else pass --date-format with the file's format.",
                    file=str(staged.path),
                )
            )
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
    if "%Y" in chosen and (date_format or chosen != ISO):
        _refuse_two_digit_years(con, staged, column, clean, expr, chosen)
    return expr


def _refuse_two_digit_years(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    column: str,
    clean: str,
    expr: str,
    fmt: str,
) -> None:
    row = con.execute(
        f"SELECT _row, {clean}, year({expr}) FROM {staged.relation} WHERE year({expr}) < 100 "
        "ORDER BY _row LIMIT 1"
    ).fetchone()
    if row is not None:
        raise DataValidationError(
            f"file {staged.path}, row {row[0]}, column {column!r}: {excerpt(str(row[1]))} read as "
            f"{fmt} gives the year {int(row[2]):04d}; the file writes two-digit years, which %y reads "
            f"(pass --date-format {fmt.replace('%Y', '%y')})"
        )


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
