"""Incrementality experiments: geo panels, test design and power, analysis, lift registry.

Heavy work lives in the submodules; this package re-exports the public names.
"""

from __future__ import annotations

from margin.experiments.abtest import AbLift, mean_lift, proportion_lift
from margin.experiments.analysis import Estimate, LiftResult, analyze
from margin.experiments.design import Design, DesignSpec, design_test
from margin.experiments.panel import (
    GeoPanel,
    load_panel_csv,
    load_panel_workspace,
    panel_from_frame,
)
from margin.experiments.power import PowerResult, simulate_power
from margin.experiments.registry import (
    export_calibration,
    list_experiments,
    meridian_roi_prior,
    record_experiment,
)
from margin.experiments.simulate import SimulatedTest, simulate_geo_panel

__all__ = [
    "AbLift",
    "Design",
    "DesignSpec",
    "Estimate",
    "GeoPanel",
    "LiftResult",
    "PowerResult",
    "SimulatedTest",
    "analyze",
    "design_test",
    "export_calibration",
    "list_experiments",
    "load_panel_csv",
    "load_panel_workspace",
    "mean_lift",
    "meridian_roi_prior",
    "panel_from_frame",
    "proportion_lift",
    "record_experiment",
    "simulate_geo_panel",
    "simulate_power",
]
