"""A finished cycle's record: ``cycle.json`` (format ``margin-loop-cycle``, version 1), its
``runs`` row (kind ``loop_cycle``) and :func:`list_cycles` to read them back.

``cycle.json`` is assembled from the cycle's step files (``ingest.json``, ``analysed.json``,
``fit.json``, ``plan.json``, ``true.json``, ``reconciliation.json``); every estimate is
``{"mean", "p05", "p95"}``; money is in the world's currency.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from margin.errors import ConfigError
from margin.loop.ledger import Loop, loops_folder, read_step, write_json
from margin.loop.world import WorldInfo

__all__ = [
    "CYCLE_FORMAT",
    "CYCLE_VERSION",
    "KIND",
    "cycle_body",
    "cycle_run_id",
    "list_cycles",
    "previous_fit",
    "record_cycle",
    "true_block",
]

CYCLE_FORMAT = "margin-loop-cycle"
CYCLE_VERSION = 1
KIND = "loop_cycle"
"""The ``runs`` kind of a finished cycle."""
STEPS = ("ingest", "analyse", "fit", "plan", "design", "step")


def cycle_run_id(loop_id: str, k: int) -> str:
    """``cycle-<loop id>-<k:03d>``: the ``runs`` id of cycle ``k``."""
    return f"cycle-{loop_id}-{k:03d}"


def true_block(values: dict[str, float], test_spend: float = 0.0) -> dict[str, float | None]:
    """``cycle.json``'s ``true`` from the world's scores (currency) of the executed plan
    (``plan``, tests included), the allocation alone (``allocation``, optional), the status
    quo (``status_quo``) and the oracle (``oracle``).

    ``share_of_oracle`` reads the allocation (what the policy chose to spend where): its
    gain over the status quo ÷ the oracle's. The executed plan's ``gain`` also holds what
    the tests' extra spend returned; ``net_gain`` subtracts that spend (``test_spend``,
    currency: a heavy-up's money is a cost), so a test that pays for itself shows no loss.
    """
    value, sq, oracle = values["plan"], values["status_quo"], values["oracle"]
    gain, best = value - sq, oracle - sq
    allocation = values.get("allocation", value)
    chosen = allocation - sq

    def share(x: float) -> float | None:
        return x / best if abs(best) > 1e-9 else None

    return {
        "value": value, "status_quo_value": sq, "oracle_value": oracle, "gain": gain,
        "oracle_gain": best, "allocation_value": allocation, "allocation_gain": chosen,
        "share_of_oracle": share(chosen), "test_spend": test_spend,
        "net_gain": gain - test_spend, "net_share_of_oracle": share(gain - test_spend),
    }  # fmt: skip


def _roi(
    fit: dict[str, Any] | None, before: dict[str, Any] | None, channels: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``roi`` (before/after per channel) and ``learned`` (their widths)."""
    if fit is None:
        return {}, {}
    roi, learned = {}, {}
    for name in channels:
        after = fit["roi"].get(name)
        prior = None if before is None else before["roi"].get(name)
        roi[name] = {"before": prior, "after": after}
        learned[name] = {
            "width_before": None if prior is None else prior["p95"] - prior["p05"],
            "width_after": None if after is None else after["p95"] - after["p05"],
        }
    return roi, learned


