"""Journeys from events: validate, normalise, and run the journey SQL on an engine.

Sources: a CSV or Parquet file, the workspace ``events`` table, or an in-memory table.
Each returns :class:`Aggregates`: the path table every model runs on, with the
transition and coalition counts computed by the same engine.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.attribution import sql
from margin.attribution.markov import TransitionCounts, decode_state
from margin.attribution.paths import PathTable
from margin.attribution.settings import JourneySettings
from margin.attribution.shapley import MAX_CHANNELS, CoalitionCounts
from margin.data.ingest.readers import quote_identifier, quote_literal
from margin.engines.checks import check_rules, numbered, resolve_engine
from margin.errors import DataValidationError
from margin.types import FloatArray

if TYPE_CHECKING:
    import pyarrow as pa

    from margin.engines import Engine

__all__ = [
    "Aggregates",
    "Totals",
    "aggregate_events",
    "journeys_from_file",
    "journeys_from_table",
    "journeys_from_workspace",
]

_US_PER_DAY = 86_400 * 1_000_000
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "user_key": ("user_key", "user_id", "user", "customer_id"),
    "ts": ("ts", "timestamp", "time", "event_time", "datetime"),
    "channel": ("channel", "source", "utm_source"),
    "event": ("event", "event_type", "type"),
    "campaign": ("campaign", "utm_campaign"),
    "value": ("value", "revenue", "conversion_value"),
}
_REQUIRED = ("user_key", "ts", "channel", "event")


@dataclass(frozen=True)
class Totals:
    """What the events hold: every conversion, and the part no touch can be credited for."""

    events: int
    users: int
    conversions: float
    value: float
    attributed_conversions: float
    attributed_value: float

    @property
    def unattributed_conversions(self) -> float:
        """Conversions with no touch in their lookback window (credited to no channel)."""
        return self.conversions - self.attributed_conversions

    @property
    def unattributed_value(self) -> float:
        return self.value - self.attributed_value


@dataclass(frozen=True)
class Aggregates:
    """The engine's output: paths, and the transition and coalition counts (or None)."""

    paths: PathTable
    transitions: TransitionCounts | None
    coalitions: CoalitionCounts | None
    totals: Totals | None
    engine: str


def _norm(name: str) -> str:
    return " ".join(name.strip().lower().replace("_", " ").split())


def _resolve(columns: list[tuple[str, str]], source: str) -> dict[str, tuple[str, str]]:
    """Canonical name → (column, type) of the source."""
    by_norm = {_norm(n): (n, t) for n, t in columns if n != "_row"}
    found: dict[str, tuple[str, str]] = {}
    for canonical, names in _CANDIDATES.items():
        hit = next((by_norm[_norm(n)] for n in names if _norm(n) in by_norm), None)
        if hit is not None:
            found[canonical] = hit
    missing = [c for c in _REQUIRED if c not in found]
    if missing:
        raise DataValidationError(
            f"{source} (events): missing required column(s) {missing}; it has "
            f"{[n for n, _ in columns if n != '_row']}. Events need user_key, ts, channel, "
            "event (touch or conversion) and, for conversions, value"
        )
    return found


def _is_text(kind: str) -> bool:
    return kind in ("varchar", "string") or kind.startswith(("varchar", "char", "string"))


class _Expressions:
    """SQL for each canonical column of the raw view, typed."""

    def __init__(self, engine: Engine, found: dict[str, tuple[str, str]], level: str) -> None:
        def q(name: str) -> str:
            return quote_identifier(name) if engine.name == "duckdb" else f"`{name}`"

        def text(key: str) -> str:
            name, _ = found[key]
            return f"NULLIF(trim(CAST({q(name)} AS STRING)), '')"

        self.user = text("user_key")
        self.channel = text("channel")
        self.event = f"lower({text('event')})"
        ts_name, ts_type = found["ts"]
        self.ts_text = text("ts")
        if _is_text(ts_type):
            self.ts = engine.parse_timestamp(self.ts_text)
        elif ts_type == "date":
            self.ts = f"CAST({q(ts_name)} AS TIMESTAMP)"
        else:
            self.ts = q(ts_name)
        if "value" in found:
            v_name, v_type = found["value"]
            self.value_text = text("value")
            self.value = (
                f"TRY_CAST({self.value_text} AS DOUBLE)"
                if _is_text(v_type)
                else f"CAST({q(v_name)} AS DOUBLE)"
            )
        else:
            self.value_text = "CAST(NULL AS STRING)"
            self.value = "CAST(NULL AS DOUBLE)"
        self.label = self.channel
        if level == "campaign":
            campaign = text("campaign") if "campaign" in found else "CAST(NULL AS STRING)"
            self.label = f"concat({self.channel}, ' / ', COALESCE({campaign}, '(none)'))"


