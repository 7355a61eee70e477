"""The workspace's tables: the data contract of ARCHITECTURE.md §3, versioned.

``MIGRATIONS[i]`` takes a workspace from schema version ``i`` to ``i + 1``. A new
version appends one migration; existing ones never change. Weekly views are rebuilt
whenever the week start changes (they are derived, not stored).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MIGRATIONS",
    "NATIONAL",
    "SCHEMA_VERSION",
    "TABLES",
    "WEEKDAYS",
    "TableSchema",
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

MIGRATIONS: tuple[tuple[str, ...], ...] = (tuple(_V1), _V2_ACCESS)
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
