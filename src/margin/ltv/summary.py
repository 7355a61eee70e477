"""Customer summaries: recency, frequency, age and spend per customer, by one SQL aggregation.

The models of customer value (BG/NBD, Pareto/NBD, Gamma-Gamma) need, per customer, how
many times they came back, when they last did, and how long they have been watched.
:func:`summarize_file`, :func:`summarize_table` and :func:`summarize_workspace` compute
that on DuckDB or Spark (the ``engines`` package; the same SQL on both) and return a
:class:`CustomerSummary`.

Semantics are lifetimes' ``summary_data_from_transaction_data`` and
``calibration_and_holdout_data``:

- purchases in one period (a day, or a Monday-to-Sunday week) collapse into one, their
  amounts summed; ``frequency`` = periods with a purchase − 1 (repeat purchases);
- ``recency`` = from the first to the last purchase period, ``T`` = from the first
  purchase period to the calibration end's period, in weeks (days / 7) or days;
- ``monetary_value`` = mean amount of the repeat periods (0 when frequency is 0);
- with a calibration end, periods after it (up to the observation end) are the holdout:
  ``frequency_holdout`` periods and ``value_holdout`` spend per customer; customers whose
  first purchase is after the calibration end are left out. The calibration end's own
  period belongs to the calibration.

Raw ids (a ``customer_id`` column) are hashed on arrival with the workspace's key
(:mod:`margin.data.workspace.hashing`), inside the engine's SQL, so no raw id leaves it.
Without a key, a one-off random key is used: the keys then match nothing outside the
summary (fine for fitting; pass the workspace's key for exports).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.data.ingest.readers import quote_literal
from margin.data.workspace.hashing import HMAC_SHA256, HashKey, KeyVersion
from margin.engines.checks import numbered, resolve_engine
from margin.errors import ConfigError, DataValidationError, InputFileError
from margin.ltv import summary_sql as sql

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from margin.engines import Engine

__all__ = [
    "CustomerSummary",
    "SummarySettings",
    "summarize",
    "summarize_file",
    "summarize_table",
    "summarize_workspace",
]

PERIODS = ("day", "week")
UNITS = {"weeks": 7.0, "days": 1.0}
_EPOCH = date(1970, 1, 1)
_WORK = ("_ltv_tx", "_ltv_customers")


def _as_date(value: date | datetime | str, name: str) -> date:
    """A date from a date, a datetime (UTC) or ISO text; raises naming the parameter."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as err:
            raise ConfigError(
                f"{name} {value!r} is not a date; use ISO 8601, e.g. 1997-09-30"
            ) from err
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).date()
    return value


@dataclass(frozen=True)
class SummarySettings:
    """How transactions become customer summaries.

    Attributes:
        period: ``"day"`` or ``"week"``: purchases in one period count once.
        unit: ``"weeks"`` (default) or ``"days"``: the unit of recency and T.
        calibration_end: the last day of the calibration period (None: the last
            transaction's day, no holdout).
        observation_end: the last day of the holdout (None: the last transaction's day).
    """

    period: str = "day"
    unit: str = "weeks"
    calibration_end: date | None = None
    observation_end: date | None = None

    def __post_init__(self) -> None:
        if self.period not in PERIODS:
            raise ConfigError(f"period {self.period!r} is not known; use day or week")
        if self.unit not in UNITS:
            raise ConfigError(f"unit {self.unit!r} is not known; use weeks or days")
        for name in ("calibration_end", "observation_end"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _as_date(value, name))
        cal, end = self.calibration_end, self.observation_end
        if cal is not None and end is not None and end < cal:
            raise ConfigError(
                f"observation_end {end} is before calibration_end {cal}; the holdout runs "
                "from the calibration end to the observation end"
            )

    def period_of(self, day: date) -> int:
        """The period of ``day`` as a day number since 1970-01-01 (weeks: their Monday)."""
        n = (day - _EPOCH).days
        return n if self.period == "day" else n - (n + 3) % 7


