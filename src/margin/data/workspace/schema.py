"""The workspace's tables: the data contract of ARCHITECTURE.md §3, versioned.

``MIGRATIONS[i]`` takes a workspace from schema version ``i`` to ``i + 1``. A new
version appends one migration; existing ones never change. Weekly views are rebuilt
whenever the week start changes (they are derived, not stored).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AUDIT_GENESIS",
    "AUDIT_HASHED",
    "AUDIT_LIMITS",
    "MIGRATIONS",
    "NATIONAL",
    "SCHEMA_VERSION",
    "TABLES",
    "WEEKDAYS",
    "TableSchema",
    "audit_hash_sql",
    "weekly_views_sql",
]

NATIONAL = "national"
"""The geo label of national (non-geo) data."""

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class TableSchema:
    """One contract table: its columns (name → DuckDB type) and natural key.

    ``key`` is the set of columns that identifies a row for upserts: a later load's row
    with the same key replaces the earlier one, so overlapping files never double count.
    An empty key means rows are only replaced by re-ingesting the same file.
    """

    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)


TABLES: dict[str, TableSchema] = {
    t.name: t
    for t in (
        TableSchema(
            "spend",
            (
                ("date", "DATE"),
                ("geo", "VARCHAR"),
                ("channel", "VARCHAR"),
                ("campaign", "VARCHAR"),
                ("currency", "VARCHAR"),
                ("spend", "DOUBLE"),
                ("spend_original", "DOUBLE"),
                ("impressions", "DOUBLE"),
                ("clicks", "DOUBLE"),
                ("source", "VARCHAR"),
                ("load_id", "INTEGER"),
            ),
            ("date", "geo", "channel", "campaign", "source"),
        ),
        TableSchema(
            "outcomes",
            (
                ("date", "DATE"),
                ("geo", "VARCHAR"),
                ("kpi", "VARCHAR"),
                ("value", "DOUBLE"),
                ("load_id", "INTEGER"),
            ),
            ("date", "geo", "kpi"),
        ),
        TableSchema(
            "controls",
            (
                ("date", "DATE"),
                ("geo", "VARCHAR"),
                ("name", "VARCHAR"),
                ("value", "DOUBLE"),
                ("load_id", "INTEGER"),
            ),
            ("date", "geo", "name"),
        ),
        TableSchema(
            "events",
            (
                ("user_key", "VARCHAR"),
                ("ts", "TIMESTAMP"),
                ("channel", "VARCHAR"),
                ("campaign", "VARCHAR"),
                ("creative", "VARCHAR"),
                ("event", "VARCHAR"),
                ("value", "DOUBLE"),
                ("load_id", "INTEGER"),
            ),
            (),
        ),
        TableSchema(
            "experiments",
            (
                ("id", "VARCHAR"),
                ("channel", "VARCHAR"),
                ("kpi", "VARCHAR"),
                ("treatment_geos", "VARCHAR[]"),
                ("control_geos", "VARCHAR[]"),
                ("start", "DATE"),
                ("end", "DATE"),
                ("spend_delta", "DOUBLE"),
                ("lift", "DOUBLE"),
                ("lift_se", "DOUBLE"),
                ("method", "VARCHAR"),
                ("design_id", "VARCHAR"),
                ("load_id", "INTEGER"),
            ),
            ("id",),
        ),
        TableSchema(
            "transactions",
            (
                ("customer_key", "VARCHAR"),
                ("ts", "TIMESTAMP"),
                ("amount", "DOUBLE"),
                ("acquisition_channel", "VARCHAR"),
                ("load_id", "INTEGER"),
            ),
            (),
        ),
        TableSchema(
            "fx_rates",
            (
                ("date", "DATE"),
                ("currency", "VARCHAR"),
                ("rate", "DOUBLE"),
                ("load_id", "INTEGER"),
            ),
            ("date", "currency"),
        ),
        TableSchema(
            "runs",
            (
                ("id", "VARCHAR"),
                ("kind", "VARCHAR"),
                ("spec_hash", "VARCHAR"),
                ("data_hash", "VARCHAR"),
                ("code_version", "VARCHAR"),
                ("seed", "BIGINT"),
                ("created", "TIMESTAMP"),
                ("status", "VARCHAR"),
                ("artifact_path", "VARCHAR"),
                ("message", "VARCHAR"),
            ),
            ("id",),
        ),
    )
}


def _create_table_sql(table: TableSchema) -> str:
    columns = ",\n    ".join(f'"{name}" {dtype}' for name, dtype in table.columns)
    return f"CREATE TABLE {table.name} (\n    {columns}\n)"


_V1 = [
    "CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    """CREATE TABLE loads (
    load_id INTEGER PRIMARY KEY,
    kind VARCHAR NOT NULL,
    file VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    layout VARCHAR NOT NULL,
    rows_read BIGINT NOT NULL,
    rows_written BIGINT NOT NULL,
    loaded_at TIMESTAMP NOT NULL
)""",
    *(_create_table_sql(t) for t in TABLES.values()),
]

_V2_ACCESS = (
    """CREATE TABLE api_keys (
    id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    key_hash VARCHAR NOT NULL,
    created TIMESTAMP NOT NULL,
    revoked TIMESTAMP
)""",
    """CREATE TABLE sessions (
    token_hash VARCHAR PRIMARY KEY,
    key_id VARCHAR NOT NULL,
    csrf_token VARCHAR NOT NULL,
    created TIMESTAMP NOT NULL,
    expires TIMESTAMP NOT NULL
)""",
    "CREATE SEQUENCE audit_id START 1",
    """CREATE TABLE audit (
    id BIGINT PRIMARY KEY DEFAULT nextval('audit_id'),
    ts TIMESTAMP NOT NULL,
    key_id VARCHAR,
    key_name VARCHAR,
    role VARCHAR,
    method VARCHAR NOT NULL,
    path VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    target VARCHAR,
    status INTEGER NOT NULL,
    detail VARCHAR NOT NULL
)""",
)
"""Version 2: access control for ``margin serve`` (API keys stored as hashes, browser
sessions, the append-only audit trail). Times are naive UTC."""

AUDIT_GENESIS = "0" * 64
"""The previous-row hash of the first audit row ever written (before any pruning)."""
AUDIT_HASHED = (
    "id", "ts", "source", "client", "key_id", "key_name", "role", "method", "path", "action",
    "target", "status", "detail",
)  # fmt: skip
"""The audit columns a row's hash covers, in order."""
AUDIT_LIMITS = {"client": 128, "key_name": 128, "path": 512, "target": 256, "detail": 4096}
"""The most characters an audit field keeps; a longer value is cut with a marker and the
SHA-256 of the whole value (``detail``, JSON, becomes ``{"truncated": true, ...}``)."""


