"""Importers for peer tools' layouts, on their published files and on broken copies."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from margin.data.ingest.importers import (
    COLUMNS,
    Imported,
    import_meridian,
    import_pymc,
    import_robyn,
)
from margin.data.panel.from_workspace import load_panel_workspace
from margin.data.panel.marketing_data import MarketingData
from margin.data.panel.spec import parse_spec
from margin.data.workspace.schema import NATIONAL
from margin.data.workspace.store import Workspace
from margin.errors import ConfigError, DataValidationError, InputFileError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_file(relative: str) -> Path:
    path = SHARED / relative
    if not path.is_file():
        pytest.skip(f"peer reference file {path} is absent (see shared/data/README.md)")
    return path


def to_workspace_panel(imported: Imported, path: Path, **spec: object) -> MarketingData:
    """Write the frames with plain INSERTs and load the suggested spec's panel."""
    with Workspace(path) as ws:
        for kind, frame in imported.tables.items():
            ws.con.register("_frame", frame)
            if kind == "spend":
                ws.con.execute(
                    "INSERT INTO spend SELECT date, geo, channel, campaign, currency, spend, spend, "
                    "impressions, clicks, 'test', 1 FROM _frame"
                )
            else:
                ws.con.execute(
                    f"INSERT INTO {kind} SELECT {', '.join(COLUMNS[kind])}, 1 FROM _frame"
                )
            ws.con.unregister("_frame")
        return load_panel_workspace(ws, parse_spec({"data": {**imported.spec, **spec}}))


def check_tables(imported: Imported) -> None:
    assert set(imported.tables) <= set(COLUMNS)
    for kind, frame in imported.tables.items():
        assert list(frame.columns) == list(COLUMNS[kind])
        assert frame["geo"].notna().all()
    spend = imported.tables["spend"]
    assert (spend["campaign"] == "").all()
    assert (spend["currency"] == "USD").all()


# -- Meridian ----------------------------------------------------------------------------------
@pytest.mark.shared_data
def test_meridian_geo_file(tmp_path: Path) -> None:
    path = shared_file("meridian/geo_all_channels.csv")
    source = pd.read_csv(path)
    imported = import_meridian(path)
    check_tables(imported)
    assert imported.source == "meridian"
    spend = imported.tables["spend"]
    channels = [f"Channel{i}" for i in range(5)]
    assert list(spend["channel"].unique()) == channels
    assert len(spend) == 40 * 156 * 5
    assert spend["geo"].nunique() == 40
    assert spend["date"].nunique() == 156
    for channel in channels:
        rows = spend[spend["channel"] == channel]
        np.testing.assert_array_equal(rows["spend"], source[f"{channel}_spend"])
        np.testing.assert_array_equal(rows["impressions"], source[f"{channel}_impression"])
        assert rows["clicks"].isna().all()
    assert math.fsum(spend["spend"]) == math.fsum(
        source[[f"{c}_spend" for c in channels]].to_numpy().ravel()
    )

    outcomes = imported.tables["outcomes"]
    conversions = outcomes[outcomes["kpi"] == "conversions"]["value"].to_numpy()
    revenue = outcomes[outcomes["kpi"] == "revenue"]["value"].to_numpy()
    np.testing.assert_array_equal(conversions, source["conversions"])
    np.testing.assert_array_equal(revenue, source["conversions"] * source["revenue_per_conversion"])

    controls = imported.tables["controls"]
    assert set(controls["name"]) == {
        "competitor_sales_control",
        "sentiment_score_control",
        "Organic_channel0_impression",
        "Promo",
        "population",
        "revenue_per_conversion",
    }
    assert imported.spec == {
        "date": "time",
        "geo": "geo",
        "kpi": "conversions",
        "kpi_type": "conversions",
        "media": channels,
        "impressions": [f"{c}_impression" for c in channels],
        "controls": [
            "competitor_sales_control",
            "sentiment_score_control",
            "Organic_channel0_impression",
            "Promo",
        ],
        "population": "population",
        "revenue_per_kpi": "revenue_per_conversion",
    }

    panel = to_workspace_panel(imported, tmp_path / "meridian.duckdb")
    assert (panel.n_geos, panel.n_times, panel.n_channels) == (40, 156, 5)
    by_geo = source.sort_values(["geo", "time"])
    expected = by_geo[[f"{c}_spend" for c in channels]].to_numpy().reshape(40, 156, 5)
    np.testing.assert_array_equal(panel.spend, expected)
    assert panel.revenue_per_kpi is not None
    assert panel.population is not None
    np.testing.assert_array_equal(panel.population, by_geo.groupby("geo")["population"].first())


