"""The world's arrays as the workspace's long tables, the wide panel and its spec."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from margin.data.simulator.params import WorldParams
from margin.data.simulator.plan import week_starts
from margin.types import FloatArray

__all__ = [
    "CONTROL_NAMES",
    "controls_frame",
    "outcomes_frame",
    "panel_frame",
    "spec_toml",
    "spend_frame",
]

CONTROL_NAMES = ("price", "holiday")


def _dates(params: WorldParams) -> npt.NDArray[np.str_]:
    return np.array([d.isoformat() for d in week_starts(params)], dtype=np.str_)


def spend_frame(
    params: WorldParams,
    spend: FloatArray,
    impressions: FloatArray,
    clicks: FloatArray,
    campaigns: npt.NDArray[np.str_],
) -> pd.DataFrame:
    """``date, geo, channel, campaign, spend, impressions, clicks, currency``.

    One row per geo, week and channel (zero-spend weeks included), sorted in that order.

    Args:
        spend, impressions, clicks: ``(n_geos, n_times, n_channels)``.
        campaigns: ``(n_times, n_channels)``.
    """
    n_geos, n_times, n_channels = spend.shape
    geo, week, channel = np.indices(spend.shape).reshape(3, -1)
    return pd.DataFrame(
        {
            "date": _dates(params)[week],
            "geo": np.array(params.geos)[geo],
            "channel": np.array(params.channel_names)[channel],
            "campaign": campaigns[week, channel],
            "spend": spend.reshape(-1),
            "impressions": impressions.reshape(-1),
            "clicks": clicks.reshape(-1),
            "currency": np.full(n_geos * n_times * n_channels, params.currency),
        }
    )


def outcomes_frame(params: WorldParams, observed: FloatArray) -> pd.DataFrame:
    """``date, geo, kpi, value`` from the observed KPI ``(n_geos, n_times)``."""
    geo, week = np.indices(observed.shape).reshape(2, -1)
    return pd.DataFrame(
        {
            "date": _dates(params)[week],
            "geo": np.array(params.geos)[geo],
            "kpi": np.full(geo.size, params.kpi_name),
            "value": observed.reshape(-1),
        }
    )


def controls_frame(params: WorldParams, price: FloatArray, holiday: FloatArray) -> pd.DataFrame:
    """``date, geo, name, value`` with names ``price`` and ``holiday``, ``(n_geos, n_times)`` each."""
    frames = []
    for name, values in zip(CONTROL_NAMES, (price, holiday), strict=True):
        geo, week = np.indices(values.shape).reshape(2, -1)
        frames.append(
            pd.DataFrame(
                {
                    "date": _dates(params)[week],
                    "geo": np.array(params.geos)[geo],
                    "name": np.full(geo.size, name),
                    "value": values.reshape(-1),
                }
            )
        )
    return pd.concat(frames, ignore_index=True).sort_values(
        ["date", "geo", "name"], kind="stable", ignore_index=True
    )


def panel_frame(
    params: WorldParams,
    observed: FloatArray,
    spend: FloatArray,
    price: FloatArray,
    holiday: FloatArray,
) -> pd.DataFrame:
    """The wide model-ready panel: ``date, geo, <kpi>, <channel>..., price, holiday``.

    One row per geo and week (geo-major), spend in currency units.
    """
    geo, week = np.indices(observed.shape).reshape(2, -1)
    columns: dict[str, object] = {
        "date": _dates(params)[week],
        "geo": np.array(params.geos)[geo],
        params.kpi_name: observed.reshape(-1),
    }
    for c, name in enumerate(params.channel_names):
        columns[name] = spend[:, :, c].reshape(-1)
    columns["price"] = price.reshape(-1)
    columns["holiday"] = holiday.reshape(-1)
    return pd.DataFrame(columns)


def spec_toml(params: WorldParams) -> str:
    """The ``[data]`` spec describing ``panel.csv``."""
    media = ", ".join(f'"{name}"' for name in params.channel_names)
    controls = ", ".join(f'"{name}"' for name in CONTROL_NAMES)
    return (
        "[data]\n"
        'date = "date"\n'
        'geo = "geo"\n'
        f'kpi = "{params.kpi_name}"\n'
        f'kpi_type = "{params.kpi_type}"\n'
        f"media = [{media}]\n"
        f"controls = [{controls}]\n"
    )
