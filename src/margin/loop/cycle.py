"""One cycle of the loop, resumable, and :func:`run_loop` for one or N cycles.

A cycle: **ingest** what the world returned (the history at the first cycle), **analyse**
the tests whose window and carry-over have ended, **fit** the MMM calibrated by every
recorded test (MMM policies), **plan** the cycle within the guardrails and **design** its
tests (folded into the executed plan, ``plan.csv``), **step** the world with it, and
**record** the cycle (``cycle.json`` and a ``runs`` row).

Each step writes its result file in the cycle's folder before the next starts; a re-run
resumes at the first step without one. Whether ``step`` already happened is the world's
``next_week``: the cycle's first week (not yet) or the week after it (done: its output is
checked and ingested by the next cycle). Ingests are idempotent (a file loaded again
replaces its own rows); the tests' registry rows and the runs rows are written once.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from margin.errors import ConfigError
from margin.loop.ledger import Loop, default_state, open_loop, read_step, write_json
from margin.loop.settings import LoopSettings
from margin.loop.world import World, WorldClient, WorldError, WorldInfo

__all__ = ["LoopResult", "Progress", "plan_next_cycle", "run_cycle", "run_loop"]

Progress = Callable[[int, str], None]
"""Called with ``(cycle, step)`` as each step starts (``step`` one of :data:`STEPS`)."""
STEPS = ("ingest", "analyse", "fit", "plan", "design", "score", "reconcile", "step", "record")


@dataclass(frozen=True)
class LoopResult:
    """What :func:`run_loop` did.

    Attributes:
        cycles: the ``cycle.json`` bodies of the cycles finished by this call.
        next_plan: the next cycle's ``plan.json`` (planned, not stepped), when asked for.
    """

    loop_id: str
    folder: Path
    cycles: tuple[dict[str, Any], ...]
    next_plan: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "loop_id": self.loop_id, "folder": str(self.folder), "cycles": list(self.cycles),
            "next_plan": self.next_plan,
        }  # fmt: skip


@dataclass(frozen=True)
class _Run:
    loop: Loop
    world: World
    progress: Progress


def _quiet(cycle: int, step: str) -> None:
    return None


def _check_cycles(cycles: object) -> int:
    if isinstance(cycles, bool) or not isinstance(cycles, int) or not 1 <= cycles <= 1000:
        raise ConfigError(f"cycles must be an integer from 1 to 1000; got {cycles!r}")
    return cycles


def run_loop(
    workspace_path: str | Path,
    world_command: str,
    cycles: int,
    settings: LoopSettings | None = None,
    progress: Progress | None = None,
    *,
    state: str | Path | None = None,
    plan_next: bool = False,
) -> LoopResult:
    """Run ``cycles`` cycles of the loop on the workspace against the world behind
    ``world_command`` (its state in ``state``, default ``<workspace folder>/loop/world``).

    An unfinished loop of that world resumes where it stopped (its unfinished cycle counts
    as one of ``cycles``); a finished one continues with more cycles. ``plan_next`` also
    plans the cycle after them (ingest, analyse, fit, plan; no step): ``next_plan``.

    Raises:
        ConfigError: bad ``cycles`` or settings, a loop started with other settings, a
            world that cannot score when scoring (or the oracle) is asked for.
        WorldError: a world command failed or broke the world interface.
    """
    count = _check_cycles(cycles)
    settings = settings or LoopSettings()
    workspace = Path(workspace_path)
    world = WorldClient(world_command, Path(state) if state else default_state(workspace))
    info = world.init()
    if (settings.score or settings.policy == "oracle") and not info.can_score:
        raise ConfigError(
            f"the world '{world.command}' does not offer score (can_score in world.json); "
            "scoring (--score) and the oracle policy need it"
        )
    loop = open_loop(workspace, world, settings, info)
    run = _Run(loop, world, progress or _quiet)
    first = _first_unfinished(loop)
    bodies = []
    for k in range(first, first + count):
        body = run_cycle(run, k)
        bodies.append(body)
    nxt = _plan_only(run, first + count) if plan_next else None
    return LoopResult(loop.id, loop.folder, tuple(bodies), nxt)


def _plan_only(run: _Run, k: int) -> dict[str, Any]:
    """Cycle ``k`` up to its plan (no step)."""
    return run_cycle(run, k, step=False)


def plan_next_cycle(
    workspace_path: str | Path,
    progress: Progress | None = None,
    *,
    settings: LoopSettings | None = None,
    kpi: str | None = None,
) -> tuple[dict[str, Any], LoopSettings]:
    """Plan the next cycle of the workspace's latest loop without stepping its world: its
    ``plan.json`` body (the plan and the tests to run) and the loop's settings.

    A workspace with no loop starts a **business** loop (``settings``, default
    :class:`LoopSettings`; ``kpi`` when it has several): the world is the workspace's own
    data (:class:`~margin.loop.business.BusinessWorld`). Run again once the cycle's weeks
    are ingested, it records the executed cycle and plans the next; while they are still
    coming in, it returns the cycle under way's plan.

    Raises:
        ConfigError: the workspace has no loop and no data to start one, or another
            ``settings`` than its loop's.
    """
    from margin.loop.business import BUSINESS, BusinessWorld
    from margin.loop.ledger import latest_loop

    workspace = Path(workspace_path)
    try:
        loop = latest_loop(workspace)
    except ConfigError:
        world: World = BusinessWorld(workspace, kpi)
        loop = open_loop(workspace, world, settings or LoopSettings(), world.init())
    if settings is not None and settings.differences(loop.settings):
        raise ConfigError(
            f"loop {loop.id} was started with {'; '.join(settings.differences(loop.settings))}"
        )
    if loop.command == BUSINESS:
        world = BusinessWorld(workspace, kpi)
    else:
        world = WorldClient(loop.command, loop.state)
    run = _Run(loop, world, progress or _quiet)
    k = _first_unfinished(loop)
    if world.business:
        stands = world.info().next_week
        planned = read_step(loop.cycle_dir(k) / "plan.json")
        if planned is not None and stands >= loop.cycle_start(k + 1):
            run_cycle(run, k)  # the business ran it: record it, plan the next
            k += 1
        elif planned is not None:
            return planned, loop.settings  # the cycle under way
    return _plan_only(run, k), loop.settings


def _first_unfinished(loop: Loop) -> int:
    """The first cycle without ``cycle.json`` and its ``runs`` row."""
    from margin.data.workspace.runs import has_run
    from margin.data.workspace.store import Workspace
    from margin.loop.records import cycle_run_id

    done = loop.finished_cycles()
    if not done:
        return 1
    with Workspace(loop.workspace, read_only=True) as ws:
        recorded = has_run(ws, cycle_run_id(loop.id, done[-1]))
    return done[-1] + 1 if recorded else done[-1]


def _timed(path: Path, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """The step's file, or run ``work`` and write its result (with ``seconds``) there."""
    found = read_step(path)
    if found is not None:
        return found
    began = time.perf_counter()
    body = work()
    body["seconds"] = round(time.perf_counter() - began, 3)
    write_json(path, body)
    return body


