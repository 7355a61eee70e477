"""The [model]/[priors] spec sections: defaults, overrides, and clear errors."""

from __future__ import annotations

import math

import pytest

from margin.errors import ConfigError
from margin.mmm.config import DEFAULT_ROI_MEDIAN, ModelConfig, RoiPrior, model_config

CHANNELS = ("tv", "search")


def test_defaults_and_overrides() -> None:
    config = model_config({}, CHANNELS)
    assert config == ModelConfig()
    assert math.isclose(config.roi_prior("tv").median, DEFAULT_ROI_MEDIAN)
    raw = {
        "model": {"adstock": "delayed", "saturation": "logistic", "max_lag": 4,
                  "likelihood": "student_t", "fourier_terms": 0, "trend": False,
                  "seasonality": "multiplicative"},
        "priors": {"roi_median": 2.0, "roi_sigma": 0.5, "roi": {"tv": [3.0, 0.2]}},
    }  # fmt: skip
    config = model_config(raw, CHANNELS)
    assert config.adstock == "delayed"
    assert config.likelihood == "student_t"
    assert config.seasonality == "multiplicative"
    assert config.roi_prior("tv") == RoiPrior(3.0, 0.2)
    assert config.roi_prior("search") == RoiPrior(2.0, 0.5)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"model": {"adstok": "geometric"}}, "unknown key"),
        ({"model": {"likelihood": "cauchy"}}, "model.likelihood"),
        ({"model": {"seasonality": "log"}}, "model.seasonality"),
        ({"model": {"max_lag": 0}}, "model.max_lag"),
        ({"model": {"trend": "yes"}}, "model.trend"),
        ({"priors": {"roi_sigma": -1.0}}, "sigma"),
        ({"priors": {"roi": {"radio": [1.0, 0.5]}}}, "radio"),
        ({"priors": {"roi": {"tv": 1.0}}}, "priors.roi.tv"),
        ({"priors": {"roi_median": "high"}}, "median"),
        ({"model": []}, "[model]"),
    ],
)
def test_bad_values_raise_config_error(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        model_config(raw, CHANNELS)
