"""Exports to the ad platforms: Meta CAPI events with predicted_ltv, Google offline
conversion imports, value rules; normalisation and hashing against known vectors, the
7-day and distinct-values rules, no raw identifier in any written file."""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from margin.data.workspace.hashing import HMAC_SHA256, HashKey, KeyVersion
from margin.errors import ConfigError, DataValidationError, InputFileError
from margin.ltv.exports import (
    GOOGLE_CLICK_COLUMNS,
    GOOGLE_LEAD_COLUMNS,
    attach_identifiers,
    google_email,
    google_phone,
    meta_email,
    meta_phone,
    write_google_conversions,
    write_meta_events,
    write_value_rules,
)

WriteFile = Callable[[str, str | bytes], Path]
KEY = HashKey("test", (KeyVersion(1, HMAC_SHA256, "ef" * 32),), "test")
AS_OF = "2024-03-10T12:00:00+00:00"
RAW_IDS = [f"cust-{i}" for i in range(8)]
EMAILS = [f"  John.Doe{i}@GMail.com " for i in range(8)]
PHONES = [f"+1 (415) 555-01{i:02d}" for i in range(8)]


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def customers(n: int = 8) -> pd.DataFrame:
    """Acquired 1 … n days before AS_OF (the last two more than 7 days before), distinct values."""
    return pd.DataFrame(
        {
            "customer_key": [KEY.hash(c) for c in RAW_IDS[:n]],
            "acquired_at": pd.to_datetime(
                [f"2024-03-{10 - i - 1:02d}T09:30:00" for i in range(n)], utc=True
            ),
            "predicted_value": [10.0 * (i + 1) for i in range(n)],
            "currency": "EUR",
            "campaign": ["brand" if i % 2 else "prospecting" for i in range(n)],
        }
    )


@pytest.fixture
def side_file(write_file: WriteFile) -> Path:
    rows = ["customer_id,email,phone,gclid"]
    for i, (cid, em, ph) in enumerate(zip(RAW_IDS, EMAILS, PHONES, strict=True)):
        rows.append(f'{cid},"{em}","{ph}",{"GCLID-" + str(i) if i < 3 else ""}')
    return write_file("ids.csv", "\n".join(rows) + "\n")


def test_normalisation_follows_each_platform() -> None:
    assert meta_email("  John.Doe@GMail.com ") == "john.doe@gmail.com"
    assert google_email("  John.Doe@GMail.com ") == "johndoe@gmail.com"
    assert google_email("John.Doe@example.com") == "john.doe@example.com"
    assert meta_email("not an email") is None
    assert meta_phone("+1 (415) 555-0100") == "14155550100"
    assert meta_phone("0044 20 7946 0958") == "442079460958"
    assert google_phone("+1 (415) 555-0100") == "+14155550100"
    assert meta_phone("12") is None


def test_meta_events_shape_hashes_and_the_seven_day_rule(side_file: Path, tmp_path: Path) -> None:
    frame = attach_identifiers(customers(), side_file, KEY)
    out = tmp_path / "meta.json"
    result = write_meta_events(frame, out, as_of=AS_OF, event_name="Subscribe")
    assert (result.events, result.skipped_old, result.skipped_future) == (6, 2, 0)
    assert result.paths == (out,)
    body = json.loads(out.read_text())
    assert set(body) == {"data"}
    event = body["data"][0]
    assert set(event) == {
        "event_name",
        "event_time",
        "action_source",
        "event_id",
        "user_data",
        "custom_data",
    }
    assert event["event_name"] == "Subscribe"
    assert event["action_source"] == "website"
    assert event["event_time"] == int(pd.Timestamp("2024-03-09T09:30:00Z").timestamp())
    assert event["user_data"]["external_id"] == [sha(KEY.hash("cust-0"))]
    assert event["user_data"]["em"] == [sha("john.doe0@gmail.com")]
    assert event["user_data"]["ph"] == [sha("14155550100")]
    assert event["custom_data"] == {"currency": "EUR", "value": 10.0, "predicted_ltv": 10.0}
    times = [e["event_time"] for e in body["data"]]
    cutoff = pd.Timestamp(AS_OF).timestamp() - 7 * 86400
    assert min(times) >= cutoff


def test_meta_refuses_too_few_distinct_values(tmp_path: Path) -> None:
    frame = customers()
    frame["predicted_value"] = [10.0, 10.0, 20.0, 20.0, 30.0, 40.0, 40.0, 40.0]
    with pytest.raises(DataValidationError, match="4 distinct value"):
        write_meta_events(frame, tmp_path / "m.json", as_of=AS_OF)
    frame["predicted_value"] = [10.0, 11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0]
    with pytest.raises(DataValidationError, match="3x the lowest"):
        write_meta_events(frame, tmp_path / "m.json", as_of=AS_OF)
    frame["predicted_value"] = [0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0]
    with pytest.raises(DataValidationError, match="are 0"):
        write_meta_events(frame, tmp_path / "m.json", as_of=AS_OF)
    with pytest.raises(DataValidationError, match="within the 7 days"):
        write_meta_events(customers(), tmp_path / "m.json", as_of="2025-01-01")
    assert not list(tmp_path.iterdir())


