"""Ingestion of the other contract tables: outcomes, controls, events, transactions, experiments, fx."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from margin.data.ingest.pipeline import ingest_file
from margin.data.ingest.readers import ReadOptions
from margin.data.rules.findings import Finding
from margin.data.workspace.store import Workspace
from margin.errors import DataValidationError, LoadRejectedError

WriteFile = Callable[[str, str | bytes], Path]


def test_outcomes_long_and_wide(ws: Workspace, write_file: WriteFile) -> None:
    ingest_file(
        ws, "outcomes", write_file("o.csv", "date,geo,kpi,value\n2024-01-01,north,revenue,100\n")
    )
    ingest_file(
        ws,
        "outcomes",
        write_file("w.csv", "date,geo,revenue,conversions\n2024-01-08,north,120,3\n"),
    )
    rows = ws.fetch("SELECT date::VARCHAR, geo, kpi, value FROM outcomes ORDER BY ALL")
    assert rows == [
        ("2024-01-01", "north", "revenue", 100.0),
        ("2024-01-08", "north", "conversions", 3.0),
        ("2024-01-08", "north", "revenue", 120.0),
    ]


def test_geolift_location_column_is_read_as_the_geo(ws: Workspace, write_file: WriteFile) -> None:
    """GeoLift's files name the geo ``location`` (``GeoLift_Test.csv``): no --map needed."""
    ingest_file(
        ws, "outcomes", write_file("g.csv", "date,location,Y\n2021-01-01,chicago,3000\n"),
        mapping={"value": "Y"},
    )  # fmt: skip
    assert ws.fetch("SELECT geo, value FROM outcomes") == [("chicago", 3000.0)]


def test_controls_wide_without_geo_are_national(ws: Workspace, write_file: WriteFile) -> None:
    ingest_file(
        ws,
        "controls",
        write_file("c.csv", "date,price,holiday\n2024-01-01,9.99,0\n2024-01-08,10.49,1\n"),
    )
    assert ws.fetch("SELECT DISTINCT geo FROM controls") == [("national",)]
    assert ws.fetch("SELECT name, sum(value) FROM controls GROUP BY name ORDER BY name") == [
        ("holiday", 1.0),
        ("price", pytest.approx(20.48)),
    ]


def test_weekly_views_roll_daily_rows_up(ws: Workspace, write_file: WriteFile) -> None:
    days = pd.date_range("2024-01-01", periods=14, freq="D")  # Monday 1 Jan to Sunday 14 Jan
    text = "date,channel,spend\n" + "".join(f"{d.date()},tv,{i + 1}\n" for i, d in enumerate(days))
    ingest_file(ws, "spend", write_file("s.csv", text))
    assert ws.fetch("SELECT week::VARCHAR, spend, n_days FROM spend_weekly ORDER BY week") == [
        ("2024-01-01", float(sum(range(1, 8))), 7),
        ("2024-01-08", float(sum(range(8, 15))), 7),
    ]


def test_events_hash_raw_user_ids(ws: Workspace, write_file: WriteFile) -> None:
    text = (
        "user_id,timestamp,channel,campaign,event,value\n"
        "alice@example.com,2024-01-01T10:00:00Z,Search,brand,touch,\n"
        "alice@example.com,2024-01-01T12:00:00+02:00,,,conversion,50\n"
    )
    ingest_file(ws, "events", write_file("e.csv", text))
    rows = ws.fetch("SELECT user_key, ts::VARCHAR, channel, event, value FROM events ORDER BY ts")
    assert rows[0][0] == rows[1][0]
    assert "alice" not in rows[0][0]
    assert len(rows[0][0]) == 32
    assert [r[1] for r in rows] == ["2024-01-01 10:00:00", "2024-01-01 10:00:00"]
    assert rows[0][2] == "search"
    assert rows[1][2] is None
    assert rows[1][4] == 50.0