@dataclass(frozen=True)
class CustomerSummary:
    """Per-customer summaries and their collapsed, weighted form.

    Attributes:
        customers: one row per customer: ``customer_key`` (margin's keyed hash),
            ``acquired_at`` (first purchase, UTC), ``acquisition_channel`` (the first
            purchase's; ``"unknown"`` where not given), ``first_value``, ``frequency``,
            ``recency``, ``T``, ``monetary_value``, ``frequency_holdout``, ``value_holdout``.
        weighted: identical ``(frequency, recency, T)`` rows collapsed: those columns and
            ``weight`` (how many customers), unique rows.
        weighted_by_channel: the same per ``acquisition_channel``.
        unit: ``"weeks"`` or ``"days"`` (recency, T, holdout_duration).
        period: ``"day"`` or ``"week"``.
        calibration_end, observation_end: the calibration's and the holdout's last day.
        holdout_duration: the holdout's length in ``unit`` (0: no holdout).
        n_customers: customers summarised; n_transactions: transactions read up to the
            observation end.
        engine: the engine that ran the SQL.
        one_off_key: whether raw ids were hashed with a one-off key (keys match nothing
            outside this summary).
    """

    customers: pd.DataFrame = field(repr=False)
    weighted: pd.DataFrame = field(repr=False)
    weighted_by_channel: pd.DataFrame = field(repr=False)
    unit: str
    period: str
    calibration_end: date
    observation_end: date
    holdout_duration: float
    n_customers: int
    n_transactions: int
    engine: str
    one_off_key: bool = False


def _bounds(engine: Engine, settings: SummarySettings, source: str) -> tuple[int, int, int]:
    """(first period, calibration period, observation period) of the data and settings."""
    row = engine.query("SELECT MIN(p) AS lo, MAX(p) AS hi, COUNT(*) AS n FROM _ltv_tx").to_pylist()
    lo, hi, n = row[0]["lo"], row[0]["hi"], int(row[0]["n"] or 0)
    if not n or lo is None:
        raise DataValidationError(
            f"{source} (transactions): there are no transactions; load some first"
        )
    first = _EPOCH + timedelta(days=int(lo))
    cal = (
        int(hi)
        if settings.calibration_end is None
        else settings.period_of(settings.calibration_end)
    )
    end = (
        int(hi)
        if settings.observation_end is None
        else settings.period_of(settings.observation_end)
    )
    if cal < int(lo):
        raise DataValidationError(
            f"{source} (transactions): the calibration end {settings.calibration_end} is before "
            f"the first transaction (period of {first}); choose a calibration end on or after it"
        )
    return int(lo), cal, max(end, cal)


def _frame(arrow: pa.Table, divisor: float) -> pd.DataFrame:
    """Day counts → ``recency`` and ``T`` in the unit; ``first_us`` → ``acquired_at``."""
    frame: pd.DataFrame = arrow.to_pandas()
    frame["recency"] = frame.pop("recency_days").to_numpy(np.float64) / divisor
    frame["T"] = frame.pop("age_days").to_numpy(np.float64) / divisor
    if "first_us" in frame:
        import pandas as pd

        frame.insert(1, "acquired_at", pd.to_datetime(frame.pop("first_us"), unit="us"))
    return frame


