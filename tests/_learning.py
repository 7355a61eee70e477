"""A fixture factory of the learning loop's records: ``cycle.json`` bodies exactly as the
shared spec (issue 22, part B: format ``margin-loop-cycle`` version 1) writes them, and a
workspace holding them the way ``margin.loop`` records a cycle (a folder under
``<workspace folder>/loop/<loop id>/cycle-<k:03d>/`` and a ``runs`` row of kind
``loop_cycle``)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

CHANNELS = ("tv", "search", "social")
LOOP_ID = "loop-1a2b3c4d5e6f"
WEEKS = 13
FIRST_WEEK = date(2026, 1, 5)
ROI_MEAN = {"tv": 1.6, "search": 2.4, "social": 0.8}
SPEND = {"tv": 400_000.0, "search": 250_000.0, "social": 150_000.0}


def interval(mean: float, low: float, high: float) -> dict[str, float]:
    return {"mean": mean, "p05": low, "p95": high}


def _week(k: int, offset: int = 0) -> str:
    return (FIRST_WEEK + timedelta(weeks=(k - 1) * WEEKS + offset)).isoformat()


def _width(channel: str, k: int) -> float:
    """The ROI interval's width after cycle ``k``: each channel narrows by half in the
    cycle its test is analysed (tv in cycle 2, search in 3, social in 4)."""
    tested_in = {"tv": 2, "search": 3, "social": 4}[channel]
    return 1.6 if k < tested_in else 0.8 * 0.9 ** (k - tested_in)


def _tested(k: int) -> str | None:
    return {2: "tv", 3: "search", 4: "social", 5: "tv"}.get(k)


def _analysed(k: int) -> list[dict[str, Any]]:
    channel = _tested(k)
    if channel is None:
        return []
    return [
        {
            "id": f"exp-{k:03d}",
            "design_id": f"design-{k - 1:03d}",
            "channel": channel,
            "kind": "heavy-up",
            "treated": ["geo_a", "geo_c"],
            "start": _week(k - 1, 2),
            "end": _week(k - 1, 9),
            "spend_delta": 40_000.0,
            "lift": interval(60_000.0, 30_000.0, 90_000.0),
            "iroas": interval(1.5, 0.75, 2.25),
            "method": "synthetic_control",
        }
    ]


def _scheduled(k: int) -> list[dict[str, Any]]:
    channel = _tested(k + 1)
    if channel is None:
        return []
    return [
        {
            "design_id": f"design-{k:03d}",
            "channel": channel,
            "kind": "heavy-up",
            "treated": ["geo_a", "geo_c"],
            "controls": ["geo_b", "geo_d"],
            "start": _week(k, 2),
            "end": _week(k, 9),
            "spend": 40_000.0,
            "roi_se": 0.3,
            "value": interval(25_000.0, 5_000.0, 60_000.0),
        }
    ]


def _plan(k: int) -> dict[str, Any]:
    plan = {}
    for i, name in enumerate(CHANNELS):
        status_quo = SPEND[name]
        step = (0.1, 0.05, -0.15)[i]
        spend = status_quo * (1 + step) ** (k - 1)
        previous = status_quo * (1 + step) ** max(k - 2, 0)
        plan[name] = {
            "spend": spend,
            "previous": previous,
            "status_quo": status_quo,
            "change": spend / previous - 1.0,
            "bound": [0.75 * previous, 1.25 * previous],
        }
    return plan


def _roi(k: int) -> dict[str, Any]:
    out = {}
    for name in CHANNELS:
        mean = ROI_MEAN[name]
        after = _width(name, k)
        before = None if k == 1 else _width(name, k - 1)
        out[name] = {
            "before": None
            if before is None
            else interval(mean, mean - before / 2, mean + before / 2),
            "after": interval(mean, mean - after / 2, mean + after / 2),
        }
    return out


def make_cycle(k: int, *, truth: bool = False, reconciliation: bool = False) -> dict[str, Any]:
    """Cycle ``k`` (1-based) of a 3-channel loop of the ``margin`` policy."""
    plan = _plan(k)
    gain = None if k == 1 else interval(10_000.0 * k, -5_000.0 + 8_000.0 * k, 30_000.0 * k)
    body: dict[str, Any] = {
        "format": "margin-loop-cycle",
        "version": 1,
        "loop_id": LOOP_ID,
        "cycle": k,
        "policy": "margin",
        "weeks": {"start": _week(k), "end": _week(k, WEEKS - 1), "n": WEEKS},
        "kpi": "revenue",
        "kpi_value": 1.0,
        "currency": "USD",
        "run_id": None if k == 1 else f"mmm-{k:012d}",
        "budget": sum(p["spend"] for p in plan.values()),
        "plan": plan,
        "expected_gain": gain,
        "p_beats_status_quo": None if k == 1 else 0.6 + 0.05 * k,
        "guardrails": {"max_change": 0.25, "max_loss": 12_345.0, "shrunk": None},
        "tests": {"analysed": _analysed(k), "scheduled": _scheduled(k)},
        "test_spend": sum(t["spend"] for t in _scheduled(k)),
        "roi": _roi(k),
        "learned": {
            name: {
                "width_before": None if k == 1 else _width(name, k - 1),
                "width_after": _width(name, k),
            }
            for name in CHANNELS
        },
        "reconciliation": None,
        "true": None,
        "timings": {"ingest": 1.0, "analyse": 0.5, "fit": 20.0, "plan": 2.0, "design": 1.0,
                    "step": 3.0},
    }  # fmt: skip
    if truth:
        oracle = 50_000.0
        body["true"] = {
            "value": 9_000_000.0 + 1_000.0 * k,
            "status_quo_value": 9_000_000.0,
            "oracle_value": 9_000_000.0 + oracle,
            "gain": 1_000.0 * k * 10,
            "oracle_gain": oracle,
            "share_of_oracle": 10_000.0 * k / oracle,
        }
    if reconciliation:
        body["reconciliation"] = _reconciliation(body)
    return body


def make_loop(n: int = 4, **options: bool) -> list[dict[str, Any]]:
    """Cycles 1..n of one loop, oldest first."""
    return [make_cycle(k, **options) for k in range(1, n + 1)]


def record_loop(ws_path: Path, cycles: list[dict[str, Any]]) -> list[Path]:
    """Write ``cycles`` into the workspace at ``ws_path`` as margin.loop records them
    (cycle folders under ``loop/<loop id>/`` beside the workspace, ``runs`` rows of kind
    ``loop_cycle``); the cycle.json paths."""
    from margin.data.workspace.runs import RunRow, code_version, record_run, utc_now
    from margin.data.workspace.store import Workspace

    paths = []
    with Workspace(ws_path) as ws:
        for body in cycles:
            folder = ws_path.parent / "loop" / body["loop_id"] / f"cycle-{body['cycle']:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "cycle.json"
            path.write_text(json.dumps(body, indent=2), encoding="utf-8")
            row = RunRow(
                id=f"cycle-{body['loop_id']}-{body['cycle']:03d}", kind="loop_cycle",
                spec_hash=None, data_hash=None, code_version=code_version(), seed=None,
                created=utc_now() + timedelta(seconds=body["cycle"]), status="ok",
                artifact_path=str(path), message=f"cycle {body['cycle']}",
            )  # fmt: skip
            record_run(ws, row)
            paths.append(path)
    return paths


def _reconciliation(body: dict[str, Any]) -> dict[str, Any]:
    """A ``margin-reconciliation`` version 1 body (margin.loop.reconcile's JSON)."""

    def roas(mean: float) -> dict[str, Any]:
        return {"roas": interval(mean, mean - 0.3, mean + 0.3), "interval": "bootstrap",
                "attributed_value": 1e6 * mean, "spend": 1e6, "note": None}  # fmt: skip

    channels = {}
    for name in CHANNELS:
        tested = name == "tv"
        flags = [{"kind": "attribution_vs_mmm", "model": "last_touch",
                  "reason": "last-touch ROAS is 3.0× the MMM's ROI"}] if name == "social" else []  # fmt: skip
        channels[name] = {
            "mmm_roi": body["roi"][name]["after"],
            "attributed": {"last_touch": roas(3.0), "markov": roas(2.5)},
            "lift": {
                "iroas": interval(1.5, 0.75, 2.25) if tested else None,
                "se": 0.45 if tested else None,
                "tests": [
                    {
                        "id": "exp-002",
                        "iroas": interval(1.5, 0.75, 2.25),
                        "se": 0.45,
                        "spend_delta": 40_000.0,
                        "lift": 60_000.0,
                        "start": None,
                        "end": None,
                    }
                ]
                if tested
                else [],
            },
            "factor": {
                m: {
                    "mmm": interval(0.5, 0.3, 0.8),
                    "lift": interval(0.55, 0.2, 0.9) if tested else None,
                }
                for m in ("last_touch", "markov")
            },
            "flags": flags,
        }
    return {
        "format": "margin-reconciliation", "version": 1,
        "unit": "currency of KPI value per currency of spend", "currency": "USD",
        "kpi": "revenue", "kpi_value": 1.0, "run_id": body["run_id"],
        "models": ["last_touch", "markov"], "attribution_scale": 1.0, "factor_method": "mc",
        "channels": channels,
        "flags": [{"channel": n, **f} for n, c in channels.items() for f in c["flags"]],
        "notes": ["attributed ROAS covers the events' weeks only"],
    }  # fmt: skip
