"""What a CSV file is before DuckDB reads it, and why DuckDB could not read it.

DuckDB's CSV reader is fast, but its errors are written for SQL users and may quote a
whole line of the file, raw bytes included. margin looks at a file's first bytes itself
(a workbook renamed ``.csv``, UTF-16, binary content, carriage-return line endings) and,
when DuckDB still fails, walks the file in Python to name the line and the row at fault.
Nothing here quotes more of a file than a short, escaped :func:`excerpt`.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from margin.errors import ConfigError, InputFileError

__all__ = [
    "ENCODINGS",
    "EXCERPT_CHARS",
    "CsvShape",
    "diagnose_csv",
    "excerpt",
    "resolve_encoding",
    "sniff_csv",
]

EXCERPT_CHARS = 40
"""At most this many characters (or bytes) of a file are quoted in a message."""
ENCODINGS = ("utf-8", "latin-1", "utf-16")
"""The encodings DuckDB's CSV reader reads (the names margin passes it)."""
_CODECS = {"utf-8": "utf-8", "ascii": "utf-8", "iso8859-1": "latin-1", "utf-16": "utf-16"}
"""Python's canonical codec name → the DuckDB encoding that reads it."""
_PYTHON_CODEC = {"utf-8": "utf-8-sig", "latin-1": "latin-1", "utf-16": "utf-16"}
_SAMPLE_BYTES = 1 << 16
_BINARY_SHARE = 0.05
"""A sample with more control characters than this share is binary, not text."""
_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an Excel 97-2003 workbook (.xls)"),
    (b"PAR1", "a Parquet file"),
    (b"\x1f\x8b", "gzip-compressed"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"SQLite format 3", "an SQLite database"),
)


def excerpt(value: str | bytes, limit: int = EXCERPT_CHARS) -> str:
    """A short, printable quotation of ``value``: escaped as ``repr`` does, cut at ``limit``.

    >>> excerpt("a\\x00b")
    "'a\\\\x00b'"
    """
    shown = repr(value[:limit])
    if len(value) > limit:
        unit = "bytes" if isinstance(value, bytes) else "characters"
        shown += f"… ({len(value):,} {unit} in all)"
    return shown


def resolve_encoding(name: str) -> str:
    """The DuckDB name of encoding ``name`` (``utf8``, ``ISO-8859-1`` … are accepted).

    Raises:
        ConfigError: ``name`` is no encoding, or one DuckDB's CSV reader cannot read.
    """
    accepted = "utf-8 (the default), latin-1 (ISO-8859-1) or utf-16 (little-endian)"
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        raise ConfigError(
            f"--encoding {excerpt(name)} is not an encoding; margin reads CSV files in {accepted}"
        ) from None
    if codec not in _CODECS:
        raise ConfigError(
            f"--encoding {excerpt(name)} ({codec}) cannot be read by margin's CSV reader, which reads "
            f"{accepted}; save the file as UTF-8 (e.g. 'CSV UTF-8' in Excel) and leave --encoding out"
        )
    return _CODECS[codec]


@dataclass(frozen=True)
class CsvShape:
    """How to read a CSV: what :func:`sniff_csv` found in its first bytes.

    Attributes:
        encoding: the DuckDB encoding (one of :data:`ENCODINGS`).
        newline: ``"\\n"`` (also for ``\\r\\n``) or ``"\\r"`` (old Mac files).
        header: the first line, decoded (byte-order mark removed).
        from_bom: the encoding was read from a byte-order mark (not given, not the default).
    """

    encoding: str
    newline: str
    header: str
    from_bom: bool = False


@contextmanager
def _open(path: Path) -> Iterator[IO[bytes]]:
    """The file's bytes, decompressed when it is named ``.gz``."""
    if path.name.lower().endswith(".gz"):
        with gzip.open(path, "rb") as unzipped:
            yield cast("IO[bytes]", unzipped)  # a GzipFile reads like any binary file
    else:
        with path.open("rb") as handle:
            yield handle


def _head(path: Path) -> bytes:
    try:
        with _open(path) as handle:
            return handle.read(_SAMPLE_BYTES)
    except (OSError, EOFError, zlib.error) as err:
        raise InputFileError(
            f"file {path} is named .gz but is not a complete gzip file ({err}); it may be truncated "
            "(an interrupted download or copy): fetch or export it again, or rename it if it is "
            "not compressed"
        ) from err


def sniff_csv(path: Path, encoding: str | None) -> CsvShape:
    """Look at the first 64 KB of a CSV: refuse what is not CSV text, find encoding and newlines.

    Args:
        encoding: the DuckDB encoding the user asked for (``None``: detect UTF-16, else UTF-8).

    Raises:
        InputFileError: the file is a workbook, an archive, binary, or UTF-16 that cannot
            be read as it is.
    """
    head = _head(path)
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise InputFileError(
                f"file {path} is {what}, not CSV text (it starts with {excerpt(head, 8)}); "
                f"{_convert_hint(what)}"
            )
    chosen, from_bom = _encoding(path, head, encoding)
    text = head.decode(_PYTHON_CODEC[chosen], errors="replace").lstrip("\ufeff")
    _refuse_binary(path, head, text)
    newline = "\r" if "\r" in text and "\n" not in text else "\n"
    header = text.split(newline, 1)[0].rstrip("\r")
    return CsvShape(chosen, newline, header, from_bom)