def test_events_parquet_keeps_typed_columns(ws: Workspace, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "user_key": ["u1", "u1", "u2"],
            "ts": pd.to_datetime(["2024-01-01 10:00", "2024-01-02 10:00", "2024-01-03 09:00"]),
            "channel": ["tv", None, "social"],
            "campaign": ["", "", "x"],
            "creative": ["", "", ""],
            "event": ["touch", "conversion", "touch"],
            "value": [0.0, 20.0, 0.0],
        }
    )
    path = tmp_path / "events.parquet"
    frame.to_parquet(path)
    result = ingest_file(ws, "events", path)
    assert result.rows_written == 3
    assert ws.fetch("SELECT sum(value), count(DISTINCT user_key) FROM events") == [(20.0, 2)]


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("user_key,ts,event\nu1,yesterday,touch\n", ["column 'ts'", "row 1: 'yesterday'"]),
        ("user_key,event\nu1,touch\n", ["missing required column", "ts"]),
        ("ts,event\n2024-01-01,touch\n", ["user_key", "user_id"]),
    ],
)
def test_bad_event_files_name_rows_and_columns(
    ws: Workspace, write_file: WriteFile, text: str, needles: list[str]
) -> None:
    with pytest.raises(DataValidationError) as err:
        ingest_file(ws, "events", write_file("e.csv", text))
    for needle in needles:
        assert needle in str(err.value)
    assert ws.counts()["events"] == 0


@pytest.mark.parametrize(
    ("text", "column", "rows"),
    [
        (
            "user_key,ts,channel,event,value\nu1,2024-01-01,tv,touch,0\nu1,2024-01-02,tv,click,0\n",
            "event",
            (2,),
        ),
        ("user_key,ts,channel,event,value\nu1,2024-01-01,,conversion,-5\n", "value", (1,)),
    ],
)
def test_event_rules_reject_the_load(
    ws: Workspace, write_file: WriteFile, text: str, column: str, rows: tuple[int, ...]
) -> None:
    with pytest.raises(LoadRejectedError) as err:
        ingest_file(ws, "events", write_file("e.csv", text))
    errors = [f for f in err.value.findings if getattr(f, "severity", "") == "error"]
    assert any(
        getattr(f, "column", None) == column and tuple(getattr(f, "rows", ())) == rows
        for f in errors
    )
    assert ws.counts()["events"] == 0


def test_transactions_with_customer_ids(ws: Workspace, write_file: WriteFile) -> None:
    text = "customer_id,order_date,amount,channel\nc1,2024-01-01,10.5,Search\nc1,2024-02-01,20,Search\n"
    ingest_file(ws, "transactions", write_file("t.csv", text))
    rows = ws.fetch(
        "SELECT customer_key, amount, acquisition_channel FROM transactions ORDER BY ts"
    )
    assert rows[0][0] == rows[1][0] != "c1"
    assert [r[1] for r in rows] == [10.5, 20.0]
    assert rows[0][2] == "search"


def test_same_raw_id_hashes_alike_across_loads(ws: Workspace, write_file: WriteFile) -> None:
    ingest_file(ws, "transactions", write_file("a.csv", "customer_id,ts,amount\nc9,2024-01-01,1\n"))
    ingest_file(ws, "transactions", write_file("b.csv", "customer_id,ts,amount\nc9,2024-01-02,2\n"))
    assert ws.fetch("SELECT count(DISTINCT customer_key) FROM transactions") == [(1,)]


def test_experiments_with_geo_lists(ws: Workspace, write_file: WriteFile) -> None:
    text = (
        "id,channel,kpi,treatment_geos,control_geos,start,end,spend_delta,lift,lift_se\n"
        "t1,TV,revenue,north;south,east|west,2024-03-04,2024-03-31,50000,120000,30000\n"
    )
    ingest_file(ws, "experiments", write_file("x.csv", text))
    row = ws.fetch(
        'SELECT id, channel, treatment_geos, control_geos, "end"::VARCHAR, method FROM experiments'
    )[0]
    assert row == ("t1", "tv", ["north", "south"], ["east", "west"], "2024-03-31", "imported")


