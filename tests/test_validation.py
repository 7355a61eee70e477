"""Validation rules: the load rules (validate_load) and the workspace report (check_workspace).

Every rule has a clean input that yields no finding and a bad one whose finding is
checked exactly (severity, table, column, rows, n_rows).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pytest

from margin.data.rules.findings import MAX_ROWS_LISTED, Finding
from margin.data.rules.validation import WORKSPACE_RULES, check_workspace, validate_load
from margin.data.rules.weekly import MAD_SCALE, OUTLIER_Z, robust_z_sql
from margin.data.workspace.schema import TABLES
from margin.data.workspace.store import Workspace
from margin.errors import ConfigError

TODAY = date(2024, 6, 1)
FILE = "input.csv"
FLOAT64 = 1e-12

# -- load rules ----------------------------------------------------------------------

_GOOD: dict[str, dict[str, Any]] = {
    "spend": {
        "date": date(2024, 1, 1),
        "geo": "north",
        "channel": "tv",
        "campaign": "",
        "currency": "USD",
        "spend": 100.0,
        "spend_original": 100.0,
        "impressions": 1000.0,
        "clicks": 10.0,
        "source": "generic",
    },
    "outcomes": {"date": date(2024, 1, 1), "geo": "north", "kpi": "revenue", "value": 500.0},
    "controls": {"date": date(2024, 1, 1), "geo": "north", "name": "price", "value": 9.99},
    "events": {
        "user_key": "u1",
        "ts": datetime(2024, 1, 1, 10),
        "channel": "tv",
        "campaign": "",
        "creative": "",
        "event": "touch",
        "value": 0.0,
    },
    "experiments": {
        "id": "t1",
        "channel": "tv",
        "kpi": "revenue",
        "treatment_geos": ["north"],
        "control_geos": ["south"],
        "start": date(2024, 3, 4),
        "end": date(2024, 3, 31),
        "spend_delta": 1000.0,
        "lift": 50.0,
        "lift_se": 10.0,
        "method": "geo",
        "design_id": None,
    },
    "transactions": {
        "customer_key": "c1",
        "ts": datetime(2024, 1, 1, 10),
        "amount": 20.0,
        "acquisition_channel": "search",
    },
    "fx_rates": {"date": date(2024, 1, 1), "currency": "EUR", "rate": 1.1},
}


def _good_row(kind: str, i: int) -> dict[str, Any]:
    """A valid row, distinct for each ``i`` (so clean rows never repeat)."""
    row = dict(_GOOD[kind])
    if "date" in row:
        row["date"] += timedelta(days=i)
    if "ts" in row:
        row["ts"] += timedelta(hours=i)
    if kind == "experiments":
        row["id"] = f"t{i}"
    return row


def _relation(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    n: int = 4,
    changes: dict[int, dict[str, Any]] | None = None,
) -> str:
    """A temp table ``_rows`` of ``n`` valid rows of ``kind``; ``changes[row]`` overrides values."""
    columns = [(c, t) for c, t in TABLES[kind].columns if c != "load_id"]
    ddl = ", ".join(f'"{c}" {t}' for c, t in columns)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _rows (_row BIGINT, {ddl})")
    rows = []
    for i in range(1, n + 1):
        row = _good_row(kind, i) | (changes or {}).get(i, {})
        rows.append([i, *(row[c] for c, _ in columns)])
    marks = ", ".join("?" for _ in range(len(columns) + 1))
    con.executemany(f"INSERT INTO _rows VALUES ({marks})", rows)
    return "_rows"


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    """One in-memory connection; each test replaces the relations it uses."""
    connection = duckdb.connect()
    yield connection
    connection.close()


def _validate(con: duckdb.DuckDBPyConnection, kind: str, **kwargs: Any) -> list[Finding]:
    relation = _relation(con, kind, **kwargs)
    return validate_load(con, kind, relation, file=FILE, currency="USD", today=TODAY)


def _only(findings: list[Finding], rule: str, column: str | None = None) -> Finding:
    hits = [f for f in findings if f.rule == rule and f.column == column]
    assert len(hits) == 1, findings
    return hits[0]


@pytest.mark.parametrize("kind", sorted(_GOOD))
def test_clean_rows_have_no_findings(con: duckdb.DuckDBPyConnection, kind: str) -> None:
    assert _validate(con, kind) == []


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        ("spend", {1: {"spend": 0.0, "impressions": None, "clicks": None}}),
        ("spend", {1: {"spend_original": None, "clicks": 1000.0}}),  # clicks == impressions
        ("spend", {1: {"spend": 1e9}}),  # at the plausible ceiling
        ("spend", {1: {"date": date(1990, 1, 1)}, 2: {"date": TODAY + timedelta(days=366)}}),
        ("events", {1: {"event": "conversion", "channel": None, "value": 0.0}}),
        ("events", {1: {"ts": datetime(2025, 6, 2, 23, 59)}}),  # day 366, any time of day
        ("experiments", {1: {"lift_se": 1e-9, "end": date(2024, 3, 4)}}),  # one-day test
        ("experiments", {1: {"treatment_geos": [], "control_geos": [], "kpi": None}}),
        ("transactions", {1: {"amount": 0.0, "acquisition_channel": None}}),
        ("fx_rates", {1: {"rate": 1e-6}}),
        ("outcomes", {1: {"value": -1.0}}),  # negative outcomes are a workspace warning only
    ],
)
def test_boundary_values_pass(
    con: duckdb.DuckDBPyConnection, kind: str, changes: dict[int, dict[str, Any]]
) -> None:
    assert _validate(con, kind, changes=changes) == []


LOAD_CASES = [
    # (kind, changes, rule, severity, column, rows)
    ("spend", {2: {"date": None}}, "missing_values", "error", "date", (2,)),
    (
        "spend",
        {1: {"channel": None}, 4: {"channel": None}},
        "missing_values",
        "error",
        "channel",
        (1, 4),
    ),
    ("spend", {3: {"currency": None}}, "missing_values", "error", "currency", (3,)),
    (
        "spend",
        {3: {"spend": None, "spend_original": None}},
        "missing_values",
        "warning",
        "spend",
        (3,),
    ),
    ("outcomes", {1: {"kpi": None}}, "missing_values", "error", "kpi", (1,)),
    ("outcomes", {2: {"value": None}}, "missing_values", "error", "value", (2,)),
    ("controls", {2: {"name": None}}, "missing_values", "error", "name", (2,)),
    ("events", {2: {"user_key": None}}, "missing_values", "error", "user_key", (2,)),
    ("events", {3: {"event": None}}, "missing_values", "error", "event", (3,)),
    ("events", {1: {"channel": None}}, "missing_values", "error", "channel", (1,)),
    ("experiments", {4: {"lift_se": None}}, "missing_values", "error", "lift_se", (4,)),
    ("transactions", {1: {"ts": None}}, "missing_values", "error", "ts", (1,)),
    ("fx_rates", {2: {"rate": None}}, "missing_values", "error", "rate", (2,)),
    (
        "spend",
        {3: {"spend": float("nan")}, 4: {"spend": float("inf")}},
        "non_finite",
        "error",
        "spend",
        (3, 4),
    ),
    ("outcomes", {1: {"value": float("-inf")}}, "non_finite", "error", "value", (1,)),
    ("experiments", {2: {"lift": float("nan")}}, "non_finite", "error", "lift", (2,)),
    ("spend", {2: {"impressions": 2e15}}, "huge_values", "error", "impressions", (2,)),
    ("outcomes", {1: {"value": -3e15}}, "huge_values", "error", "value", (1,)),
    ("transactions", {4: {"amount": 1e300}}, "huge_values", "error", "amount", (4,)),
    ("spend", {2: {"spend": -5.0}, 3: {"spend": -0.5}}, "negative_spend", "error", "spend", (2, 3)),
    ("spend", {1: {"impressions": -1.0}}, "negative_counts", "error", "impressions", (1,)),
    ("spend", {4: {"clicks": -2.0}}, "negative_counts", "error", "clicks", (4,)),
    (
        "fx_rates",
        {1: {"rate": 0.0}, 3: {"rate": -1.0}},
        "nonpositive_fx_rate",
        "error",
        "rate",
        (1, 3),
    ),
    ("events", {2: {"event": "click"}}, "unknown_event", "error", "event", (2,)),
    (
        "events",
        {1: {"event": "conversion", "value": -5.0}},
        "negative_conversion_value",
        "error",
        "value",
        (1,),
    ),
    ("transactions", {3: {"amount": -20.0}}, "negative_amount", "error", "amount", (3,)),
    ("experiments", {2: {"end": date(2024, 3, 3)}}, "end_before_start", "error", "end", (2,)),
    (
        "experiments",
        {1: {"lift_se": 0.0}, 2: {"lift_se": -1.0}},
        "nonpositive_lift_se",
        "error",
        "lift_se",
        (1, 2),
    ),
    ("experiments", {3: {"id": "t1"}}, "duplicate_ids", "error", "id", (3,)),
    ("spend", {2: {"date": date(1989, 12, 31)}}, "date_out_of_range", "error", "date", (2,)),
    (
        "fx_rates",
        {1: {"date": TODAY + timedelta(days=367)}},
        "date_out_of_range",
        "error",
        "date",
        (1,),
    ),
    ("events", {3: {"ts": datetime(2025, 6, 3)}}, "date_out_of_range", "error", "ts", (3,)),
    ("experiments", {4: {"start": date(1970, 1, 1)}}, "date_out_of_range", "error", "start", (4,)),
    ("spend", {3: _good_row("spend", 1)}, "duplicate_rows", "warning", None, (3,)),
    (
        "events",
        {2: _good_row("events", 1), 4: _good_row("events", 1)},
        "duplicate_rows",
        "warning",
        None,
        (2, 4),
    ),
    ("outcomes", {4: _good_row("outcomes", 2)}, "duplicate_rows", "warning", None, (4,)),
    ("spend", {2: {"clicks": 1001.0}}, "implausible_values", "warning", "clicks", (2,)),
    ("spend", {1: {"spend": 2e9}}, "implausible_values", "warning", "spend", (1,)),
    ("transactions", {2: {"amount": 5e7}}, "implausible_values", "warning", "amount", (2,)),
    (
        "spend",
        {2: {"currency": "EUR"}, 4: {"currency": "GBP"}},
        "mixed_currencies",
        "info",
        "currency",
        (2, 4),
    ),
]


@pytest.mark.parametrize(
    ("kind", "changes", "rule", "severity", "column", "rows"),
    LOAD_CASES,
    ids=[f"{c[2]}-{c[0]}-{c[4]}" for c in LOAD_CASES],
)
def test_each_load_rule_finds_its_rows(
    con: duckdb.DuckDBPyConnection,
    kind: str,
    changes: dict[int, dict[str, Any]],
    rule: str,
    severity: str,
    column: str | None,
    rows: tuple[int, ...],
) -> None:
    found = _only(_validate(con, kind, changes=changes), rule, column)
    assert found.severity == severity
    assert found.table == kind
    assert found.file == FILE
    assert found.rows == rows
    assert found.n_rows == len(rows)
    assert found.message
    assert found.fix


def test_load_findings_are_sorted_errors_first(con: duckdb.DuckDBPyConnection) -> None:
    changes = {2: {"currency": "EUR"}, 3: {"clicks": 5000.0}, 4: {"spend": -1.0}}
    findings = _validate(con, "spend", changes=changes)
    assert [f.severity for f in findings] == ["error", "warning", "info"]
    assert [f.rule for f in findings] == [
        "negative_spend",
        "implausible_values",
        "mixed_currencies",
    ]


def test_messages_quote_the_values_received(con: duckdb.DuckDBPyConnection) -> None:
    findings = _validate(con, "spend", changes={2: {"spend": -5.0}, 3: {"spend": -1250.5}})
    message = _only(findings, "negative_spend", "spend").message
    assert "2 rows have negative spend" in message
    assert "row 2: -5; row 3: -1,250.5" in message
    huge = _only(_validate(con, "outcomes", changes={1: {"value": 3e15}}), "huge_values", "value")
    assert "unit or parsing error" in huge.message
    assert "3e+15" in huge.message
    event = _only(
        _validate(con, "events", changes={2: {"event": "click"}}), "unknown_event", "event"
    )
    assert "row 2: 'click'" in event.message
    dupes = _only(_validate(con, "spend", changes={3: _good_row("spend", 1)}), "duplicate_rows")
    assert "row 3 repeats row 1" in dupes.message
    assert "summed" in dupes.message
    assert "double export" in dupes.message
    mixed = _only(
        _validate(con, "spend", changes={2: {"currency": "EUR"}}), "mixed_currencies", "currency"
    )
    assert "EUR (1 row)" in mixed.message
    assert "USD (3 rows)" in mixed.message
    assert "converted to USD" in mixed.message


def test_many_offending_rows_list_the_first_and_count_all(con: duckdb.DuckDBPyConnection) -> None:
    changes = {i: {"spend": -float(i)} for i in range(3, 19)}
    found = _only(_validate(con, "spend", n=20, changes=changes), "negative_spend", "spend")
    assert found.rows == tuple(range(3, 3 + MAX_ROWS_LISTED))
    assert found.n_rows == 16
    assert "(and 11 more)" in found.message
    assert all(isinstance(r, int) for r in found.rows)


def test_a_file_row_spread_over_several_kpis_counts_once(con: duckdb.DuckDBPyConnection) -> None:
    """Wide outcomes files give one relation row per KPI with the same ``_row``."""
    _relation(con, "outcomes", changes={2: {"value": float("nan")}})
    con.execute(
        "INSERT INTO _rows VALUES (2, DATE '2024-01-03', 'north', 'conversions', 'nan'::DOUBLE)"
    )
    findings = validate_load(con, "outcomes", "_rows", file=FILE, currency="USD", today=TODAY)
    found = _only(findings, "non_finite", "value")
    assert (found.rows, found.n_rows) == ((2,), 1)


def test_unknown_kind_is_a_config_error(con: duckdb.DuckDBPyConnection) -> None:
    _relation(con, "spend")
    with pytest.raises(ConfigError, match="runs"):
        validate_load(con, "runs", "_rows", file=FILE, currency="USD")


# -- workspace rules -----------------------------------------------------------------

WEEKS = 12
GEOS = ("north", "south")
CHANNELS = ("search", "tv")


def _week(w: int) -> str:
    return str(date(2024, 1, 1) + timedelta(weeks=w))


@pytest.fixture(scope="module")
def clean_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clean workspace file: weekly spend (2 geos × 2 channels) and revenue, 12 weeks."""
    path = tmp_path_factory.mktemp("template") / "clean.duckdb"
    with Workspace(path) as workspace:
        workspace.con.execute(
            f"""INSERT INTO spend
            SELECT CAST(DATE '2024-01-01' + to_days(CAST(7 * w AS INTEGER)) AS DATE), g.geo, c.channel, '', 'USD', s, s, s * 10, s / 10, 'generic', 1
            FROM range({WEEKS}) t(w), (VALUES ('north', 0), ('south', 1)) g(geo, gi),
                 (VALUES ('search', 0), ('tv', 1)) c(channel, ci),
                 LATERAL (SELECT 100.0 + 10 * w + 5 * gi + 20 * ci AS s)"""
        )
        workspace.con.execute(
            f"""INSERT INTO outcomes
            SELECT CAST(DATE '2024-01-01' + to_days(CAST(7 * w AS INTEGER)) AS DATE), g.geo, 'revenue', 1000.0 + 25 * w + 100 * gi, 1
            FROM range({WEEKS}) t(w), (VALUES ('north', 0), ('south', 1)) g(geo, gi)"""
        )
    return path


