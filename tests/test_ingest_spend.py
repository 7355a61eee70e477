"""Spend ingestion: every layout, taxonomy, currency conversion, idempotence, transactions."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from margin.data.ingest.pipeline import ingest_file
from margin.data.ingest.readers import ReadOptions
from margin.data.ingest.sniff import excerpt
from margin.data.ingest.taxonomy import load_taxonomy
from margin.data.workspace.store import Workspace, WorkspaceSettings
from margin.errors import ConfigError, DataValidationError, LoadRejectedError, WorkspaceError

EXACT = 1e-9

WriteFile = Callable[[str, str | bytes], Path]

GOOGLE_API = """segments.date,campaign.name,customer.currency_code,metrics.cost_micros,metrics.impressions,metrics.clicks
2024-01-01,Brand Search UK,USD,12500000,1000,50
2024-01-02,Brand Search UK,USD,7500000,800,40
2024-01-02,Generic Shoes,USD,1000000,100,5
"""

GOOGLE_UI = """Day,Campaign,Currency code,Cost,Impr.,Clicks
2024-01-01,Brand Search UK,USD,"1,250.50",1000,50
2024-01-02,YouTube Awareness,USD,--,0,0
"""

META = """Day,Campaign name,Amount spent (USD),Impressions,Link clicks
2024-01-01,Prospecting FB,100.5,20000,300
2024-01-02,Prospecting FB,99.5,19000,
"""

TIKTOK = """stat_time_day,campaign_name,spend,impressions,clicks,currency
2024-01-01 00:00:00,Spark Ads Q1,50,9000,90,USD
2024-01-08 00:00:00,Spark Ads Q1,70,9500,95,USD
"""

GENERIC = """date,geo,channel,campaign,spend,impressions,clicks,currency
2024-01-01,north,TV,,1000,,,USD
2024-01-01,south,Paid Social,prospecting,250,5000,40,USD
2024-01-08,north,TV,,1200,,,USD
"""


def _spend(ws: Workspace) -> list[tuple[object, ...]]:
    return ws.fetch(
        "SELECT date::VARCHAR, geo, channel, campaign, spend, impressions, clicks, source FROM spend ORDER BY ALL"
    )


def test_google_ads_api_export_converts_micros(ws: Workspace, write_file: WriteFile) -> None:
    result = ingest_file(ws, "spend", write_file("g.csv", GOOGLE_API))
    assert result.layout == "google_ads"
    rows = _spend(ws)
    assert [r[4] for r in rows] == pytest.approx([12.5, 7.5, 1.0], abs=EXACT)
    assert {r[2] for r in rows} == {"google_ads"}  # no taxonomy: the platform's channel
    assert result.unmapped_campaigns == ("Brand Search UK", "Generic Shoes")
    assert result.grain == "daily"


def test_google_ads_ui_export_thousands_separator_and_dashes(
    ws: Workspace, write_file: WriteFile
) -> None:
    ingest_file(ws, "spend", write_file("g.csv", GOOGLE_UI))
    spends = [r[0] for r in ws.fetch("SELECT spend FROM spend ORDER BY date")]
    assert spends[0] == pytest.approx(1250.5, abs=EXACT)
    # "--" is a missing value: a missing spend is a load error, not a zero.
    assert len(spends) == 2


def test_meta_export_currency_from_header(tmp_path: Path, write_file: WriteFile) -> None:
    with Workspace(tmp_path / "eur.duckdb", settings=WorkspaceSettings(currency="USD")) as ws:
        ingest_file(ws, "spend", write_file("m.csv", META))
        rows = ws.fetch("SELECT channel, currency, spend, clicks FROM spend ORDER BY date")
    assert rows[0][:3] == ("meta", "USD", pytest.approx(100.5))
    assert rows[1][3] is None


def test_tiktok_export(ws: Workspace, write_file: WriteFile) -> None:
    result = ingest_file(ws, "spend", write_file("t.csv", TIKTOK))
    assert result.layout == "tiktok_ads"
    assert result.grain == "weekly"
    assert ws.fetch("SELECT sum(spend), min(channel) FROM spend")[0] == (
        pytest.approx(120.0),
        "tiktok",
    )


def test_generic_layout_harmonises_channel_names(ws: Workspace, write_file: WriteFile) -> None:
    ingest_file(ws, "spend", write_file("s.csv", GENERIC))
    assert {r[0] for r in ws.fetch("SELECT channel FROM spend")} == {"tv", "paid_social"}
    assert ws.fetch("SELECT count(*) FROM spend WHERE geo = 'north'")[0][0] == 2


def test_generic_layout_with_column_mapping(ws: Workspace, write_file: WriteFile) -> None:
    text = "day,medium,cost\n2024-01-01,tv,10\n"
    ingest_file(
        ws,
        "spend",
        write_file("s.csv", text),
        mapping={"date": "day", "channel": "medium", "spend": "cost"},
        layout="generic",
    )
    assert ws.fetch("SELECT channel, spend, geo FROM spend") == [("tv", 10.0, "national")]


def test_taxonomy_maps_campaigns_and_reports_the_rest(ws: Workspace, write_file: WriteFile) -> None:
    tax = write_file(
        "taxonomy.toml",
        '[aliases]\n"Paid Social" = "social"\n\n[[rules]]\nmatch = "(?i)brand"\nchannel = "Search Brand"\n',
    )
    result = ingest_file(ws, "spend", write_file("g.csv", GOOGLE_API), taxonomy=load_taxonomy(tax))
    channels = dict(ws.fetch("SELECT campaign, channel FROM spend GROUP BY ALL"))
    assert channels == {"Brand Search UK": "search_brand", "Generic Shoes": "google_ads"}
    assert result.unmapped_campaigns == ("Generic Shoes",)
    ingest_file(ws, "spend", write_file("s.csv", GENERIC), taxonomy=load_taxonomy(tax))
    assert "social" in {r[0] for r in ws.fetch("SELECT channel FROM spend")}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ('[[rules]]\nmatch = "(unclosed"\nchannel = "x"\n', "not a valid regular expression"),
        ('[[rules]]\nchannel = "x"\n', "'match'"),
        ('[[rules]]\nmatch = "a"\nchannel = "x"\nfield = "geo"\n', "field 'geo'"),
        ("[stuff]\n", "unknown sections"),
        ("rules = [", "not valid TOML"),
    ],
)
def test_bad_taxonomy_files(write_file: WriteFile, body: str, needle: str) -> None:
    with pytest.raises(ConfigError, match="taxonomy") as err:
        load_taxonomy(write_file("t.toml", body))
    assert needle in str(err.value)


def test_currency_conversion_through_fx_rates(tmp_path: Path, write_file: WriteFile) -> None:
    with Workspace(tmp_path / "w.duckdb", settings=WorkspaceSettings(currency="USD")) as ws:
        ingest_file(
            ws,
            "fx_rates",
            write_file("fx.csv", "date,currency,rate\n2024-01-01,EUR,1.1\n2024-01-08,EUR,1.2\n"),
        )
        text = "date,channel,spend,currency\n2024-01-03,tv,100,EUR\n2024-01-09,tv,100,eur\n2024-01-09,search,50,USD\n"
        ingest_file(ws, "spend", write_file("s.csv", text))
        rows = ws.fetch(
            "SELECT date::VARCHAR, currency, spend, spend_original FROM spend ORDER BY date, channel"
        )
    assert rows == [
        ("2024-01-03", "EUR", pytest.approx(110.0), 100.0),
        ("2024-01-09", "USD", pytest.approx(50.0), 50.0),
        ("2024-01-09", "EUR", pytest.approx(120.0), 100.0),
    ]


def test_missing_fx_rate_names_currency_and_dates(ws: Workspace, write_file: WriteFile) -> None:
    ingest_file(ws, "fx_rates", write_file("fx.csv", "date,currency,rate\n2024-01-01,EUR,1.1\n"))
    text = "date,channel,spend,currency\n2024-01-03,tv,100,EUR\n2024-02-01,tv,100,EUR\n2024-01-03,tv,5,GBP\n"
    with pytest.raises(DataValidationError) as err:
        ingest_file(ws, "spend", write_file("s.csv", text))
    message = str(err.value)
    assert "EUR: 1 date(s) from 2024-02-01 to 2024-02-01" in message
    assert "GBP" in message
    assert ws.counts()["spend"] == 0


def test_reingesting_the_same_file_is_idempotent(ws: Workspace, write_file: WriteFile) -> None:
    path = write_file("s.csv", GENERIC)
    first = ingest_file(ws, "spend", path)
    total = ws.fetch("SELECT sum(spend) FROM spend")[0][0]
    second = ingest_file(ws, "spend", path)
    assert ws.fetch("SELECT sum(spend) FROM spend")[0][0] == pytest.approx(total)
    assert (first.rows_written, second.rows_written, second.rows_replaced) == (3, 3, 3)
    assert ws.fetch("SELECT count(*) FROM loads")[0][0] == 1


def test_overlapping_files_replace_rows_by_key(ws: Workspace, write_file: WriteFile) -> None:
    ingest_file(
        ws, "spend", write_file("a.csv", "date,channel,spend\n2024-01-01,tv,10\n2024-01-08,tv,20\n")
    )
    ingest_file(
        ws, "spend", write_file("b.csv", "date,channel,spend\n2024-01-08,tv,25\n2024-01-15,tv,30\n")
    )
    assert ws.fetch("SELECT date::VARCHAR, spend FROM spend ORDER BY date") == [
        ("2024-01-01", 10.0),
        ("2024-01-08", 25.0),
        ("2024-01-15", 30.0),
    ]


def test_rows_with_the_same_key_in_one_file_are_summed(
    ws: Workspace, write_file: WriteFile
) -> None:
    text = "date,channel,campaign,spend\n2024-01-01,search,a,10\n2024-01-01,search,a,5\n"
    ingest_file(ws, "spend", write_file("s.csv", text))
    assert ws.fetch("SELECT spend FROM spend") == [(15.0,)]


def _snapshot(ws: Workspace) -> list[tuple[object, ...]]:
    return ws.fetch("SELECT * FROM spend ORDER BY ALL") + ws.fetch(
        "SELECT kind, sha256, rows_written FROM loads ORDER BY ALL"
    )


def test_failed_load_leaves_the_workspace_unchanged(ws: Workspace, write_file: WriteFile) -> None:
    ingest_file(ws, "spend", write_file("a.csv", GENERIC))
    before = _snapshot(ws)
    bad = "date,channel,spend\n2024-01-01,tv,10\n2024-01-08,tv,-5\n"
    with pytest.raises(LoadRejectedError) as err:
        ingest_file(ws, "spend", write_file("bad.csv", bad))
    assert any(f.rule == "negative_values" or "negative" in f.rule for f in err.value.findings)
    assert "nothing was written" in str(err.value)
    assert _snapshot(ws) == before


def test_failure_inside_the_write_rolls_back(
    ws: Workspace, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest_file(ws, "spend", write_file("a.csv", GENERIC))
    before = _snapshot(ws)
    import margin.data.ingest.pipeline as ingest_module

    def broken(kind: str, relation: str, load_id: int) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(ingest_module, "_aggregated_insert", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_file(ws, "spend", write_file("b.csv", "date,channel,spend\n2024-01-01,tv,99\n"))
    assert _snapshot(ws) == before


@pytest.mark.parametrize(
    ("name", "content", "error", "needles"),
    [
        ("empty.csv", "", "InputFileError", ["is empty"]),
        ("header.csv", "date,channel,spend\n", "InputFileError", ["no data rows"]),
        ("delim.csv", "date;channel;spend\n2024-01-01;tv;1\n", None, []),
        (
            "dupe.csv",
            "date,channel,spend,spend\n2024-01-01,tv,1,2\n",
            "InputFileError",
            ["repeats column names", "spend"],
        ),
        (
            "missing.csv",
            "date,spend\n2024-01-01,1\n",
            "DataValidationError",
            ["missing required column", "channel"],
        ),
        (
            "text.csv",
            "date,channel,spend\n2024-01-01,tv,1\n2024-01-08,tv,abc\n",
            "DataValidationError",
            ["column 'spend'", "row 2: 'abc'"],
        ),
        (
            "dates.csv",
            "date,channel,spend\n2024-01-01,tv,1\n2024-13-45,tv,2\n",
            "DataValidationError",
            ["column 'date'", "row 2"],
        ),
        ("huge.csv", "date,channel,spend\n2024-01-01,tv,1e300\n", "LoadRejectedError", ["spend"]),
        ("inf.csv", "date,channel,spend\n2024-01-01,tv,1e400\n", "LoadRejectedError", ["spend"]),
        (
            "latin.csv",
            "date,channel,spend\n2024-01-01,t\xe9l\xe9,1\n".encode("latin-1"),
            "InputFileError",
            ["not valid UTF-8", "--encoding"],
        ),
        (
            "ragged.csv",
            "date,channel,spend\n2024-01-01,tv,1,extra,more\n",
            "InputFileError",
            ["row 1 (line 2) has 5 field(s) where the header has 3"],
        ),
        ("spend.xlsx", "x", "InputFileError", ["extension"]),
    ],
)
def test_malformed_spend_files(
    ws: Workspace,
    write_file: WriteFile,
    name: str,
    content: str | bytes,
    error: str | None,
    needles: list[str],
) -> None:
    path = write_file(name, content)
    if error is None:
        ingest_file(ws, "spend", path)  # a ';' file is read: the delimiter is detected
        assert ws.counts()["spend"] == 1
        return
    with pytest.raises(DataValidationError) as err:
        ingest_file(ws, "spend", path)
    assert type(err.value).__name__ == error
    for needle in needles:
        assert needle in str(err.value)
    assert str(path) in str(err.value) or name in str(err.value)
    assert ws.counts()["spend"] == 0


def test_latin1_file_reads_with_encoding_option(ws: Workspace, write_file: WriteFile) -> None:
    path = write_file(
        "latin.csv", "date,channel,spend\n2024-01-01,t\xe9l\xe9,1\n".encode("latin-1")
    )
    ingest_file(ws, "spend", path, options=ReadOptions(encoding="latin-1"))
    assert ws.fetch("SELECT channel FROM spend") == [("télé",)]


def test_explicit_wrong_delimiter_is_explained(ws: Workspace, write_file: WriteFile) -> None:
    path = write_file("s.csv", "date;channel;spend\n2024-01-01;tv;1\n")
    with pytest.raises(DataValidationError, match="delimiter"):
        ingest_file(ws, "spend", path, options=ReadOptions(delimiter=","))


def test_ambiguous_day_month_dates_ask_for_a_format(ws: Workspace, write_file: WriteFile) -> None:
    path = write_file("s.csv", "date,channel,spend\n01/02/2024,tv,1\n03/04/2024,tv,2\n")
    with pytest.raises(DataValidationError, match="--date-format"):
        ingest_file(ws, "spend", path)
    ingest_file(ws, "spend", path, options=ReadOptions(date_format="%d/%m/%Y"))
    assert ws.fetch("SELECT min(date)::VARCHAR FROM spend") == [("2024-02-01",)]


def test_meta_export_without_day_breakdown_is_refused(ws: Workspace, write_file: WriteFile) -> None:
    text = "Reporting starts,Reporting ends,Campaign name,Amount spent (USD)\n2024-01-01,2024-01-31,A,100\n"
    with pytest.raises(DataValidationError, match="31 days"):
        ingest_file(ws, "spend", write_file("m.csv", text))


def test_unknown_layout_is_explained(ws: Workspace, write_file: WriteFile) -> None:
    with pytest.raises(DataValidationError, match="cannot tell which spend layout"):
        ingest_file(ws, "spend", write_file("x.csv", "when,what,how much\n2024-01-01,tv,1\n"))
    with pytest.raises(ConfigError, match="--layout 'bing'"):
        ingest_file(ws, "spend", write_file("y.csv", GENERIC), layout="bing")


def test_runs_cannot_be_ingested(ws: Workspace, write_file: WriteFile) -> None:
    with pytest.raises(ConfigError, match="written by margin itself"):
        ingest_file(ws, "runs", write_file("r.csv", "id\n1\n"))


def test_check_warns_when_two_sources_hold_the_same_spend(
    ws: Workspace, write_file: WriteFile
) -> None:
    from margin.data.rules.validation import check_workspace

    ingest_file(ws, "spend", write_file("g.csv", GOOGLE_API))
    assert not [f for f in check_workspace(ws).findings if f.rule == "spend_from_several_sources"]
    same = "date,channel,campaign,spend\n2024-01-01,google_ads,Brand Search UK,12.5\n"
    ingest_file(ws, "spend", write_file("generic.csv", same))
    found = [f for f in check_workspace(ws).findings if f.rule == "spend_from_several_sources"]
    assert len(found) == 1
    assert found[0].rows == ("2024-01-01/national/google_ads/Brand Search UK",)
    assert found[0].n_rows == 1
    assert "generic + google_ads" in found[0].message


# -- issue 19: errors inside the CLI's transaction, files read as exported -------------------
@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("date,channel,spend\n2024-01-01,t\xe9l\xe9,1\n".encode("latin-1"), "line 2 is not valid"),
        ("date,channel,spend\n2024-01-01,tv,1,2\n", "row 1 (line 2) has 4 field(s)"),
        ("date,channel,spend\n2024-01-01,tv,$5\n2024-01-08,tv,€5\n", "several currencies"),
    ],
)
def test_an_error_inside_a_transaction_is_not_masked_by_the_cleanup(
    ws: Workspace, write_file: WriteFile, content: str | bytes, says: str
) -> None:
    """The CLI loads all files in one transaction; a DuckDB error aborts it, and the cleanup
    of the load's temporary tables used to replace the clear error (TransactionException)."""
    ingest_file(ws, "spend", write_file("a.csv", GENERIC))
    before = _snapshot(ws)
    with pytest.raises(DataValidationError, match=re.escape(says)), ws.transaction():
        ingest_file(ws, "spend", write_file("bad.csv", content))
    assert _snapshot(ws) == before
    ingest_file(ws, "spend", write_file("b.csv", "date,channel,spend\n2024-02-05,tv,1\n"))


