"""The refit step of a refresh: fit the MMM and write its run folder under the runs folder.

The fit starts from the previous run's posterior medians (``init`` of
:meth:`~margin.mmm.MarketingMixModel.fit`, from :func:`margin.mmm.inference.warm_start`)
when that is sound: same spec hash, same channels (and geos). Otherwise, or when the
values do not fit the new model, it starts as a fresh fit; the result says which and why.

The run is written inside the refresh's hidden partial folder
(``.partial-<refresh id>/run``, :mod:`margin.refresh.ledger`) and renamed to
``<runs folder>/<run id>`` once complete, so a run folder with a run id is never half
written (the marker names it first, so the run of a refresh killed before it was
recorded is removed by the next refresh). JAX is imported here, inside :func:`fit_run`,
never when the CLI starts.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.data.workspace.runs import (
    RunRecord,
    RunRow,
    latest_run,
    load_summary,
    publish_run_folder,
)
from margin.errors import MarginError
from margin.refresh.ledger import note_run_folder, partial_folder

if TYPE_CHECKING:
    from margin.data.panel.marketing_data import MarketingData
    from margin.data.panel.spec import Spec
    from margin.data.workspace.store import Workspace
    from margin.refresh.settings import RefreshSettings

__all__ = ["FittedRun", "PreviousRun", "fit_run", "last_good_run", "save_fit"]

Progress = Callable[[str], AbstractContextManager[None]]


@dataclass(frozen=True)
class PreviousRun:
    """The newest good ``mmm`` run of the workspace."""

    id: str
    path: Path
    spec_hash: str
    data_hash: str
    status: str

    def row(self) -> RunRow:
        """This run as the ``runs`` row it was read from (the columns it keeps)."""
        return RunRow(
            id=self.id, kind="mmm", spec_hash=self.spec_hash, data_hash=self.data_hash,
            code_version=None, seed=None, created=None, status=self.status,
            artifact_path=str(self.path), message=None,
        )  # fmt: skip

    def summary(self) -> dict[str, Any]:
        """Its ``summary.json``, checked against its row (:func:`margin.data.workspace.runs.load_summary`)."""
        return load_summary(self.row())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": str(self.path),
            "spec_hash": self.spec_hash,
            "data_hash": self.data_hash,
            "status": self.status,
        }


@dataclass(frozen=True)
class FittedRun:
    """A fitted, saved (not yet recorded) run."""

    record: RunRecord
    summary: dict[str, Any]
    warm_start: dict[str, Any]

    @property
    def path(self) -> Path:
        return Path(self.record.artifact_path)


def save_fit(model: Any, data: MarketingData, spec: Spec, out: str | Path) -> RunRecord:
    """Save a fitted MMM for planning: its run folder (:func:`margin.mmm.save_run`) and
    the run's response and adstock curves, ``curves.json``
    (:func:`margin.optimize.curves.write_curves`, from at most
    :data:`margin.mmm.artifacts.CURVE_DRAWS` draws over ``CURVE_WEEKS`` weeks).

    ``data`` is the panel given to ``model.fit`` (held-out weeks included).
    """
    from margin.mmm import save_run
    from margin.mmm.artifacts import CURVE_DRAWS, CURVE_WEEKS
    from margin.mmm.response import load_response
    from margin.optimize.curves import write_curves

    record = save_run(model, data, spec, out)
    write_curves(load_response(out, max_draws=CURVE_DRAWS), out, weeks=CURVE_WEEKS)
    return record


def last_good_run(workspace: Workspace) -> PreviousRun | None:
    """The newest ``runs`` row with ``kind='mmm'`` that did not fail, or ``None``."""
    row = latest_run(workspace, kind="mmm")
    if row is None:
        return None
    return PreviousRun(row.id, row.path, str(row.spec_hash), str(row.data_hash), row.status)


def _warm_start(previous: PreviousRun | None, spec: Spec, panel: MarketingData) -> dict[str, Any]:
    """Whether the fit can start from the previous run, and why (not)."""
    if previous is None:
        return {"used": False, "reason": "no previous run"}
    if previous.spec_hash != spec.hash():
        return {"used": False, "reason": f"the spec changed since run {previous.id}"}
    try:
        summary = previous.summary()
    except MarginError as err:
        return {"used": False, "reason": f"run {previous.id} cannot be read: {err}"}
    if list(summary.get("channels_order", [])) != list(panel.channels):
        return {"used": False, "reason": f"the channels changed since run {previous.id}"}
    if "geos" in summary and list(summary["geos"]) != list(panel.geos):
        return {"used": False, "reason": f"the geos changed since run {previous.id}"}
    return {"used": True, "reason": f"started from run {previous.id}'s posterior medians"}


def _init(previous: PreviousRun) -> dict[str, Any]:
    """The previous run's posterior medians per site (``margin.mmm.inference.warm_start``)."""
    import numpy as np

    from margin.mmm.inference import warm_start

    with np.load(previous.path / "posterior.npz", allow_pickle=False) as draws:
        samples = {name: draws[name] for name in draws.files}
    return dict(warm_start(samples))


def _fit(
    model: Any,
    panel: MarketingData,
    tests: list[Any],
    warm: dict[str, Any],
    previous: PreviousRun | None,
) -> None:
    """Fit, from the previous run's medians when sound; without them if they do not fit."""
    from margin.errors import ConfigError

    if not warm["used"] or previous is None:
        model.fit(panel, tests)
        return
    try:
        init = _init(previous)
    except (OSError, KeyError, ValueError) as err:
        warm.update(used=False, reason=f"run {previous.id}'s posterior cannot be read: {err}")
        model.fit(panel, tests)
        return
    try:
        model.fit(panel, tests, init=init)
    except ConfigError as err:  # e.g. a site's shape changed; a real config error recurs below
        warm.update(used=False, reason=f"run {previous.id}'s values do not fit this model: {err}")
        model.fit(panel, tests)


def fit_run(
    workspace: Workspace,
    settings: RefreshSettings,
    spec: Spec,
    panel: MarketingData,
    previous: PreviousRun | None,
    *,
    refresh_id: str,
    progress: Progress,
) -> FittedRun:
    """Fit the MMM on ``panel`` and write its folder ``<runs folder>/<run id>``."""
    from margin.mmm import MarketingMixModel, model_config, read_lift_tests_workspace

    config = model_config(spec.raw, panel.channels)
    tests = read_lift_tests_workspace(workspace, kpi=panel.kpi_name) if settings.calibrate else []
    model = MarketingMixModel(
        config, inference=settings.inference, seed=settings.seed,
        holdout_weeks=settings.holdout_weeks,
    )  # fmt: skip
    warm = _warm_start(previous, spec, panel)
    label = (
        f"fitting {panel.n_geos} geo(s) × {panel.n_times} weeks × {panel.n_channels} channels "
        f"({settings.method}, {len(tests)} lift test(s))"
    )
    with progress(label):
        _fit(model, panel, tests, warm, previous)
    runs = settings.runs_folder(workspace)
    partial = partial_folder(runs, refresh_id) / "run"
    with progress("writing the run"):
        record = save_fit(model, panel, spec, partial)
        final = runs / record.id
        note_run_folder(runs, refresh_id, final)
        record = publish_run_folder(partial, final, record)
        summary = load_summary(final)
    return FittedRun(record, summary, warm)
