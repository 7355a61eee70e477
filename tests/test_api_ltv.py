"""Customer value in the API (``/api/ltv``), the dashboard page's view-model
(:mod:`margin.report.ltv`) and the HTML report's "Customer value" section.

Runs come from the fixture factory of ``tests/_ltv_run.py``: bodies computed for real by
:mod:`margin.ltv` on simulated transactions, recorded with
:func:`margin.ltv.runs.save_ltv_run`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from _cli import margin, words
from _ltv_run import make_ltv_run, record_ltv_run
from margin.errors import ConfigError
from margin.report.ltv import START_COMMAND, empty_ltv_view, ltv_view


def _client(path: Path) -> tuple[Any, dict[str, str]]:
    from fastapi.testclient import TestClient

    from margin.api.app import create_app
    from margin.api.keys import create_key
    from margin.data.workspace.store import Workspace

    with Workspace(path) as ws:
        key = create_key(ws, "viewer")
    return TestClient(create_app(path)), {"Authorization": f"Bearer {key}"}


@pytest.fixture(scope="module")
def ltv_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A workspace with one customer-value run: (its path, the run id)."""
    path = tmp_path_factory.mktemp("ltv") / "ws.duckdb"
    return path, record_ltv_run(path)


# -- the view-model ------------------------------------------------------------------------


def test_view_carries_each_channel_with_its_interval_and_unit() -> None:
    run = {"run_id": "ltv-0123456789ab", "created": None, **make_ltv_run()}
    view = ltv_view(run)
    by_channel = run["by_channel"]
    assert view["value"]["labels"] == list(by_channel)
    for i, name in enumerate(view["value"]["labels"]):
        for q in ("mean", "p05", "p95"):
            assert view["value"][q][i] == by_channel[name]["value"][q]
    assert view["value"]["pooled"] == [False, True]
    assert view["value"]["y_title"] == "value of a new customer over 52 weeks (USD)"
    table = view["tables"]["channels"]
    assert table["headers"][2] == "value of a new customer, 52 weeks (USD)"
    search, social = table["rows"]
    value = by_channel["search"]["value"]
    assert search[2] == f"${value['mean']:.2f} [${value['p05']:.2f}, ${value['p95']:.2f}]"
    assert search[1] == "600 customers"
    assert search[5] == "$40.00 (exact)"  # 24,000 spend ÷ 600 customers
    assert re.fullmatch(r"\d+\.\d\d× \[\d+\.\d\d, \d+\.\d\d\]", search[6])
    assert re.fullmatch(r"\$\d+\.\d\d \[\$\d+\.\d\d, \$\d+\.\d\d\]", search[7])  # incremental
    assert search[9].endswith("]")
    assert "weeks" in search[9]
    assert (search[10], social[10]) == ("own fit", "pooled fit")
    assert social[7] == "–"  # no incrementality for social
    assert any(n.startswith("social: too few customers") for n in view["notes"])


def test_view_of_p_alive_and_the_holdout_check() -> None:
    run = make_ltv_run()
    view = ltv_view(run)
    alive = view["p_alive"]
    assert alive["labels"][0] == "0–10%"
    assert alive["labels"][-1] == "90–100%"
    assert alive["counts"] == run["p_alive"]["counts"]
    assert alive["total"] == run["ltv"]["summary"]["n_customers"] == 660
    assert [r["channel"] for r in alive["by_channel"]] == ["search", "social"]
    holdout = view["holdout"]
    buckets = run["holdout"]["buckets"]
    assert holdout["labels"] == [b["frequency"] for b in buckets]
    assert holdout["actual"] == [b["actual"] for b in buckets]
    assert holdout["p05"] == [b["predicted"]["p05"] for b in buckets]
    assert holdout["table"]["rows"][0][2].endswith(" purchases")
    params = {(r[0], r[1]): r for r in view["tables"]["params"]["rows"]}
    assert params[("bgnbd", "alpha")][4] == "weeks"
    assert params[("gamma_gamma", "gamma")][4] == "USD"
    assert params[("bgnbd", "r")][4] == "shape (no unit)"


def test_view_of_a_run_without_channels_holdout_or_p_alive() -> None:
    run = make_ltv_run()
    view = ltv_view({**run, "by_channel": None, "holdout": None, "p_alive": None}, "EUR")
    assert view["value"] is None
    assert view["tables"]["channels"] is None
    assert view["holdout"] is None
    assert view["p_alive"] is None
    assert view["meta"]["currency"] == "EUR"
    run["by_channel"]["social"]["spend"] = None
    run["by_channel"]["social"]["cac"] = None
    notes = ltv_view(run)["notes"]
    assert any("need each channel's spend" in note for note in notes)
    assert ltv_view(run)["tables"]["channels"]["rows"][1][4] == "– (no spend recorded)"
    assert view["tables"]["params"]["rows"]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (lambda r: r["by_channel"]["search"].pop("value"), "by_channel.search.value"),
        (lambda r: r["by_channel"]["social"].update(customers="many"), "social.customers"),
        (lambda r: r["holdout"]["buckets"][2]["predicted"].update(p95="x"), "buckets[2]"),
        (lambda r: r["p_alive"]["counts"].pop(), "p_alive.json needs n + 1 edges"),
        (lambda r: r.update(ltv=[1]), "ltv.json is not a JSON object"),
    ],
)
def test_a_malformed_run_says_which_field(change: Any, said: str) -> None:
    run = make_ltv_run()
    change(run)
    with pytest.raises(ConfigError, match=re.escape(said)) as err:
        ltv_view(run)
    assert START_COMMAND in str(err.value)


