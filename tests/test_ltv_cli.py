"""``margin ltv …`` end to end: fits from summaries, survival counts, CDNOW's transactions and
the workspace; value by channel recorded as a run; exports; bad input as one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from _cli import margin, words
from margin.ltv.runs import load_ltv_run


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _ok(*args: str) -> str:
    done = margin(*args)
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def _lifetimes(shared_data: Path, name: str) -> Path:
    path = shared_data / "lifetimes" / name
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


def test_fit_bgnbd_from_a_summary_gives_fhl_2005(shared_data: Path, tmp_path: Path) -> None:
    summary = _lifetimes(shared_data, "cdnow_customers_summary.csv")
    out = tmp_path / "fit"
    text = _ok("ltv", "fit", "--model", "bgnbd", "--summary", str(summary), "--out", str(out))
    assert "90% interval" in text
    body = _json(out / "ltv.json")
    assert body["model"] == "bgnbd"
    assert body["n_customers"] == 2357
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for name, value in published.items():
        got = body["params"][name]
        assert got["estimate"] == pytest.approx(value, rel=2e-3)
        assert got["p05"] < got["estimate"] < got["p95"]
    assert body["loglik"] == pytest.approx(-9582.4, abs=0.1)
    alive = _json(out / "p_alive.json")
    assert len(alive["edges"]) == 11
    assert sum(alive["counts"]) == 2357


def test_fit_sbg_from_survival_counts(tmp_path: Path) -> None:
    counts = (1000, 631, 468, 382, 326, 289, 262, 241)  # Fader & Hardie 2007, "Regular"
    survival = tmp_path / "regular.csv"
    pd.DataFrame({"period": range(len(counts)), "alive": counts}).to_csv(survival, index=False)
    out = tmp_path / "sbg"
    _ok("ltv", "fit", "--model", "sbg", "--survival", str(survival), "--out", str(out))
    params = _json(out / "ltv.json")["params"]
    assert params["alpha"]["estimate"] == pytest.approx(0.704, rel=2e-3)
    assert params["beta"]["estimate"] == pytest.approx(1.182, rel=2e-3)


def test_holdout_on_cdnow_reproduces_fhl_figure_4(shared_data: Path, tmp_path: Path) -> None:
    """FHL 2005: 39 + 39 weeks of CDNOW's 2,357-customer sample; 1,411 made no repeat
    purchase in the calibration; the BG/NBD tracks the actual holdout purchases per
    calibration frequency, slightly under for 1-2 (as the paper's Figure 4 shows)."""
    sample = _lifetimes(shared_data, "CDNOW_sample.txt")
    out = tmp_path / "holdout"
    _ok("ltv", "holdout", "--transactions", str(sample), "--layout", "cdnow",
        "--calibration-end", "1997-09-30", "--out", str(out))  # fmt: skip
    check = _json(out / "holdout.json")
    rows = {b["frequency"]: b for b in check["buckets"]}
    assert list(rows) == ["0", "1", "2", "3", "4", "5", "6", "7+"]
    assert rows["0"]["customers"] == 1411
    assert sum(b["customers"] for b in rows.values()) == 2357
    assert check["holdout_length"] == pytest.approx(39.0, abs=0.2)
    predicted = [b["predicted"]["mean"] for b in rows.values()]
    assert predicted == sorted(predicted)
    for label, b in rows.items():
        tolerance = 0.1 if label in ("0", "7+") else 0.3
        assert b["predicted"]["mean"] == pytest.approx(b["actual"], rel=tolerance), label
        assert b["predicted"]["p05"] <= b["predicted"]["mean"] <= b["predicted"]["p95"]
    assert _json(out / "ltv.json")["summary"]["calibration_end"] == "1997-09-30"


def _transactions(folder: Path) -> tuple[Path, Path]:
    """600 customers of two channels (search: more frequent, bigger baskets) and a year of
    spend, 50 a day per channel."""
    rng = np.random.default_rng(1)
    rows = []
    start = pd.Timestamp("2024-01-01")
    for i in range(600):
        channel = "search" if i % 2 else "social"
        first = start + pd.Timedelta(days=int(rng.integers(0, 120)))
        rate = rng.gamma(0.8, 1 / (6.0 if channel == "search" else 10.0))
        life = rng.exponential(40 if channel == "search" else 20)
        basket = rng.gamma(3.0, (40 if channel == "search" else 25) / 3.0)
        week, weeks = 0.0, [0.0]
        while (week := week + rng.exponential(1 / rate)) < min(life, 60):
            weeks.append(week)
        for w in weeks:
            when = first + pd.Timedelta(days=7 * w)
            rows.append((f"c{i}", when.strftime("%Y-%m-%d %H:%M:%S"),
                         round(rng.gamma(4, basket / 4), 2), channel))  # fmt: skip
    tx = folder / "tx.csv"
    columns = ["customer_id", "ts", "amount", "acquisition_channel"]
    pd.DataFrame(rows, columns=columns).to_csv(tx, index=False)
    days = pd.date_range("2024-01-01", "2024-12-31", freq="D").strftime("%Y-%m-%d")
    spend = folder / "spend.csv"
    pd.DataFrame(
        {"date": np.repeat(days, 2), "channel": ["search", "social"] * len(days), "spend": 50.0}
    ).to_csv(spend, index=False)
    return tx, spend


def test_by_channel_records_a_run_and_exports(tmp_path: Path) -> None:
    tx, spend = _transactions(tmp_path)
    ws = str(tmp_path / "ws.duckdb")
    _ok("ingest", "transactions", str(tx), "-w", ws)
    _ok("ingest", "spend", str(spend), "-w", ws)
    out = tmp_path / "value"
    text = words(_ok("ltv", "by-channel", "-w", ws, "--horizon-weeks", "52",
                     "--calibration-end", "2024-12-31", "--out", str(out)))  # fmt: skip
    assert "incremental CAC: needs an MMM run and attributed conversions" in text
    table = _json(out / "by_channel.json")
    assert set(table) == {"search", "social"}
    for row in table.values():
        assert row["customers"] == 300
        assert row["currency"] == "USD"
        assert row["value"]["p05"] < row["value"]["mean"] < row["value"]["p95"]
        assert row["cac"]["mean"] == pytest.approx(366 * 50 / 300)  # 2024 is a leap year
        assert row["ltv_cac"]["mean"] == pytest.approx(
            row["value"]["mean"] / row["cac"]["mean"], rel=0.05
        )
    assert table["search"]["value"]["mean"] > table["social"]["value"]["mean"]
    run = load_ltv_run(tmp_path / "ws.duckdb")
    assert run["by_channel"] == table
    assert run["ltv"]["spend"]["model"] == "gamma_gamma"
    assert run["holdout"] is not None
    assert run["ltv"]["summary"]["n_customers"] == 600
    assert sum(run["p_alive"]["counts"]) == 600
    assert set(run["p_alive"]["by_channel"]) == {"search", "social"}
    ids = tmp_path / "ids.csv"
    ids.write_text("customer_id,email,phone,gclid\nc1,A.B@Gmail.com,+1 555 0100,\nc3,,,g-3\n")
    exports = tmp_path / "exports"
    _ok("ltv", "export", "meta", "-w", ws, "--out", str(exports), "--as-of", "2024-01-08")
    events = _json(exports / "meta_events.json")["data"]
    assert events
    assert all(e["custom_data"]["predicted_ltv"] > 0 for e in events)
    assert all(e["custom_data"]["currency"] == "USD" for e in events)
    _ok("ltv", "export", "google", "-w", ws, "--out", str(exports), "--identifiers", str(ids))
    clicks = (exports / "google_clicks.csv").read_text().splitlines()
    assert clicks[0] == "Parameters:TimeZone=+0000"
    assert clicks[2].startswith("g-3,")
    assert "A.B@Gmail.com" not in (exports / "google_leads.csv").read_text()
    assert (exports / "google_value_rules.csv").is_file()


BAD = {
    "negative amount": (
        "customer_id,ts,amount\na,2024-01-01,10\na,2024-01-05,-3\n",
        ("--model", "bgnbd", "--transactions"), "negative amount",
    ),
    "purchase before acquisition": (
        "customer_id,ts,amount,acquired_at\na,2024-01-01,10,2024-02-01\n",
        ("--model", "bgnbd", "--transactions"), "before the customer's stated acquisition",
    ),
    "survival that increases": (
        "period,alive\n0,1000\n1,631\n2,700\n",
        ("--model", "sbg", "--survival"), "period 2 has 700 active customers, more than",
    ),
    "recency above T": (
        "frequency,recency,T\n1,2,4\n1,5,4\n",
        ("--model", "bgnbd", "--summary"), "line 3 has recency 5 > T 4",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_writes_nothing(case: str, tmp_path: Path) -> None:
    content, args, says = BAD[case]
    path = tmp_path / "input.csv"
    path.write_text(content, encoding="utf-8")
    out = tmp_path / "out"
    done = margin("ltv", "fit", *args, str(path), "--out", str(out))
    assert done.returncode == 2, done.stderr + done.stdout
    assert says in words(done.stderr)
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
    assert not out.exists()
    assert not (tmp_path / "runs").exists()


def test_export_without_a_run_says_what_to_run(tmp_path: Path) -> None:
    tx, _ = _transactions(tmp_path)
    ws = str(tmp_path / "ws.duckdb")
    _ok("ingest", "transactions", str(tx), "-w", ws)
    done = margin("ltv", "export", "meta", "-w", ws, "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert "no customer-value run; run margin ltv by-channel -w" in words(done.stderr)
    assert not (tmp_path / "x").exists()
