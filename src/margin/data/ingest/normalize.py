"""Per-table normalisers: SQL that turns a staged file into canonical rows.

Each function returns a SELECT yielding ``_row`` plus the table's columns (less
``load_id``), with channel names still raw: :mod:`margin.data.ingest.pipeline` harmonises them
through the taxonomy afterwards. Values that do not parse raise with row and column.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from margin.data.ingest.readers import (
    StagedFile,
    parse_date_column,
    parse_number_column,
    parse_timestamp_column,
    quote_identifier,
    quote_literal,
    require_columns,
)
from margin.data.workspace.hashing import HASH_PATTERN
from margin.data.workspace.schema import NATIONAL
from margin.errors import DataValidationError

if TYPE_CHECKING:
    import duckdb

    from margin.data.workspace.hashing import HashKey

__all__ = [
    "controls_select",
    "events_select",
    "experiments_select",
    "fx_select",
    "outcomes_select",
    "transactions_select",
]

_DATE = ("date", "week", "day", "ds")
_GEO = ("geo", "region", "market", "dma", "location", "city")


def _text(staged: StagedFile, column: str | None, default: str = "NULL") -> str:
    if column is None:
        return f"CAST({default} AS VARCHAR)"
    col = f"trim(CAST({quote_identifier(column)} AS VARCHAR))"
    return f"COALESCE(NULLIF({col}, ''), {default})"


def _remap(staged: StagedFile, mapping: dict[str, str], canonical: str, *names: str) -> str | None:
    if canonical in mapping:
        hit = staged.find(mapping[canonical])
        if hit is None:
            raise DataValidationError(
                f"--map {canonical}={mapping[canonical]}: file {staged.path} has no such column; "
                f"it has {list(staged.columns)}"
            )
        return hit
    return staged.find(canonical, *names)


def _required(
    staged: StagedFile, mapping: dict[str, str], kind: str, wanted: dict[str, tuple[str, ...]]
) -> dict[str, str]:
    """Each canonical column of ``wanted`` (or one of its aliases, or its ``--map``); raise if any is absent."""
    found = {name: _remap(staged, mapping, name, *aliases) for name, aliases in wanted.items()}
    missing = [name for name, column in found.items() if column is None]
    if missing:
        raise DataValidationError(
            f"file {staged.path} ({kind}): missing required column(s) {missing}; it has "
            f"{list(staged.columns)}. Rename them or pass --map {missing[0]}=YOUR_COLUMN"
        )
    return {name: column for name, column in found.items() if column is not None}


def _long_or_wide(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    mapping: dict[str, str],
    *,
    kind: str,
    name_col: str,
    date_format: str | None,
) -> str:
    """Outcomes and controls come long (date, geo, NAME, value) or wide (a column each)."""
    date_col = _remap(staged, mapping, "date", *_DATE)
    if date_col is None:
        raise DataValidationError(
            f"file {staged.path} ({kind}): no date column (looked for {list(_DATE)}); it has "
            f"{list(staged.columns)}. Rename it or pass --map date=YOUR_COLUMN"
        )
    date = parse_date_column(con, staged, date_col, date_format)
    geo_col = _remap(staged, mapping, "geo", *_GEO)
    geo = _text(staged, geo_col, quote_literal(NATIONAL))
    named = _remap(staged, mapping, name_col)
    value_col = _remap(staged, mapping, "value")
    if named is not None and value_col is not None:
        value = parse_number_column(con, staged, value_col)
        return (
            f"SELECT _row, {date} AS date, {geo} AS geo, {_text(staged, named)} AS {name_col}, "
            f"{value} AS value FROM {staged.relation}"
        )
    used = {date_col, geo_col}
    wide = [c for c in staged.columns if c not in used and c.strip()]
    if not wide:
        raise DataValidationError(
            f"file {staged.path} ({kind}): expected long columns (date, geo, {name_col}, value) or "
            f"one numeric column per {name_col} beside the date; it has {list(staged.columns)}"
        )
    parts = [
        f"SELECT _row, {date} AS date, {geo} AS geo, {quote_literal(c.strip())} AS {name_col}, "
        f"{parse_number_column(con, staged, c)} AS value FROM {staged.relation}"
        for c in wide
    ]
    return " UNION ALL ".join(parts)


def outcomes_select(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    mapping: dict[str, str],
    date_format: str | None,
) -> str:
    return _long_or_wide(
        con, staged, mapping, kind="outcomes", name_col="kpi", date_format=date_format
    )


def controls_select(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    mapping: dict[str, str],
    date_format: str | None,
) -> str:
    return _long_or_wide(
        con, staged, mapping, kind="controls", name_col="name", date_format=date_format
    )


def fx_select(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    mapping: dict[str, str],
    date_format: str | None,
) -> str:
    found = require_columns(
        staged, "fx_rates", {k: (mapping.get(k, k),) for k in ("date", "currency", "rate")}
    )
    date = parse_date_column(con, staged, found["date"], date_format)
    rate = parse_number_column(con, staged, found["rate"])
    currency = f"upper({_text(staged, found['currency'])})"
    return f"SELECT _row, {date} AS date, {currency} AS currency, {rate} AS rate FROM {staged.relation}"


def _hashed_key(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    mapping: dict[str, str],
    key: str,
    raw: str,
    ids: HashKey | None,
) -> str:
    """The id column (``key``, ``raw``, … or its ``--map``) hashed with ``ids``; whatever
    its name, every id is hashed. ``ids=None`` (``--prehashed``): the column holds margin's
    hashes already; they are checked and kept."""
    if key in mapping or raw not in mapping:
        column = _remap(staged, mapping, key, raw, raw.replace("_", ""), "email")
    else:
        column = _remap(staged, mapping, raw)
    if column is None:
        raise DataValidationError(
            f"file {staged.path}: needs an id column, {key} or {raw} (margin stores only its "
            f"keyed hash); it has {list(staged.columns)}. Pass --map {key}=YOUR_COLUMN"
        )
    value = _text(staged, column)
    if ids is not None:
        return ids.sql(value)
    _check_prehashed(con, staged, column, value)
    return value


def _check_prehashed(
    con: duckdb.DuckDBPyConnection, staged: StagedFile, column: str, value: str
) -> None:
    """Raise unless every value of ``column`` is shaped like margin's hash (``--prehashed``).

    The message gives rows, not values: a value that is not a hash may be a raw id.
    """
    bad = (
        f"SELECT _row FROM {staged.relation} "
        f"WHERE {value} IS NOT NULL AND NOT regexp_full_match({value}, '{HASH_PATTERN}')"
    )
    rows = [int(r[0]) for r in con.execute(f"{bad} ORDER BY _row LIMIT 5").fetchall()]
    if not rows:
        return
    count = con.execute(f"SELECT count(*) FROM ({bad})").fetchone()
    n = int(count[0]) if count else len(rows)
    more = f" and {n - len(rows)} more" if n > len(rows) else ""
    raise DataValidationError(
        f"file {staged.path}, column {column!r}: --prehashed says the ids are margin's hashes "
        f"already (32 lowercase hex characters), but {n} value(s) are not (row "
        f"{', '.join(map(str, rows))}{more}; values not shown, as they may be raw ids). Leave "
        "out --prehashed to have margin hash them, or fix those rows"
    )


def events_select(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    mapping: dict[str, str],
    ids: HashKey | None,
) -> str:
    """Events: ``user_key`` or ``user_id`` (hashed with ``ids``), ``ts``, ``channel``, ``event``, …"""
    user = _hashed_key(con, staged, mapping, "user_key", "user_id", ids)
    found = _required(
        staged,
        mapping,
        "events",
        {"ts": ("timestamp", "time", "event_time", "datetime"), "event": ("event_type", "type")},
    )
    event_col = found["event"]
    ts = parse_timestamp_column(con, staged, found["ts"])
    value_col = _remap(staged, mapping, "value", "revenue", "conversion_value")
    value = (
        "CAST(0 AS DOUBLE)"
        if value_col is None
        else f"COALESCE({parse_number_column(con, staged, value_col)}, 0)"
    )
    return (
        f"SELECT _row, {user} AS user_key, {ts} AS ts, "
        f"{_text(staged, _remap(staged, mapping, 'channel', 'source', 'utm_source'))} AS channel, "
        f"{_text(staged, _remap(staged, mapping, 'campaign', 'utm_campaign'), quote_literal(''))} AS campaign, "
        f"{_text(staged, _remap(staged, mapping, 'creative', 'ad'), quote_literal(''))} AS creative, "
        f"lower({_text(staged, event_col)}) AS event, {value} AS value FROM {staged.relation}"
    )


def transactions_select(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    mapping: dict[str, str],
    ids: HashKey | None,
) -> str:
    """Transactions: ``customer_key`` or ``customer_id`` (hashed with ``ids``), ``ts``, ``amount``."""
    customer = _hashed_key(con, staged, mapping, "customer_key", "customer_id", ids)
    found = _required(
        staged,
        mapping,
        "transactions",
        {
            "ts": ("timestamp", "date", "time", "order_date"),
            "amount": ("revenue", "value", "order_value"),
        },
    )
    ts_col, amount_col = found["ts"], found["amount"]
    channel = _remap(staged, mapping, "acquisition_channel", "channel")
    return (
        f"SELECT _row, {customer} AS customer_key, {parse_timestamp_column(con, staged, ts_col)} AS ts, "
        f"{parse_number_column(con, staged, amount_col)} AS amount, "
        f"{_text(staged, channel)} AS acquisition_channel FROM {staged.relation}"
    )


def _geo_list(staged: StagedFile, column: str | None) -> str:
    if column is None:
        return "CAST([] AS VARCHAR[])"
    text = _text(staged, column, "''")
    return f"list_filter(list_transform(string_split_regex({text}, '[;|,]'), lambda g: trim(g)), lambda g: g <> '')"


def experiments_select(
    con: duckdb.DuckDBPyConnection,
    staged: StagedFile,
    mapping: dict[str, str],
    date_format: str | None,
) -> str:
    """Lift tests: one row per test; geo lists separated by ``;``, ``|`` or ``,``."""
    found = require_columns(
        staged,
        "experiments",
        {
            "id": (mapping.get("id", "id"), "test_id", "experiment_id"),
            "channel": (mapping.get("channel", "channel"),),
            "start": (mapping.get("start", "start"), "start_date"),
            "end": (mapping.get("end", "end"), "end_date"),
            "lift": (mapping.get("lift", "lift"), "lift_estimate", "incremental_kpi"),
            "lift_se": (mapping.get("lift_se", "lift_se"), "se", "standard_error", "std_error"),
        },
    )
    num = {k: parse_number_column(con, staged, found[k]) for k in ("lift", "lift_se")}
    delta_col = _remap(staged, mapping, "spend_delta", "spend_change", "incremental_spend")
    delta = (
        "CAST(NULL AS DOUBLE)" if delta_col is None else parse_number_column(con, staged, delta_col)
    )
    return (
        f"SELECT _row, {_text(staged, found['id'])} AS id, {_text(staged, found['channel'])} AS channel, "
        f"{_text(staged, _remap(staged, mapping, 'kpi'))} AS kpi, "
        f"{_geo_list(staged, _remap(staged, mapping, 'treatment_geos', 'treated_geos', 'geos'))} AS treatment_geos, "
        f"{_geo_list(staged, _remap(staged, mapping, 'control_geos'))} AS control_geos, "
        f"{parse_date_column(con, staged, found['start'], date_format)} AS start, "
        f'{parse_date_column(con, staged, found["end"], date_format)} AS "end", '
        f"{delta} AS spend_delta, {num['lift']} AS lift, {num['lift_se']} AS lift_se, "
        f"{_text(staged, _remap(staged, mapping, 'method'), quote_literal('imported'))} AS method, "
        f"{_text(staged, _remap(staged, mapping, 'design_id'))} AS design_id FROM {staged.relation}"
    )
