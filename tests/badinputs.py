"""A corpus of bad input files, generated here (never committed as blobs).

Each :class:`BadInput` is a file (or an option) that ``margin ingest KIND FILE ARGS…``
must refuse with exit code 2 and one clear line naming what is wrong, where, and the
fix, leaving the workspace unchanged (``tests/test_bad_inputs.py`` checks every case).
:data:`GOOD` holds one good file per table, for the workspace the cases are loaded into.

Run as a script to write the corpus to a folder, for trying it by hand::

    python tests/badinputs.py OUTDIR     # the files, and cases.tsv: name, kind, args, says
"""

from __future__ import annotations

import gzip
import io
import random
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["GOOD", "BadInput", "cases", "main", "write_case", "write_good"]

GOOD: dict[str, str] = {
    "fx_rates": "date,currency,rate\n2024-01-01,EUR,1.1\n2024-01-08,EUR,1.1\n",
    "spend": (
        "date,geo,channel,campaign,spend,currency\n"
        "2024-01-01,north,tv,brand,100,USD\n2024-01-08,north,tv,brand,120,USD\n"
        "2024-01-01,south,search,generic,50,EUR\n2024-01-08,south,search,generic,55,EUR\n"
    ),
    "outcomes": "date,geo,kpi,value\n2024-01-01,north,revenue,1000\n2024-01-08,north,revenue,1100\n",
    "controls": "date,geo,name,value\n2024-01-01,north,price,9.5\n2024-01-08,north,price,9.7\n",
    "events": (
        "user_id,ts,channel,campaign,event,value\n"
        "u1,2024-01-01T10:00:00Z,search,brand,touch,\n"
        "u1,2024-01-02T10:00:00Z,,,conversion,40\n"
    ),
    "transactions": "customer_id,ts,amount,channel\nc1,2024-01-01,10.5,search\nc2,2024-01-03,20,tv\n",
    "experiments": "id,channel,start,end,lift,lift_se\nt1,tv,2024-01-01,2024-01-28,500,100\n",
}
"""One good file per table, loaded in this order (fx_rates first: spend converts EUR)."""

_SPEND = "date,geo,channel,campaign,spend\n"
_OK = "2024-01-01,north,tv,brand,100\n"

Content = bytes | Callable[[], bytes] | None
"""The file's bytes, a function making them (large or binary files), or None: no file."""


@dataclass(frozen=True)
class BadInput:
    """One bad input: ``margin ingest KIND NAME ARGS…`` fails with a line containing ``says``.

    Attributes:
        name: the file name, also the case's id (unique).
        kind: the table, the ``KIND`` argument.
        content: see :data:`Content`.
        says: substrings the error line must contain (the file's name is added for files).
        args: extra command-line arguments.
        names_file: the line names the file (not for options refused before any file is read).
    """

    name: str
    kind: str
    content: Content
    says: tuple[str, ...]
    args: tuple[str, ...] = ()
    names_file: bool = True

    def data(self) -> bytes | None:
        return self.content() if callable(self.content) else self.content


def _spend(*rows: str, header: str = _SPEND) -> bytes:
    return (header + "".join(r + "\n" for r in rows)).encode()


def _xlsx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as book:
        book.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        book.writestr("xl/workbook.xml", "<workbook/>")
        book.writestr("xl/worksheets/sheet1.xml", "<worksheet/>")
    return buffer.getvalue()