@pytest.mark.shared_data
def test_meridian_national_file(tmp_path: Path) -> None:
    path = shared_file("meridian/national_all_channels.csv")
    source = pd.read_csv(path)
    imported = import_meridian(path, currency="EUR")
    assert set(imported.tables["spend"]["geo"]) == {NATIONAL}
    assert (imported.tables["spend"]["currency"] == "EUR").all()
    assert len(imported.tables["spend"]) == 156 * 5
    assert "geo" not in imported.spec
    assert "population" not in imported.spec
    panel = to_workspace_panel(imported, tmp_path / "national.duckdb")
    assert (panel.n_geos, panel.n_times, panel.n_channels) == (1, 156, 5)
    np.testing.assert_array_equal(panel.kpi[0], source["conversions"])
    np.testing.assert_array_equal(panel.impressions[0, :, 2], source["Channel2_impression"])  # type: ignore[index]


# -- Robyn -------------------------------------------------------------------------------------
@pytest.mark.shared_data
def test_robyn_file(tmp_path: Path) -> None:
    path = shared_file("robyn/dt_simulated_weekly.csv")
    source = pd.read_csv(path)
    imported = import_robyn(path)
    check_tables(imported)
    spend = imported.tables["spend"]
    channels = ["tv", "ooh", "print", "search", "facebook"]
    assert list(spend["channel"].unique()) == channels
    assert len(spend) == 208 * 5
    assert set(spend["geo"]) == {NATIONAL}
    assert math.fsum(spend["spend"]) == math.fsum(
        source[[f"{c}_S" for c in channels]].to_numpy().ravel()
    )
    facebook = spend[spend["channel"] == "facebook"]
    np.testing.assert_array_equal(facebook["impressions"], source["facebook_I"])
    search = spend[spend["channel"] == "search"]
    np.testing.assert_array_equal(search["clicks"], source["search_clicks_P"])
    assert spend[spend["channel"] == "tv"]["impressions"].isna().all()

    controls = imported.tables["controls"]
    assert imported.spec["controls"] == [
        "competitor_sales_B",
        "events_event1",
        "events_event2",
        "newsletter",
    ]
    for level in ("event1", "event2"):
        flag = controls[controls["name"] == f"events_{level}"]["value"].to_numpy()
        np.testing.assert_array_equal(flag, (source["events"] == level).astype(float))
    assert imported.spec["kpi"] == "revenue"
    assert imported.spec["kpi_type"] == "revenue"
    assert "impressions" not in imported.spec
    assert any("impressions" in note for note in imported.notes)

    panel = to_workspace_panel(imported, tmp_path / "robyn.duckdb")
    assert (panel.n_geos, panel.n_times, panel.n_channels) == (1, 208, 5)
    np.testing.assert_array_equal(panel.kpi[0], source["revenue"])
    np.testing.assert_array_equal(panel.spend[0], source[[f"{c}_S" for c in channels]])


# -- PyMC-Marketing ----------------------------------------------------------------------------
@pytest.mark.shared_data
def test_pymc_file(tmp_path: Path) -> None:
    path = shared_file("pymc-marketing/mmm_example.csv")
    source = pd.read_csv(path)
    imported = import_pymc(path)
    check_tables(imported)
    assert imported.spec == {
        "date": "date_week",
        "kpi": "y",
        "kpi_type": "revenue",
        "media": ["x1", "x2"],
        "controls": ["event_1", "event_2"],
    }
    assert any("dayofyear" in note and "'t'" in note for note in imported.notes)
    spend = imported.tables["spend"]
    assert len(spend) == 179 * 2
    assert math.fsum(spend["spend"]) == math.fsum(source[["x1", "x2"]].to_numpy().ravel())
    assert set(imported.tables["controls"]["name"]) == {"event_1", "event_2"}

    panel = to_workspace_panel(imported, tmp_path / "pymc.duckdb")
    assert (panel.n_geos, panel.n_times, panel.n_channels) == (1, 179, 2)
    np.testing.assert_array_equal(panel.kpi[0], source["y"])
    np.testing.assert_array_equal(panel.controls[0], source[["event_1", "event_2"]])


@pytest.mark.shared_data
def test_pymc_explicit_columns() -> None:
    path = shared_file("pymc-marketing/mmm_example.csv")
    imported = import_pymc(
        path,
        date_column="date_week",
        channel_columns=["x2"],
        control_columns=["event_1", "t"],
    )
    assert imported.spec["media"] == ["x2"]
    assert imported.spec["controls"] == ["event_1", "t"]
    assert imported.notes == ()


