"""Run artifacts: the files of a run folder, its loader, and the workspace ``runs`` row.

A run folder written by :func:`save_run` holds:

- ``summary.json``: the fit's summary (channels, totals, baseline, diagnostics, fit) plus
  ``run``, ``kpi``, ``channels_order``, ``dates`` (the fitted weeks);
- ``posterior.npz``: every sample site, ``(chains, draws, ...)``;
- ``model.json`` and ``model.npz``: what re-loading the model for planning needs (model
  structure, scaling constants, labels, dates, the panel's spend, controls, KPI and value
  per KPI), format :data:`RUN_FORMAT_VERSION`, with a hash of the model structure;
- ``curves.json``: response and adstock curves (:func:`margin.optimize.curves.response_curves`),
  written beside by whoever saves a fit for planning (:func:`margin.refresh.fit.save_fit`:
  mmm never imports optimize) from at most :data:`CURVE_DRAWS` draws over
  :data:`CURVE_WEEKS` weeks.

:func:`load_run` reads them back and refuses a folder with missing files, another format
version or a structure that does not match its hash. The run folder format, its summary
check and the ``runs`` row belong to :mod:`margin.data.workspace.runs` (re-exported here: ``RunRecord``,
``record_run``, ``code_version``, ``RUN_FORMAT``, ``RUN_FORMAT_VERSION``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from margin.data.panel.marketing_data import MarketingData
from margin.data.panel.spec import Spec
from margin.data.workspace.runs import (
    RUN_FORMAT,
    RUN_FORMAT_VERSION,
    SUMMARY,
    RunRecord,
    check_model_meta,
    code_version,
    load_summary,
    new_run_id,
    record_run,
    structure_hash,
    utc_now,
    write_summary,
)
from margin.errors import DataValidationError

if TYPE_CHECKING:
    from margin.mmm.estimator import MarketingMixModel

__all__ = [
    "CURVE_DRAWS",
    "CURVE_WEEKS",
    "RUN_FILES",
    "RUN_FORMAT",
    "RUN_FORMAT_VERSION",
    "RunRecord",
    "SavedRun",
    "code_version",
    "load_run",
    "record_run",
    "save_run",
]

RUN_FILES = (SUMMARY, "posterior.npz", "model.json", "model.npz")
"""Files :func:`load_run` needs (``curves.json`` is a derived view, not needed to load)."""
_ARRAYS = (
    "spend",
    "controls",
    "kpi",
    "value",
    "share",
    "spend_scale",
    "control_mean",
    "control_sd",
)
CURVE_WEEKS = 13
"""Horizon of the response curves written at fit time (:func:`margin.refresh.fit.save_fit`)."""
CURVE_DRAWS = 1000
"""Posterior draws (evenly thinned) behind the curves written at fit time."""


@dataclass(frozen=True, eq=False)
class SavedRun:
    """A run folder read back by :func:`load_run`.

    Attributes:
        path: the folder.
        summary: ``summary.json``.
        meta: ``model.json`` (format, config, labels, dates, scaling constants, KPI).
        arrays: ``model.npz``: ``spend`` ``(n_geos, n_times, n_channels)``, ``controls``
            ``(n_geos, n_times, n_controls)`` raw, ``kpi`` and ``value`` ``(n_geos, n_times)``,
            ``share`` ``(n_geos,)``, ``spend_scale`` ``(n_channels,)``, ``control_mean`` and
            ``control_sd`` ``(n_controls,)``; ``n_times`` covers every week of the panel the
            model was fitted on (held-out weeks included).
        samples: ``posterior.npz``: site → ``(chains, draws, ...)``.
    """

    path: Path
    summary: dict[str, Any]
    meta: dict[str, Any]
    arrays: dict[str, npt.NDArray[np.float64]]
    samples: dict[str, npt.NDArray[np.float64]]

    @property
    def run_id(self) -> str:
        return str(self.summary["run"]["id"])

    @property
    def dates(self) -> npt.NDArray[np.datetime64]:
        """``(n_times,)`` the panel's weeks (first day of each), held-out weeks included."""
        return np.array(self.meta["dates"], dtype="datetime64[D]")


def _status(result: dict[str, Any]) -> tuple[str, str]:
    warnings = result["diagnostics"]["warnings"]
    if result["method"] == "approximate":
        return "approximate", "approximate fit (Laplace); " + f"{len(warnings)} warning(s)"
    return ("warning" if warnings else "ok"), "; ".join(warnings)[:2000]


