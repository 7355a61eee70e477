"""The lift registry (the workspace's ``experiments`` table) and calibration exports.

Every analysed test is one row: ``id, channel, kpi, treatment_geos, control_geos, start,
end, spend_delta, lift, lift_se, method, design_id``. Exports turn a row into what other
MMM tools take as calibration:

* **Meridian**: an ROI prior ``LogNormal(mu, sigma)`` whose mean and sd match the test's
  incremental ROI and its standard error (``sigma² = log(1 + se²/roi²)``,
  ``mu = log(roi) - sigma²/2``), to pass as ``roi_m`` in ``PriorDistribution``.
* **PyMC-Marketing**: a row of ``add_lift_test_measurements`` (``channel, x, delta_x,
  delta_y, sigma``; ``x`` the channel's spend before the test in the window, ``delta_x``
  the spend change, ``delta_y`` the lift, ``sigma`` its standard error).
* **Robyn**: a row of ``calibration_input`` (``channel, liftStartDate, liftEndDate,
  liftAbs, spend, confidence, metric, calibration_scope``).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import date
from typing import TYPE_CHECKING, Any

from margin.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from margin.data.workspace.store import Workspace
    from margin.experiments.analysis import LiftResult

__all__ = [
    "EXPORT_FORMATS",
    "experiment_row",
    "export_calibration",
    "list_experiments",
    "meridian_roi_prior",
    "record_experiment",
]

EXPORT_FORMATS = ("meridian", "pymc_marketing", "robyn")
SOURCE = "margin_experiment"


def experiment_row(
    result: LiftResult, channel: str, kpi: str, design_id: str | None
) -> dict[str, Any]:
    """The registry row of ``result`` (id = hash of channel, geos, window and method)."""
    key = json.dumps(
        [
            channel,
            kpi,
            list(result.treated),
            result.start.isoformat(),
            result.end.isoformat(),
            result.method,
        ]
    )
    return {
        "id": "exp-" + hashlib.sha256(key.encode()).hexdigest()[:12],
        "channel": channel,
        "kpi": kpi,
        "treatment_geos": list(result.treated),
        "control_geos": list(result.controls),
        "start": result.start,
        "end": result.end,
        "spend_delta": result.spend_delta,
        "lift": result.cumulative_lift.mean,
        "lift_se": result.lift_se,
        "method": result.method,
        "design_id": design_id,
    }


def record_experiment(
    workspace: Workspace,
    result: LiftResult,
    *,
    channel: str,
    kpi: str,
    design_id: str | None = None,
) -> dict[str, Any]:
    """Store ``result`` in the ``experiments`` table (replacing a row with the same id)."""
    import pandas as pd

    from margin.data.ingest.pipeline import ingest_frames

    row = experiment_row(result, channel, kpi, design_id)
    if not math.isfinite(row["lift_se"]):
        raise ConfigError(
            "the test's interval is unbounded (too few placebo windows), so it has no standard "
            "error to store; analyse it with a longer pre-period or --method tbr before recording"
        )
    frame = pd.DataFrame([row])
    digest = hashlib.sha256(json.dumps(row, default=str).encode()).hexdigest()
    ingest_frames(
        workspace,
        {"experiments": frame},
        file=f"experiment:{row['id']}",
        sha256=digest,
        source=SOURCE,
    )
    return row


def list_experiments(workspace: Workspace) -> pd.DataFrame:
    """All rows of the registry, newest window first."""
    import pandas as pd

    columns = [
        "id",
        "channel",
        "kpi",
        "treatment_geos",
        "control_geos",
        "start",
        "end",
        "spend_delta",
        "lift",
        "lift_se",
        "method",
        "design_id",
    ]
    quoted = ", ".join(f'"{c}"' for c in columns)
    rows = workspace.fetch(f"SELECT {quoted} FROM experiments ORDER BY start DESC, id")
    return pd.DataFrame(rows, columns=columns)


def meridian_roi_prior(roi: float, roi_se: float) -> dict[str, float]:
    """LogNormal ``(mu, sigma)`` with mean ``roi`` and sd ``roi_se`` (``roi > 0``)."""
    if not roi > 0 or not roi_se > 0:
        raise ConfigError(
            f"a Meridian ROI prior is LogNormal and needs a positive ROI and standard error; got "
            f"roi={roi}, se={roi_se}. A test with a non-positive lift cannot be expressed this way"
        )
    sigma2 = math.log1p((roi_se / roi) ** 2)
    return {
        "mu": math.log(roi) - sigma2 / 2,
        "sigma": math.sqrt(sigma2),
        "roi_mean": roi,
        "roi_sd": roi_se,
    }


def export_calibration(
    row: dict[str, Any], fmt: str, *, baseline_spend: float = 0.0, level: float = 0.9
) -> dict[str, Any]:
    """One registry ``row`` in calibration format ``fmt`` (see the module docstring)."""
    spend_delta = row.get("spend_delta")
    start, end = _iso(row["start"]), _iso(row["end"])
    if fmt == "meridian":
        if not spend_delta:
            raise ConfigError(
                "a Meridian ROI prior needs the test's spend change (spend_delta); record it with --spend-delta"
            )
        prior = meridian_roi_prior(row["lift"] / spend_delta, abs(row["lift_se"] / spend_delta))
        return {
            "channel": row["channel"],
            "roi_m": {"distribution": "LogNormal", **prior},
            "start": start,
            "end": end,
        }
    if fmt == "pymc_marketing":
        return {
            "channel": row["channel"],
            "x": baseline_spend,
            "delta_x": spend_delta or 0.0,
            "delta_y": row["lift"],
            "sigma": row["lift_se"],
            "geo": row["treatment_geos"],
            "date_start": start,
            "date_end": end,
        }
    if fmt == "robyn":
        return {
            "channel": row["channel"],
            "liftStartDate": start,
            "liftEndDate": end,
            "liftAbs": row["lift"],
            "spend": abs(spend_delta or 0.0),
            "confidence": level,
            "metric": row["kpi"],
            "calibration_scope": "immediate",
        }
    raise ConfigError(f"format={fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")


def _iso(value: Any) -> str:
    return value.isoformat() if isinstance(value, date) else str(value)