# -- broken files (no shared data needed) ------------------------------------------------------
def write(tmp_path: Path, text: str, name: str = "peer.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


MERIDIAN = """geo,time,Channel0_impression,Channel0_spend,Promo,conversions,revenue_per_conversion,population
GeoA,2024-01-01,100,10.5,0,50,2.0,1000
GeoA,2024-01-08,120,11.5,1,55,2.0,1000
"""
ROBYN = """DATE,revenue,tv_S,facebook_S,facebook_I,events,newsletter
2024-01-01,100,10,5,1000,na,3
2024-01-08,110,12,6,1100,launch,4
"""
PYMC = """date_week,y,x1,x2,event_1,t
2024-01-01,10,0.5,0.1,0,0
2024-01-08,11,0.6,0.2,1,1
"""


def test_meridian_small_file(tmp_path: Path) -> None:
    imported = import_meridian(write(tmp_path, MERIDIAN))
    spend = imported.tables["spend"]
    assert spend["spend"].tolist() == [10.5, 11.5]
    assert [d.isoformat() for d in spend["date"]] == ["2024-01-01", "2024-01-08"]
    revenue = imported.tables["outcomes"].query("kpi == 'revenue'")["value"].tolist()
    assert revenue == [100.0, 110.0]


def test_meridian_missing_columns(tmp_path: Path) -> None:
    path = write(tmp_path, MERIDIAN.replace("time,", "week,"))
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['time'\]") as info:
        import_meridian(path)
    assert str(path) in str(info.value)
    assert "'week'" in str(info.value)
    no_spend = write(tmp_path, MERIDIAN.replace("Channel0_spend", "Channel0_cost"), "b.csv")
    with pytest.raises(DataValidationError, match="no spend columns ending in '_spend'"):
        import_meridian(no_spend)
    no_kpi = write(tmp_path, MERIDIAN.replace("conversions", "sales"), "c.csv")
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['conversions'\]"):
        import_meridian(no_kpi)


def test_text_in_a_numeric_column_names_row_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, MERIDIAN.replace("11.5", "11.5 EUR"))
    with pytest.raises(
        DataValidationError,
        match=r"column 'Channel0_spend': 1 value\(s\) are not numbers \(row 2 \(line 3\): '11.5 EUR'\)",
    ) as info:
        import_meridian(path)
    assert str(path) in str(info.value)


def test_bad_date_names_the_row(tmp_path: Path) -> None:
    path = write(tmp_path, ROBYN.replace("2024-01-08", "08/01/2024"))
    with pytest.raises(DataValidationError, match=r"column 'DATE'.*row 2 \(line 3\): '08/01/2024'"):
        import_robyn(path)


def test_robyn_small_file_and_errors(tmp_path: Path) -> None:
    imported = import_robyn(write(tmp_path, ROBYN))
    assert imported.spec["media"] == ["tv", "facebook"]
    assert imported.spec["controls"] == ["events_launch", "newsletter"]
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['revenue'\]"):
        import_robyn(write(tmp_path, ROBYN.replace("revenue", "sales"), "a.csv"))
    with pytest.raises(DataValidationError, match="no spend columns ending in '_S'"):
        import_robyn(write(tmp_path, ROBYN.replace("_S", "_spend"), "b.csv"))
    orphan = ROBYN.replace("facebook_I", "radio_I")
    with pytest.raises(
        DataValidationError, match=r"column 'radio_I': a media metric with no spend"
    ):
        import_robyn(write(tmp_path, orphan, "c.csv"))
    stray = ROBYN.replace("110,12,6,1100,launch,4", "110,12,6,1100,launch,four")
    with pytest.raises(DataValidationError, match=r"column 'newsletter'.*'four'"):
        import_robyn(write(tmp_path, stray + "2024-01-15,120,13,7,1200,na,5\n", "d.csv"))


def test_pymc_small_file_and_errors(tmp_path: Path) -> None:
    imported = import_pymc(write(tmp_path, PYMC))
    assert imported.spec["controls"] == ["event_1"]
    with pytest.raises(DataValidationError, match="no column holds ISO dates"):
        import_pymc(write(tmp_path, PYMC.replace("2024-01-0", "day "), "a.csv"))
    with pytest.raises(DataValidationError, match="no channel columns named x1"):
        import_pymc(write(tmp_path, PYMC.replace("x1", "tv").replace("x2", "radio"), "b.csv"))
    with pytest.raises(DataValidationError, match=r"missing column\(s\) \['sales'\]"):
        import_pymc(write(tmp_path, PYMC, "c.csv"), y_column="sales")


def test_file_and_option_errors(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="does not exist"):
        import_meridian(tmp_path / "absent.csv")
    with pytest.raises(InputFileError, match="cannot be read as a table"):
        import_robyn(write(tmp_path, "", "empty.csv"))
    with pytest.raises(InputFileError, match="no data rows"):
        import_pymc(write(tmp_path, "date_week,y,x1\n", "header.csv"))
    with pytest.raises(ConfigError, match="currency 'usd'"):
        import_meridian(write(tmp_path, MERIDIAN), currency="usd")
    with pytest.raises(ConfigError, match="lacks columns"):
        Imported({"spend": pd.DataFrame({"date": []})}, {}, "test")
    with pytest.raises(ConfigError, match="is not one of"):
        Imported({"events": pd.DataFrame()}, {}, "test")


def test_each_importer_says_what_units_it_assumed(tmp_path: Path) -> None:
    imported = import_pymc(write(tmp_path, PYMC), currency="EUR")
    assert imported.units.startswith("spend columns (x1, x2) read as EUR per week")
    assert "'y' as revenue in EUR" in imported.units
    assert "[priors.roi]" in imported.units