def _position(run: _Run, info: WorldInfo, k: int) -> bool:
    """Whether cycle ``k``'s step has happened (the world's ``next_week`` says; a business
    has run it once its data reaches the cycle's end).

    Raises:
        WorldError: the world stands elsewhere (stepped outside this loop).
    """
    loop = run.loop
    start = loop.cycle_start(k)
    after = start + timedelta(weeks=loop.settings.weeks)
    planned = (loop.cycle_dir(k) / "plan.csv").is_file()
    if run.world.business and info.next_week >= after and planned:
        return True
    if info.next_week == start or (run.world.business and info.next_week < start):
        return False
    if info.next_week == after and planned:
        return True
    raise WorldError(
        f"the world in {loop.state} stands at week {info.next_week}, but cycle {k} of loop "
        f"{loop.id} plays from {start}: the world was stepped outside this loop; start a new "
        "loop with a fresh --state folder"
    )


def _inputs(run: _Run, info: WorldInfo, k: int) -> dict[str, Path]:
    """What cycle ``k`` ingests: the history, then the previous cycle's ``world-out/``."""
    if k == 1:
        return run.world.history()
    loop = run.loop
    out = loop.cycle_dir(k - 1) / "world-out"
    return run.world.outputs(out, loop.cycle_start(k - 1), loop.settings.weeks)


def run_cycle(run: _Run, k: int, *, step: bool = True) -> dict[str, Any]:
    """Cycle ``k`` from its first unfinished step; its ``cycle.json`` body (with
    ``step=False``: its ``plan.json`` body, the world not stepped)."""
    from margin.loop import records

    loop, folder = run.loop, run.loop.cycle_dir(k)
    finished = read_step(folder / "cycle.json")
    if finished is not None:
        records.record_cycle(loop, k, finished)  # the row, if a crash came before it
        return finished
    info = run.world.info()
    stepped = _position(run, info, k)
    steps = _measure(run, info, k)
    run.progress(k, "plan")
    planned = _timed(folder / "plan.json", lambda: _plan(run, info, k, steps["fit"]))
    steps["plan"] = planned
    if not step:  # scored and reconciled when the cycle runs
        return planned
    if loop.settings.score:
        run.progress(k, "score")
        steps["true"] = _timed(folder / "true.json", lambda: _true(run, info, k, stepped))
    if loop.settings.fits and steps["fit"] is not None:
        run.progress(k, "reconcile")
        steps["reconciliation"] = _reconcile(loop, steps["fit"], folder)
    run.progress(k, "step")
    steps["step"] = _timed(folder / "step.json", lambda: _step(run, info, k, stepped))
    run.progress(k, "record")
    body = records.cycle_body(loop, info, k, steps, records.previous_fit(loop, k))
    records.record_cycle(loop, k, body)
    return body