@pytest.fixture
def ws(clean_file: Path, tmp_path: Path) -> Iterator[Workspace]:
    """A fresh copy of the clean workspace."""
    path = tmp_path / "w.duckdb"
    shutil.copyfile(clean_file, path)
    with Workspace(path) as workspace:
        yield workspace


def _check(ws: Workspace) -> list[Finding]:
    return list(check_workspace(ws, today=TODAY).findings)


def _rule(
    findings: list[Finding], rule: str, table: str, column: str | None, severity: str = "warning"
) -> Finding:
    """The one finding of ``rule`` on ``table.column``, checked for severity and no file."""
    hits = [f for f in findings if (f.rule, f.table, f.column) == (rule, table, column)]
    assert len(hits) == 1, findings
    assert hits[0].severity == severity
    assert hits[0].file is None
    return hits[0]


def test_clean_workspace_has_no_findings(ws: Workspace) -> None:
    report = check_workspace(ws, today=TODAY)
    assert report.findings == ()
    assert report.ok
    assert report.checked == tuple(rule_id for rule_id, _ in WORKSPACE_RULES)


def test_empty_workspace_gives_only_the_info_finding(tmp_path: Path) -> None:
    with Workspace(tmp_path / "empty.duckdb") as empty:
        report = check_workspace(empty, today=TODAY)
    assert [(f.rule, f.severity, f.table) for f in report.findings] == [
        ("empty_workspace", "info", "workspace")
    ]
    assert report.ok
    assert set(report.checked) >= {
        "negative_spend",
        "duplicate_rows",
        "date_gaps",
        "no_spend_variation",
        "outliers",
        "spend_without_outcomes",
        "outcomes_without_spend",
        "mixed_currencies",
        "implausible_values",
        "empty_workspace",
    }