def _parquet(truncate: bool) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"date": ["2024-01-01"] * 50, "channel": ["tv"] * 50, "spend": [1.0] * 50})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    data = buffer.getvalue()
    return data[: len(data) // 2] if truncate else data


def _truncated_gzip() -> bytes:
    rows = "".join(f"2024-01-{d:02d},north,tv,brand,{d}\n" for d in range(1, 29))
    data = gzip.compress((_SPEND + rows).encode())
    return data[: len(data) // 2]


def _garbage() -> bytes:
    rng = random.Random(19)
    return bytes(rng.randrange(256) for _ in range(4096))


def _png() -> bytes:
    return b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def _long_cell(column: str) -> Callable[[], bytes]:
    def make() -> bytes:
        big = "9" * (1 << 20) if column == "spend" else "x" * (1 << 20)
        row = (
            f"2024-01-01,north,tv,{big},1"
            if column == "campaign"
            else f"2024-01-01,north,tv,b,{big}"
        )
        return _spend(row)

    return make


def _huge_line() -> bytes:
    return _spend("2024-01-01,north,tv,b," + "7" * (3 << 20))


def _file_cases() -> list[BadInput]:
    """Files that are not CSV text, or not readable as a table at all."""
    utf16 = (_SPEND + _OK).encode("utf-16-le")
    return [
        BadInput("empty.csv", "spend", b"", ("is empty",)),
        BadInput("headers_only.csv", "spend", _spend(), ("no data rows",)),
        BadInput(
            "invalid_utf8.csv",
            "spend",
            _spend("2024-01-01,north,t\xe9l\xe9,brand,1").decode().encode("latin-1"),
            ("line 2 is not valid UTF-8", "--encoding latin-1"),
        ),
        BadInput(
            "utf16_no_bom.csv",
            "spend",
            utf16,
            ("UTF-16 without a byte-order mark", "--encoding utf-16"),
        ),
        BadInput(
            "utf16_big_endian.csv",
            "spend",
            b"\xfe\xff" + (_SPEND + _OK).encode("utf-16-be"),
            ("UTF-16 big-endian", "save it as UTF-8"),
        ),
        BadInput(
            "utf16_bom_said_latin1.csv",
            "spend",
            b"\xff\xfe" + utf16,
            ("byte-order mark", "--encoding latin-1"),
            ("--encoding", "latin-1"),
        ),
        BadInput("xlsx_renamed.csv", "spend", _xlsx, ("Excel", "save it as 'CSV UTF-8'")),
        BadInput(
            "xls_renamed.csv",
            "spend",
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600),
            ("Excel 97-2003",),
        ),
        BadInput(
            "parquet_renamed.csv", "spend", lambda: _parquet(False), ("rename it to .parquet",)
        ),
        BadInput(
            "gzip_unnamed.csv", "spend", lambda: gzip.compress(_spend(_OK.strip())), (".csv.gz",)
        ),
        BadInput(
            "truncated.csv.gz", "spend", _truncated_gzip, ("not a complete gzip file", "truncated")
        ),
        BadInput("not_gzip.csv.gz", "spend", _spend(_OK.strip()), ("not a complete gzip file",)),
        BadInput("truncated.parquet", "spend", lambda: _parquet(True), ("truncated",)),
        BadInput(
            "csv_named.parquet",
            "spend",
            _spend(_OK.strip()),
            ("does not start like a Parquet file", ".csv"),
        ),
        BadInput("garbage.csv", "spend", _garbage, ("is not CSV text",)),
        BadInput("png_renamed.csv", "spend", _png, ("PNG image",)),
        BadInput("pdf_renamed.csv", "outcomes", b"%PDF-1.4\n" + bytes(500), ("PDF document",)),
        BadInput("events_truncated.parquet", "events", lambda: _parquet(True), ("truncated",)),
        BadInput("missing_file.csv", "spend", None, ("does not exist",)),
        BadInput("workbook.xlsx", "spend", _xlsx, ("cannot tell its format from the extension",)),
    ]


def _structure_cases() -> list[BadInput]:
    """Headers, delimiters, row widths, control characters and over-long values."""
    return [
        BadInput(
            "ragged_long_row.csv",
            "spend",
            _spend(_OK.strip(), "2024-01-08,north,tv,brand,1,extra"),
            ("row 2 (line 3) has 6 field(s) where the header has 5",),
        ),
        BadInput(
            "ragged_short_row.csv",
            "outcomes",
            b"date,geo,kpi,value\n2024-01-01,north,revenue\n",
            ("row 1 (line 2) has 3 field(s) where the header has 4",),
        ),
        BadInput(
            "duplicate_headers.csv",
            "spend",
            _spend(_OK.strip() + ",2", header="date,geo,channel,campaign,spend,spend\n"),
            ("repeats column names", "spend"),
        ),
        BadInput(
            "blank_header.csv",
            "controls",
            b"date,,value\n2024-01-01,x,1\n",
            ("blank column names at positions [2]",),
        ),
        BadInput(
            "semicolons_said_comma.csv",
            "spend",
            _spend("2024-01-01;north;tv;brand;1", header="date;geo;channel;campaign;spend\n"),
            ("--delimiter ';'",),
            ("--delimiter", ","),
        ),
        BadInput(
            "nul_in_campaign.csv",
            "spend",
            _spend("2024-01-01,north,tv,brand,1", "2024-01-08,north,tv,br\x00and,1"),
            ("row 2, column 'campaign'", "'\\x00'"),
        ),
        BadInput(
            "bell_in_channel.csv",
            "spend",
            _spend("2024-01-01,north,t\x07v,brand,1"),
            ("row 1, column 'channel'", "'\\x07'"),
        ),
        BadInput(
            "escape_in_kpi.csv",
            "outcomes",
            b"date,geo,kpi,value\n2024-01-01,north,rev\x1b[31m,1\n",
            ("row 1, column 'kpi'", "'\\x1b'"),
        ),
        BadInput(
            "nul_in_event_campaign.csv",
            "events",
            b"user_id,ts,channel,campaign,event\nu1,2024-01-01,search,br\x00and,touch\n",
            ("row 1, column 'campaign'",),
        ),
        BadInput(
            "windows1252_read_as_latin1.csv",
            "spend",
            _spend("2024-01-01,north,tv,summer\x92s sale,1").decode().encode("latin-1"),
            ("line 2 is not valid latin-1", "Windows-1252"),
            ("--encoding", "latin-1"),
        ),
        BadInput(
            "long_campaign.csv",
            "spend",
            _long_cell("campaign"),
            ("row 1, column 'campaign'", "1,048,576 characters"),
        ),
        BadInput(
            "long_spend_cell.csv",
            "spend",
            _long_cell("spend"),
            ("row 1, column 'spend'", "1,048,576 characters"),
        ),
        BadInput("huge_line.csv", "spend", _huge_line, ("line 2", "unclosed quote")),
        BadInput(
            "one_column_tabs.csv",
            "controls",
            b"date\tgeo\tname\tvalue\n2024-01-01\tnorth\tprice\t1\n",
            ("--delimiter '\\t'",),
            ("--delimiter", ";"),
        ),
    ]


def _option_cases() -> list[BadInput]:
    """Options that cannot be used (no file is read)."""
    ok = _spend(_OK.strip())
    found = [
        BadInput(
            "encoding_klingon.csv",
            "spend",
            ok,
            ("--encoding 'klingon' is not an encoding", "utf-8"),
            ("--encoding", "klingon"),
        ),
        BadInput(
            "encoding_cp1252.csv",
            "spend",
            ok,
            ("cannot be read by margin's CSV reader", "UTF-8"),
            ("--encoding", "cp1252"),
        ),
        BadInput(
            "delimiter_two_chars.csv",
            "spend",
            ok,
            ("--delimiter ';;'", "one character"),
            ("--delimiter", ";;"),
        ),
        BadInput(
            "date_format_bad_code.csv",
            "spend",
            ok,
            ("--date-format '%Q'",),
            ("--date-format", "%Q"),
        ),
        BadInput(
            "date_format_no_codes.csv",
            "spend",
            ok,
            ("no % codes", "%d/%m/%Y"),
            ("--date-format", "dd/mm/yyyy"),
        ),
        BadInput("layout_unknown.csv", "spend", ok, ("--layout 'bing'",), ("--layout", "bing")),
        BadInput("kind_runs.csv", "runs", ok, ("cannot be ingested", "written by margin itself")),
    ]
    return [replace(c, names_file=False) for c in found] + _prehashed_cases()


def _prehashed_cases() -> list[BadInput]:
    """``--prehashed`` over ids that are not margin's hashes: refused, the raw id not shown."""
    return [
        BadInput(
            "events_prehashed_raw_ids.csv",
            "events",
            GOOD["events"].encode(),
            ("column 'user_id'", "--prehashed says the ids are margin's hashes", "row 1"),
            ("--prehashed",),
        ),
        BadInput(
            "transactions_prehashed_emails.csv",
            "transactions",
            b"email,ts,amount\nann@example.com,2024-01-01,10\n",
            ("column 'email'", "--prehashed", "values not shown"),
            ("--prehashed", "--map", "customer_key=email"),
        ),
    ]


def _spend_value_cases() -> list[BadInput]:
    """Spend files whose values or columns are wrong."""
    return [
        BadInput(
            "missing_channel.csv",
            "spend",
            b"date,spend\n2024-01-01,1\n",
            ("missing required column(s) ['channel']", "--map channel="),
        ),
        BadInput(
            "unknown_layout.csv",
            "spend",
            b"when,what,how much\n2024-01-01,tv,1\n",
            ("cannot tell which spend layout", "--layout"),
        ),
        BadInput(
            "spend_text.csv",
            "spend",
            _spend(_OK.strip(), "2024-01-08,north,tv,brand,abc"),
            ("column 'spend'", "row 2: 'abc'"),
        ),
        BadInput(
            "spend_decimal_comma.csv",
            "spend",
            _spend('2024-01-01,north,tv,brand,"1.000,50"'),
            ("column 'spend'", "row 1: '1.000,50'"),
        ),
        BadInput(
            "spend_mixed_symbols.csv",
            "spend",
            _spend("2024-01-01,north,tv,brand,$5", "2024-01-08,north,tv,brand,€5"),
            ("symbols of several currencies", "'$' in row 1", "'€' in row 2"),
        ),
        BadInput(
            "spend_symbol_inside.csv",
            "spend",
            _spend("2024-01-01,north,tv,brand,$5", "2024-01-08,north,tv,brand,5$5"),
            ("column 'spend'", "row 2: '5$5'"),
        ),
        BadInput(
            "negative_spend.csv",
            "spend",
            _spend(_OK.strip(), "2024-01-08,north,tv,brand,-5"),
            ("negative_spend", "rows 2"),
        ),
        BadInput(
            "nan_spend.csv",
            "spend",
            _spend("2024-01-01,north,tv,brand,NaN"),
            ("non_finite", "column 'spend'"),
        ),
        BadInput(
            "inf_spend.csv",
            "spend",
            _spend("2024-01-01,north,tv,brand,inf"),
            ("non_finite", "column 'spend'"),
        ),
        BadInput(
            "overflow_spend.csv",
            "spend",
            _spend("2024-01-01,north,tv,brand,1e400"),
            ("non_finite", "column 'spend'"),
        ),
        BadInput(
            "huge_spend.csv",
            "spend",
            _spend("2024-01-01,north,tv,brand,1e308"),
            ("huge_values", "column 'spend'"),
        ),
        BadInput(
            "negative_clicks.csv",
            "spend",
            _spend("2024-01-01,north,tv,brand,1,-3", header=_SPEND.strip() + ",clicks\n"),
            ("negative_counts", "clicks"),
        ),
        BadInput(
            "unknown_currency.csv",
            "spend",
            _spend("2024-01-01,north,tv,brand,1,XYZ", header=_SPEND.strip() + ",currency\n"),
            ("no exchange rate", "XYZ"),
        ),
        BadInput(
            "currency_not_code.csv",
            "spend",
            _spend("2024-01-01,north,tv,brand,1,dollars", header=_SPEND.strip() + ",currency\n"),
            ("row 1", "'DOLLARS' is not an ISO 4217 code"),
        ),
        BadInput(
            "meta_no_day_breakdown.csv",
            "spend",
            b"Reporting starts,Reporting ends,Campaign name,Amount spent (USD)\n2024-01-01,2024-01-31,A,100\n",
            ("row 1", "31 days", "'Day'"),
        ),
    ]


def _date_cases() -> list[BadInput]:
    """Dates that cannot be read, or read into impossible years."""
    return [
        BadInput(
            "date_future.csv",
            "spend",
            _spend("2099-01-05,north,tv,brand,1"),
            ("date_out_of_range", "2099-01-05"),
        ),
        BadInput(
            "date_year_0003.csv",
            "outcomes",
            b"date,geo,kpi,value\n0003-06-21,north,revenue,1\n",
            ("date_out_of_range", "0003-06-21"),
        ),
        BadInput(
            "date_impossible.csv",
            "spend",
            _spend(_OK.strip(), "2021-02-30,north,tv,brand,1"),
            ("column 'date'", "row 2: '2021-02-30'"),
        ),
        BadInput(
            "date_mixed_formats.csv",
            "spend",
            _spend(_OK.strip(), "08/01/2024,north,tv,brand,1"),
            ("column 'date'", "row 2: '08/01/2024'"),
        ),
        BadInput(
            "date_day_month_ambiguous.csv",
            "spend",
            _spend("01/02/2024,north,tv,brand,1", "03/04/2024,north,tv,brand,2"),
            ("can be read several ways", "--date-format"),
        ),
        BadInput(
            "date_two_digit_year_as_Y.csv",
            "outcomes",
            b"date,geo,kpi,value\n03/06/21,north,revenue,1\n",
            ("row 1", "year 0021", "--date-format %d/%m/%y"),
            ("--date-format", "%d/%m/%Y"),
        ),
        BadInput(
            "date_not_a_date.csv",
            "controls",
            b"date,geo,name,value\nsoon,north,price,1\n",
            ("column 'date'", "row 1: 'soon'"),
        ),
        BadInput(
            "date_blank.csv",
            "controls",
            b"date,geo,name,value\n2024-01-01,north,price,1\n,north,price,2\n",
            ("column 'date'", "row 2: ''"),
        ),
    ]


def _table_cases() -> list[BadInput]:
    """The other tables: outcomes, controls, events, transactions, experiments, fx_rates."""
    return [
        BadInput(
            "outcomes_no_date.csv",
            "outcomes",
            b"geo,kpi,value\nnorth,revenue,1\n",
            ("no date column", "--map date="),
        ),
        BadInput(
            "outcomes_text_value.csv",
            "outcomes",
            b"date,geo,kpi,value\n2024-01-01,north,revenue,lots\n",
            ("column 'value'", "row 1: 'lots'"),
        ),
        BadInput(
            "outcomes_wide_dollars_mixed.csv",
            "outcomes",
            "date,sales\n2024-01-01,$5\n2024-01-08,£5\n".encode(),
            ("column 'sales'", "several currencies"),
        ),
        BadInput(
            "controls_nan.csv",
            "controls",
            b"date,geo,name,value\n2024-01-01,north,price,nan\n",
            ("non_finite", "column 'value'"),
        ),
        BadInput(
            "events_bad_ts.csv",
            "events",
            b"user_id,ts,channel,event\nu1,yesterday,search,touch\n",
            ("column 'ts'", "row 1: 'yesterday'"),
        ),
        BadInput(
            "events_unknown_event.csv",
            "events",
            b"user_id,ts,channel,event\nu1,2024-01-01,search,click\n",
            ("unknown_event", "'click'"),
        ),
        BadInput(
            "events_negative_value.csv",
            "events",
            b"user_id,ts,channel,event,value\nu1,2024-01-01,,conversion,-5\n",
            ("negative_conversion_value",),
        ),
        BadInput(
            "events_no_ids.csv",
            "events",
            b"ts,channel,event\n2024-01-01,search,touch\n",
            ("id column",),
        ),
        BadInput(
            "transactions_negative.csv",
            "transactions",
            b"customer_id,ts,amount\nc1,2024-01-01,-10\n",
            ("negative_amount", "rows 1"),
        ),
        BadInput(
            "transactions_text_amount.csv",
            "transactions",
            b"customer_id,ts,amount\nc1,2024-01-01,ten\n",
            ("column 'amount'", "row 1: 'ten'"),
        ),
        BadInput(
            "transactions_bad_ts.csv",
            "transactions",
            b"customer_id,ts,amount\nc1,2024-13-45,1\n",
            ("column 'ts'", "row 1: '2024-13-45'"),
        ),
        BadInput(
            "experiments_end_first.csv",
            "experiments",
            b"id,channel,start,end,lift,lift_se\nt9,tv,2024-03-31,2024-03-04,1,1\n",
            ("end_before_start",),
        ),
        BadInput(
            "experiments_zero_se.csv",
            "experiments",
            b"id,channel,start,end,lift,lift_se\nt9,tv,2024-03-04,2024-03-31,1,0\n",
            ("nonpositive_lift_se",),
        ),
        BadInput(
            "experiments_duplicate_ids.csv",
            "experiments",
            b"id,channel,start,end,lift,lift_se\nt9,tv,2024-03-04,2024-03-31,1,1\nt9,tv,2024-04-01,2024-04-28,1,1\n",
            ("duplicate_ids", "'t9'"),
        ),
        BadInput(
            "experiments_no_se.csv",
            "experiments",
            b"id,channel,start,end,lift\nt9,tv,2024-03-04,2024-03-31,1\n",
            ("missing required column(s) ['lift_se']",),
        ),
        BadInput(
            "fx_zero_rate.csv",
            "fx_rates",
            b"date,currency,rate\n2024-01-01,GBP,0\n",
            ("nonpositive_fx_rate",),
        ),
        BadInput(
            "fx_currency_word.csv",
            "fx_rates",
            b"date,currency,rate\n2024-01-01,euro,1.1\n",
            ("invalid_currency", "'EURO'"),
        ),
        BadInput(
            "fx_ragged.csv",
            "fx_rates",
            b"date,currency,rate\n2024-01-01,GBP,1,2\n",
            ("row 1 (line 2) has 4 field(s)",),
        ),
        BadInput(
            "fx_text_rate.csv",
            "fx_rates",
            b"date,currency,rate\n2024-01-01,GBP,one\n",
            ("column 'rate'", "row 1: 'one'"),
        ),
    ]


def cases() -> list[BadInput]:
    """Every bad input, with unique names."""
    found = (
        _file_cases() + _structure_cases() + _option_cases() + _spend_value_cases()
        + _date_cases() + _table_cases()
    )  # fmt: skip
    names = [c.name for c in found]
    if len(set(names)) != len(names):  # pragma: no cover - a mistake in this file
        raise AssertionError(
            f"duplicate case names: {sorted(n for n in names if names.count(n) > 1)}"
        )
    return found


def write_case(case: BadInput, folder: Path) -> Path:
    """Write ``case``'s file into ``folder`` (nothing for a missing file); return its path."""
    path = folder / case.name
    data = case.data()
    if data is not None:
        path.write_bytes(data)
    return path


def write_good(folder: Path) -> dict[str, Path]:
    """Write :data:`GOOD` as ``good_KIND.csv`` files; return them by table, in load order."""
    paths = {}
    for kind, text in GOOD.items():
        paths[kind] = folder / f"good_{kind}.csv"
        paths[kind].write_text(text, encoding="utf-8")
    return paths


def main(argv: list[str]) -> int:
    """``python tests/badinputs.py OUTDIR``: write the corpus and ``cases.tsv``."""
    if len(argv) != 1:
        print("usage: python tests/badinputs.py OUTDIR", file=sys.stderr)
        return 2
    folder = Path(argv[0])
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["name\tkind\targs\tsays"]
    for case in cases():
        write_case(case, folder)
        lines.append(f"{case.name}\t{case.kind}\t{' '.join(case.args)}\t{' | '.join(case.says)}")
    (folder / "cases.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {len(lines) - 1} cases to {folder} (listed in cases.tsv)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