def _measure(run: _Run, info: WorldInfo, k: int) -> dict[str, dict[str, Any] | None]:
    """Ingest, analyse and fit (each resumed from its file)."""
    from margin.loop import steps as measure
    from margin.loop.records import previous_fit
    from margin.loop.schedule import loop_tests

    loop, folder = run.loop, run.loop.cycle_dir(k)
    out: dict[str, dict[str, Any] | None] = {}
    run.progress(k, "ingest")
    out["ingest"] = _timed(
        folder / "ingest.json",
        lambda: measure.ingest(
            loop.workspace, _inputs(run, info, k), info.currency, today=loop.cycle_start(k)
        ),
    )
    run.progress(k, "analyse")
    done = {t["design_id"] for t in _analysed(loop, k)}
    waiting = [t for t in loop_tests(loop) if t["design_id"] not in done]
    out["analyse"] = _timed(
        folder / "analysed.json",
        lambda: {"tests": measure.analyse_tests(
            loop.workspace, info, waiting, measure.data_end(loop.workspace, info.kpi)
        )},
    )  # fmt: skip
    out["fit"] = None
    if loop.settings.fits:
        run.progress(k, "fit")
        before = previous_fit(loop, k)
        out["fit"] = _timed(
            folder / "fit.json", lambda: measure.fit_mmm(loop, info, folder, before)
        )
    return out


def _analysed(loop: Loop, k: int) -> list[dict[str, Any]]:
    """The tests analysed before cycle ``k``."""
    found: list[dict[str, Any]] = []
    for j in range(1, k):
        body = read_step(loop.cycle_dir(j) / "analysed.json")
        found.extend(body["tests"] if body else [])
    return found


def _previous_totals(loop: Loop, k: int) -> Any:
    """The previous cycle's channel totals (the status quo's before the first)."""
    import numpy as np

    body = read_step(loop.cycle_dir(k - 1) / "plan.json") if k > 1 else None
    if body is None:
        return loop.status_quo_totals()
    return np.array(body["totals"], dtype=np.float64)


def _plan(run: _Run, info: WorldInfo, k: int, fit: dict[str, Any] | None) -> dict[str, Any]:
    """Plan cycle ``k`` under the loop's policy, design its tests, write ``plan.csv``."""
    from margin.loop.planning import plan_json, spread
    from margin.loop.schedule import fold_tests
    from margin.loop.world import plan_frame

    loop = run.loop
    previous = _previous_totals(loop, k)
    body: dict[str, Any] = {
        "budget": loop.budget(), "expected_gain": None, "p_beats_status_quo": None,
        "guardrails": {"max_change": loop.settings.max_change, "max_loss": loop.settings.max_loss,
                       "shrunk": None},
        "tests": {"scheduled": []}, "design_seconds": 0.0, "currency": info.currency,
        "start": loop.cycle_start(k).isoformat(),
    }  # fmt: skip
    totals = _policy_totals(run, info, k, previous, fit, body)
    weekly = spread(loop, totals)
    executed = fold_tests(loop, weekly, body["tests"]["scheduled"], k)
    plan_frame(info, executed, loop.cycle_start(k)).to_csv(
        loop.cycle_dir(k) / "plan.csv", index=False
    )
    body.update(
        totals=[float(t) for t in totals],
        plan=plan_json(loop, totals, previous),
        test_spend=float(executed.sum() - weekly.sum()),
    )
    return body


def _policy_totals(
    run: _Run, info: WorldInfo, k: int, previous: Any, fit: dict[str, Any] | None,
    body: dict[str, Any],
) -> Any:  # fmt: skip
    """The policy's channel totals for cycle ``k`` (``body`` gets what it found)."""
    from margin.loop import policies

    loop = run.loop
    policy = loop.settings.policy
    if fit is not None:
        return _mmm_totals(run, info, k, previous, fit, body)
    if policy == "status-quo":
        return loop.status_quo_totals()
    if policy in policies.MODELS:
        totals, body["attribution"] = policies.attribution_plan(loop, policy, previous, k)
        return totals
    return _oracle(run, k)[0]


