"""The one interval and the one quantile convention, and the types that mirror them."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from margin.types import LEVELS, Interval, quantiles


def test_an_interval_is_the_mean_and_the_5th_and_95th_percentiles() -> None:
    draws = np.arange(101, dtype=np.float64)
    one = Interval.of(draws)
    assert (one.mean, one.p05, one.p95) == (50.0, 5.0, 95.0)
    low, high = quantiles(draws[:, None], axis=0)
    assert (low[0], high[0]) == (one.p05, one.p95)
    assert Interval.from_json(one.to_json()) == one
    assert list(one.to_json()) == ["mean", "p05", "p95"]


def test_the_api_model_has_the_fields_of_the_interval() -> None:
    from margin.api.models import Interval as IntervalModel

    fields = [f.name for f in dataclasses.fields(Interval)]
    assert list(IntervalModel.model_fields) == fields
    example = IntervalModel.model_config.get("json_schema_extra")
    assert isinstance(example, dict)
    assert Interval.from_json(example["example"]).to_json() == example["example"]
    assert IntervalModel(**Interval(1.0, 0.5, 2.0).to_json()).model_dump() == {
        "mean": 1.0, "p05": 0.5, "p95": 2.0,
    }  # fmt: skip


def test_an_experiment_estimate_at_the_default_level_is_an_interval() -> None:
    from margin.errors import ConfigError
    from margin.experiments.analysis import DEFAULT_LEVEL, Estimate

    assert math.isclose(DEFAULT_LEVEL, LEVELS[1] - LEVELS[0])
    estimate = Estimate(2.0, 1.0, 3.0)
    assert estimate.interval() == Interval(2.0, 1.0, 3.0)
    assert estimate.to_json() == Interval(2.0, 1.0, 3.0).to_json()
    wide = Estimate(2.0, 0.5, math.inf, level=0.95)
    assert wide.to_json() == {"mean": 2.0, "p2.5": 0.5, "p97.5": None}
    assert wide.scaled(-2.0) == Estimate(-4.0, -math.inf, -1.0, level=0.95)
    with pytest.raises(ConfigError, match=r"level=0\.9"):
        wide.interval()


def test_the_optimizer_interval_is_the_core_interval() -> None:
    from margin.optimize.results import Interval as OptimizeInterval

    assert OptimizeInterval is Interval
