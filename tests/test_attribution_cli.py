"""`margin attribute` as a user runs it: inputs, the credit.json contract, errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from _cli import margin, words
from margin.attribution import MODELS
from margin.data.ingest.pipeline import ingest_file
from margin.data.workspace.hashing import create_key
from margin.data.workspace.store import Workspace

WriteFile = Callable[[str, str | bytes], Path]
EVENTS = (
    "user_id,timestamp,channel,campaign,event,value\n"
    "a,2024-01-01 10:00:00,search,brand,touch,\n"
    "a,2024-01-02 10:00:00,social,spring,touch,\n"
    "a,2024-01-03 10:00:00,,,conversion,40\n"
    "b,2024-01-01 11:00:00,direct,,touch,\n"
    "b,2024-01-01 12:00:00,search,brand,touch,\n"
    "b,2024-01-04 10:00:00,,,conversion,10.5\n"
    "c,2024-01-02 09:00:00,social,spring,touch,\n"
)


def test_paths_file_all_models_json_contract(tmp_path: Path, write_file: WriteFile) -> None:
    paths = write_file(
        "p.csv", "path;total_conversions;total_conversion_value;total_null\na > b;3;30;1\nb;1;5;4\n"
    )
    out = tmp_path / "credit.json"
    result = margin(
        "attribute", "--paths", str(paths), "--model", "all", "--bootstrap", "20", "--out", str(out)
    )
    assert result.returncode == 0, result.stderr
    assert "correlational" in words(result.stdout)
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert list(payload["models"]) == list(MODELS)
    for model in MODELS:
        credits = payload["models"][model]
        assert set(credits) == {"a", "b"}
        assert sum(c["conversions"] for c in credits.values()) == pytest.approx(4.0)
        assert sum(c["value"] for c in credits.values()) == pytest.approx(35.0)
        for c in credits.values():
            assert set(c) == {"conversions", "value", "share", "p05", "p95"}
    assert payload["markov_order"] == 1


def test_workspace_events_markov_order_2(tmp_path: Path, write_file: WriteFile) -> None:
    ws_path = tmp_path / "w.duckdb"
    with Workspace(ws_path) as ws:
        create_key(ws)
        ingest_file(ws, "events", write_file("e.csv", EVENTS))
    out = tmp_path / "credit.json"
    result = margin(
        "attribute",
        "--workspace",
        str(ws_path),
        "--model",
        "markov",
        "--order",
        "2",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(out.read_text(encoding="utf-8"))
    assert list(payload["models"]) == ["markov"]
    assert payload["markov_order"] == 2
    assert sum(c["conversions"] for c in payload["models"]["markov"].values()) == pytest.approx(2.0)


def test_events_file_campaign_level(tmp_path: Path, write_file: WriteFile) -> None:
    out = tmp_path / "credit.json"
    events = write_file("e.csv", EVENTS)
    result = margin(
        "attribute",
        "--events",
        str(events),
        "--model",
        "linear,last_non_direct",
        "--level",
        "campaign",
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    credits = json.loads(out.read_text(encoding="utf-8"))["models"]
    assert credits["last_non_direct"]["search / brand"]["conversions"] == pytest.approx(1.0)
    assert credits["linear"]["direct / (none)"]["conversions"] == pytest.approx(1 / 2)


def test_bad_events_exit_2_naming_rows(write_file: WriteFile) -> None:
    bad = write_file(
        "bad.csv",
        EVENTS.replace("2024-01-02 10:00:00,social", "not-a-time,social").replace(
            "direct,,touch", "direct,,view"
        ),
    )
    result = margin("attribute", "--events", str(bad))
    assert result.returncode == 2
    assert "row 2: 'not-a-time'" in result.stderr
    assert "row 4: 'view'" in result.stderr
    two = margin("attribute", "--events", str(bad), "--paths", str(bad))
    assert two.returncode == 2
    assert "exactly one input" in two.stderr
