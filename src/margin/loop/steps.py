"""The measuring steps of a cycle: ingest what the world returned, analyse the tests that
have ended, fit the MMM calibrated by every recorded test.

Each returns the JSON body its step file keeps; the workspace's write lock is taken only
around the writes (a :class:`~margin.data.workspace.store.Workspace` opened for each).
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.errors import ConfigError, MarginError
from margin.loop.ledger import Loop

if TYPE_CHECKING:
    from margin.data.panel.marketing_data import MarketingData
    from margin.data.panel.spec import Spec
    from margin.experiments.panel import GeoPanel
    from margin.loop.world import WorldInfo

__all__ = [
    "INGEST_ORDER",
    "analyse_tests",
    "data_end",
    "fit_mmm",
    "ingest",
    "loop_spec",
    "sub_panel",
    "test_due",
]

INGEST_ORDER = ("spend", "outcomes", "controls", "events", "transactions")


def ingest(
    workspace: Path, files: dict[str, Path], currency: str, today: date | None = None
) -> dict[str, Any]:
    """Load the world's files (already checked) into the workspace (a new one in the
    world's ``currency``; an existing one must use it).

    A file already loaded (same sha256) replaces its own rows, so a re-run counts nothing
    twice; the files load in one transaction (all of them or none). Events and
    transactions are hashed with the workspace's key (made if missing).
    """
    from margin.data.ingest.pipeline import ingest_file
    from margin.data.ingest.readers import ReadOptions
    from margin.data.workspace.hashing import ensure_key

    options = ReadOptions(today=today)  # the world's clock: its weeks may lie years ahead
    from margin.data.workspace.store import Workspace, WorkspaceSettings

    loaded: dict[str, Any] = {}
    if not files:  # the business: the user ingests
        return {"files": loaded}
    settings = None if workspace.exists() else WorkspaceSettings(currency=currency)
    with Workspace(workspace, settings=settings) as ws:
        if ws.settings.currency != currency:
            raise ConfigError(
                f"workspace {workspace} keeps money in {ws.settings.currency}; the world's "
                f"currency is {currency}: run the loop on a workspace in {currency}"
            )
        if any(kind in files for kind in ("events", "transactions")):
            ensure_key(ws)
        with ws.transaction():  # the cycle's files load all together, or none
            for kind in INGEST_ORDER:
                if kind in files:
                    result = ingest_file(ws, kind, files[kind], options=options)
                    loaded[kind] = {
                        "file": str(files[kind]), "rows": result.rows_written,
                        "replaced": result.rows_replaced,
                    }  # fmt: skip
    return {"files": loaded}


def data_end(workspace: Path, kpi: str) -> date | None:
    """The last week with outcomes of ``kpi`` in the workspace (``None``: none)."""
    from margin.data.workspace.store import Workspace

    with Workspace(workspace, read_only=True) as ws:
        row = ws.fetch("SELECT max(date) FROM outcomes WHERE kpi = ?", [kpi])
    value = row[0][0] if row else None
    return None if value is None else date.fromisoformat(str(value)[:10])


def test_due(test: dict[str, Any], last_week: date | None) -> bool:
    """Whether ``test``'s window and carry-over are in the data (its last week is in)."""
    if last_week is None:
        return False
    return _clean_after(test) <= last_week + timedelta(weeks=1)


def _clean_after(test: dict[str, Any]) -> date:
    """The first week after ``test``'s window and carry-over."""
    end = date.fromisoformat(test["end"])
    return end + timedelta(days=1) + timedelta(weeks=int(test["carryover_weeks"]))


def sub_panel(panel: GeoPanel, geos: list[str] | tuple[str, ...], since: date | None) -> GeoPanel:
    """``panel`` restricted to ``geos`` (in the panel's order) and periods from ``since``."""

    keep = [i for i, g in enumerate(panel.geos) if g in set(geos)]
    first = 0 if since is None else sum(1 for d in panel.dates if d < since)
    return dataclasses.replace(
        panel,
        dates=panel.dates[first:],
        geos=tuple(panel.geos[i] for i in keep),
        kpi=panel.kpi[keep, first:],
        spend=None if panel.spend is None else panel.spend[keep, first:],
    )


def analyse_tests(
    workspace: Path, info: WorldInfo, tests: list[dict[str, Any]], last_week: date | None
) -> list[dict[str, Any]]:
    """Analyse each of ``tests`` whose window and carry-over have ended and record its lift
    (the window as designed; the lift over the window plus the carry-over weeks, so it
    includes the carry-over as the MMM's calibration reads it). Idempotent: the registry
    id is a hash of the test, so a re-run replaces its row."""
    out = []
    for test in tests:
        if test_due(test, last_week):
            out.append(_analyse(workspace, info, test))
    return out


