"""The REST API and access control: every endpoint × every role, payloads, sessions, audit.

One fitted run (the session's ``fitted_run_dir``) is copied with its workspace for this
module; the app is driven in-process with FastAPI's test client.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from margin.api.app import create_app
from margin.api.keys import ROLES, create_key, key_id_of, revoke_key
from margin.api.routes_pages import PAGES
from margin.api.throttle import FailureThrottle
from margin.data.workspace.store import Workspace

FIXTURE_HOLDOUT_WEEKS = 8
"""Weeks the shared fitted run (``conftest.fitted_run_dir``) holds out."""

CALLERS = ("none", "bad", "revoked", "viewer", "analyst", "admin")
BAD_KEY = "mgn_0123456789ab_" + "x" * 43


@dataclass(frozen=True)
class Api:
    path: Path
    keys: dict[str, str]
    run_id: str
    channels: list[str]


@pytest.fixture(scope="module")
def api(fitted_run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Api:
    base = tmp_path_factory.mktemp("api")
    run = base / "run"
    shutil.copytree(fitted_run_dir, run)
    shutil.copy(fitted_run_dir.parent / "ws.duckdb", base / "ws.duckdb")
    with Workspace(base / "ws.duckdb") as ws:
        ws.con.execute("UPDATE runs SET artifact_path = ?", [str(run)])
        keys = {role: create_key(ws, role, name=f"test-{role}") for role in ROLES}
        revoked = create_key(ws, "admin", name="gone")
        revoke_key(ws, str(key_id_of(revoked)))
        run_id = str(ws.fetch("SELECT id FROM runs WHERE kind = 'mmm'")[0][0])
    summary = json.loads((run / "summary.json").read_text(encoding="utf-8"))
    return Api(base / "ws.duckdb", {**keys, "revoked": revoked, "bad": BAD_KEY}, run_id,
               list(summary["channels_order"]))  # fmt: skip


def unthrottled_app(path: Path, **options: Any) -> Any:
    """The app with failed-authentication throttling out of the way (these tests make many
    bad-key requests on purpose; tests/test_api_hardening.py covers the throttle)."""
    app = create_app(path, **options)
    app.state.margin.throttle = FailureThrottle(burst=1_000_000)
    return app


@pytest.fixture(scope="module")
def client(api: Api) -> Iterator[TestClient]:
    with TestClient(unthrottled_app(api.path, secure_cookies=False)) as test_client:
        yield test_client


def auth(api: Api, caller: str) -> dict[str, str]:
    return {} if caller == "none" else {"Authorization": f"Bearer {api.keys[caller]}"}


def fresh_key(api: Api, role: str = "viewer") -> str:
    with Workspace(api.path) as ws:
        return create_key(ws, role)


def audit_rows(api: Api) -> list[dict[str, Any]]:
    with Workspace(api.path) as ws:
        cols = ["id", "key_id", "role", "method", "path", "action", "target", "status", "detail"]
        rows = ws.fetch(f"SELECT {', '.join(cols)} FROM audit ORDER BY id")
    return [dict(zip(cols, r, strict=True)) | {"detail": json.loads(r[-1])} for r in rows]


# -- every endpoint × every caller ---------------------------------------------------------

ENDPOINTS: list[tuple[str, str, Any, str, int]] = [
    ("GET", "/api/runs", None, "viewer", 200),
    ("GET", "/api/runs/latest", None, "viewer", 200),
    ("GET", "/api/runs/{run}/summary", None, "viewer", 200),
    ("GET", "/api/runs/{run}/channels", None, "viewer", 200),
    ("GET", "/api/runs/latest/curves", None, "viewer", 200),
    ("GET", "/api/runs/latest/health", None, "viewer", 200),
    ("GET", "/api/runs/latest/decomposition", None, "viewer", 200),
    ("GET", "/api/runs/{run}/geos", None, "viewer", 200),
    ("GET", "/api/runs/latest/frontier?points=2&weeks=4", None, "analyst", 200),
    ("POST", "/api/runs/latest/forecast", {"weeks": 4}, "analyst", 200),
    ("POST", "/api/runs/latest/optimize", {"weeks": 4}, "analyst", 200),
    ("POST", "/api/runs/{run}/scenario", {"weeks": 4, "changes": {"{ch}": 0.2}}, "analyst", 200),
    ("GET", "/api/attribution?bootstrap=20", None, "viewer", 200),
    ("GET", "/api/data-quality", None, "viewer", 200),
    ("GET", "/api/session", None, "viewer", 200),
    ("GET", "/api/loop/cycles", None, "viewer", 200),
    ("GET", "/api/ltv", None, "viewer", 404),  # allowed; the workspace has no ltv run
    ("POST", "/api/refresh", None, "admin", 400),  # allowed; the workspace has no settings
    ("POST", "/api/keys", {"role": "viewer", "name": "made-by-test"}, "admin", 201),
    ("GET", "/api/keys", None, "admin", 200),
    ("DELETE", "/api/keys/{fresh}", None, "admin", 200),
    ("GET", "/api/audit", None, "admin", 200),
]


def _fill(api: Api, text: str) -> str:
    return text.replace("{run}", api.run_id).replace("{ch}", api.channels[0])


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(
    ("method", "path", "body", "needs", "ok"), ENDPOINTS, ids=[f"{m} {p}" for m, p, *_ in ENDPOINTS]
)
def test_every_endpoint_for_every_caller(
    api: Api,
    client: TestClient,
    caller: str,
    method: str,
    path: str,
    body: Any,
    needs: str,
    ok: int,
) -> None:
    url = _fill(api, path).replace("{fresh}", str(key_id_of(fresh_key(api))))
    payload = json.loads(_fill(api, json.dumps(body))) if body is not None else None
    response = client.request(method, url, json=payload, headers=auth(api, caller))
    if caller in ("none", "bad", "revoked"):
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"] == "Bearer"
    elif ROLES.index(caller) < ROLES.index(needs):
        assert response.status_code == 403, response.text
        assert f"needs the {needs} role" in response.json()["detail"]
    else:
        assert response.status_code == ok, response.text
        if ok == 400:
            assert "refresh settings" in response.json()["detail"]
    assert response.headers["content-type"] == "application/json"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("path", sorted(PAGES))
def test_every_page_for_every_caller(api: Api, client: TestClient, caller: str, path: str) -> None:
    from margin.api.routes_pages import _template_exists

    response = client.get(path, headers=auth(api, caller), follow_redirects=False)
    if caller == "none":
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
    elif caller in ("bad", "revoked"):
        assert response.status_code == 401
    else:
        assert response.status_code == (200 if _template_exists(PAGES[path]) else 501)
        assert "text/html" in response.headers["content-type"]


# -- what comes back ----------------------------------------------------------------------


def test_runs_and_channels_carry_intervals(api: Api, client: TestClient) -> None:
    viewer = auth(api, "viewer")
    runs = client.get("/api/runs", headers=viewer).json()["runs"]
    assert api.run_id in [r["id"] for r in runs]
    assert [r["created"] for r in runs] == sorted((r["created"] for r in runs), reverse=True)
    latest = client.get("/api/runs/latest", headers=viewer).json()
    assert latest["run"]["id"] == api.run_id
    assert latest["summary"]["channels_order"] == api.channels
    table = client.get(f"/api/runs/{api.run_id}/channels", headers=viewer).json()
    assert [row["channel"] for row in table["channels"]] == api.channels
    for row in table["channels"]:
        for name in ("roi", "mroi", "contribution", "contribution_share"):
            assert row[name]["p05"] <= row[name]["mean"] <= row[name]["p95"], (row, name)
    curves = client.get("/api/runs/latest/curves", headers=viewer).json()
    assert set(curves["channels"]) == set(api.channels)


def test_optimize_values_information_when_asked(api: Api, client: TestClient) -> None:
    analyst = auth(api, "analyst")
    url = f"/api/runs/{api.run_id}/optimize"
    plain = client.post(url, json={"weeks": 4}, headers=analyst).json()
    assert plain.get("value_of_information") is None
    first = api.channels[0]
    body = {"weeks": 4, "value_of_information": True, "test_se": {first: 0.5}}
    response = client.post(url, json=body, headers=analyst)
    assert response.status_code == 200, response.text
    information = response.json()["value_of_information"]
    assert set(information["channels"]) == set(api.channels)
    assert information["channels"][first]["test_se"] == 0.5
    assert information["channels"][first]["test_value"]["mean"] >= 0
    values = [c["value"]["mean"] for c in information["channels"].values()]
    assert values == sorted(values, reverse=True)
    assert min(values) >= 0
    refused = client.post(
        url, json={"weeks": 4, "value_of_information": True, "target_kpi": 1e6}, headers=analyst
    )
    assert refused.status_code == 422
    assert "budget plans" in refused.json()["detail"]
    design = {"design_id": "d1", "channel": first, "kind": "heavy_up",
              "treatment_geos": ["north"], "length_periods": 2, "grain_days": 7,
              "constraints": {"budget": 1000.0}, "roi_se": 0.4}  # fmt: skip
    national = client.post(url, json={"weeks": 4, "test_designs": [design]}, headers=analyst)
    assert national.status_code == 422  # this run is national: a geo test cannot be placed
    assert "fitted on one series" in national.json()["detail"]
    broken = client.post(url, json={"weeks": 4, "test_designs": [{"channel": first}]},
                         headers=analyst)  # fmt: skip
    assert broken.status_code == 422
    assert "test_designs[0]: not a test design" in broken.json()["detail"]


def test_optimize_returns_and_records_a_plan(api: Api, client: TestClient) -> None:
    analyst = auth(api, "analyst")
    response = client.post(
        f"/api/runs/{api.run_id}/optimize",
        json={"weeks": 4, "bounds": {api.channels[0]: [0.5, 1.5]}},
        headers=analyst,
    )
    assert response.status_code == 200, response.text
    plan = response.json()
    assert set(plan["allocation"]) == set(api.channels)
    assert sum(a["spend"] for a in plan["allocation"].values()) == pytest.approx(
        plan["budget"], rel=1e-4
    )
    for key in ("expected_kpi", "expected_gain"):
        assert plan[key]["p05"] <= plan[key]["mean"] <= plan[key]["p95"]
    assert 0.0 <= plan["p_beats_current"] <= 1.0
    assert isinstance(plan["caveats"], list)
    assert (plan["expected_gain"]["mean"] > 0) == any(
        "optimizer's curse" in c for c in plan["caveats"]
    )
    with Workspace(api.path) as ws:
        kind, path = ws.fetch(
            "SELECT kind, artifact_path FROM runs WHERE id = ?", [plan["plan_id"]]
        )[0]
    assert kind == "plan"
    written = json.loads(Path(path).read_text(encoding="utf-8"))
    assert written["plan_id"] == plan["plan_id"]
    assert written["run_id"] == api.run_id
    listed = client.get("/api/runs?kind=plan", headers=auth(api, "viewer")).json()["runs"]
    assert plan["plan_id"] in [r["id"] for r in listed]
    entry = next(r for r in audit_rows(api) if r["detail"].get("plan_id") == plan["plan_id"])
    assert (entry["action"], entry["status"], entry["role"]) == ("optimize", 200, "analyst")
    assert entry["target"] == api.run_id


def test_scenario_and_frontier(api: Api, client: TestClient) -> None:
    analyst = auth(api, "analyst")
    up = client.post(
        "/api/runs/latest/scenario",
        json={"weeks": 4, "changes": {api.channels[1]: 0.3}},
        headers=analyst,
    ).json()
    assert up["kpi"]["p05"] <= up["kpi"]["mean"] <= up["kpi"]["p95"]
    assert up["spend"][api.channels[1]] == pytest.approx(1.3 * up["current_spend"][api.channels[1]])
    frontier = client.get("/api/runs/latest/frontier?points=3&weeks=4", headers=analyst).json()
    budgets = [p["budget"] for p in frontier["points"]]
    assert len(budgets) == 3
    assert budgets == sorted(budgets)
    assert budgets[0] == pytest.approx(0.5 * frontier["current_budget"])


def test_forecast_and_backtest(api: Api, client: TestClient) -> None:
    analyst = auth(api, "analyst")

    def post(body: dict[str, Any]) -> Any:
        return client.post("/api/runs/latest/forecast", json=body, headers=analyst)

    forecast = post({"weeks": 5, "seed": 1}).json()
    assert forecast["kind"] == "forecast"
    assert len(forecast["dates"]) == len(forecast["total"]["mean"]) == 5
    for low, mean, high in zip(
        *(forecast["total"][k] for k in ("p05", "mean", "p95")), strict=True
    ):
        assert low <= mean <= high
    assert forecast["run_id"] == api.run_id
    # a holiday announced for the second week raises that week's baseline only
    weeks = forecast["dates"][:2]
    controls = [
        {"date": weeks[1], "name": "holiday", "value": 1.0},
        *({"date": week, "name": "price", "value": 1.0} for week in weeks),
        {"date": weeks[0], "name": "holiday", "value": 0.0},
    ]
    told = post({"weeks": 5, "seed": 1, "controls": controls}).json()
    assert told["baseline"][1] > forecast["baseline"][1]
    assert told["baseline"][2:] == pytest.approx(forecast["baseline"][2:], rel=1e-6)
    more = post({"weeks": 5, "changes": {api.channels[0]: 0.5}}).json()
    assert more["spend"][api.channels[0]] == pytest.approx(1.5 * forecast["spend"][api.channels[0]])
    scored = post({"backtest": True}).json()
    assert scored["kind"] == "backtest"
    assert scored["weeks"] == len(scored["actual"]) == FIXTURE_HOLDOUT_WEEKS
    assert 0 <= scored["coverage"] <= 1
    assert scored["mape"] >= abs(scored["bias"])
    for body, status, message in [
        ({"weeks": 0}, 400, "weeks"),
        ({"backtest": True, "changes": {api.channels[0]: 0.1}}, 400, "no changes or controls"),
        ({"changes": {"radio": 0.1}}, 400, "unknown channel(s) ['radio']"),
        ({"controls": [{"date": weeks[0], "name": "weather", "value": 1}]}, 400, "weather"),
        ({"controls": [{"date": "2001-01-01", "name": "holiday", "value": 1}]}, 400, "row 0"),
    ]:
        refused = post(body)
        assert refused.status_code == status, (body, refused.text)
        assert message in json.dumps(refused.json()), refused.text


def test_known_controls_move_the_kpi_of_plans_and_scenarios_not_the_gain(
    api: Api, client: TestClient
) -> None:
    analyst = auth(api, "analyst")
    dates = client.post("/api/runs/latest/forecast", json={"weeks": 2}, headers=analyst).json()[
        "dates"
    ]
    controls = [
        {"date": week, "name": name, "value": 1.0}
        for week in dates
        for name in ("holiday", "price")
    ]
    scenario = {"weeks": 4, "changes": {api.channels[1]: 0.3}}
    plain = client.post("/api/runs/latest/scenario", json=scenario, headers=analyst).json()
    told = client.post(
        "/api/runs/latest/scenario", json={**scenario, "controls": controls}, headers=analyst
    ).json()
    assert told["kpi"]["mean"] > plain["kpi"]["mean"]
    assert told["gain"] == pytest.approx(plain["gain"], rel=1e-6)
    plan = client.post(
        "/api/runs/latest/optimize", json={"weeks": 4, "controls": controls}, headers=analyst
    ).json()
    assert "controls as known for the first 2 weeks" in plan["baseline_note"]
    bad = client.post(
        "/api/runs/latest/optimize",
        json={"weeks": 4, "controls": [{"date": dates[1], "name": "holiday", "value": 1}]},
        headers=analyst,
    )
    assert bad.status_code == 400
    assert "lacks" in bad.json()["detail"]  # week 1 not given


def test_attribution_and_data_quality(api: Api, client: TestClient) -> None:
    viewer = auth(api, "viewer")
    credit = client.get("/api/attribution?bootstrap=20", headers=viewer).json()
    assert "markov" in credit["models"]
    assert "correlational" in credit["note"].lower()
    report = client.get("/api/data-quality", headers=viewer).json()
    assert {"ok", "findings", "rules_checked"} <= set(report)


# -- bad payloads ------------------------------------------------------------------------

BAD_OPTIMIZE = [
    ({"budget": -5}, "budget"),
    ({"budget": "lots"}, "budget"),
    ({"weeks": 0}, "weeks"),
    ({"weeks": "abc"}, "weeks"),
    ({"budjet": 10}, "budjet"),
    ({"bounds": {"tv": [2, 1]}}, "low <= high"),
    ({"bounds": {"nope": [0.5, 2]}}, "unknown channel(s) ['nope']"),
    ({"objective": "fame"}, "objective"),
]


@pytest.mark.parametrize(("body", "says"), BAD_OPTIMIZE)
def test_bad_optimize_payload_is_400_naming_the_field(
    api: Api, client: TestClient, body: dict[str, Any], says: str
) -> None:
    response = client.post("/api/runs/latest/optimize", json=body, headers=auth(api, "analyst"))
    assert response.status_code == 400, response.text
    assert says in response.json()["detail"]


def test_not_json_and_bad_scenarios(api: Api, client: TestClient) -> None:
    analyst = auth(api, "analyst") | {"content-type": "application/json"}
    response = client.post("/api/runs/latest/optimize", content=b"{not json", headers=analyst)
    assert response.status_code == 400
    assert "invalid request" in response.json()["detail"]
    for changes, says in (
        ({"nope": 0.1}, "nope"),
        ({api.channels[0]: -2}, ">= -1"),
        ({}, "at least one"),
    ):
        response = client.post(
            "/api/runs/latest/scenario", json={"weeks": 4, "changes": changes}, headers=analyst
        )
        assert response.status_code == 400, response.text
        assert says in response.json()["detail"]


def test_unknown_run_is_404_and_infeasible_plan_is_422(api: Api, client: TestClient) -> None:
    analyst = auth(api, "analyst")
    for method, path in (("GET", "/api/runs/mmm-nope"), ("POST", "/api/runs/mmm-nope/optimize")):
        response = client.request(method, path, json={"weeks": 4}, headers=analyst)
        assert response.status_code == 404
        assert "no run with id 'mmm-nope'" in response.json()["detail"]
        assert api.run_id in response.json()["detail"]
    capped = {ch: [0.0, 1.0] for ch in api.channels}
    response = client.post(
        "/api/runs/latest/optimize",
        json={"weeks": 4, "budget": 1e12, "bounds": capped},
        headers=analyst,
    )
    assert response.status_code == 422
    assert "upper bounds" in response.json()["detail"]
    response = client.get("/api/runs/latest/frontier?low=10&high=5", headers=analyst)
    assert response.status_code == 400
    assert "below high" in response.json()["detail"]


# -- keys ------------------------------------------------------------------------------------


def test_keys_are_stored_as_hashes_and_listed_without_them(api: Api, client: TestClient) -> None:
    admin = auth(api, "admin")
    created = client.post("/api/keys", json={"role": "analyst", "name": "jo"}, headers=admin).json()
    assert created["key"].startswith(f"mgn_{created['id']}_")
    assert created["role"] == "analyst"
    with Workspace(api.path) as ws:
        rows = ws.fetch("SELECT * FROM api_keys")
    stored = {str(v) for row in rows for v in row}
    assert all(key not in stored for key in (created["key"], *api.keys.values()))
    assert hashlib.sha256(created["key"].encode()).hexdigest() in stored
    listed = client.get("/api/keys", headers=admin).text
    assert created["id"] in listed
    assert created["key"] not in listed
    assert "hash" not in listed
    # the key works, a wrong secret behind the right id does not, and revocation bites
    mine = {"Authorization": f"Bearer {created['key']}"}
    assert client.get("/api/runs", headers=mine).status_code == 200
    forged = {"Authorization": f"Bearer mgn_{created['id']}_{'A' * 43}"}
    assert client.get("/api/runs", headers=forged).status_code == 401
    assert client.delete(f"/api/keys/{created['id']}", headers=admin).status_code == 200
    assert client.get("/api/runs", headers=mine).status_code == 401
    again = client.delete(f"/api/keys/{created['id']}", headers=admin)
    assert again.status_code == 409
    assert "already revoked" in again.json()["detail"]
    assert client.delete("/api/keys/ffffffffffff", headers=admin).status_code == 404
    bad_role = client.post("/api/keys", json={"role": "root"}, headers=admin)
    assert bad_role.status_code == 400
    assert "role" in bad_role.json()["detail"]


def test_malformed_authorization_header(api: Api, client: TestClient) -> None:
    response = client.get("/api/runs", headers={"Authorization": f"Token {api.keys['admin']}"})
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]


# -- browser sessions and CSRF ----------------------------------------------------------------


def login(client: TestClient, key: str, form_url: str = "/login") -> Any:
    form = client.get(form_url, follow_redirects=False)
    token = re.search(r"name=['\"]csrf_token['\"] value=['\"]([^'\"]+)", form.text)
    assert token, form.text
    next_page = re.search(r"name=['\"]next['\"] value=['\"]([^'\"]*)", form.text)
    assert next_page, form.text
    data = {"key": key, "csrf_token": token.group(1), "next": html.unescape(next_page.group(1))}
    return client.post("/login", data=data, follow_redirects=False)


@pytest.fixture
def browser(api: Api) -> Iterator[TestClient]:
    with TestClient(unthrottled_app(api.path, secure_cookies=False)) as test_client:
        yield test_client


def test_login_sets_a_strict_httponly_session_cookie(api: Api, browser: TestClient) -> None:
    response = login(browser, api.keys["analyst"])
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith("margin_session=")
    )
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert "httponly" in flags
    assert "samesite=strict" in flags
    assert "path=/" in flags
    assert any(f.startswith("max-age=") for f in flags)
    assert "secure" not in flags  # secure_cookies=False: plain HTTP on loopback
    assert browser.get("/api/session").json()["role"] == "analyst"


@pytest.mark.parametrize(
    ("base_url", "secure"), [("http://127.0.0.1:8765", False), ("http://margin.internal", True)]
)
def test_cookies_are_secure_away_from_loopback(api: Api, base_url: str, secure: bool) -> None:
    """By default (no override) cookies get Secure unless the app is served on loopback."""
    with TestClient(create_app(api.path), base_url=base_url) as test_client:
        response = test_client.get("/login")
    cookie = response.headers["set-cookie"]
    flags = {p.strip().lower() for p in cookie.split(";")}
    assert cookie.startswith("margin_login_csrf=")
    assert {"httponly", "samesite=strict"} <= flags
    assert ("secure" in flags) is secure


def test_login_returns_to_the_page_the_browser_asked_for(api: Api, browser: TestClient) -> None:
    asked = browser.get("/planner?run=latest", follow_redirects=False)
    assert asked.status_code == 303
    assert asked.headers["location"] == "/login?next=%2Fplanner%3Frun%3Dlatest"
    response = login(browser, api.keys["viewer"], asked.headers["location"])
    assert response.status_code == 303
    assert response.headers["location"] == "/planner?run=latest"
    # logged in already: /login goes straight on
    again = browser.get("/login?next=/roi", follow_redirects=False)
    assert (again.status_code, again.headers["location"]) == (303, "/roi")


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/roi", "/\\evil.example", "/api/keys", "roi",
     "/roi#x", "javascript:alert(1)", "/" + "a" * 3000],
)  # fmt: skip
def test_login_never_redirects_off_the_dashboard(
    api: Api, browser: TestClient, target: str
) -> None:
    from margin.api.routes_pages import safe_next

    assert safe_next(target) == "/"
    form = browser.get("/login", params={"next": target})
    token = re.search(r"name=['\"]csrf_token['\"] value=['\"]([^'\"]+)", form.text)
    assert token
    data = {"key": api.keys["viewer"], "csrf_token": token.group(1), "next": target}
    response = browser.post("/login", data=data, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/")


def test_login_refuses_bad_keys_and_forged_forms(api: Api, browser: TestClient) -> None:
    assert login(browser, api.keys["revoked"]).status_code == 401
    assert login(browser, "not a key").status_code == 401
    forged = browser.post(
        "/login", data={"key": api.keys["admin"], "csrf_token": "guess"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert "margin_session" not in browser.cookies


def test_cookie_writes_need_the_csrf_token(api: Api, browser: TestClient) -> None:
    login(browser, api.keys["analyst"])
    token = browser.get("/api/session").json()["csrf_token"]
    body = {"weeks": 4, "changes": {api.channels[0]: 0.1}}
    missing = browser.post("/api/runs/latest/scenario", json=body)
    assert missing.status_code == 403
    assert "CSRF" in missing.json()["detail"]
    wrong = browser.post("/api/runs/latest/scenario", json=body, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403
    right = browser.post("/api/runs/latest/scenario", json=body, headers={"X-CSRF-Token": token})
    assert right.status_code == 200, right.text
    # reads need no token; a Bearer key never needs one
    assert browser.get("/api/runs").status_code == 200
    bearer = browser.post("/api/runs/latest/scenario", json=body, headers=auth(api, "analyst"))
    assert bearer.status_code == 200
    refused = [r for r in audit_rows(api) if r["action"] == "scenario" and r["status"] == 403]
    assert any("CSRF" in r["detail"]["reason"] and r["role"] == "analyst" for r in refused)


def test_logout_needs_the_form_token_and_ends_the_session(api: Api, browser: TestClient) -> None:
    login(browser, api.keys["viewer"])
    token = browser.get("/api/session").json()["csrf_token"]
    assert (
        browser.post("/logout", data={"csrf_token": "x"}, follow_redirects=False).status_code == 403
    )
    response = browser.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert browser.get("/api/runs").status_code == 401


def test_revoking_a_key_ends_its_sessions(
    api: Api, browser: TestClient, client: TestClient
) -> None:
    key = fresh_key(api, "viewer")
    login(browser, key)
    assert browser.get("/api/runs").status_code == 200
    client.delete(f"/api/keys/{key_id_of(key)}", headers=auth(api, "admin"))
    assert browser.get("/api/runs").status_code == 401
    assert browser.get("/", follow_redirects=False).status_code == 303


# -- audit --------------------------------------------------------------------------------------


def test_audit_records_writes_and_refusals(api: Api, client: TestClient) -> None:
    before = len(audit_rows(api))
    client.post("/api/keys", json={"role": "viewer"})  # no key
    client.post("/api/keys", json={"role": "viewer"}, headers=auth(api, "viewer"))  # too low
    client.post("/api/keys", json={"role": "viewer"}, headers=auth(api, "bad"))
    made = client.post("/api/keys", json={"role": "viewer"}, headers=auth(api, "admin")).json()
    client.delete(f"/api/keys/{made['id']}", headers=auth(api, "admin"))
    client.post("/api/runs/latest/optimize", json={"weeks": -1}, headers=auth(api, "analyst"))
    rows = audit_rows(api)[before:]
    summary = [(r["action"], r["status"], r["role"]) for r in rows]
    assert summary == [
        ("key.create", 401, None),
        ("key.create", 403, "viewer"),
        ("key.create", 401, None),
        ("key.create", 201, "admin"),
        ("key.revoke", 200, "admin"),
        ("optimize", 400, "analyst"),
    ]
    assert rows[2]["detail"]["claimed_key_id"] == "0123456789ab"
    assert rows[3]["target"] == made["id"]
    assert rows[4]["target"] == made["id"]
    assert "weeks" in rows[5]["detail"]["reason"]
    listed = client.get("/api/audit?limit=6", headers=auth(api, "admin")).json()
    assert [e["id"] for e in listed["entries"]] == [r["id"] for r in reversed(rows)]
    assert all(api.keys["admin"] not in json.dumps(r, default=str) for r in audit_rows(api))


def test_audit_cannot_be_changed_through_the_api(api: Api, client: TestClient) -> None:
    admin = auth(api, "admin")
    before = audit_rows(api)
    first = before[0]["id"] if before else 1
    for method in ("PUT", "PATCH", "DELETE", "POST"):
        for path in ("/api/audit", f"/api/audit/{first}"):
            assert client.request(method, path, json={}, headers=admin).status_code in (404, 405)
    after = audit_rows(api)
    assert after[: len(before)] == before  # the attempts are appended, nothing else changed
    schema = client.get("/openapi.json").json()
    assert set(schema["paths"]["/api/audit"]) == {"get"}
    # nothing updates audit rows; the one delete is retention (audit.prune, CLI only)
    for module in Path(create_app.__code__.co_filename).parent.glob("*.py"):
        source = module.read_text()
        assert not re.search(r"UPDATE\s+audit", source, re.IGNORECASE), module
        deletes = [m.start() for m in re.finditer(r"DELETE\s+FROM\s+audit", source, re.I)]
        if module.name != "audit.py":
            assert not deletes, module
            assert "prune" not in source or not module.name.startswith("routes_"), module
            continue
        body = source[source.index("def prune(") : source.index("class PendingAudit")]
        assert len(deletes) == 1
        assert "DELETE FROM audit" in body


# -- OpenAPI, docs, offline -------------------------------------------------------------------


def test_openapi_lists_every_endpoint(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    expected = {
        "/api/runs": {"get"},
        "/api/runs/{run_id}": {"get"},
        "/api/runs/{run_id}/summary": {"get"},
        "/api/runs/{run_id}/channels": {"get"},
        "/api/runs/{run_id}/curves": {"get"},
        "/api/plans/{plan_id}": {"get"},
        "/api/runs/{run_id}/health": {"get"},
        "/api/runs/{run_id}/decomposition": {"get"},
        "/api/runs/{run_id}/geos": {"get"},
        "/api/runs/{run_id}/frontier": {"get"},
        "/api/runs/{run_id}/forecast": {"post"},
        "/api/runs/{run_id}/optimize": {"post"},
        "/api/runs/{run_id}/scenario": {"post"},
        "/api/attribution": {"get"},
        "/api/data-quality": {"get"},
        "/api/refresh": {"post"},
        "/api/keys": {"get", "post"},
        "/api/keys/{key_id}": {"delete"},
        "/api/audit": {"get"},
        "/api/session": {"get"},
        "/api/loop/cycles": {"get"},
        "/api/ltv": {"get"},
        "/api/ltv/{run_id}": {"get"},
    }
    assert {path: set(ops) for path, ops in schema["paths"].items()} == expected
    optimize = schema["components"]["schemas"]["OptimizeRequest"]
    assert optimize["example"]["weeks"] == 13
    assert client.get("/redoc").status_code == 404


def test_no_page_refers_to_another_host(api: Api, client: TestClient) -> None:
    external = re.compile(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", re.IGNORECASE)
    viewer = auth(api, "viewer")
    pages = ["/docs", "/login", *PAGES]
    for path in pages:
        response = client.get(path, headers=viewer if path != "/login" else {})
        assert not external.search(response.text), path
        assert "cdn" not in response.text.lower(), path
    docs = client.get("/docs").text
    assert "/api/runs/{run_id}/optimize" in docs
    assert "<script" not in docs


# -- sharing the workspace with other processes ------------------------------------------------


def test_the_app_holds_no_lock_between_requests(tmp_path: Path) -> None:
    """Right after a request another process can open the workspace for writing (the
    app used to keep it open for 3 idle seconds, locking ``margin keys revoke`` out)."""
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        key = create_key(ws, "viewer")
    with TestClient(create_app(path)) as test_client:
        headers = {"Authorization": f"Bearer {key}"}
        assert test_client.get("/api/runs", headers=headers).status_code == 200
        other = subprocess.run(
            [sys.executable, "-c", "import duckdb, sys; duckdb.connect(sys.argv[1]).close()",
             str(path)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert other.returncode == 0, other.stderr


def test_a_workspace_held_by_another_process_is_503(tmp_path: Path) -> None:
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        key = create_key(ws, "viewer")
    app = create_app(path)  # before the other process takes the file
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        with TestClient(app) as test_client:
            response = test_client.get("/api/runs", headers={"Authorization": f"Bearer {key}"})
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["retry-after"]) > 0
    detail = response.json()["detail"]
    assert "busy" in detail
    assert f"process {holder.pid}" in detail  # the holder, from DuckDB's message and /proc


HOLD = (
    "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('holding', flush=True); "
    "time.sleep(60)"
)


def test_a_failed_refresh_is_422_with_its_reason_and_audited(tmp_path: Path) -> None:
    from margin.refresh import RefreshSettings, save_settings

    drop = tmp_path / "drop"
    (drop / "spend").mkdir(parents=True)
    (drop / "spend" / "a.csv").write_text("date,channel,spend\n2024-01-01,tv,10\n")
    path = tmp_path / "ws.duckdb"
    with Workspace(path) as ws:
        key = create_key(ws, "admin")
        save_settings(ws, RefreshSettings(drop=drop, spec=tmp_path / "missing.toml"))
    with TestClient(create_app(path)) as test_client:
        response = test_client.post("/api/refresh", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 422
    body = response.json()
    assert "changed nothing" in body["detail"]
    assert "spec" in body["detail"]
    assert body["refresh"]["status"] == "failed"
    with Workspace(path) as ws:
        assert ws.counts()["spend"] == 0
        action, status, detail = ws.fetch("SELECT action, status, detail FROM audit")[0]
    assert (action, status) == ("refresh", 422)
    assert json.loads(detail)["outcome"] == "failed"