def _run(
    engine: Engine, view: str, x: sql.Columns, settings: SummarySettings, source: str,
    late: str | None = None,
) -> tuple[pa.Table, pa.Table, pa.Table, int, int, int]:  # fmt: skip
    """Run the SQL: customers, the two collapsed tables, the calibration and observation
    periods and the transactions read. ``late``: the hash of ``a.key`` when raw ids are
    hashed once per customer, after the aggregation (see :func:`_spill_off`)."""
    try:
        rows = x if late is None else replace(x, key=x.raw_key)
        engine.materialize("_ltv_tx", sql.normalised_sql(engine, view, rows, settings.period))
        _, cal, end = _bounds(engine, settings, source)
        key = "a.key" if late is None else late
        engine.materialize("_ltv_customers", sql.customers_sql("_ltv_tx", cal, end, key))
        customers = engine.query("SELECT * FROM _ltv_customers ORDER BY customer_key")
        weighted = engine.query(sql.collapsed_sql("_ltv_customers", False))
        by_channel = engine.query(sql.collapsed_sql("_ltv_customers", True))
        count = engine.query(f"SELECT COUNT(*) AS n FROM _ltv_tx WHERE p <= {end}")
    finally:
        for name in _WORK:
            engine.drop(name)
    n_tx = int(count["n"].to_pylist()[0] or 0)
    return customers, weighted, by_channel, cal, end, n_tx


@contextlib.contextmanager
def _spill_off(engine: Engine, *, raw: bool) -> Iterator[bool]:
    """``True`` while raw ids may be held until the aggregation: an in-memory DuckDB with
    offloading to disk switched off (``temp_directory = ''``), so no raw id can reach a
    temporary file; it is then hashed once per customer instead of once per transaction.
    ``False`` (hash every row as it is read) for Spark, whose shuffles go to local disk,
    and for a DuckDB whose offloading cannot be switched off."""
    con = getattr(engine, "con", None)
    if not raw or engine.name != "duckdb" or con is None:
        yield False
        return
    import duckdb

    try:
        (path,) = con.execute("SELECT current_setting('temp_directory')").fetchone()
        (memory,) = con.execute("SELECT database_name FROM duckdb_databases() WHERE "
                                "database_name = current_database() AND path IS NULL").fetchone() or (None,)  # fmt: skip
        if memory is None:
            raise duckdb.Error("a persistent database")
        con.execute("SET temp_directory = ''")
    except (duckdb.Error, TypeError):
        yield False
        return
    try:
        yield True
    finally:
        con.execute(f"SET temp_directory = {quote_literal(str(path))}")


def summarize(
    engine: Engine,
    view: str,
    settings: SummarySettings | None = None,
    *,
    source: str = "transactions",
    ids: HashKey | None = None,
) -> CustomerSummary:
    """Validate the transactions in ``view`` and summarise them per customer.

    Args:
        engine: runs the SQL.
        view: the raw transactions (columns as :data:`summary_sql.CANDIDATES` lists) with
            ``_row`` (the 1-based row in the file, or NULL).
        settings: periods, unit, calibration and observation ends.
        source: names the input in error messages.
        ids: the key raw ``customer_id`` values are hashed with (None: a one-off key).

    Raises:
        DataValidationError: missing columns, broken rows (named with their row numbers),
            a calibration end before all data, or no customer to summarise.
    """
    settings = settings or SummarySettings()
    found = sql.resolve_columns(engine.columns(view), source)
    one_off = "customer_key" not in found and ids is None
    if one_off:
        version = KeyVersion(1, HMAC_SHA256, secrets.token_bytes(32).hex())
        ids = HashKey("one-off", (version,), "one-off")
    x = sql.Columns.of(engine, found, ids)
    sql.check_rows(engine, view, x, source)
    with _spill_off(engine, raw=ids is not None and not x.prehashed) as late:
        key = None if not late or ids is None else sql.hash_sql(engine, ids, "a.key")
        customers, weighted, by_channel, cal, end, n_tx = _run(
            engine, view, x, settings, source, key
        )
    if not customers.num_rows:
        raise DataValidationError(
            f"{source} (transactions): no customer made a first purchase by the calibration "
            f"end ({_EPOCH + timedelta(days=cal)}); choose a later calibration end"
        )
    divisor = UNITS[settings.unit]
    return CustomerSummary(
        customers=_frame(customers, divisor),
        weighted=_frame(weighted, divisor),
        weighted_by_channel=_frame(by_channel, divisor),
        unit=settings.unit,
        period=settings.period,
        calibration_end=_EPOCH + timedelta(days=cal),
        observation_end=_EPOCH + timedelta(days=end),
        holdout_duration=(end - cal) / divisor,
        n_customers=int(customers.num_rows),
        n_transactions=n_tx,
        engine=engine.name,
        one_off_key=one_off,
    )