def _rules(x: _Expressions) -> list[tuple[str, str, str, str]]:
    """(condition, shown value, what the rows have, how to fix it)."""
    conv = f"{x.event} = 'conversion'"
    return [
        (
            f"{x.user} IS NULL",
            "CAST(NULL AS STRING)",
            "have no user_key",
            "fill in the user key or drop those rows",
        ),
        (
            f"{x.ts} IS NULL",
            f"COALESCE({x.ts_text}, '')",
            "have a timestamp that does not parse",
            "use ISO 8601 timestamps, e.g. 2024-03-01 14:05:00 or 2024-03-01T14:05:00Z",
        ),
        (
            f"{x.event} IS NULL OR {x.event} NOT IN ('touch', 'conversion')",
            f"COALESCE({x.event}, '')",
            "have an event type other than 'touch' or 'conversion'",
            "rename the event types to touch (an ad view or click) or conversion, or drop other events",
        ),
        (
            f"{conv} AND {x.value_text} IS NOT NULL AND {x.value} IS NULL",
            x.value_text,
            "are conversions whose value is not a number",
            "write values as plain numbers with '.' for decimals",
        ),
        (
            f"{conv} AND {x.value} < 0",
            f"CAST({x.value} AS STRING)",
            "are conversions with a negative value",
            "give conversions their value (0 or more); refunds belong in transactions",
        ),
        (
            f"{x.event} = 'touch' AND {x.channel} IS NULL",
            "CAST(NULL AS STRING)",
            "are touches without a channel",
            "fill in the channel or drop those rows",
        ),
    ]


def _validate(engine: Engine, view: str, x: _Expressions, source: str) -> None:
    check_rules(engine, view, _rules(x), f"{source} (events)")


def _touch_filter(x: _Expressions, journey: JourneySettings) -> str:
    if not journey.drop_direct:
        return "TRUE"
    direct = ", ".join(quote_literal(d) for d in journey.direct_channels)
    return f"NOT ({x.event} = 'touch' AND lower({x.channel}) IN ({direct}))"


def _labels(engine: Engine, view: str, x: _Expressions, journey: JourneySettings) -> list[str]:
    rows = engine.query(
        f"SELECT {x.label} AS label FROM {view} "
        f"WHERE {x.event} = 'touch' AND {_touch_filter(x, journey)} GROUP BY {x.label}"
    )
    return sorted(str(v) for v in rows["label"].to_pylist())


def _normalise(
    engine: Engine, view: str, x: _Expressions, journey: JourneySettings, labels: list[str]
) -> None:
    import pyarrow as pa

    engine.register_arrow(
        "_mt_labels",
        pa.table(
            {
                "label": pa.array(labels, pa.string()),
                "code": pa.array(range(len(labels)), pa.int64()),
            }
        ),
    )
    conv = f"{x.event} = 'conversion'"
    select = f"""
    SELECT {engine.hash64(x.user)} AS uid, {engine.epoch_micros(x.ts)} AS us,
      CASE WHEN {conv} THEN CAST(NULL AS BIGINT) ELSE l.code END AS code,
      CASE WHEN {conv} THEN 1 ELSE 0 END AS is_conv,
      CASE WHEN {conv} THEN COALESCE({x.value}, 0.0) ELSE 0.0 END AS value
    FROM {view} LEFT JOIN _mt_labels l ON {x.label} = l.label
    WHERE {_touch_filter(x, journey)}
    """
    engine.materialize("_mt_events", select)


_WORK = ("_mt_paths", "_mt_journeys", "_mt_conversions", "_mt_touches", "_mt_events", "_mt_labels")