def test_empty_view_says_what_to_run() -> None:
    view = empty_ltv_view()
    assert view == {"empty": True, "reason": "This workspace has no customer-value run yet.",
                    "start_command": START_COMMAND}  # fmt: skip


# -- the API -------------------------------------------------------------------------------


def test_api_serves_the_latest_run_and_a_named_one(ltv_workspace: tuple[Path, str]) -> None:
    path, run_id = ltv_workspace
    client, auth = _client(path)
    with client:
        response = client.get("/api/ltv", headers=auth)
        assert response.status_code == 200, response.text
        body = response.json()
        assert client.get(f"/api/ltv/{run_id}", headers=auth).json() == body
        assert client.get("/api/ltv").status_code == 401
    recorded = json.loads(json.dumps(make_ltv_run()))
    assert body["run_id"] == run_id
    assert body["created"]
    for name in ("ltv", "by_channel", "holdout", "p_alive"):
        assert body[name] == recorded[name], name
    assert "path" not in body  # no server path
    view = ltv_view({**recorded, "run_id": run_id, "created": body["created"]}, "USD")
    assert body["view"] == json.loads(json.dumps(view))
    search = body["by_channel"]["search"]
    assert set(search["value"]) == {"mean", "p05", "p95"}
    assert search["currency"] == "USD"
    assert search["horizon_weeks"] == 52.0


def test_api_without_a_run_answers_404_with_the_command(tmp_path: Path) -> None:
    from margin.data.workspace.store import Workspace

    path = tmp_path / "ws.duckdb"
    Workspace(path).close()
    client, auth = _client(path)
    with client:
        missing = client.get("/api/ltv", headers=auth)
        named = client.get("/api/ltv/ltv-000000000000", headers=auth)
        bad = client.get("/api/ltv/..%2Fetc", headers=auth)
    assert missing.status_code == 404
    assert "no customer-value run yet" in missing.json()["detail"]
    assert START_COMMAND in missing.json()["detail"]
    assert str(tmp_path) not in missing.text
    assert named.status_code == 404
    assert "no customer-value run 'ltv-000000000000'" in named.json()["detail"]
    assert bad.status_code in (400, 404)


def test_api_refuses_an_mmm_run_id_as_a_customer_value_run(
    ltv_workspace: tuple[Path, str],
) -> None:
    from margin.data.workspace.runs import list_runs
    from margin.data.workspace.store import Workspace

    path, run_id = ltv_workspace
    with Workspace(path, read_only=True) as ws:
        assert [r.id for r in list_runs(ws)] == [run_id]
    client, auth = _client(path)
    with client:
        response = client.get("/api/ltv/mmm-0123456789ab", headers=auth)
    assert response.status_code == 404


# -- the report ----------------------------------------------------------------------------


def _payload(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" id="margin-view">(.*?)</script>', html,
                      re.DOTALL)  # fmt: skip
    assert found
    result: dict[str, Any] = json.loads(found.group(1))
    return result


def test_report_has_the_section_with_numbers_and_units(fitted_run_dir: Path) -> None:
    from margin.report.html import build_report

    run = {"run_id": "ltv-0123456789ab", "created": "2026-01-01T00:00:00", **make_ltv_run()}
    html = build_report(fitted_run_dir, ltv=run)
    view = ltv_view(run, None)
    assert 'href="#customer-value"' in html
    assert 'id="customer-value"' in html
    assert 'id="chart-ltv-value"' in html
    for row in view["tables"]["channels"]["rows"]:
        for cell in row:
            assert cell.replace("&", "&amp;") in html or cell in html, cell
    assert "value of a new customer, 52 weeks (USD)" in html
    assert view["p_alive"]["note"] in html
    assert 'id="chart-ltv-holdout"' in html
    assert _payload(html)["ltv"]["value"]["labels"] == ["search", "social"]
    assert 'id="ltv-empty"' not in html


def test_report_without_a_run_has_no_section(fitted_run_dir: Path) -> None:
    from margin.report.html import build_report

    html = build_report(fitted_run_dir)
    assert 'id="customer-value"' not in html
    assert 'href="#customer-value"' not in html
    assert _payload(html)["ltv"] is None


def test_report_command_adds_the_workspace_run(fitted_run_dir: Path, tmp_path: Path) -> None:
    import shutil

    path = tmp_path / "ws.duckdb"
    shutil.copy(fitted_run_dir.parent / "ws.duckdb", path)
    out = tmp_path / "report.html"
    done = margin("report", "--run", str(fitted_run_dir), "-w", str(path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert 'id="customer-value"' not in out.read_text(encoding="utf-8")
    record_ltv_run(path)
    done = margin("report", "--run", str(fitted_run_dir), "-w", str(path), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "wrote" in words(done.stdout)
    html = out.read_text(encoding="utf-8")
    assert 'id="customer-value"' in html
    assert _payload(html)["ltv"]["meta"]["currency"] == "USD"