def cycle_body(
    loop: Loop, info: WorldInfo, k: int, steps: dict[str, dict[str, Any] | None],
    before: dict[str, Any] | None,
) -> dict[str, Any]:  # fmt: skip
    """``cycle.json``'s body from cycle ``k``'s step files (``steps``: name → body) and the
    previous cycle's ``fit.json`` (``before``)."""
    plan, fit = steps["plan"] or {}, steps["fit"]
    start = loop.cycle_start(k)
    end = start + timedelta(weeks=loop.settings.weeks - 1)
    roi, learned = _roi(fit, before, loop.channels)
    timings = {name: (steps.get(name) or {}).get("seconds") for name in STEPS}
    design = float(plan.get("design_seconds") or 0.0)
    timings["design"] = design
    if timings["plan"] is not None:
        timings["plan"] = round(float(timings["plan"]) - design, 3)
    true = steps.get("true")
    return {
        "format": CYCLE_FORMAT, "version": CYCLE_VERSION, "loop_id": loop.id, "cycle": k,
        "policy": loop.settings.policy,
        "weeks": {"start": start.isoformat(), "end": end.isoformat(), "n": loop.settings.weeks},
        "kpi": info.kpi, "kpi_value": info.kpi_value, "currency": info.currency,
        "run_id": None if fit is None else fit["run_id"], "budget": plan["budget"],
        "plan": plan["plan"], "expected_gain": plan.get("expected_gain"),
        "p_beats_status_quo": plan.get("p_beats_status_quo"),
        "guardrails": plan["guardrails"],
        "tests": {"analysed": (steps["analyse"] or {}).get("tests", []),
                  "scheduled": plan["tests"]["scheduled"],
                  "considered": (plan.get("value_of_information") or {}).get("considered", [])},
        "test_spend": plan["test_spend"], "roi": roi, "learned": learned,
        "reconciliation": steps.get("reconciliation"),
        "true": None if true is None else true.get("true"),
        "timings": timings,
    }  # fmt: skip


def record_cycle(loop: Loop, k: int, body: dict[str, Any]) -> Path:
    """Write cycle ``k``'s ``cycle.json`` and its ``runs`` row (once: a re-run that finds
    the row leaves it)."""
    from margin.data.workspace.runs import RunRow, code_version, has_run, record_run, utc_now
    from margin.data.workspace.store import Workspace

    path = write_json(loop.cycle_dir(k) / "cycle.json", body)
    gain = body.get("expected_gain")
    message = f"cycle {k} of {loop.id} ({body['policy']})" + (
        "" if gain is None else f"; expected gain {gain['mean']:,.0f} {body['currency']}"
    )
    row = RunRow(
        id=cycle_run_id(loop.id, k), kind=KIND, spec_hash=None, data_hash=None,
        code_version=code_version(), seed=loop.settings.seed, created=utc_now(), status="ok",
        artifact_path=str(path.resolve()), message=message,
    )  # fmt: skip
    with Workspace(loop.workspace) as ws:
        if not has_run(ws, row.id):
            record_run(ws, row)
    return path


def _cycle_number(run_id: str) -> int:
    return int(run_id.rsplit("-", 1)[1])


def list_cycles(workspace: str | Path, loop_id: str | None = None) -> list[dict[str, Any]]:
    """The ``cycle.json`` bodies of the latest loop (or ``loop_id``), oldest cycle first,
    read through the runs owner.

    Raises:
        ConfigError: ``loop_id`` names no loop of the workspace.
    """
    from margin.data.workspace.runs import list_runs, read_json_object
    from margin.data.workspace.store import Workspace

    with Workspace(Path(workspace), read_only=True) as ws:
        rows = list_runs(ws, kind=KIND)
    if not rows:
        return []
    if loop_id is None:
        loop_id = rows[0].id.removeprefix("cycle-").rsplit("-", 1)[0]
    mine = [r for r in rows if r.id.startswith(f"cycle-{loop_id}-")]
    if not mine:
        raise ConfigError(
            f"workspace {workspace} has no loop {loop_id!r}; its loops are in "
            f"{loops_folder(Path(workspace))}"
        )
    mine.sort(key=lambda r: _cycle_number(r.id))
    fix = "re-run margin loop to rewrite it"
    return [read_json_object(r.path, "cycle record", fix) for r in mine]


def previous_fit(loop: Loop, k: int) -> dict[str, Any] | None:
    """The newest ``fit.json`` of the cycles before ``k`` (``None``: none)."""
    for j in range(k - 1, 0, -1):
        body = read_step(loop.cycle_dir(j) / "fit.json")
        if body is not None:
            return body
    return None
