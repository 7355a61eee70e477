"""The model-ready panel: MarketingData, the wide-file loader and the workspace loader."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from margin.data.panel.from_csv import load_panel_csv
from margin.data.panel.from_workspace import load_panel_workspace
from margin.data.panel.marketing_data import MarketingData, load_panel
from margin.data.panel.spec import Spec, parse_spec
from margin.data.workspace.schema import NATIONAL
from margin.data.workspace.store import Workspace
from margin.errors import ConfigError, DataValidationError, InputFileError

FLOAT64 = 1e-12
"""Relative tolerance for float64 sums and means computed in another order."""
SEED = 20240101


# -- MarketingData ---------------------------------------------------------------------------
def small_panel(**changes: Any) -> MarketingData:
    rng = np.random.default_rng(SEED)
    g, t, c = 2, 4, 3
    fields: dict[str, Any] = {
        "dates": np.array(["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"]),
        "geos": ("north", "south"),
        "channels": ("tv", "search", "social"),
        "control_names": ("price",),
        "spend": rng.uniform(0, 100, (g, t, c)),
        "impressions": rng.uniform(0, 1e4, (g, t, c)),
        "kpi": rng.uniform(100, 200, (g, t)),
        "controls": rng.normal(size=(g, t, 1)),
        "population": np.array([1000.0, 3000.0]),
        "revenue_per_kpi": rng.uniform(1, 2, (g, t)),
        "kpi_name": "orders",
        "kpi_type": "conversions",
    }
    fields.update(changes)
    return MarketingData(**fields)


def test_marketing_data_shapes_and_properties() -> None:
    panel = small_panel()
    assert (panel.n_geos, panel.n_times, panel.n_channels) == (2, 4, 3)
    assert not panel.is_national
    assert panel.dates.dtype == np.dtype("datetime64[D]")
    assert panel.spend.dtype == np.float64
    assert small_panel(
        geos=(NATIONAL,),
        spend=np.ones((1, 4, 3)),
        impressions=None,
        kpi=np.ones((1, 4)),
        controls=np.zeros((1, 4, 1)),
        population=None,
        revenue_per_kpi=None,
    ).is_national


def test_arrays_are_read_only_copies() -> None:
    spend = np.ones((2, 4, 3))
    panel = small_panel(spend=spend)
    spend[0, 0, 0] = 99.0
    assert panel.spend[0, 0, 0] == 1.0
    for array in (panel.dates, panel.spend, panel.kpi, panel.controls, panel.population):
        assert array is not None
        assert not array.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        panel.kpi[0, 0] = 1.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"spend": np.ones((2, 4, 2))}, r"spend has shape \(2, 4, 2\); expected \(2, 4, 3\)"),
        ({"kpi": np.ones((4, 2))}, r"kpi has shape .* = \(n_geos, n_times\)"),
        ({"geos": ("north", "north")}, r"geos repeats \['north'\]"),
        ({"channels": ()}, "at least one geo and one channel"),
        (
            {"dates": np.array(["2024-01-01", "2024-01-08", "2024-01-22", "2024-01-29"])},
            r"2024-01-08 is followed by 2024-01-22, 14 days later",
        ),
        (
            {"dates": np.array(["2024-01-08", "2024-01-01", "2024-01-15", "2024-01-22"])},
            r"strictly increasing",
        ),
        ({"dates": np.array(["x", "y", "z", "w"])}, "cannot be read as dates"),
        ({"kpi_type": "profit"}, "kpi_type 'profit'"),
        ({"kpi_type": "revenue"}, "revenue_per_kpi is given but kpi_type is 'revenue'"),
        ({"population": np.array([1000.0, 0.0])}, r"population is not positive at geo 'south'"),
    ],
)
def test_marketing_data_rejects(changes: dict[str, Any], message: str) -> None:
    with pytest.raises((DataValidationError, ConfigError), match=message):
        small_panel(**changes)


def test_messages_name_geo_week_and_channel() -> None:
    spend = np.ones((2, 4, 3))
    spend[1, 2, 1] = -5.0
    with pytest.raises(
        DataValidationError,
        match=r"spend is negative at geo 'south' week 2024-01-15 channel 'search'",
    ):
        small_panel(spend=spend)
    kpi = np.ones((2, 4))
    kpi[0, 3] = np.nan
    with pytest.raises(
        DataValidationError, match=r"KPI 'orders' is missing at geo 'north' week 2024-01-22"
    ):
        small_panel(kpi=kpi)
    controls = np.zeros((2, 4, 1))
    controls[0, 1, 0] = np.inf
    with pytest.raises(DataValidationError, match=r"controls .* week 2024-01-08 control 'price'"):
        small_panel(controls=controls)


def test_data_hash_is_deterministic_and_sensitive() -> None:
    panel = small_panel()
    assert panel.data_hash() == small_panel().data_hash()
    spend = panel.spend.copy()
    spend[0, 0, 0] += 1e-9
    assert small_panel(spend=spend).data_hash() != panel.data_hash()
    assert small_panel(kpi_name="sales").data_hash() != panel.data_hash()
    assert small_panel(impressions=None).data_hash() != panel.data_hash()


def test_to_frame_is_long_and_complete() -> None:
    panel = small_panel()
    frame = panel.to_frame()
    assert list(frame.columns) == ["date", "geo", "kind", "name", "value"]
    g, t, c = 2, 4, 3
    expected_rows = g * t * (1 + c + c + 1 + 1 + 1)
    assert len(frame) == expected_rows
    spend = frame[frame["kind"] == "spend"].pivot_table(
        index=["geo", "date"], columns="name", values="value"
    )
    back = spend.loc[:, list(panel.channels)].to_numpy().reshape(g, t, c)
    np.testing.assert_array_equal(back, panel.spend)
    kpi = frame[frame["kind"] == "kpi"]
    assert set(kpi["name"]) == {"orders"}
    np.testing.assert_array_equal(kpi["value"].to_numpy().reshape(g, t), panel.kpi)


def test_slice_times_by_position_and_date() -> None:
    panel = small_panel()
    by_position = panel.slice_times(1, -1)
    assert list(by_position.dates.astype(str)) == ["2024-01-08", "2024-01-15"]
    np.testing.assert_array_equal(by_position.spend, panel.spend[:, 1:3])
    assert by_position.revenue_per_kpi is not None
    assert panel.revenue_per_kpi is not None
    np.testing.assert_array_equal(by_position.revenue_per_kpi, panel.revenue_per_kpi[:, 1:3])
    by_date = panel.slice_times("2024-01-08", dt.date(2024, 1, 22))
    assert by_date.data_hash() == by_position.data_hash()
    assert panel.slice_times(start=np.datetime64("2024-01-15")).n_times == 2
    with pytest.raises(ConfigError, match="selects no weeks"):
        panel.slice_times("2025-01-01")
    with pytest.raises(ConfigError, match="neither a position nor a date"):
        panel.slice_times("soon")


# -- wide files ------------------------------------------------------------------------------
WIDE_SPEC = {
    "geo": "geo",
    "kpi": "revenue",
    "media": ["tv", "search"],
    "impressions": ["tv_imp", "search_imp"],
    "controls": ["price"],
    "population": "population",
}


def wide_spec(**changes: Any) -> Spec:
    data = {**WIDE_SPEC, **changes}
    return parse_spec({"data": {k: v for k, v in data.items() if v is not None}})


def wide_frame(
    n_times: int = 6, geos: tuple[str, ...] = ("south", "north"), step: int = 7
) -> pd.DataFrame:
    rng = np.random.default_rng(SEED)
    dates = pd.date_range("2024-01-01", periods=n_times, freq=f"{step}D")
    rows = []
    for i, geo in enumerate(geos):
        for day in dates:
            rows.append(
                {
                    "date": day.strftime("%Y-%m-%d"),
                    "geo": geo,
                    "revenue": round(float(rng.uniform(100, 200)), 3),
                    "tv": round(float(rng.uniform(0, 50)), 3),
                    "search": round(float(rng.uniform(0, 50)), 3),
                    "tv_imp": float(rng.integers(0, 10_000)),
                    "search_imp": float(rng.integers(0, 10_000)),
                    "price": round(float(rng.normal(10, 1)), 4),
                    "population": 1000.0 * (i + 1),
                }
            )
    return pd.DataFrame(rows)


def write_csv(tmp_path: Path, frame: pd.DataFrame, name: str = "wide.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def expected_cube(frame: pd.DataFrame, columns: list[str], time: str = "date") -> np.ndarray:
    ordered = frame.sort_values(["geo", time])
    n_geos = ordered["geo"].nunique()
    return ordered[columns].to_numpy(dtype=float).reshape(n_geos, -1, len(columns))


def test_weekly_csv_gives_the_file_values(tmp_path: Path) -> None:
    frame = wide_frame()
    panel = load_panel_csv(write_csv(tmp_path, frame), wide_spec())
    assert panel.geos == ("north", "south")
    assert panel.channels == ("tv", "search")
    assert panel.control_names == ("price",)
    assert list(panel.dates.astype(str)) == sorted(frame["date"].unique())
    np.testing.assert_array_equal(panel.spend, expected_cube(frame, ["tv", "search"]))
    assert panel.impressions is not None
    np.testing.assert_array_equal(panel.impressions, expected_cube(frame, ["tv_imp", "search_imp"]))
    np.testing.assert_array_equal(panel.kpi, expected_cube(frame, ["revenue"])[..., 0])
    np.testing.assert_array_equal(panel.controls, expected_cube(frame, ["price"]))
    assert panel.population is not None
    np.testing.assert_array_equal(panel.population, [2000.0, 1000.0])
    assert panel.kpi_name == "revenue"
    assert panel.revenue_per_kpi is None


def test_parquet_gives_the_same_panel(tmp_path: Path) -> None:
    frame = wide_frame()
    from_csv = load_panel_csv(write_csv(tmp_path, frame), wide_spec())
    parquet = tmp_path / "wide.parquet"
    frame.to_parquet(parquet, index=False)
    assert load_panel_csv(parquet, wide_spec()).data_hash() == from_csv.data_hash()


def test_national_csv_without_geo_and_constant_revenue_per_kpi(tmp_path: Path) -> None:
    frame = wide_frame(geos=("all",)).drop(columns=["geo", "population"])
    spec = wide_spec(geo=None, population=None, kpi_type="conversions", revenue_per_kpi=2.5)
    panel = load_panel(spec, data=write_csv(tmp_path, frame))
    assert panel.geos == (NATIONAL,)
    assert panel.is_national
    np.testing.assert_array_equal(panel.kpi[0], frame["revenue"].to_numpy())
    assert panel.revenue_per_kpi is not None
    np.testing.assert_array_equal(panel.revenue_per_kpi, np.full((1, 6), 2.5))


def naive_weekly(frame: pd.DataFrame, weekday: int) -> pd.DataFrame:
    """A week-by-week roll-up with pandas, keeping weeks with all 7 days (the oracle)."""
    days = pd.to_datetime(frame["date"])
    week = days - pd.to_timedelta((days.dt.day_of_week - weekday) % 7, unit="D")
    frame = frame.assign(week=week, weighted=frame["revenue"] * frame["aov"])
    grouped = frame.groupby(["geo", "week"])
    out = grouped[["revenue", "tv", "search", "tv_imp", "search_imp", "weighted"]].sum()
    out["price"] = grouped["price"].mean()
    out["n"] = grouped.size()
    out["aov"] = out["weighted"] / out["revenue"]
    return out[out["n"] == 7].reset_index()


def test_daily_csv_rolls_up_to_weeks_starting_wednesday(tmp_path: Path) -> None:
    frame = wide_frame(n_times=38, step=1)  # 2024-01-01 is a Monday; 38 days end on a Wednesday
    rng = np.random.default_rng(SEED + 1)
    frame["aov"] = rng.uniform(20, 30, len(frame)).round(4)
    spec = wide_spec(kpi_type="conversions", revenue_per_kpi="aov")
    panel = load_panel_csv(write_csv(tmp_path, frame), spec, week_start="wednesday")
    oracle = naive_weekly(frame, weekday=2)
    weeks = sorted(oracle["week"].unique())
    assert list(panel.dates) == [np.datetime64(w.date(), "D") for w in weeks]
    assert all(pd.Timestamp(d).day_of_week == 2 for d in panel.dates)
    assert panel.n_times == 5  # 01-03 .. 01-31, partial weeks at both ends dropped
    np.testing.assert_allclose(
        panel.spend, expected_cube(oracle, ["tv", "search"], "week"), rtol=FLOAT64
    )
    assert panel.impressions is not None
    np.testing.assert_array_equal(
        panel.impressions, expected_cube(oracle, ["tv_imp", "search_imp"], "week")
    )
    np.testing.assert_allclose(
        panel.kpi, expected_cube(oracle, ["revenue"], "week")[..., 0], rtol=FLOAT64
    )
    np.testing.assert_allclose(
        panel.controls, expected_cube(oracle, ["price"], "week"), rtol=FLOAT64
    )
    assert panel.revenue_per_kpi is not None
    np.testing.assert_allclose(
        panel.revenue_per_kpi, expected_cube(oracle, ["aov"], "week")[..., 0], rtol=FLOAT64
    )


def test_daily_csv_default_week_starts_monday(tmp_path: Path) -> None:
    frame = wide_frame(n_times=21, step=1)
    panel = load_panel_csv(write_csv(tmp_path, frame), wide_spec())
    assert list(panel.dates.astype(str)) == ["2024-01-01", "2024-01-08", "2024-01-15"]


def expect_error(tmp_path: Path, frame: pd.DataFrame, *patterns: str, **spec: Any) -> str:
    path = write_csv(tmp_path, frame)
    with pytest.raises(DataValidationError) as info:
        load_panel_csv(path, wide_spec(**spec))
    message = str(info.value)
    assert str(path) in message
    for pattern in patterns:
        assert pattern in message, message
    return message


def test_missing_columns_are_listed_with_the_present_ones(tmp_path: Path) -> None:
    frame = wide_frame().drop(columns=["search", "price"]).rename(columns={"tv": "TV"})
    expect_error(
        tmp_path,
        frame,
        "missing column(s) ['tv', 'search', 'price']",
        "'geo', 'revenue', 'TV'",
        "'tv' (the file has 'TV')",
    )


def test_text_in_a_number_column_names_row_column_and_value(tmp_path: Path) -> None:
    frame = wide_frame().astype({"tv": object})
    frame.loc[3, "tv"] = "12,5x"
    expect_error(tmp_path, frame, "column 'tv'", "row 4: '12,5x'", "not numbers")


def test_unparseable_date_names_the_row(tmp_path: Path) -> None:
    frame = wide_frame()
    frame.loc[2, "date"] = "someday"
    expect_error(tmp_path, frame, "column 'date'", "row 3: 'someday'")


def test_empty_value_names_the_row(tmp_path: Path) -> None:
    frame = wide_frame()
    frame.loc[5, "revenue"] = np.nan
    expect_error(tmp_path, frame, "column 'revenue'", "empty or not finite", "row 6")


def test_duplicate_date_geo_rows(tmp_path: Path) -> None:
    frame = wide_frame()
    frame = pd.concat([frame, frame.iloc[[1]]], ignore_index=True)
    expect_error(
        tmp_path, frame, "2 rows repeat a (date, geo) pair", "row 2 (2024-01-08, south)", "row 13"
    )


def test_duplicate_dates_without_geo_suggest_the_geo_column(tmp_path: Path) -> None:
    frame = wide_frame().drop(columns=["population"])
    expect_error(
        tmp_path, frame, "repeat a (date, geo) pair", "data.geo", geo=None, population=None
    )


def test_gap_in_weekly_dates_names_the_missing_week(tmp_path: Path) -> None:
    frame = wide_frame()
    frame = frame[frame["date"] != "2024-01-22"]
    expect_error(tmp_path, frame, "1 missing week(s) (2024-01-22)")


def test_gap_in_daily_dates_names_the_missing_days(tmp_path: Path) -> None:
    frame = wide_frame(n_times=21, step=1)
    frame = frame[~frame["date"].isin(["2024-01-05", "2024-01-06"])]
    expect_error(tmp_path, frame, "2 missing day(s) (2024-01-05, 2024-01-06)")


def test_irregular_dates(tmp_path: Path) -> None:
    frame = wide_frame(n_times=4, step=30)
    expect_error(tmp_path, frame, "neither daily nor weekly", "2024-01-01 → 2024-01-31")


def test_daily_data_shorter_than_a_week(tmp_path: Path) -> None:
    frame = wide_frame(n_times=6, step=1)
    expect_error(tmp_path, frame, "no full week starting on a monday")


def test_negative_spend_names_row_column_and_value(tmp_path: Path) -> None:
    frame = wide_frame()
    frame.loc[7, "search"] = -3.5
    expect_error(tmp_path, frame, "column 'search'", "negative values", "row 8: -3.5")


def test_population_must_be_positive(tmp_path: Path) -> None:
    frame = wide_frame()
    frame.loc[0, "population"] = 0.0
    expect_error(tmp_path, frame, "column 'population'", "population is not positive", "row 1")


def test_geos_with_different_dates(tmp_path: Path) -> None:
    frame = wide_frame()
    frame = frame.drop(
        index=frame.index[(frame["geo"] == "north") & (frame["date"] == "2024-01-15")]
    )
    expect_error(tmp_path, frame, "geo 'north' lacks 1 date(s)", "2024-01-15")


def test_file_problems_raise_input_file_error(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        load_panel_csv(tmp_path / "absent.csv", wide_spec())
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(InputFileError, match="is empty"):
        load_panel_csv(empty, wide_spec())


def test_load_panel_needs_exactly_one_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exactly one source"):
        load_panel(wide_spec())
    with Workspace(tmp_path / "ws.duckdb") as ws, pytest.raises(ConfigError, match="exactly one"):
        load_panel(wide_spec(), data=tmp_path / "x.csv", workspace=ws)
    with pytest.raises(ConfigError, match="week_start 'someday'"):
        load_panel_csv(tmp_path / "x.csv", wide_spec(), week_start="someday")


# -- workspaces ------------------------------------------------------------------------------
WEEKS = [dt.date(2024, 1, 1) + dt.timedelta(weeks=i) for i in range(4)]
GEOS = ("north", "south")
POPULATION = {"north": 1000.0, "south": 3000.0}


def insert_spend(ws: Workspace, rows: list[tuple[Any, ...]]) -> None:
    """Rows of (date, geo, channel, spend, impressions)."""
    ws.con.executemany(
        "INSERT INTO spend VALUES (?, ?, ?, '', 'USD', ?, ?, ?, NULL, 'test', 1)",
        [(d, g, c, s, s, i) for d, g, c, s, i in rows],
    )


def insert_long(ws: Workspace, table: str, rows: list[tuple[Any, ...]]) -> None:
    """Rows of (date, geo, kpi or name, value) into outcomes or controls."""
    ws.con.executemany(f"INSERT INTO {table} VALUES (?, ?, ?, ?, 1)", rows)


def workspace_values() -> dict[str, dict[tuple[str, dt.date, str], float]]:
    """Integer-valued data (sums are exact in any order); one search week is missing."""
    rng = np.random.default_rng(SEED)
    values: dict[str, dict[tuple[str, dt.date, str], float]] = {
        "spend": {},
        "impressions": {},
        "outcomes": {},
        "controls": {},
    }
    for geo in GEOS:
        for week in WEEKS:
            for channel in ("tv", "search", "radio"):
                if (geo, week, channel) == ("north", WEEKS[2], "search"):
                    continue
                values["spend"][geo, week, channel] = float(rng.integers(0, 500))
                values["impressions"][geo, week, channel] = float(rng.integers(0, 10_000))
            values["outcomes"][geo, week, "revenue"] = float(rng.integers(1000, 2000))
            values["outcomes"][geo, week, "signups"] = float(rng.integers(10, 20))
            values["controls"][geo, week, "price"] = float(rng.integers(5, 15))
            values["controls"][geo, week, "aov"] = float(rng.integers(20, 40))
            values["controls"][geo, week, "population"] = POPULATION[geo]
    return values


@pytest.fixture
def workspace(tmp_path: Path) -> Iterator[tuple[Workspace, dict[str, Any]]]:
    values = workspace_values()
    with Workspace(tmp_path / "ws.duckdb") as ws:
        insert_spend(
            ws,
            [
                (w, g, c, s, values["impressions"][g, w, c])
                for (g, w, c), s in values["spend"].items()
            ],
        )
        insert_long(ws, "outcomes", [(w, g, k, v) for (g, w, k), v in values["outcomes"].items()])
        insert_long(ws, "controls", [(w, g, k, v) for (g, w, k), v in values["controls"].items()])
        yield ws, values


def ws_spec(**changes: Any) -> Spec:
    data = {
        "geo": "geo",
        "kpi": "revenue",
        "media": ["tv", "search"],
        "controls": ["price"],
        "population": "population",
        **changes,
    }
    return parse_spec({"data": {k: v for k, v in data.items() if v is not None}})


def cube(values: dict[tuple[str, dt.date, str], float], names: list[str]) -> np.ndarray:
    return np.array([[[values.get((g, w, n), 0.0) for n in names] for w in WEEKS] for g in GEOS])


def test_workspace_panel_matches_inserted_rows(workspace: tuple[Workspace, dict[str, Any]]) -> None:
    ws, values = workspace
    panel = load_panel_workspace(ws, ws_spec(impressions=["tv_imp", "search_imp"]))
    assert panel.geos == GEOS
    assert list(panel.dates.astype(str)) == [w.isoformat() for w in WEEKS]
    assert panel.channels == ("tv", "search")
    np.testing.assert_array_equal(panel.spend, cube(values["spend"], ["tv", "search"]))
    assert panel.spend[0, 2, 1] == 0.0  # no search row for north in week 3 → zero spend
    assert panel.impressions is not None
    np.testing.assert_array_equal(panel.impressions, cube(values["impressions"], ["tv", "search"]))
    np.testing.assert_array_equal(panel.kpi, cube(values["outcomes"], ["revenue"])[..., 0])
    np.testing.assert_array_equal(panel.controls, cube(values["controls"], ["price"]))
    assert panel.population is not None
    np.testing.assert_array_equal(panel.population, [1000.0, 3000.0])
    assert panel.revenue_per_kpi is None


def test_workspace_conversions_with_revenue_per_kpi(
    workspace: tuple[Workspace, dict[str, Any]],
) -> None:
    ws, values = workspace
    panel = load_panel(
        ws_spec(kpi="signups", kpi_type="conversions", revenue_per_kpi="aov"), workspace=ws
    )
    assert panel.kpi_type == "conversions"
    np.testing.assert_array_equal(panel.kpi, cube(values["outcomes"], ["signups"])[..., 0])
    assert panel.revenue_per_kpi is not None
    np.testing.assert_array_equal(panel.revenue_per_kpi, cube(values["controls"], ["aov"])[..., 0])


def test_workspace_national_aggregation(workspace: tuple[Workspace, dict[str, Any]]) -> None:
    ws, values = workspace
    geo_panel = load_panel_workspace(
        ws, ws_spec(kpi="signups", kpi_type="conversions", revenue_per_kpi="aov")
    )
    panel = load_panel_workspace(
        ws, ws_spec(geo=None, kpi="signups", kpi_type="conversions", revenue_per_kpi="aov")
    )
    assert panel.geos == (NATIONAL,)
    np.testing.assert_array_equal(panel.kpi[0], geo_panel.kpi.sum(axis=0))
    np.testing.assert_array_equal(
        panel.spend[0], cube(values["spend"], ["tv", "search"]).sum(axis=0)
    )
    weights = np.array([1000.0, 3000.0])
    weighted = (geo_panel.controls * weights[:, None, None]).sum(axis=0) / weights.sum()
    np.testing.assert_allclose(panel.controls[0], weighted, rtol=FLOAT64)
    assert panel.population is not None
    np.testing.assert_array_equal(panel.population, [4000.0])
    assert geo_panel.revenue_per_kpi is not None
    assert panel.revenue_per_kpi is not None
    revenue = (geo_panel.kpi * geo_panel.revenue_per_kpi).sum(axis=0)
    np.testing.assert_allclose(
        panel.revenue_per_kpi[0], revenue / geo_panel.kpi.sum(axis=0), rtol=FLOAT64
    )


def test_workspace_national_plain_mean_without_population(
    workspace: tuple[Workspace, dict[str, Any]],
) -> None:
    ws, values = workspace
    panel = load_panel_workspace(ws, ws_spec(geo=None, population=None))
    expected = cube(values["controls"], ["price"]).mean(axis=0)
    np.testing.assert_allclose(panel.controls[0], expected, rtol=FLOAT64)
    assert panel.population is None


def test_national_only_control_applies_to_every_geo(
    workspace: tuple[Workspace, dict[str, Any]],
) -> None:
    ws, _ = workspace
    insert_long(
        ws, "controls", [(w, NATIONAL, "holiday", float(i % 2)) for i, w in enumerate(WEEKS)]
    )
    panel = load_panel_workspace(ws, ws_spec(controls=["price", "holiday"]))
    np.testing.assert_array_equal(panel.controls[:, :, 1], [[0, 1, 0, 1], [0, 1, 0, 1]])


def test_channel_names_match_after_harmonisation(
    workspace: tuple[Workspace, dict[str, Any]],
) -> None:
    ws, values = workspace
    panel = load_panel_workspace(ws, ws_spec(media=["TV", "Search"]))
    assert panel.channels == ("TV", "Search")
    np.testing.assert_array_equal(panel.spend, cube(values["spend"], ["tv", "search"]))


def test_daily_workspace_data_keeps_full_weeks(tmp_path: Path) -> None:
    days = [dt.date(2024, 1, 3) + dt.timedelta(days=i) for i in range(28)]  # Wed 01-03 .. Tue 01-30
    with Workspace(tmp_path / "daily.duckdb") as ws:
        insert_spend(ws, [(d, NATIONAL, "tv", float(i), 1.0) for i, d in enumerate(days)])
        insert_long(
            ws, "outcomes", [(d, NATIONAL, "revenue", float(10 * i)) for i, d in enumerate(days)]
        )
        spec = ws_spec(geo=None, media=["tv"], controls=[], population=None)
        panel = load_panel_workspace(ws, spec)
    assert list(panel.dates.astype(str)) == ["2024-01-08", "2024-01-15", "2024-01-22"]
    first = days.index(dt.date(2024, 1, 8))
    expected = [sum(range(first + 7 * k, first + 7 * k + 7)) for k in range(3)]
    np.testing.assert_array_equal(panel.spend[0, :, 0], expected)
    np.testing.assert_array_equal(panel.kpi[0], np.array(expected) * 10.0)


def ws_error(ws: Workspace, spec: Spec, *patterns: str) -> None:
    with pytest.raises(DataValidationError) as info:
        load_panel_workspace(ws, spec)
    for pattern in patterns:
        assert pattern in str(info.value), str(info.value)


def test_workspace_unknown_names_list_what_is_there(
    workspace: tuple[Workspace, dict[str, Any]],
) -> None:
    ws, _ = workspace
    ws_error(ws, ws_spec(kpi="sales"), "KPI 'sales'", "['revenue', 'signups']")
    ws_error(
        ws, ws_spec(media=["tv", "tiktok"]), "channel(s) ['tiktok']", "['radio', 'search', 'tv']"
    )
    ws_error(
        ws,
        ws_spec(controls=["weather"]),
        "control(s) ['weather']",
        "['aov', 'population', 'price']",
    )
    ws_error(ws, ws_spec(population="people"), "control(s) ['people']", "data.population")


def test_workspace_missing_control_week(workspace: tuple[Workspace, dict[str, Any]]) -> None:
    ws, _ = workspace
    ws.con.execute(
        "DELETE FROM controls WHERE name = 'price' AND geo = 'south' AND date = ?", [WEEKS[1]]
    )
    ws_error(ws, ws_spec(), "'price' geo 'south' week 2024-01-08")


def test_workspace_kpi_missing_for_one_geo(workspace: tuple[Workspace, dict[str, Any]]) -> None:
    ws, _ = workspace
    ws.con.execute("DELETE FROM outcomes WHERE geo = 'north' AND date = ?", [WEEKS[2]])
    ws_error(ws, ws_spec(), "KPI 'revenue' is missing for geo 'north'", "2024-01-15")


def test_workspace_kpi_gap_week(workspace: tuple[Workspace, dict[str, Any]]) -> None:
    ws, _ = workspace
    ws.con.execute("DELETE FROM outcomes WHERE date = ?", [WEEKS[1]])
    ws_error(ws, ws_spec(), "no rows in 1 week(s)", "2024-01-08")


def test_workspace_spend_must_cover_the_kpi_weeks(
    workspace: tuple[Workspace, dict[str, Any]],
) -> None:
    ws, _ = workspace
    ws.con.execute("DELETE FROM spend WHERE date = ?", [WEEKS[3]])
    ws_error(ws, ws_spec(), "covers 2024-01-01 to 2024-01-15", "runs from 2024-01-01 to 2024-01-22")


def test_workspace_spend_in_a_geo_without_kpi(workspace: tuple[Workspace, dict[str, Any]]) -> None:
    ws, _ = workspace
    insert_spend(ws, [(WEEKS[0], "west", "tv", 5.0, 1.0)])
    ws_error(ws, ws_spec(), "geo(s) ['west'] without KPI rows")
    panel = load_panel_workspace(ws, ws_spec(geo=None))  # the national total includes it
    assert (
        panel.spend[0, 0, 0]
        == sum(
            v for (g, w, c), v in workspace_values()["spend"].items() if w == WEEKS[0] and c == "tv"
        )
        + 5.0
    )


def test_workspace_national_rows_beside_geo_rows(
    workspace: tuple[Workspace, dict[str, Any]],
) -> None:
    ws, _ = workspace
    insert_long(ws, "outcomes", [(WEEKS[0], NATIONAL, "revenue", 1.0)])
    ws_error(ws, ws_spec(), "would count twice")


def test_workspace_missing_impressions(workspace: tuple[Workspace, dict[str, Any]]) -> None:
    ws, _ = workspace
    ws.con.execute("UPDATE spend SET impressions = NULL WHERE channel = 'search' AND geo = 'south'")
    ws_error(ws, ws_spec(impressions=["a", "b"]), "impressions are missing", "'search' geo 'south'")


def test_workspace_daily_kpi_with_a_short_inner_week(tmp_path: Path) -> None:
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(21) if i != 9]
    with Workspace(tmp_path / "gappy.duckdb") as ws:
        insert_spend(ws, [(d, NATIONAL, "tv", 1.0, 1.0) for d in days])
        insert_long(ws, "outcomes", [(d, NATIONAL, "revenue", 1.0) for d in days])
        spec = ws_spec(geo=None, media=["tv"], controls=[], population=None)
        ws_error(ws, spec, "week 2024-01-08 (6 days)")


def test_empty_workspace_says_to_ingest(tmp_path: Path) -> None:
    with Workspace(tmp_path / "empty.duckdb") as ws:
        ws_error(ws, ws_spec(), "no outcomes at all (ingest them first)")
