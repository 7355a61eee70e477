"""The Bayesian marketing mix model: transforms, NumPyro model, fitting, diagnostics,
summaries, lift-test calibration and run artifacts.

Importing this package imports JAX; the CLI imports it inside its commands only.
"""

from margin.mmm.artifacts import RunRecord, SavedRun, load_run, record_run, save_run
from margin.mmm.calibration import LiftTest, read_lift_tests_csv, read_lift_tests_workspace
from margin.mmm.config import ModelConfig, RoiPrior, ShapePrior, model_config
from margin.mmm.estimator import MarketingMixModel

__all__ = [
    "LiftTest",
    "MarketingMixModel",
    "ModelConfig",
    "RoiPrior",
    "RunRecord",
    "SavedRun",
    "ShapePrior",
    "load_run",
    "model_config",
    "read_lift_tests_csv",
    "read_lift_tests_workspace",
    "record_run",
    "save_run",
]