def test_negative_spend_is_an_error(ws: Workspace) -> None:
    ws.con.execute(
        "INSERT INTO spend VALUES (DATE '2024-01-08', 'north', 'tv', 'promo', 'USD', -5, -5, 0, 0, 'generic', 2)"
    )
    findings = _check(ws)
    found = _rule(findings, "negative_spend", "spend", "spend", "error")
    assert (found.severity, found.rows, found.n_rows) == (
        "error",
        ("2024-01-08/north/tv/promo",),
        1,
    )
    assert "-5" in found.message
    assert not check_workspace(ws, today=TODAY).ok


def test_duplicate_keys_and_identical_events(ws: Workspace) -> None:
    ws.con.execute("INSERT INTO outcomes VALUES (DATE '2024-01-08', 'north', 'revenue', 1, 2)")
    event = "('k1', TIMESTAMP '2024-01-02 10:00:00', 'tv', '', '', 'touch', 0, 3)"
    ws.con.execute(f"INSERT INTO events VALUES {event}, {event}, {event}")
    ws.con.execute(
        "INSERT INTO events VALUES ('k1', TIMESTAMP '2024-01-02 10:00:00', 'tv', '', '', 'touch', 1, 3)"
    )
    findings = _check(ws)
    keyed = _rule(findings, "duplicate_rows", "outcomes", None)
    assert (keyed.severity, keyed.rows, keyed.n_rows) == (
        "warning",
        ("2024-01-08/north/revenue",),
        1,
    )
    assert "(date, geo, kpi)" in keyed.message
    events = _rule(findings, "duplicate_rows", "events", None)
    assert (events.rows, events.n_rows) == (("2024-01-02 10:00:00/k1/touch/tv",), 1)
    assert "2024-01-02 10:00:00/k1/touch/tv: 3" in events.message