def test_an_io_error_while_writing_is_said_and_nothing_is_written(
    ws: Workspace, write_file: WriteFile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk-full write inside the transaction: the I/O error is said, not masked."""
    import margin.data.ingest.pipeline as ingest_module

    ingest_file(ws, "spend", write_file("a.csv", GENERIC))
    before = _snapshot(ws)

    def failing(kind: str, relation: str, load_id: int) -> str:
        return "SELECT * FROM read_csv('/nonexistent/no-space-left.csv')"  # an IOException

    monkeypatch.setattr(ingest_module, "_aggregated_insert", failing)
    with pytest.raises(WorkspaceError, match="nothing was written"), ws.transaction():
        ingest_file(ws, "spend", write_file("b.csv", "date,channel,spend\n2024-01-01,tv,99\n"))
    assert _snapshot(ws) == before


def test_carriage_return_line_endings_are_read(ws: Workspace, write_file: WriteFile) -> None:
    ingest_file(ws, "spend", write_file("mac.csv", GENERIC.replace("\n", "\r")))
    assert [r[4] for r in _spend(ws)] == pytest.approx([1000.0, 250.0, 1200.0], abs=EXACT)


def test_utf16_with_a_byte_order_mark_is_read_and_said(
    ws: Workspace, write_file: WriteFile
) -> None:
    result = ingest_file(ws, "spend", write_file("u.csv", GENERIC.encode("utf-16")))
    assert len(_spend(ws)) == 3
    assert [f.rule for f in result.findings] == ["encoding"]
    no_bom = write_file("v.csv", "date,channel,spend\n2024-02-05,tv,1\n".encode("utf-16-le"))
    ingest_file(ws, "spend", no_bom, options=ReadOptions(encoding="UTF-16"))
    assert len(_spend(ws)) == 4


def test_currency_symbols_are_dropped_and_said(ws: Workspace, write_file: WriteFile) -> None:
    text = 'date,channel,spend\n2024-01-01,tv,"$1,000.00"\n2024-01-08,tv,$ 7.5\n2024-01-15,tv,12\n'
    result = ingest_file(ws, "spend", write_file("d.csv", text))
    assert [r[4] for r in _spend(ws)] == pytest.approx([1000.0, 7.5, 12.0], abs=EXACT)
    (note,) = result.findings
    assert note.rule == "currency_symbols"
    assert note.column == "spend"
    assert "2 value(s) are written with '$' (row 1: '$1,000.00')" in note.message


def test_symbols_before_or_after_signed_amounts(ws: Workspace, write_file: WriteFile) -> None:
    text = "date,sales,costs\n2024-01-01,-$5,12 €\n2024-01-08,$-1.5,€3\n"
    result = ingest_file(ws, "outcomes", write_file("o.csv", text))
    rows = ws.fetch("SELECT kpi, value FROM outcomes ORDER BY date, kpi")
    assert rows == [("costs", 12.0), ("sales", -5.0), ("costs", 3.0), ("sales", -1.5)]
    assert sorted(f.column or "" for f in result.findings) == ["costs", "sales"]


def test_an_unnamed_index_column_is_dropped(ws: Workspace, write_file: WriteFile) -> None:
    text = '"",date,sales\n"1",2024-01-01,5\n"2",2024-01-08,6\n'  # R's write.csv
    ingest_file(ws, "outcomes", write_file("r.csv", text))
    assert ws.fetch("SELECT DISTINCT kpi FROM outcomes") == [("sales",)]


@pytest.mark.parametrize(
    ("given", "read"),
    [("UTF8", "utf-8"), ("latin1", "latin-1"), ("ISO-8859-1", "latin-1"), ("utf_16", "utf-16")],
)
def test_encoding_names_are_normalised(given: str, read: str) -> None:
    assert ReadOptions(encoding=given).encoding == read


def test_a_tab_delimiter_may_be_spelled_out() -> None:
    assert ReadOptions(delimiter="\\t").delimiter == "\t"
    assert ReadOptions(delimiter="tab").delimiter == "\t"


def test_messages_quote_short_escaped_excerpts() -> None:
    assert excerpt("a\x00b") == "'a\\x00b'"
    assert excerpt(b"\x89PNG" * 100, 8) == "b'\\x89PNG\\x89PNG'… (400 bytes in all)"
    assert len(excerpt("x" * 1_000_000)) < 80
