"""The model-ready panel: the spec file (:mod:`~margin.data.panel.spec`) and
:class:`MarketingData` (:mod:`~margin.data.panel.marketing_data`), built from a wide file
(:mod:`~margin.data.panel.from_csv`) or a workspace's weekly views
(:mod:`~margin.data.panel.from_workspace`); :mod:`~margin.data.panel.common` holds what the
two loaders share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from margin.exports import lazy_exports

if TYPE_CHECKING:
    from margin.data.panel.from_csv import load_panel_csv
    from margin.data.panel.from_workspace import load_panel_workspace
    from margin.data.panel.marketing_data import MarketingData, load_panel
    from margin.data.panel.spec import (
        KPI_TYPES,
        DataSpec,
        KpiType,
        Spec,
        dump_spec,
        load_spec,
        parse_spec,
    )

__all__ = [
    "KPI_TYPES",
    "DataSpec",
    "KpiType",
    "MarketingData",
    "Spec",
    "dump_spec",
    "load_panel",
    "load_panel_csv",
    "load_panel_workspace",
    "load_spec",
    "parse_spec",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "margin.data.panel.from_csv": ("load_panel_csv",),
        "margin.data.panel.from_workspace": ("load_panel_workspace",),
        "margin.data.panel.marketing_data": ("MarketingData", "load_panel"),
        "margin.data.panel.spec": (
            "DataSpec",
            "KPI_TYPES",
            "KpiType",
            "Spec",
            "dump_spec",
            "load_spec",
            "parse_spec",
        ),
    },
)