def summarize_file(
    path: str | os.PathLike[str],
    settings: SummarySettings | None = None,
    *,
    ids: HashKey | None = None,
    engine: Engine | str = "duckdb",
    **engine_options: Any,
) -> CustomerSummary:
    """Summaries from a transactions file (CSV or Parquet), read by the engine itself.

    Columns: ``customer_id`` (raw, hashed on arrival with ``ids``) or ``customer_key``
    (margin's hash), ``ts``, ``amount``, optional ``acquisition_channel``, ``acquired_at``.
    """
    file = Path(path)
    if not file.is_file():
        raise InputFileError(
            f"transactions file {file} does not exist (or is not a file); check the path"
        )
    runner, owned = resolve_engine(engine, engine_options)
    try:
        runner.register_file("_ltv_raw", file.resolve())
        return summarize(runner, "_ltv_raw", settings, source=f"file {file}", ids=ids)
    finally:
        runner.drop("_ltv_raw")
        if owned:
            runner.close()


def summarize_table(
    table: pa.Table | pd.DataFrame,
    settings: SummarySettings | None = None,
    *,
    ids: HashKey | None = None,
    engine: Engine | str = "duckdb",
    **engine_options: Any,
) -> CustomerSummary:
    """Summaries from an in-memory transactions table (Arrow or pandas); ``_row`` is 1-based."""
    arrow = numbered(table)
    runner, owned = resolve_engine(engine, engine_options)
    try:
        runner.register_arrow("_ltv_raw", arrow)
        return summarize(runner, "_ltv_raw", settings, source="transactions table", ids=ids)
    finally:
        runner.drop("_ltv_raw")
        if owned:
            runner.close()


def summarize_workspace(
    workspace: str | os.PathLike[str] | None = None,
    settings: SummarySettings | None = None,
    *,
    engine: Engine | str = "duckdb",
    **engine_options: Any,
) -> CustomerSummary:
    """Summaries from the workspace ``transactions`` table (ids already keyed hashes).

    DuckDB reads the workspace in place; Spark reads a Parquet copy of the table, in a
    temporary folder removed afterwards.
    """
    from margin.data.workspace.store import Workspace
    from margin.engines import DuckDBEngine

    with Workspace(workspace, read_only=True) as ws:
        (count,) = ws.fetch("SELECT count(*) FROM transactions")[0]
        if not count:
            raise DataValidationError(
                f"workspace {ws.path} has no transactions; load them with "
                "'margin ingest transactions FILE'"
            )
        columns = "SELECT customer_key, ts, amount, acquisition_channel"
        select = f"{columns}, CAST(NULL AS BIGINT) AS _row FROM transactions"
        name = f"workspace {ws.path}"
        if engine == "duckdb" or isinstance(engine, DuckDBEngine):
            runner = (
                engine
                if isinstance(engine, DuckDBEngine)
                else DuckDBEngine(ws.con, **engine_options)
            )
            runner.create_view("_ltv_raw", select)
            try:
                return summarize(runner, "_ltv_raw", settings, source=name)
            finally:
                runner.drop("_ltv_raw")
        with tempfile.TemporaryDirectory(prefix="margin-transactions-") as tmp:
            copy = Path(tmp) / "transactions.parquet"
            ws.con.execute(
                f"COPY ({columns} FROM transactions) TO {quote_literal(str(copy))} (FORMAT parquet)"
            )
            other, owned = resolve_engine(engine, engine_options)
            try:
                other.register_file("_ltv_raw", copy)
                return summarize(other, "_ltv_raw", settings, source=name)
            finally:
                other.drop("_ltv_raw")
                if owned:
                    other.close()