def audit_hash_sql(previous: str, row: str) -> str:
    """SQL for the hash of audit row ``row`` (an alias) chained to the hash ``previous``.

    ``sha256(previous || '|' || field || '|' || field ...)`` over :data:`AUDIT_HASHED`,
    each field written as ``<bytes>:<text>`` (``-`` for NULL; the time as microseconds
    since 1970, UTC), so no two different rows give the same text. Computed in SQL (by
    the insert, the migration and ``margin audit verify``), so there is one definition.
    """
    parts = []
    for name in AUDIT_HASHED:
        value = (
            f"CAST(epoch_us({row}.ts) AS VARCHAR)"
            if name == "ts"
            else f"CAST({row}.{name} AS VARCHAR)"
        )
        parts.append(
            f"CASE WHEN {value} IS NULL THEN '-' ELSE strlen({value}) || ':' || {value} END"
        )
    return f"sha256({previous} || '|' || " + " || '|' || ".join(parts) + ")"


def _bounded_sql(name: str) -> str:
    limit = AUDIT_LIMITS[name]
    if name == "detail":
        return (
            f"CASE WHEN length(detail) > {limit} THEN CAST(json_object('truncated', true, "
            f"'chars', length(detail), 'sha256', sha256(detail), 'head', left(detail, {limit // 2})) "
            "AS VARCHAR) ELSE detail END"
        )
    return (
        f"CASE WHEN length({name}) > {limit} THEN left({name}, {limit}) || '…[truncated: ' || "
        f"length({name}) || ' chars, sha256 ' || sha256({name}) || ']' ELSE {name} END"
    )