def _convert_hint(what: str) -> str:
    if "Parquet" in what:
        return "rename it to .parquet"
    if "gzip" in what:
        return "name it .csv.gz so margin decompresses it"
    if "Excel" in what:
        return "open it in Excel (or Sheets) and save it as 'CSV UTF-8', then ingest the .csv"
    return "export the data as CSV (UTF-8) and ingest that file"


def _encoding(path: Path, head: bytes, encoding: str | None) -> tuple[str, bool]:
    """The encoding to read with, and whether it came from a byte-order mark."""
    if head.startswith(b"\xfe\xff") or _zero_share(head, 0) > 0.4 > _zero_share(head, 1):
        raise InputFileError(
            f"file {path} is UTF-16 big-endian, which margin cannot read; save it as UTF-8 "
            "(e.g. 'CSV UTF-8' in Excel) and ingest it again"
        )
    if head.startswith(b"\xff\xfe"):
        if encoding not in (None, "utf-16"):
            raise InputFileError(
                f"file {path} starts with a UTF-16 byte-order mark but --encoding {encoding} was "
                "given; leave --encoding out (margin reads UTF-16 files with a byte-order mark)"
            )
        return "utf-16", encoding is None
    if encoding != "utf-16" and _zero_share(head, 1) > 0.4 > _zero_share(head, 0):
        raise InputFileError(
            f"file {path} looks like UTF-16 without a byte-order mark (every other byte is zero); "
            "pass --encoding utf-16, or save it as UTF-8"
        )
    return encoding or "utf-8", False


def _zero_share(head: bytes, offset: int) -> float:
    """The share of zero bytes at even (``offset`` 0) or odd (1) positions of ``head``."""
    picked = head[offset::2]
    return picked.count(0) / len(picked) if len(picked) >= 2 else 0.0


def _refuse_binary(path: Path, head: bytes, text: str) -> None:
    controls = sum(1 for c in text if (ord(c) < 32 and c not in "\t\n\r") or ord(c) == 127)
    if controls >= 4 and controls > _BINARY_SHARE * len(text):
        raise InputFileError(
            f"file {path} is not CSV text: {controls:,} of its first {len(text):,} characters are "
            f"control characters (it starts with {excerpt(head, 16)}); export the data as CSV "
            "(UTF-8) and ingest that file"
        )


def diagnose_csv(path: Path, shape: CsvShape, delimiter: str, n_columns: int) -> str | None:
    """Why DuckDB could not read a CSV: a bad byte or a row of the wrong width, or ``None``.

    Walks the whole file in Python (only after DuckDB failed), so the message can name
    the line and the data row at fault (row ``n`` is line ``n + 1`` without quoted newlines).
    """
    bad = _first_undecodable(path, shape.encoding)
    if bad is not None:
        return bad
    try:
        with _open(path) as raw:
            text = io.TextIOWrapper(
                raw, encoding=_PYTHON_CODEC[shape.encoding], errors="replace", newline=""
            )
            return _first_ragged(text, delimiter, n_columns)
    except (OSError, EOFError, zlib.error) as err:
        return f"the file cannot be read to the end ({err}); it may be truncated: fetch or export it again"


def _first_undecodable(path: Path, encoding: str) -> str | None:
    """The first line with bytes ``encoding`` cannot read (UTF-8; latin-1's unused 0x80-0x9F)."""
    if encoding not in ("utf-8", "latin-1"):
        return None
    with _open(path) as handle:
        for number, line in enumerate(handle, start=1):
            start = _bad_byte(line, encoding)
            if start is None:
                continue
            before = line[:start].decode(_PYTHON_CODEC[encoding], errors="replace")[-20:]
            shown = "UTF-8" if encoding == "utf-8" else encoding
            found = f"line {number} is not valid {shown}: byte(s) {excerpt(line[start : start + 4], 8)} after {excerpt(before)}"
            if encoding == "latin-1":
                return (
                    f"{found} (bytes 0x80-0x9F: the file is probably Windows-1252, with curly "
                    "quotes or €); save it as UTF-8 and leave --encoding out"
                )
            return (
                f"{found}; save the file as UTF-8, or pass --encoding latin-1 (or utf-16) to read "
                "it as exported"
            )
    return None


def _bad_byte(line: bytes, encoding: str) -> int | None:
    if encoding == "latin-1":
        return next((i for i, b in enumerate(line) if 0x80 <= b <= 0x9F), None)
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as err:
        return err.start
    return None


def _first_ragged(text: IO[str], delimiter: str, n_columns: int) -> str | None:
    reader = csv.reader(text, delimiter=delimiter)
    line = 0
    try:
        for number, row in enumerate(reader):
            line = reader.line_num
            if number == 0 or not row:
                continue  # the header, and blank lines (skipped by the reader too)
            if len(row) != n_columns:
                return (
                    f"row {number} (line {line}) has {len(row)} field(s) where the header has "
                    f"{n_columns} ({excerpt(','.join(row))}); every row needs as many fields as the "
                    "header: check the delimiter (--delimiter) and that values containing it are quoted"
                )
    except csv.Error as err:
        what = (
            "has a value over 131,072 characters"
            if "field limit" in str(err)
            else f"cannot be parsed ({err})"
        )
        return (
            f'line {line + 1} {what}; an unclosed quote (") often makes one value swallow the '
            "lines after it: check the quoting"
        )
    return None