def test_date_gaps_inside_the_span(ws: Workspace) -> None:
    ws.con.execute(
        f"DELETE FROM spend WHERE date = DATE '{_week(4)}' AND geo = 'south' AND channel = 'search'"
    )
    ws.con.execute(
        f"DELETE FROM spend WHERE date IN (DATE '{_week(6)}', DATE '{_week(7)}') AND channel = 'tv' AND geo = 'north'"
    )
    ws.con.execute(f"DELETE FROM outcomes WHERE date = DATE '{_week(3)}' AND geo = 'north'")
    findings = _check(ws)
    spend = _rule(findings, "date_gaps", "spend", None)
    assert spend.severity == "warning"
    assert spend.rows == (
        f"{_week(4)}/south/search",
        f"{_week(6)}/north/tv",
        f"{_week(7)}/north/tv",
    )
    assert spend.n_rows == 3
    assert "add rows with spend 0" in spend.fix
    outcomes = _rule(findings, "date_gaps", "outcomes", None)
    assert (outcomes.rows, outcomes.n_rows) == ((f"{_week(3)}/north/revenue",), 1)


def test_weeks_before_a_series_starts_are_gaps(ws: Workspace) -> None:
    """A channel launched late (no zero rows before) has gaps from the table's first week."""
    ws.con.execute(f"DELETE FROM spend WHERE channel = 'tv' AND date < DATE '{_week(2)}'")
    findings = _check(ws)
    found = _rule(findings, "date_gaps", "spend", None)
    expected = sorted(f"{_week(w)}/{g}/tv" for w in (0, 1) for g in GEOS)
    assert (list(found.rows), found.n_rows) == (expected, 4)