def _mmm_totals(
    run: _Run, info: WorldInfo, k: int, previous: Any, fit: dict[str, Any], body: dict[str, Any]
) -> Any:
    """The MMM's guarded plan, and its tests (``margin`` policy)."""
    from margin.loop.planning import mmm_plan
    from margin.loop.schedule import loop_tests, schedule_tests
    from margin.mmm.response import load_response

    loop = run.loop
    model = load_response(Path(fit["run_dir"]))
    planned = mmm_plan(model, loop, previous)
    body.update(
        expected_gain=planned.gain.to_json(), p_beats_status_quo=planned.p_beats,
        guardrails={"max_change": loop.settings.max_change, "max_loss": planned.max_loss,
                    "shrunk": planned.shrunk},
    )  # fmt: skip
    if loop.settings.tests:
        run.progress(k, "design")
        began = time.perf_counter()
        scheduled, information = schedule_tests(loop, info, planned, model, loop_tests(loop), k)
        body["tests"] = {"scheduled": scheduled}
        body["value_of_information"] = information
        body["design_seconds"] = round(time.perf_counter() - began, 3)
    return planned.totals


def _oracle(run: _Run, k: int) -> tuple[Any, float]:
    """The oracle's totals and true value for cycle ``k`` (cached in ``oracle.json``)."""
    import numpy as np

    from margin.loop.policies import oracle_plan

    def search() -> dict[str, Any]:
        totals, value = oracle_plan(run.world, run.loop, k)
        return {"totals": [float(t) for t in totals], "value": value}

    body = _timed(run.loop.cycle_dir(k) / "oracle.json", search)
    return np.array(body["totals"], dtype=np.float64), float(body["value"])


def _true(run: _Run, info: WorldInfo, k: int, stepped: bool) -> dict[str, Any]:
    """The world's true value of the executed plan, of its allocation alone (tests left out),
    the status quo's and the oracle's."""
    import numpy as np
    import pandas as pd

    from margin.loop.planning import spread
    from margin.loop.records import true_block
    from margin.loop.world import plan_frame

    if stepped:  # the world moved on before the scores were kept: they cannot be had now
        return {"true": None, "note": "the world was stepped before its scores were kept"}
    loop = run.loop
    start = loop.cycle_start(k)
    oracle, _ = _oracle(run, k)
    planned = read_step(loop.cycle_dir(k) / "plan.json") or {}
    executed = pd.read_csv(loop.cycle_dir(k) / "plan.csv", dtype={"date": str})
    plans = {
        "plan": executed,
        "status_quo": plan_frame(info, spread(loop, loop.status_quo_totals()), start),
        "oracle": plan_frame(info, spread(loop, oracle), start),
    }
    if "totals" in planned:  # the allocation alone, the tests left out
        allocation = spread(loop, np.asarray(planned["totals"], dtype=np.float64))
        plans["allocation"] = plan_frame(info, allocation, start)
    test_spend = float(executed["spend"].sum()) - float(plans["status_quo"]["spend"].sum())
    if "allocation" in plans:
        test_spend = float(executed["spend"].sum()) - float(plans["allocation"]["spend"].sum())
    return {"true": true_block(run.world.score(plans), test_spend)}


def _reconcile(loop: Loop, fit: dict[str, Any], folder: Path) -> dict[str, Any] | None:
    """The reconciliation table of this cycle's fit (``reconciliation.json``)."""
    from margin.errors import MarginError
    from margin.loop.reconcile import reconcile_workspace

    path = folder / "reconciliation.json"
    found = read_step(path)
    if found is not None:
        return None if "error" in found else found
    try:
        table = reconcile_workspace(loop.workspace, run=fit["run_id"], seed=loop.settings.seed)
    except MarginError as err:
        write_json(path, {"error": str(err)})
        return None
    body: dict[str, Any] = table.to_json()
    write_json(path, body)
    return body


def _step(run: _Run, info: WorldInfo, k: int, stepped: bool) -> dict[str, Any]:
    """Step the world with ``plan.csv`` (unless it already was); check its output."""
    import pandas as pd

    loop = run.loop
    out = loop.cycle_dir(k) / "world-out"
    if stepped:
        files = run.world.outputs(out, loop.cycle_start(k), loop.settings.weeks)
    else:
        shutil.rmtree(out, ignore_errors=True)  # a step that did not finish
        plan = pd.read_csv(loop.cycle_dir(k) / "plan.csv", dtype={"date": str})
        files = run.world.step(plan, out)
    return {"files": {kind: str(path) for kind, path in files.items()}}