def test_google_clicks_and_leads_files(side_file: Path, tmp_path: Path) -> None:
    frame = attach_identifiers(customers(), side_file, KEY)
    result = write_google_conversions(
        frame, tmp_path, conversion_name="pLTV", timezone="America/New_York"
    )
    assert (result.clicks, result.leads, result.skipped) == (3, 5, 0)
    assert result.clicks_path is not None
    assert result.leads_path is not None
    lines = result.clicks_path.read_text().splitlines()
    assert lines[0] == "Parameters:TimeZone=America/New_York"
    rows = list(csv.reader(lines[1:]))
    assert tuple(rows[0]) == GOOGLE_CLICK_COLUMNS
    assert rows[1] == ["GCLID-0", "pLTV", "2024-03-09 04:30:00", "10.00", "EUR"]
    lead_lines = result.leads_path.read_text().splitlines()
    leads = list(csv.reader(lead_lines[1:]))
    assert tuple(leads[0]) == GOOGLE_LEAD_COLUMNS
    assert leads[1][:2] == [sha("johndoe3@gmail.com"), sha("+14155550103")]


def test_value_rules_per_campaign(tmp_path: Path) -> None:
    frame = customers()
    table = write_value_rules(frame, tmp_path / "rules.csv")
    written = pd.read_csv(tmp_path / "rules.csv")
    assert list(written.columns) == [
        "campaign",
        "customers",
        "mean_predicted_value",
        "currency",
        "multiplier",
        "multiplier_p05",
        "multiplier_p95",
    ]
    overall = frame["predicted_value"].mean()
    brand = written.set_index("campaign").loc["brand"]
    assert brand["customers"] == 4
    assert brand["multiplier"] == pytest.approx(50.0 / overall, abs=1e-4)
    assert brand["multiplier_p05"] <= brand["multiplier"] <= brand["multiplier_p95"]
    assert int(table["customers"].sum()) == len(frame)


def test_no_raw_identifier_reaches_any_file(side_file: Path, tmp_path: Path) -> None:
    frame = attach_identifiers(customers(), side_file, KEY)
    assert not {"email", "phone", "customer_id"} & set(frame.columns)
    out = tmp_path / "out"
    write_meta_events(frame, out / "meta.json", as_of=AS_OF)
    write_google_conversions(frame, out, conversion_name="pLTV")
    write_value_rules(frame, out / "rules.csv")
    written = b"".join(p.read_bytes() for p in out.iterdir()).lower()
    for raw in [*RAW_IDS, *EMAILS, *PHONES, "john.doe", "johndoe", "4155550"]:
        assert raw.strip().lower().encode() not in written


def test_bad_inputs_are_named(tmp_path: Path, write_file: WriteFile) -> None:
    frame = customers()
    frame.loc[2, "predicted_value"] = -5.0
    frame.loc[4, "acquired_at"] = None
    with pytest.raises(DataValidationError) as info:
        write_meta_events(frame, tmp_path / "m.json", as_of=AS_OF)
    assert "row(s) 3 have a negative predicted_value" in str(info.value)
    assert "row(s) 5 have an acquired_at" in str(info.value)
    with pytest.raises(DataValidationError, match="missing column"):
        write_meta_events(customers().drop(columns="currency"), tmp_path / "m.json", as_of=AS_OF)
    with pytest.raises(DataValidationError, match="ISO 4217"):
        write_meta_events(customers(), tmp_path / "m.json", as_of=AS_OF, currency="euro")
    with pytest.raises(DataValidationError, match="repeat a customer_key"):
        write_value_rules(pd.concat([customers(), customers()]), tmp_path / "r.csv")
    with pytest.raises(DataValidationError, match="none has a Google click ID"):
        write_google_conversions(customers(), tmp_path, conversion_name="x")
    with pytest.raises(ConfigError, match="timezone"):
        write_google_conversions(customers(), tmp_path, conversion_name="x", timezone="Mars/Base")
    with pytest.raises(ConfigError, match="action_source"):
        write_meta_events(customers(), tmp_path / "m.json", as_of=AS_OF, action_source="tv")
    with pytest.raises(InputFileError, match="customer_key"):
        attach_identifiers(customers(), write_file("x.csv", "email\na@b.co\n"))
    assert not list(tmp_path.glob("*.json"))
    assert not list(tmp_path.glob("*.tmp"))