def test_no_spend_variation(ws: Workspace) -> None:
    ws.con.execute("UPDATE spend SET spend = 50 + (geo = 'north')::INT * 1e-4 WHERE channel = 'tv'")
    findings = _check(ws)
    found = _rule(findings, "no_spend_variation", "spend", "spend")
    assert (found.severity, found.rows, found.n_rows) == ("warning", ("tv",), 1)
    assert "cannot separate this channel's effect from the baseline" in found.fix


def test_a_channel_that_never_spends_has_no_variation(ws: Workspace) -> None:
    ws.con.execute("UPDATE spend SET spend = 0 WHERE channel = 'search'")
    findings = _check(ws)
    found = _rule(findings, "no_spend_variation", "spend", "spend")
    assert (found.rows, found.n_rows) == (("search",), 1)


def _robust_z(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The oracle: |x − median| / (1.4826 · MAD) with numpy."""
    med = float(np.median(x))
    mad = float(np.median(np.abs(x - med)))
    return np.asarray((x - med) / (MAD_SCALE * mad), dtype=np.float64)


def test_robust_z_sql_matches_numpy(con: duckdb.DuckDBPyConnection) -> None:
    rng = np.random.default_rng(7)
    series = {"a": rng.normal(100, 10, 13), "b": rng.lognormal(3, 1, 20), "c": rng.normal(0, 1, 8)}
    rows = [(g, w, float(v)) for g, xs in series.items() for w, v in enumerate(xs)]
    con.execute("CREATE OR REPLACE TABLE s (g VARCHAR, week INTEGER, x DOUBLE)")
    con.executemany("INSERT INTO s VALUES (?, ?, ?)", rows)
    got = con.execute(
        f"SELECT g, week, z FROM ({robust_z_sql('SELECT * FROM s', ['g'])}) ORDER BY g, week"
    ).fetchall()
    for g, xs in series.items():
        z = [r[2] for r in got if r[0] == g]
        np.testing.assert_allclose(z, _robust_z(xs), rtol=FLOAT64, atol=FLOAT64)


def test_robust_z_is_null_when_most_values_are_equal(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE OR REPLACE TABLE s AS SELECT 'a' AS g, w AS week, CASE WHEN w = 0 THEN 9.0 ELSE 1.0 END AS x FROM range(5) t(w)"
    )
    got = con.execute(
        f"SELECT DISTINCT z FROM ({robust_z_sql('SELECT * FROM s', ['g'])})"
    ).fetchall()
    assert got == [(None,)]


def test_outliers_match_a_naive_robust_z(ws: Workspace) -> None:
    ws.con.execute(
        f"UPDATE spend SET spend = spend * 100 WHERE date = DATE '{_week(6)}' AND geo = 'north' AND channel = 'tv'"
    )
    ws.con.execute(
        f"UPDATE outcomes SET value = -50000 WHERE date = DATE '{_week(9)}' AND geo = 'south'"
    )
    series = np.array(
        [
            v[0]
            for v in ws.fetch(
                "SELECT spend FROM spend_weekly WHERE geo = 'north' AND channel = 'tv' ORDER BY week"
            )
        ]
    )
    flagged = [_week(int(w)) for w in np.flatnonzero(np.abs(_robust_z(series)) > OUTLIER_Z)]
    findings = _check(ws)
    spend = _rule(findings, "outliers", "spend", "spend")
    assert spend.severity == "warning"
    assert spend.rows == tuple(f"{w}/north/tv" for w in flagged) == (f"{_week(6)}/north/tv",)
    z = _robust_z(series)[6]
    assert f"robust z {z:.1f}" in spend.message
    kpi = _rule(findings, "outliers", "outcomes", "value")
    assert (kpi.rows, kpi.n_rows) == ((f"{_week(9)}/south/revenue",), 1)


def test_spend_outliers_ignore_weeks_without_spend(ws: Workspace) -> None:
    """A flighted channel (off most weeks) is not an outlier every week it is on."""
    ws.con.execute(
        "UPDATE spend SET spend = 0 WHERE channel = 'tv' AND date_part('week', date) % 3 <> 0"
    )
    assert not [f for f in _check(ws) if f.rule == "outliers"]


def test_spend_without_outcomes_and_outcomes_without_spend(ws: Workspace) -> None:
    ws.con.execute(
        f"INSERT INTO spend VALUES (DATE '{_week(WEEKS)}', 'north', 'tv', '', 'USD', 300, 300, 3000, 30, 'generic', 2)"
    )
    ws.con.execute("INSERT INTO outcomes VALUES (DATE '2023-12-25', 'south', 'revenue', 900, 2)")
    ws.con.execute("INSERT INTO outcomes VALUES (DATE '2023-12-25', 'north', 'revenue', 900, 2)")
    findings = _check(ws)
    only_spend = _rule(findings, "spend_without_outcomes", "spend", None)
    assert (only_spend.severity, only_spend.rows, only_spend.n_rows) == (
        "warning",
        (f"{_week(WEEKS)}/north",),
        1,
    )
    only_outcomes = _rule(findings, "outcomes_without_spend", "outcomes", None)
    assert only_outcomes.rows == ("2023-12-25/north", "2023-12-25/south")
    assert only_outcomes.n_rows == 2


def test_national_spend_is_compared_with_geo_outcomes_by_week(ws: Workspace) -> None:
    ws.con.execute("UPDATE spend SET geo = 'national' WHERE geo = 'north'")
    ws.con.execute("DELETE FROM spend WHERE geo = 'south'")
    rules = {f.rule for f in _check(ws)}
    assert "spend_without_outcomes" not in rules
    assert "outcomes_without_spend" not in rules


def test_coverage_rules_wait_for_both_tables(ws: Workspace) -> None:
    ws.con.execute("DELETE FROM outcomes")
    assert _check(ws) == []


def test_mixed_currencies(ws: Workspace) -> None:
    ws.con.execute(
        "UPDATE spend SET currency = 'EUR', spend_original = spend / 1.1 "
        f"WHERE geo = 'south' AND channel = 'tv' AND date <= DATE '{_week(1)}'"
    )
    findings = _check(ws)
    note = _rule(findings, "mixed_currencies", "spend", "currency", "info")
    assert note.severity == "info"
    assert note.rows == (f"{_week(0)}/south/tv", f"{_week(1)}/south/tv")
    assert note.n_rows == 2
    assert "EUR: 2 rows" in note.message
    assert check_workspace(ws, today=TODAY).ok
    ws.con.execute(
        f"UPDATE spend SET spend_original = NULL WHERE geo = 'south' AND channel = 'tv' AND date = DATE '{_week(1)}'"
    )
    findings = _check(ws)
    lost = _rule(findings, "mixed_currencies", "spend", "spend_original", "error")
    assert (lost.severity, lost.rows, lost.n_rows) == ("error", (f"{_week(1)}/south/tv",), 1)


def test_clicks_over_impressions_is_implausible(ws: Workspace) -> None:
    ws.con.execute(
        f"UPDATE spend SET clicks = impressions + 1 WHERE date = DATE '{_week(2)}' AND geo = 'north' AND channel = 'search'"
    )
    findings = _check(ws)
    found = _rule(findings, "implausible_values", "spend", "clicks")
    assert (found.severity, found.rows, found.n_rows) == (
        "warning",
        (f"{_week(2)}/north/search",),
        1,
    )


def test_negative_outcomes_and_nonpositive_revenue_weeks(ws: Workspace) -> None:
    ws.con.execute("INSERT INTO outcomes VALUES (DATE '2024-01-09', 'north', 'revenue', -2000, 2)")
    ws.con.execute("INSERT INTO outcomes VALUES (DATE '2024-01-10', 'north', 'conversions', 0, 2)")
    found = [f for f in _check(ws) if f.rule == "implausible_values"]
    assert [(f.table, f.column, f.rows, f.n_rows) for f in found] == [
        ("outcomes", "value", ("2024-01-09/north/revenue",), 1),
        ("outcomes", "value", (f"{_week(1)}/north/revenue",), 1),
    ]
    assert "negative outcome" in found[0].message
    assert "revenue KPI" in found[1].message


def test_dates_after_today_are_implausible(ws: Workspace) -> None:
    ws.con.execute(
        "INSERT INTO spend VALUES (DATE '2024-06-03', 'north', 'tv', 'plan', 'USD', 1, 1, 10, 1, 'generic', 2)"
    )
    ws.con.execute(
        "INSERT INTO transactions VALUES ('c1', TIMESTAMP '2024-06-02 00:00:01', 10, 'tv', 3)"
    )
    ws.con.execute(
        "INSERT INTO transactions VALUES ('c1', TIMESTAMP '2024-06-01 23:59:59', 10, 'tv', 3)"
    )
    findings = _check(ws)
    spend = _rule(findings, "implausible_values", "spend", "date")
    assert (spend.rows, spend.n_rows) == (("2024-06-03/north/tv/plan",), 1)
    tx = _rule(findings, "implausible_values", "transactions", "ts")
    assert (tx.severity, tx.rows, tx.n_rows) == ("warning", ("2024-06-02 00:00:01/c1/10.0",), 1)


def test_report_is_json_ready_and_works_read_only(ws: Workspace) -> None:
    ws.con.execute(
        "INSERT INTO spend VALUES (DATE '2024-01-08', 'north', 'tv', 'x', 'USD', -5, -5, 0, 0, 'generic', 2)"
    )
    path = ws.path
    ws.close()
    with Workspace(path, read_only=True) as reader:
        report = check_workspace(reader, today=TODAY)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert data["n_errors"] == 1
    assert data["rules_checked"] == [rule_id for rule_id, _ in WORKSPACE_RULES]
    assert data["findings"][0]["rule"] == "negative_spend"
    assert data["findings"][0]["rows"] == ["2024-01-08/north/tv/x"]