def aggregate_events(
    engine: Engine,
    view: str,
    journey: JourneySettings | None = None,
    order: int = 1,
    source: str = "events",
    half_life_days: float = 7.0,
) -> Aggregates:
    """Validate the events in ``view`` and compute every aggregate the models need.

    Args:
        engine: runs the SQL.
        view: the raw events (column names as :data:`_CANDIDATES` lists), with ``_row``.
        journey: how events become journeys.
        order: the order of the Markov transition counts.
        source: names the input in error messages.
        half_life_days: time-decay half-life (shares per path position are computed here).

    Raises:
        DataValidationError: missing columns, or rows that break the contract (named).
    """
    journey = journey or JourneySettings()
    found = _resolve(engine.columns(view), source)
    x = _Expressions(engine, found, journey.level)
    _validate(engine, view, x, source)
    labels = _labels(engine, view, x, journey)
    if not labels:
        raise DataValidationError(
            f"{source} (events): there are no touches to attribute conversions to"
        )
    n = len(labels)
    try:
        _normalise(engine, view, x, journey, labels)
        lookback = int(journey.lookback_days * _US_PER_DAY)
        engine.materialize(
            "_mt_touches", sql.touches_sql(lookback, journey.collapse_repeats, order)
        )
        engine.materialize("_mt_conversions", sql.conversions_sql())
        engine.materialize("_mt_journeys", sql.journeys_sql(engine, n))
        engine.materialize("_mt_paths", sql.paths_sql())
        parts = {
            "paths": engine.query("SELECT * FROM _mt_paths ORDER BY pid"),
            "decay": engine.query(sql.decay_sql(half_life_days * _US_PER_DAY)),
            "coalitions": engine.query(sql.coalitions_sql()) if n <= MAX_CHANNELS else None,
            "transitions": engine.query(sql.transitions_sql(order, n)),
            "totals": engine.query(sql.totals_sql()),
        }
    finally:
        for name in _WORK:
            engine.drop(name)
    return _assemble(parts, tuple(labels), order, engine.name)


def _path_table(arrow: pa.Table, labels: tuple[str, ...]) -> PathTable:
    column = arrow["path"].combine_chunks()
    offsets = column.offsets.to_numpy().astype(np.int64)
    steps = column.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
    return PathTable(
        channels=labels,
        offsets=offsets - offsets[0],
        steps=steps,
        conversions=arrow["conversions"].to_numpy().astype(np.float64),
        value=arrow["value"].to_numpy().astype(np.float64),
        nulls=arrow["nulls"].to_numpy().astype(np.float64),
    )


def _decay_shares(table: PathTable, decay: pa.Table) -> tuple[FloatArray, FloatArray]:
    pid = decay["pid"].to_numpy().astype(np.int64) - 1
    ords = decay["ord"].to_numpy().astype(np.int64)
    step = table.offsets[pid] + ords - 1
    share = np.zeros(table.steps.size)
    share_value = np.zeros(table.steps.size)
    share[step] = decay["decay"].to_numpy()
    share_value[step] = decay["decay_value"].to_numpy()
    path = table.path_of_step
    conv = table.conversions[path]
    value = table.value[path]
    share = np.divide(share, conv, out=np.zeros_like(share), where=conv > 0)
    by_value = np.divide(share_value, value, out=np.zeros_like(share), where=value > 0)
    return share, np.where(value > 0, by_value, share)


def _transitions(arrow: pa.Table, n_labels: int, order: int) -> TransitionCounts:
    base = n_labels + 1
    src = arrow["from_state"].to_numpy(zero_copy_only=False)
    dst = arrow["to_state"].to_numpy(zero_copy_only=False)
    kind = arrow["exit"].to_numpy().astype(np.int64)
    count = arrow["n"].to_numpy().astype(np.float64)
    value = arrow["value"].to_numpy().astype(np.float64)
    src_known = ~np.isnan(src.astype(np.float64))
    dst_known = ~np.isnan(dst.astype(np.float64))
    codes = np.unique(np.concatenate([src[src_known], dst[dst_known]]).astype(np.int64))
    states = tuple(decode_state(int(c), base) for c in codes)
    src_state = np.full(src.size, -1, dtype=np.int64)
    src_state[src_known] = np.searchsorted(codes, src[src_known].astype(np.int64))
    dst_state = np.full(dst.size, -1, dtype=np.int64)
    dst_state[dst_known] = np.searchsorted(codes, dst[dst_known].astype(np.int64))
    move, conv, null = kind == 0, kind == 1, kind == 2
    n = codes.size
    return TransitionCounts(
        order,
        states,
        src_state[move],
        dst_state[move],
        count[move],
        np.bincount(src_state[conv], count[conv], n),
        np.bincount(src_state[conv], value[conv], n),
        np.bincount(src_state[null], count[null], n),
    )