def _analyse(workspace: Path, info: WorldInfo, test: dict[str, Any]) -> dict[str, Any]:
    from margin.data.workspace.store import Workspace
    from margin.experiments import analyze, load_panel_workspace
    from margin.experiments.registry import record_experiment

    start, end = date.fromisoformat(test["start"]), date.fromisoformat(test["end"])
    with Workspace(workspace, read_only=True) as ws:
        panel = load_panel_workspace(ws, info.kpi, channel=test["channel"])
    since = None if test.get("pre_start") is None else date.fromisoformat(test["pre_start"])
    panel = sub_panel(panel, [*test["treated"], *test["controls"]], since)
    base = {k: test[k] for k in ("design_id", "channel", "kind", "treated", "start", "end")}
    try:
        result = analyze(
            panel, list(test["treated"]), start, _clean_after(test) - timedelta(days=1),
            controls=list(test["controls"]), spend_delta=float(test["spend"]),
            space_placebos=False,
        )  # fmt: skip
        result = dataclasses.replace(result, end=end)
        with Workspace(workspace) as ws:
            row = record_experiment(
                ws, result, channel=test["channel"], kpi=info.kpi, design_id=test["design_id"]
            )
    except MarginError as err:  # a test that cannot be read is said, not fatal
        return {**base, "id": None, "spend_delta": test["spend"], "lift": None, "iroas": None,
                "method": None, "error": str(err)}  # fmt: skip
    iroas = result.incremental_roi
    return {
        **base, "id": row["id"], "spend_delta": result.spend_delta,
        "lift": result.cumulative_lift.to_json(),
        "iroas": None if iroas is None else iroas.to_json(), "method": result.method,
    }  # fmt: skip


def loop_spec(info: WorldInfo) -> Spec:
    """The spec of the loop's MMM: the world's KPI, channels and controls, by geo."""
    from margin.data.panel.spec import parse_spec

    data: dict[str, Any] = {
        "geo": "geo", "kpi": info.kpi, "kpi_type": info.kpi_type,
        "media": list(info.channels), "controls": list(info.controls),
    }  # fmt: skip
    if info.kpi_type == "conversions":
        data["revenue_per_kpi"] = info.kpi_value
    return parse_spec({"data": data}, source="the loop's world")


def fit_mmm(
    loop: Loop, info: WorldInfo, folder: Path, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """Fit the MMM on the workspace (calibrated by its recorded tests unless the policy is
    ``mmm-only``), warm-started from ``previous`` (the last cycle's ``fit.json``) when its
    channels and geos match; save the run into ``folder`` and record it.

    The published run is noted in ``fit.pending.json`` before its ``runs`` row is written,
    so a run killed in between records that run on its re-run instead of fitting again."""
    from datetime import datetime

    from margin.data.workspace.runs import RunRecord, has_run, record_run
    from margin.data.workspace.store import Workspace
    from margin.loop.ledger import read_step, write_json

    pending = folder / "fit.pending.json"
    body = read_step(pending)
    if body is None or not Path(body["run_dir"]).is_dir():
        body = _fit_and_save(loop, info, folder, previous)
        write_json(pending, body)
    saved = dict(body["record"])
    record = RunRecord(**{**saved, "created": datetime.fromisoformat(saved["created"])})
    with Workspace(loop.workspace) as ws:
        if not has_run(ws, record.id):
            record_run(ws, record)
    return body


def _fit_and_save(
    loop: Loop, info: WorldInfo, folder: Path, previous: dict[str, Any] | None
) -> dict[str, Any]:
    """Fit, write the run folder ``folder/<run id>``; the body of ``fit.json``."""
    from margin.data.panel.marketing_data import load_panel
    from margin.data.workspace.runs import load_summary, publish_run_folder
    from margin.data.workspace.store import Workspace
    from margin.mmm import MarketingMixModel, model_config, read_lift_tests_workspace
    from margin.refresh.fit import save_fit

    spec = loop_spec(info)
    settings = loop.settings
    with Workspace(loop.workspace, read_only=True) as ws:
        panel = load_panel(spec, workspace=ws)
        calibrated = settings.policy == "margin"
        tests = read_lift_tests_workspace(ws, kpi=info.kpi) if calibrated else []
    model = MarketingMixModel(
        model_config(spec.raw, panel.channels), inference=settings.inference, seed=settings.seed
    )
    warm = _warm(model, panel, tests, previous)
    partial = folder / ".mmm-partial"
    shutil.rmtree(partial, ignore_errors=True)
    record = save_fit(model, panel, spec, partial)
    final = folder / record.id
    record = publish_run_folder(partial, final, record)
    summary = load_summary(final)
    roi = {c: s["roi"] for c, s in summary["channels"].items()}
    return {
        "run_id": record.id, "run_dir": str(final), "lift_tests": len(tests), "warm_start": warm,
        "channels": list(panel.channels), "geos": list(panel.geos), "roi": roi,
        "data": {"start": str(panel.dates[0])[:10], "end": str(panel.dates[-1])[:10]},
        "record": {**dataclasses.asdict(record), "created": record.created.isoformat()},
    }  # fmt: skip


def _warm(
    model: Any, panel: MarketingData, tests: list[Any], previous: dict[str, Any] | None
) -> dict[str, Any]:
    """Fit, from the previous cycle's posterior medians where the channels and geos match."""
    import numpy as np

    from margin.mmm.inference import warm_start

    if previous is None:
        model.fit(panel, tests)
        return {"used": False, "reason": "no previous fit"}
    if previous["channels"] != list(panel.channels) or previous["geos"] != list(panel.geos):
        model.fit(panel, tests)
        return {"used": False, "reason": "the channels or geos changed"}
    try:
        with np.load(Path(previous["run_dir"]) / "posterior.npz", allow_pickle=False) as draws:
            init = dict(warm_start({name: draws[name] for name in draws.files}))
        model.fit(panel, tests, init=init)
    except (OSError, KeyError, ValueError, ConfigError) as err:
        model.fit(panel, tests)
        return {"used": False, "reason": f"run {previous['run_id']}'s draws do not fit: {err}"}
    return {"used": True, "reason": f"started from run {previous['run_id']}'s posterior medians"}