_V3_AUDIT_CHAIN = (
    "ALTER TABLE audit ADD COLUMN source VARCHAR",
    "ALTER TABLE audit ADD COLUMN client VARCHAR",
    "ALTER TABLE audit ADD COLUMN prev_hash VARCHAR",
    "ALTER TABLE audit ADD COLUMN row_hash VARCHAR",
    "UPDATE audit SET source = 'api'",
    "UPDATE audit SET "
    + ", ".join(f"{n} = {_bounded_sql(n)}" for n in ("key_name", "path", "target", "detail"))
    + " WHERE "
    + " OR ".join(
        f"length({n}) > {AUDIT_LIMITS[n]}" for n in ("key_name", "path", "target", "detail")
    ),
    f"""WITH RECURSIVE ordered AS MATERIALIZED (
    SELECT row_number() OVER (ORDER BY id) AS n, * FROM audit
), chain(n, id, prev_hash, row_hash) AS (
    SELECT n, id, '{AUDIT_GENESIS}', {audit_hash_sql(f"'{AUDIT_GENESIS}'", "ordered")}
    FROM ordered WHERE n = 1
    UNION ALL
    SELECT ordered.n, ordered.id, chain.row_hash, {audit_hash_sql("chain.row_hash", "ordered")}
    FROM chain JOIN ordered ON ordered.n = chain.n + 1
)
UPDATE audit SET prev_hash = chain.prev_hash, row_hash = chain.row_hash
FROM chain WHERE audit.id = chain.id""",
)
"""Version 3: the audit trail is bounded and tamper-evident. New columns ``source``
(``api`` or ``cli``), ``client`` (the caller's address, or the OS user for the CLI),
``prev_hash`` and ``row_hash`` (:func:`audit_hash_sql`); existing rows get oversized
fields cut (:data:`AUDIT_LIMITS`) and are chained in id order from :data:`AUDIT_GENESIS`."""

MIGRATIONS: tuple[tuple[str, ...], ...] = (tuple(_V1), _V2_ACCESS, _V3_AUDIT_CHAIN)
"""``MIGRATIONS[i]`` holds the statements that move schema version ``i`` to ``i + 1``."""

SCHEMA_VERSION = len(MIGRATIONS)


def weekly_views_sql(week_start: str) -> list[str]:
    """SQL that (re)creates the weekly views for a week starting on ``week_start``.

    Daily rows roll up to the week that contains them; the week is labelled by its first
    day (ISO weeks when ``week_start == "monday"``). Sums for spend and outcomes, the
    mean for controls (a price or a temperature averages; a 0/1 holiday flag becomes the
    share of the week it covers).
    """
    offset = WEEKDAYS.index(week_start)  # days after Monday
    week = f"CAST(date_trunc('week', date - INTERVAL {offset} DAY) + INTERVAL {offset} DAY AS DATE)"
    return [
        f"""CREATE OR REPLACE VIEW spend_weekly AS
SELECT {week} AS week, geo, channel, sum(spend) AS spend, sum(impressions) AS impressions,
       sum(clicks) AS clicks, count(DISTINCT date) AS n_days
FROM spend GROUP BY ALL""",
        f"""CREATE OR REPLACE VIEW outcomes_weekly AS
SELECT {week} AS week, geo, kpi, sum(value) AS value, count(DISTINCT date) AS n_days
FROM outcomes GROUP BY ALL""",
        f"""CREATE OR REPLACE VIEW controls_weekly AS
SELECT {week} AS week, geo, name, avg(value) AS value, count(DISTINCT date) AS n_days
FROM controls GROUP BY ALL""",
    ]
