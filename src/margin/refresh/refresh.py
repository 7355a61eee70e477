"""``refresh(ws)``: the weekly, idempotent, cron-safe loop.

Steps: scan the drop folder → ingest the new files (all land or none do) → run the
``margin check`` rules (errors stop the refresh) → build the panel from the spec → stop
with "nothing new" when no file was new and the data hash, spec hash and fit settings
equal the last good run's → fit the MMM and write its run folder → compare with the previous run → score
the last plan's forecast → record the run (``kind='mmm'``) and the refresh
(``kind='refresh'``, artifact ``refresh.json``) in ``runs``.

Every step runs inside one workspace transaction (:meth:`Workspace.transaction`; the
ingests and the run records join it), so the workspace changes only when the whole
refresh succeeds. A refresh that fails (or is interrupted) leaves every table as it was,
removes its half-written run folder, leaves the last good run the newest good ``mmm``
run, records a ``kind='refresh'`` row with status ``'failed'`` and the reason (after the
rollback, in a transaction of its own), and raises :class:`RefreshError` saying which
step (and file) failed and how to fix it; the reason is the first error, not DuckDB's
"Current transaction is aborted" from a later clean-up statement. A refresh whose
process is killed cannot do that; the next refresh does it for it: it removes the
hidden folder the killed one left and records it as ``failed``
(:mod:`margin.refresh.ledger`), and says so in its notes. A refresh with nothing new
writes nothing else.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.errors import ConfigError, DataValidationError, MarginError
from margin.refresh.compare import Comparison, compare_summaries
from margin.refresh.drop import DropFile, DropScan, scan_drop
from margin.refresh.fit import FittedRun, PreviousRun, fit_run, last_good_run
from margin.refresh.ledger import begin, discard_partial, insert_refresh_row, recover_abandoned
from margin.refresh.score import PlanScore, latest_plan, score_plan
from margin.refresh.settings import RefreshSettings, load_settings

if TYPE_CHECKING:
    from margin.data.ingest.pipeline import IngestResult
    from margin.data.panel.marketing_data import MarketingData
    from margin.data.panel.spec import Spec
    from margin.data.rules.findings import Report
    from margin.data.workspace.store import Workspace

__all__ = ["Progress", "RefreshError", "RefreshResult", "refresh"]

Progress = Callable[[str], AbstractContextManager[None]]
"""Called with a step's description; the step runs inside the context it returns."""
_DIAGNOSTICS = ("converged", "max_rhat", "min_ess_bulk", "divergences", "warnings")


@dataclass(frozen=True)
class RefreshResult:
    """What one refresh did.

    ``status`` is ``"refreshed"`` (a new run was fitted), ``"data only"`` (files were
    loaded but the model's data did not change), ``"nothing new"`` (no file, same data
    and spec: nothing written) or ``"failed"`` (``failed_step`` and ``message`` say why).
    """

    id: str
    status: str
    started: datetime
    finished: datetime
    settings: RefreshSettings
    scan: DropScan | None = None
    loads: tuple[IngestResult, ...] = ()
    check: Report | None = None
    spec_hash: str | None = None
    data_hash: str | None = None
    previous_run: PreviousRun | None = None
    run: dict[str, Any] | None = None
    warm_start: dict[str, Any] | None = None
    comparison: Comparison | None = None
    plan_score: PlanScore | None = None
    notes: tuple[str, ...] = ()
    failed_step: str | None = None
    message: str = ""
    artifact: Path | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_dict(self) -> dict[str, Any]:
        check = self.check
        return {
            "id": self.id,
            "status": self.status,
            "started": self.started.isoformat(),
            "finished": self.finished.isoformat(),
            "settings": self.settings.to_dict(),
            "drop": None if self.scan is None else self.scan.to_dict(),
            "loads": [r.to_dict() for r in self.loads],
            "check": None
            if check is None
            else {k: v for k, v in check.to_dict().items() if k != "rules_checked"},
            "spec_hash": self.spec_hash,
            "data_hash": self.data_hash,
            "previous_run": None if self.previous_run is None else self.previous_run.to_dict(),
            "run": self.run,
            "warm_start": self.warm_start,
            "comparison": None if self.comparison is None else self.comparison.to_dict(),
            "plan_score": None if self.plan_score is None else self.plan_score.to_dict(),
            "notes": list(self.notes),
            "failed_step": self.failed_step,
            "message": self.message,
            "artifact": None if self.artifact is None else str(self.artifact),
        }