def _coalitions(arrow: pa.Table | None) -> CoalitionCounts | None:
    if arrow is None:
        return None
    return CoalitionCounts(
        arrow["mask"].to_numpy().astype(np.int64),
        arrow["conversions"].to_numpy().astype(np.float64),
        arrow["value"].to_numpy().astype(np.float64),
        arrow["nulls"].to_numpy().astype(np.float64),
    )


def _assemble(
    parts: dict[str, Any], labels: tuple[str, ...], order: int, engine: str
) -> Aggregates:
    from dataclasses import replace

    table = _path_table(parts["paths"], labels)
    share, share_value = _decay_shares(table, parts["decay"])
    table = replace(table, decay=share, decay_value=share_value)
    totals = parts["totals"].to_pylist()[0]
    summary = Totals(
        events=int(totals["events"] or 0),
        users=int(totals["users"] or 0),
        conversions=float(totals["conversions"] or 0),
        value=float(totals["value"] or 0.0),
        attributed_conversions=float(table.conversions.sum()),
        attributed_value=float(table.value.sum()),
    )
    return Aggregates(
        table,
        _transitions(parts["transitions"], len(labels), order),
        _coalitions(parts["coalitions"]),
        summary,
        engine,
    )


def journeys_from_file(
    path: str | os.PathLike[str],
    *,
    engine: Engine | str = "duckdb",
    journey: JourneySettings | None = None,
    order: int = 1,
    half_life_days: float = 7.0,
    **engine_options: Any,
) -> Aggregates:
    """Aggregates from an events file (CSV or Parquet), read by the engine itself."""
    from margin.errors import InputFileError

    file = Path(path)
    if not file.is_file():
        raise InputFileError(
            f"events file {file} does not exist (or is not a file); check the path"
        )
    runner, owned = resolve_engine(engine, engine_options)
    try:
        runner.register_file("_mt_raw", file.resolve())
        return aggregate_events(runner, "_mt_raw", journey, order, f"file {file}", half_life_days)
    finally:
        runner.drop("_mt_raw")
        if owned:
            runner.close()


def journeys_from_table(
    table: pa.Table | Any,
    *,
    engine: Engine | str = "duckdb",
    journey: JourneySettings | None = None,
    order: int = 1,
    half_life_days: float = 7.0,
    **engine_options: Any,
) -> Aggregates:
    """Aggregates from an in-memory events table (Arrow or pandas); ``_row`` is 1-based."""
    arrow = numbered(table)
    runner, owned = resolve_engine(engine, engine_options)
    try:
        runner.register_arrow("_mt_raw", arrow)
        return aggregate_events(runner, "_mt_raw", journey, order, "events table", half_life_days)
    finally:
        runner.drop("_mt_raw")
        if owned:
            runner.close()


def journeys_from_workspace(
    workspace: str | os.PathLike[str] | None = None,
    *,
    engine: Engine | str = "duckdb",
    journey: JourneySettings | None = None,
    order: int = 1,
    half_life_days: float = 7.0,
    **engine_options: Any,
) -> Aggregates:
    """Aggregates from the workspace ``events`` table (validated when it was ingested).

    DuckDB reads the workspace in place; Spark reads a Parquet copy of the table.
    """
    from margin.data.workspace.store import Workspace
    from margin.engines import DuckDBEngine

    with Workspace(workspace, read_only=True) as ws:
        (count,) = ws.fetch("SELECT count(*) FROM events")[0]
        if not count:
            raise DataValidationError(
                f"workspace {ws.path} has no events; load them with 'margin ingest events FILE'"
            )
        select = "SELECT user_key, ts, channel, campaign, event, value, CAST(NULL AS BIGINT) AS _row FROM events"
        name = f"workspace {ws.path}"
        if engine == "duckdb" or isinstance(engine, DuckDBEngine):
            runner = (
                engine
                if isinstance(engine, DuckDBEngine)
                else DuckDBEngine(ws.con, **engine_options)
            )
            runner.create_view("_mt_raw", select)
            try:
                return aggregate_events(runner, "_mt_raw", journey, order, name, half_life_days)
            finally:
                runner.drop("_mt_raw")
        with tempfile.TemporaryDirectory(prefix="margin-events-") as tmp:
            copy = Path(tmp) / "events.parquet"
            ws.con.execute(f"COPY ({select}) TO {quote_literal(str(copy))} (FORMAT parquet)")
            other, owned = resolve_engine(engine, engine_options)
            try:
                other.register_file("_mt_raw", copy)
                return aggregate_events(other, "_mt_raw", journey, order, name, half_life_days)
            finally:
                other.drop("_mt_raw")
                if owned:
                    other.close()
