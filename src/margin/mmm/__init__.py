"""The Bayesian marketing mix model: transforms, NumPyro model, fitting, diagnostics,
summaries, lift-test calibration and run artifacts.

Importing this package imports no JAX: its names load their modules on first use (PEP 562),
so light modules such as :mod:`margin.mmm.settings` (the inference settings the refresh
and the CLI build) stay light. The CLI imports the model inside its commands only.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from margin.mmm.artifacts import RunRecord, SavedRun, load_run, record_run, save_run
    from margin.mmm.calibration import LiftTest, read_lift_tests_csv, read_lift_tests_workspace
    from margin.mmm.config import ModelConfig, RoiPrior, ShapePrior, model_config
    from margin.mmm.estimator import MarketingMixModel
    from margin.mmm.settings import Laplace, Nuts
    from margin.mmm.summary import ChannelSummary, RunSummary

__all__ = [
    "ChannelSummary",
    "Laplace",
    "LiftTest",
    "MarketingMixModel",
    "ModelConfig",
    "Nuts",
    "RoiPrior",
    "RunRecord",
    "RunSummary",
    "SavedRun",
    "ShapePrior",
    "load_run",
    "model_config",
    "read_lift_tests_csv",
    "read_lift_tests_workspace",
    "record_run",
    "save_run",
]

_HOMES = {
    "artifacts": ("RunRecord", "SavedRun", "load_run", "record_run", "save_run"),
    "calibration": ("LiftTest", "read_lift_tests_csv", "read_lift_tests_workspace"),
    "config": ("ModelConfig", "RoiPrior", "ShapePrior", "model_config"),
    "estimator": ("MarketingMixModel",),
    "settings": ("Laplace", "Nuts"),
    "summary": ("ChannelSummary", "RunSummary"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    """Load the module holding ``name`` on first use."""
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'margin.mmm' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"margin.mmm.{module}"), name)
    globals()[name] = value
    return value
