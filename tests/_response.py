"""A check shared by the tests of every ResponseModel: ``take_draws`` is the same model."""

from __future__ import annotations

from typing import Any

import numpy as np

from margin.optimize import ResponseModel

RESAMPLE = np.array([4, 1, 1, 5])
"""Draws to take: any order, repeats allowed (a resample)."""


def assert_take_draws_is_the_same_model(model: Any, plan: np.ndarray, rtol: float) -> None:
    """``model.take_draws(RESAMPLE)`` predicts, per draw, what ``model`` does at those
    draws: media KPI, baseline, noise and the gradient (weights summed over repeats)."""
    taken = model.take_draws(RESAMPLE)
    assert isinstance(taken, ResponseModel)
    assert taken.n_draws == RESAMPLE.size
    np.testing.assert_allclose(taken.media_kpi(plan), model.media_kpi(plan)[RESAMPLE], rtol=rtol)
    np.testing.assert_allclose(taken.baseline_kpi(4), model.baseline_kpi(4)[RESAMPLE], rtol=rtol)
    np.testing.assert_array_equal(taken.observation_sd(), model.observation_sd()[RESAMPLE])
    weights = np.zeros(model.n_draws)
    np.add.at(weights, RESAMPLE, 1.0)
    np.testing.assert_allclose(
        taken.media_kpi_gradient(plan, np.ones(RESAMPLE.size)),
        model.media_kpi_gradient(plan, weights),
        rtol=rtol,
    )