class RefreshError(MarginError, RuntimeError):
    """A refresh failed; the workspace data is as before. ``result`` is the failed refresh."""

    def __init__(self, message: str, result: RefreshResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class _State:
    """What a refresh has done so far (becomes the frozen :class:`RefreshResult`)."""

    id: str
    started: datetime
    settings: RefreshSettings
    runs: Path
    step: str = "settings"
    file: DropFile | None = None
    scan: DropScan | None = None
    loads: list[IngestResult] = field(default_factory=list)
    check: Report | None = None
    spec_hash: str | None = None
    data_hash: str | None = None
    previous: PreviousRun | None = None
    fitted: FittedRun | None = None
    comparison: Comparison | None = None
    plan_score: PlanScore | None = None
    notes: list[str] = field(default_factory=list)

    def result(self, status: str, message: str = "", artifact: Path | None = None) -> RefreshResult:
        fitted = self.fitted
        return RefreshResult(
            id=self.id, status=status, started=self.started, finished=_now(),
            settings=self.settings, scan=self.scan, loads=tuple(self.loads), check=self.check,
            spec_hash=self.spec_hash, data_hash=self.data_hash, previous_run=self.previous,
            run=None if fitted is None else _run_info(fitted),
            warm_start=None if fitted is None else fitted.warm_start,
            comparison=self.comparison, plan_score=self.plan_score, notes=tuple(self.notes),
            failed_step=self.step if status == "failed" else None, message=message,
            artifact=artifact,
        )  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _quiet(_: str) -> AbstractContextManager[None]:
    return nullcontext()


def _run_info(fitted: FittedRun) -> dict[str, Any]:
    summary = fitted.summary
    diagnostics = summary.get("diagnostics", {})
    return {
        "id": fitted.record.id,
        "path": fitted.record.artifact_path,
        "status": fitted.record.status,
        "method": summary.get("method"),
        "seconds": summary.get("fit", {}).get("seconds"),
        "diagnostics": {k: diagnostics.get(k) for k in _DIAGNOSTICS},
        "channels": {
            name: {k: c[k] for k in ("roi", "mroi", "contribution") if k in c}
            for name, c in summary.get("channels", {}).items()
        },
    }


def refresh(
    ws: Workspace, *, settings: RefreshSettings | None = None, progress: Progress | None = None
) -> RefreshResult:
    """Run one refresh of workspace ``ws`` (see the module docstring).

    Args:
        ws: the open (writable) workspace.
        settings: what to refresh from; default: the settings stored in the workspace.
        progress: called with each step's description; the step runs inside the context
            manager it returns (the CLI shows a spinner).

    Raises:
        ConfigError: no settings were given and none are stored.
        RefreshError: a step failed (nothing was changed but the failed ``runs`` row).
    """
    settings = settings or load_settings(ws)
    if settings is None:
        raise ConfigError(
            f"workspace {ws.path} has no refresh settings; run margin refresh --drop DIR "
            "--spec SPEC.toml once (they are saved, later runs need no flags)"
        )
    state = _State(
        id=f"refresh-{uuid.uuid4().hex[:12]}",
        started=_now(),
        settings=settings,
        runs=settings.runs_folder(ws),
    )
    _start(ws, state)
    try:
        with ws.transaction():
            result = _steps(ws, state, progress or _quiet)
    except Exception as err:
        cause = first_error(err)
        result = _fail(ws, state, cause)
        raise RefreshError(result.message, result) from cause
    except BaseException as err:  # interrupted (Ctrl-C): undo and record, then let it go on
        with suppress(Exception):  # _fail is best effort already; never hide the interrupt
            _fail(ws, state, err)
        raise
    discard_partial(state.runs, state.id)
    return result


def _start(ws: Workspace, state: _State) -> None:
    """Clean up after refreshes of ``ws`` that were killed, then mark this one as running."""
    try:
        state.notes.extend(recover_abandoned(ws, state.runs))
    except Exception as err:  # a workspace or disk error here must not stop this refresh
        state.notes.append(
            f"could not clean up after an earlier refresh that did not finish "
            f"({type(err).__name__}: {err}); look for .partial-* folders in {state.runs}"
        )
    try:
        begin(state.runs, state.id, state.started, ws.path, state.settings.seed)
    except OSError as err:  # the fit would say so; a refresh with nothing new need not
        state.notes.append(
            f"could not mark this refresh as running in {state.runs} ({err}); were its "
            "process killed, the next refresh could not record it"
        )


def first_error(err: BaseException) -> BaseException:
    """The error that stopped a step, not one raised by a clean-up after it.

    A DuckDB error aborts the transaction; a clean-up statement run after it (in a
    ``finally``) then fails with "Current transaction is aborted", whose context is
    the first error. That first error is the one to report.
    """
    while _aborted_transaction(err) and err.__context__ is not None:
        err = err.__context__
    return err


def _aborted_transaction(err: BaseException) -> bool:
    import duckdb

    return isinstance(err, duckdb.Error) and "transaction is aborted" in str(err).lower()


def _steps(ws: Workspace, state: _State, progress: Progress) -> RefreshResult:
    from margin.data.panel.spec import load_spec

    settings = state.settings
    state.step = "scan"
    with progress(f"looking for new files in {settings.drop}"):
        state.scan = scan = scan_drop(ws, settings.drop)
    state.step = "spec"
    spec = load_spec(settings.spec)
    state.spec_hash = spec.hash()
    _ingest(ws, state, scan, progress)
    panel = _check_and_panel(ws, state, spec, progress)
    state.step = "compare"
    state.previous = previous = last_good_run(ws)
    unchanged = previous is not None and (previous.data_hash, previous.spec_hash) == (
        state.data_hash,
        state.spec_hash,
    )
    if unchanged and previous is not None and not _same_fit(previous, settings):
        unchanged = False
        state.notes.append(f"the fit settings differ from run {previous.id}'s: refit")
    if unchanged and not state.loads:
        _score(ws, state, panel)
        return state.result("nothing new", "nothing new: no new file, same data and spec")
    if unchanged:
        state.notes.append("the files loaded did not change the model's data: no refit")
    else:
        state.step = "fit"
        state.fitted = fit_run(
            ws, settings, spec, panel, previous, refresh_id=state.id, progress=progress
        )
        _compare(state)
    _score(ws, state, panel)
    state.step = "record"
    return _record(ws, state, "refreshed" if state.fitted else "data only")


def _same_fit(previous: PreviousRun, settings: RefreshSettings) -> bool:
    """Whether ``previous`` was fitted as ``settings`` would fit (a damaged run: no)."""
    try:
        fit = previous.summary().get("fit", {})
    except MarginError:
        return False
    wanted = {
        "method": settings.method,
        "chains": settings.chains,
        "draws": settings.draws,
        "seed": settings.seed,
        "holdout_weeks": settings.holdout_weeks,
    }
    if settings.method == "nuts":
        wanted["warmup"] = settings.warmup
    return all(fit.get(key) == value for key, value in wanted.items())


def _ingest(ws: Workspace, state: _State, scan: DropScan, progress: Progress) -> None:
    from margin.data.ingest.pipeline import ingest_file

    state.step = "ingest"
    if not scan.new:
        return
    for file in scan.new:
        state.file = file
        with progress(f"ingesting {file.path.name} into {file.kind}"):
            state.loads.append(ingest_file(ws, file.kind, file.path))
    state.file = None


def _check_and_panel(ws: Workspace, state: _State, spec: Spec, progress: Progress) -> MarketingData:
    from margin.data.panel.marketing_data import load_panel
    from margin.data.rules.validation import check_workspace

    state.step = "check"
    with progress("checking the workspace"):
        state.check = report = check_workspace(ws)
    if report.errors:
        listed = "\n".join(f"  - {f.describe()}" for f in report.errors)
        raise DataValidationError(
            f"margin check found {len(report.errors)} error(s) in the workspace:\n{listed}"
        )
    state.step = "panel"
    with progress("building the panel"):
        panel = load_panel(spec, workspace=ws)
    state.data_hash = panel.data_hash()
    return panel


def _compare(state: _State) -> None:
    if state.previous is None:
        state.notes.append("first run: nothing to compare with")
        return
    if state.fitted is None:  # pragma: no cover - called after a fit
        return
    try:
        previous = state.previous.summary()
        state.comparison = compare_summaries(previous, state.fitted.summary)
    except MarginError as err:
        state.notes.append(f"not compared with run {state.previous.id}: {err}")


def _score(ws: Workspace, state: _State, panel: MarketingData) -> None:
    try:
        plan = latest_plan(ws)
    except MarginError as err:
        state.notes.append(f"last plan not scored: {err}")
        return
    if plan is None:
        state.notes.append("no plan recorded yet: nothing to score (make one with margin optimize)")
        return
    totals = panel.kpi.sum(axis=0)
    actual: dict[date, float] = {
        d.astype("datetime64[D]").item(): float(v) for d, v in zip(panel.dates, totals, strict=True)
    }
    state.plan_score = score_plan(plan, actual)


def _write_artifact(state: _State, result: RefreshResult) -> Path:
    folder = state.runs / state.id
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "refresh.json"
    body = result.to_dict()
    body["artifact"] = str(path.resolve())
    path.write_text(json.dumps(body, indent=2, default=str) + "\n", encoding="utf-8")
    return path.resolve()


def _insert_refresh_row(ws: Workspace, result: RefreshResult) -> None:
    insert_refresh_row(
        ws, refresh_id=result.id, created=result.finished, failed=result.status == "failed",
        message=result.message or result.status, seed=result.settings.seed,
        spec_hash=result.spec_hash, data_hash=result.data_hash, artifact=result.artifact,
    )  # fmt: skip


def _record(ws: Workspace, state: _State, status: str) -> RefreshResult:
    """Write ``refresh.json``, then record the new run and the refresh in ``runs``."""
    from margin.data.workspace.runs import record_run

    artifact = state.runs / state.id / "refresh.json"
    result = state.result(status, _summary_line(state, status), artifact.resolve())
    _write_artifact(state, result)
    if state.fitted is not None:
        record_run(ws, state.fitted.record)
    _insert_refresh_row(ws, result)
    return result


def _summary_line(state: _State, status: str) -> str:
    parts = [f"{status}: {len(state.loads)} file(s) loaded"]
    if state.fitted is not None:
        parts.append(f"run {state.fitted.record.id}")
    if state.comparison is not None:
        parts.append(f"{len(state.comparison.flagged)} shift(s) flagged")
    if state.plan_score is not None:
        parts.append(f"last plan: {state.plan_score.verdict}")
    return "; ".join(parts)


def _undo(ws: Workspace, state: _State) -> None:
    """After the rollback: remove this refresh's run folder unless recorded."""
    discard_partial(state.runs, state.id)
    if state.fitted is not None:
        import shutil

        from margin.data.workspace.runs import has_run

        if not has_run(ws, state.fitted.record.id):
            shutil.rmtree(state.fitted.path, ignore_errors=True)
            state.fitted = None


def _failure_message(state: _State, err: BaseException) -> str:
    if isinstance(err, MarginError):
        text = str(err)
    elif isinstance(err, Exception):
        text = f"{type(err).__name__}: {err}"
    else:  # KeyboardInterrupt, SystemExit: the refresh was stopped, not broken
        text = f"interrupted ({type(err).__name__})"
    where = f"step '{state.step}'"
    if state.step == "ingest" and state.file is not None:
        where += f" (file {state.file.path}, table {state.file.kind})"
    undone = ""
    if state.loads:
        undone = (
            f" Nothing from this refresh was kept: the {len(state.loads)} file(s) loaded "
            "before were rolled back with it."
        )
    elif state.step == "ingest":
        undone = " Nothing was loaded."
    fix = {
        "ingest": " Fix or remove the file in the drop folder and run margin refresh again.",
        "check": " Fix the data (margin check lists the problems) and run margin refresh again.",
    }.get(state.step, " Fix the cause and run margin refresh again.")
    return f"refresh failed at {where}: {text.rstrip().rstrip('.')}.{undone}{fix}"


def _fail(ws: Workspace, state: _State, err: BaseException) -> RefreshResult:
    """Undo, then record the failed refresh (best effort: the error is raised either way)."""
    message = _failure_message(state, err)
    try:
        _undo(ws, state)
    except Exception as undo_err:  # the tables were rolled back; a folder may be left
        message += (
            f" Removing its half-written run folder failed ({type(undo_err).__name__}: "
            f"{undo_err}); delete it from {state.runs} by hand."
        )
    result = state.result("failed", message)
    try:
        artifact = (state.runs / state.id / "refresh.json").resolve()
        result = state.result("failed", message, artifact)
        _write_artifact(state, result)
        _insert_refresh_row(ws, result)
    except Exception as record_err:  # a workspace or disk error must not hide the cause
        message += (
            f" (the failure could not be recorded: {type(record_err).__name__}: {record_err})"
        )
        result = state.result("failed", message)
    return result
