"""Customer-value runs (:mod:`margin.ltv.runs`): saved through the runs owner, read back."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from margin.data.workspace.runs import find_run
from margin.data.workspace.store import Workspace
from margin.errors import ConfigError
from margin.ltv.runs import (
    P_ALIVE_EDGES,
    channel_spend,
    load_ltv_run,
    p_alive_json,
    runs_folder,
    save_ltv_run,
)


def _ltv() -> dict[str, Any]:
    estimate = {"estimate": 0.5, "p05": 0.4, "p95": 0.6}
    return {
        "model": "bgnbd",
        "params": dict.fromkeys(("r", "alpha", "a", "b"), estimate),
        "loglik": -10.0,
        "n_customers": 3,
        "spend": {"model": "gamma_gamma", "params": {}, "loglik": -1.0, "n_customers": 2},
        "summary": {
            "unit": "weeks", "period": "day", "calibration_end": "1997-09-30",
            "observation_end": "1998-06-30", "n_customers": 3, "n_transactions": 9,
        },
    }  # fmt: skip


def test_save_then_load_round_trips(ws: Workspace) -> None:
    hist = p_alive_json([0.05, 0.95, 1.0, 0.5], ["a", "b", "b", "a"])
    run_id = save_ltv_run(ws, {"ltv": _ltv(), "p_alive": hist}, message="bgnbd on 3 customers")
    assert run_id.startswith("ltv-")
    row = find_run(ws, run_id)
    assert row is not None
    assert row.kind == "ltv"
    assert row.status == "ok"
    assert row.path == runs_folder(ws) / run_id
    assert not list(runs_folder(ws).glob(".partial-*"))
    body = load_ltv_run(ws)
    assert body["run_id"] == run_id
    assert body["created"]
    assert body["ltv"]["params"]["r"]["estimate"] == 0.5
    assert body["by_channel"] is None
    assert body["holdout"] is None
    assert body["p_alive"]["counts"] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    assert body["p_alive"]["by_channel"] == {
        "a": [1, 0, 0, 0, 0, 1, 0, 0, 0, 0],
        "b": [0, 0, 0, 0, 0, 0, 0, 0, 0, 2],
    }
    assert body["p_alive"]["edges"] == list(P_ALIVE_EDGES)


def test_load_by_path_and_id_newest_first(ws: Workspace, tmp_path: Path) -> None:
    first = save_ltv_run(ws, {"ltv": _ltv()}, message="one")
    second = save_ltv_run(ws, {"ltv": {**_ltv(), "model": "pareto_nbd"}}, message="two")
    ws.close()
    path = tmp_path / "ws.duckdb"
    assert load_ltv_run(path)["run_id"] == second
    assert load_ltv_run(path, first)["ltv"]["model"] == "bgnbd"


def test_no_run_is_one_clear_error(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match="no customer-value run; run margin ltv by-channel -w"):
        load_ltv_run(ws)
    with pytest.raises(ConfigError, match="no customer-value run 'ltv-nope'"):
        load_ltv_run(ws, "ltv-nope")


def test_bad_files_write_nothing(ws: Workspace) -> None:
    with pytest.raises(ConfigError, match=r"needs its ltv\.json"):
        save_ltv_run(ws, {"p_alive": {}}, message="x")
    with pytest.raises(ConfigError, match="unknown customer-value run files"):
        save_ltv_run(ws, {"ltv": _ltv(), "other": {}}, message="x")
    assert not runs_folder(ws).exists()


def test_damaged_folder_is_named(ws: Workspace) -> None:
    run_id = save_ltv_run(ws, {"ltv": _ltv()}, message="x")
    (runs_folder(ws) / run_id / "ltv.json").unlink()
    with pytest.raises(ConfigError, match=rf"{run_id}.*has no ltv\.json"):
        load_ltv_run(ws)


def test_channel_spend_sums_the_window(ws: Workspace) -> None:
    with ws.transaction() as con:
        con.execute(
            "INSERT INTO spend (date, geo, channel, campaign, currency, spend, source) VALUES "
            "('2024-01-01', 'US', 'search', '', 'USD', 10, 't'),"
            "('2024-01-08', 'US', 'search', '', 'USD', 5, 't'),"
            "('2024-02-01', 'US', 'social', '', 'USD', 7, 't'),"
            "('2024-03-01', 'US', 'social', '', 'USD', 100, 't')"
        )
    assert channel_spend(ws, date(2024, 1, 1), date(2024, 2, 1)) == {"search": 15.0, "social": 7.0}
    assert channel_spend(ws, date(2020, 1, 1), date(2020, 2, 1)) == {}