def _model_files(
    model: MarketingMixModel, data: MarketingData, record: RunRecord
) -> tuple[dict[str, Any], dict[str, npt.NDArray[Any]]]:
    from margin.mmm.inputs import value_per_kpi

    config, scaling = model.config_, model.scaling_
    structure: dict[str, Any] = {
        "adstock": config.adstock,
        "saturation": config.saturation,
        "max_lag": config.max_lag,
        "likelihood": config.likelihood,
        "fourier_terms": config.fourier_terms,
        "trend": config.trend,
    }
    if config.seasonality != "additive":  # runs saved before the option keep their hash
        structure["seasonality"] = config.seasonality
    fitted = data.n_times - model.holdout_weeks
    value = value_per_kpi(data)
    recent = slice(max(fitted - 13, 0), fitted)
    weights = data.kpi[:, recent]
    kpi_value = float(np.average(value[:, recent], weights=weights)) if weights.sum() > 0 else 1.0
    meta = {
        "format": RUN_FORMAT,
        "format_version": RUN_FORMAT_VERSION,
        "run_id": record.id,
        "config": structure,
        "config_hash": structure_hash(structure),
        "method": model.draws_.method,
        "channels": list(data.channels),
        "geos": list(data.geos),
        "control_names": list(data.control_names),
        "kpi": {"name": data.kpi_name, "type": data.kpi_type, "value": kpi_value},
        "dates": [str(d) for d in data.dates.astype("datetime64[D]")],
        "fitted_weeks": fitted,
        "holdout_weeks": model.holdout_weeks,
        "scaling": {
            "kpi_scale": scaling.kpi_scale,
            "first_date": str(np.datetime64(scaling.first_date, "D")),
            "fourier_terms": scaling.fourier_terms,
        },
    }
    arrays = {
        "spend": data.spend,
        "controls": data.controls,
        "kpi": data.kpi,
        "value": value,
        "share": scaling.share,
        "spend_scale": scaling.spend_scale,
        "control_mean": scaling.control_mean,
        "control_sd": scaling.control_sd,
    }
    return meta, {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}


def save_run(
    model: MarketingMixModel, data: MarketingData, spec: Spec, out: str | Path
) -> RunRecord:
    """Write the run folder (see the module docstring) and return its record.

    ``data`` is the panel given to ``model.fit`` (held-out weeks included).
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    result = model.result().to_json()
    status, message = _status(result)
    record = RunRecord(
        id=new_run_id("mmm"),
        spec_hash=spec.hash(),
        data_hash=data.data_hash(),
        code_version=code_version(),
        seed=model.seed,
        created=utc_now(),
        status=status,
        artifact_path=str(folder.resolve()),
        message=message,
    )
    fitted_dates = data.dates[: data.n_times - model.holdout_weeks].astype("datetime64[D]")
    payload = {
        "run": {k: str(v) if isinstance(v, datetime) else v for k, v in asdict(record).items()},
        "kpi": {"name": data.kpi_name, "type": data.kpi_type},
        "channels_order": list(data.channels),
        "dates": [str(d) for d in fitted_dates],
        **result,
    }
    meta, arrays = _model_files(model, data, record)
    write_summary(folder, payload)
    np.savez_compressed(folder / "posterior.npz", allow_pickle=False, **model.draws_.samples)
    np.savez_compressed(folder / "model.npz", allow_pickle=False, **arrays)
    (folder / "model.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return record


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataValidationError(
            f"cannot read {path}: {err}; the run folder is damaged: refit with margin mmm fit"
        ) from err
    if not isinstance(value, dict):
        raise DataValidationError(f"{path} is not a JSON object; refit with margin mmm fit")
    return value


def _read_npz(path: Path) -> dict[str, npt.NDArray[np.float64]]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: np.asarray(npz[name]) for name in npz.files}
    except (OSError, ValueError) as err:
        raise DataValidationError(
            f"cannot read {path}: {err}; the run folder is damaged: refit with margin mmm fit"
        ) from err


def load_run(run_dir: str | Path) -> SavedRun:
    """Read a run folder written by :func:`save_run`.

    Raises:
        DataValidationError: the folder or one of :data:`RUN_FILES` is missing (e.g. a run
            saved by an older margin), a file cannot be read, or it is another format version.
    """
    folder = Path(run_dir)
    if not folder.is_dir():
        raise DataValidationError(
            f"run folder {folder} does not exist; pass the --out folder of margin mmm fit"
        )
    missing = [name for name in RUN_FILES if not (folder / name).is_file()]
    if missing:
        raise DataValidationError(
            f"run folder {folder} lacks {missing}; it was not written by this margin's "
            "margin mmm fit (older runs cannot be planned with): refit the model"
        )
    meta = _read_json(folder / "model.json")
    check_model_meta(meta, folder, DataValidationError)
    arrays = _read_npz(folder / "model.npz")
    absent = [name for name in _ARRAYS if name not in arrays]
    if absent:
        raise DataValidationError(
            f"{folder / 'model.npz'} lacks array(s) {absent}; refit the model"
        )
    return SavedRun(
        path=folder,
        summary=load_summary(folder),
        meta=meta,
        arrays=arrays,
        samples=_read_npz(folder / "posterior.npz"),
    )
