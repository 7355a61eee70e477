"""The [model]/[priors] spec sections: defaults, overrides, and clear errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

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


def test_shape_priors_per_channel_with_a_default_for_all() -> None:
    from margin.mmm.config import DEFAULT_SHAPE_PRIORS, ShapePrior

    raw = {"priors": {"decay": {"tv": [0.7, 0.1], "*": [0.3, 0.05]},
                      "half_saturation": {"search": [2.0, 0.25]}}}  # fmt: skip
    config = model_config(raw, CHANNELS)
    assert config.shape_sites == ("decay", "half_saturation", "slope")
    assert config.shape_prior("decay", "tv") == ShapePrior("decay", 0.7, 0.1)
    assert config.shape_prior("decay", "search") == ShapePrior("decay", 0.3, 0.05)
    assert config.shape_prior("half_saturation", "tv") == DEFAULT_SHAPE_PRIORS["half_saturation"]
    # a Beta given by mean and sd has that mean and sd (scipy), and the default is Beta(2, 2)
    a, b = ShapePrior("decay", 0.7, 0.1).parameters()
    assert scipy.stats.beta(a, b).mean() == pytest.approx(0.7)
    assert scipy.stats.beta(a, b).std() == pytest.approx(0.1)
    assert DEFAULT_SHAPE_PRIORS["decay"].parameters() == pytest.approx((2.0, 2.0))
    loc, scale = ShapePrior("slope", 1.5, 0.2).parameters()
    assert scipy.stats.lognorm(scale, scale=math.exp(loc)).median() == pytest.approx(1.5)
    arrays = config.shape_arrays(CHANNELS)
    np.testing.assert_allclose(arrays["half_saturation"][0], [0.0, math.log(2.0)])
    priors = config.priors_json(CHANNELS)
    assert priors["tv"]["decay"] == {"distribution": "beta", "mean": 0.7, "sd": 0.1}
    assert priors["search"]["half_saturation"]["median"] == 2.0
    assert priors["tv"]["roi"]["median"] == pytest.approx(DEFAULT_ROI_MEDIAN)
    assert "rate" not in priors["tv"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"decay": {"tv": [0.5, 0.6]}}, r"priors.decay.tv .* sd below 0.500"),
        ({"decay": {"tv": [1.2, 0.1]}}, r"priors.decay.tv .* mean must lie in \(0, 1\)"),
        ({"slope": {"tv": [1.0, -0.2]}}, r"priors.slope.tv .* sigma must be a finite number > 0"),
        ({"slope": {"tv": [1.0, 0.2, 3]}}, r"expected \[median, sigma\]"),
        ({"decay": {"tv": "0.5"}}, r"expected \[mean, sd\]"),
        ({"half_saturation": {"radio": [1.0, 0.5]}}, "not in the data"),
        ({"slope": [1.0, 0.3]}, r"\[priors.slope\] must be a table"),
        ({"rate": {"tv": [1.0, 0.3]}}, r"\[priors.rate\] applies to saturation = 'logistic'"),
        ({"adstock_shape": {"*": [2.0, 0.3]}}, "adstock = 'delayed'"),
    ],
)
def test_bad_shape_priors_name_the_key_and_the_fix(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        model_config({"priors": raw}, CHANNELS)