def test_experiment_ending_before_it_starts_is_rejected(
    ws: Workspace, write_file: WriteFile
) -> None:
    text = "id,channel,start,end,lift,lift_se\nt1,tv,2024-03-31,2024-03-04,1,1\n"
    with pytest.raises(LoadRejectedError):
        ingest_file(ws, "experiments", write_file("x.csv", text))


def test_fx_rates_reject_zero_rates(ws: Workspace, write_file: WriteFile) -> None:
    with pytest.raises(LoadRejectedError) as err:
        ingest_file(ws, "fx_rates", write_file("fx.csv", "date,currency,rate\n2024-01-01,EUR,0\n"))
    assert "rate" in str(err.value)


# -- issue 19: date formats told apart by the grid they form -----------------------------------
def _date_note(findings: tuple[Finding, ...]) -> str:
    (note,) = [f for f in findings if f.rule == "date_format"]
    assert note.severity == "info"
    return note.message


@pytest.mark.shared_data
def test_geolift_two_digit_years_are_read_day_first(ws: Workspace, shared_data: Path) -> None:
    """GeoLift's whitepaper files write 03/06/21 for 3 June 2021 (it was read as year 0003)."""
    path = shared_data / "geolift" / "data_positiveGLv1.csv"
    result = ingest_file(ws, "outcomes", path, mapping={"geo": "location"})
    assert (result.first_date, result.last_date, result.grain) == (
        date(2021, 6, 3),
        date(2021, 9, 15),
        "daily",
    )
    assert result.rows_written == 40 * 105
    assert "%d/%m/%y (day/month/2-digit year)" in _date_note(result.findings)


@pytest.mark.parametrize(
    ("rows", "first", "last", "fmt", "grid"),
    [
        # 3 to 12 June 2021 day first; month first they would be 6 March, 6 April, … 6 December
        (
            [f"{d:02d}/06/21" for d in range(3, 13)],
            date(2021, 6, 3),
            date(2021, 6, 12),
            "%d/%m/%y",
            "daily",
        ),
        # the same days month first (US); day first they would be the 6th of each month
        (
            [f"06/{d:02d}/21" for d in range(3, 13)],
            date(2021, 6, 3),
            date(2021, 6, 12),
            "%m/%d/%y",
            "daily",
        ),
        # weekly, day first: 1 and 8 March 2024 (month first: 3 January and 3 August)
        (["01/03/2024", "08/03/2024"], date(2024, 3, 1), date(2024, 3, 8), "%d/%m/%Y", "weekly"),
    ],
)
def test_dates_are_read_the_way_that_gives_a_regular_grid(
    ws: Workspace,
    write_file: WriteFile,
    rows: list[str],
    first: date,
    last: date,
    fmt: str,
    grid: str,
) -> None:
    text = "date,geo,kpi,value\n" + "".join(f"{d},north,revenue,1\n" for d in rows)
    result = ingest_file(ws, "outcomes", write_file("o.csv", text))
    assert (result.first_date, result.last_date) == (first, last)
    assert f"read as {fmt} " in _date_note(result.findings)
    assert f"the only reading giving a regular {grid} grid" in _date_note(result.findings)


def test_a_two_digit_year_never_becomes_year_3(ws: Workspace, write_file: WriteFile) -> None:
    path = write_file("o.csv", "date,geo,kpi,value\n03/06/21,north,revenue,1\n")
    with pytest.raises(DataValidationError, match="--date-format") as err:
        ingest_file(ws, "outcomes", path)  # one date: day/month/year order cannot be told
    assert "0003" not in str(err.value)
    assert "0021" not in str(err.value)
    ingest_file(ws, "outcomes", path, options=ReadOptions(date_format="%d/%m/%y"))
    assert ws.fetch("SELECT date FROM outcomes") == [(date(2021, 6, 3),)]


def test_iso_dates_are_read_without_a_note(ws: Workspace, write_file: WriteFile) -> None:
    text = "date,geo,kpi,value\n2024-01-01,north,revenue,1\n2024-01-02 00:00:00,north,revenue,2\n"
    result = ingest_file(ws, "outcomes", write_file("o.csv", text))
    assert result.findings == ()
    assert result.last_date == date(2024, 1, 2)
