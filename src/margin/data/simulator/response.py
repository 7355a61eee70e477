"""The simulator's true response as a model the optimizer can plan with.

:func:`parametric_from_world` turns a world's true parameters into a
:class:`~margin.optimize.parametric.ParametricResponse` (the generic parametric model of
:mod:`margin.optimize`), its draws optionally perturbed to stand for posterior
uncertainty: the demo and the benchmarks score a plan against the truth with it, the
optimizer's tests plan on it. The optimizer never imports the simulator; the simulator
hands it a model through the core :class:`~margin.protocols.ResponseModel` contract.
"""

from __future__ import annotations

import numpy as np

from margin.data.simulator.outcomes import noise_sd
from margin.data.simulator.params import WorldParams
from margin.errors import ConfigError
from margin.optimize.parametric import ParametricResponse
from margin.types import FloatArray

__all__ = ["parametric_from_world"]


def _lognormal(rng: np.random.Generator, spread: float, shape: tuple[int, ...]) -> FloatArray:
    result: FloatArray = np.exp(spread * rng.standard_normal(shape) - spread**2 / 2)
    return result


def parametric_from_world(
    params: WorldParams,
    history: FloatArray,
    *,
    n_draws: int,
    spread: float,
    seed: int,
    baseline: FloatArray | None = None,
) -> ParametricResponse:
    """A :class:`ParametricResponse` from a simulated world's true parameters.

    Each draw multiplies every channel's beta and K by independent mean-one log-normal
    factors with log-sd ``spread``, and its decay by one with log-sd ``spread / 2``
    (clipped to [0, 0.95]); ``spread=0`` makes every draw the truth.

    Args:
        params: the world's parameters.
        history: ``(n_geos, n_history, n_channels)`` spend before the horizon.
        n_draws: number of draws (>= 1).
        spread: log-sd of the perturbation (>= 0).
        seed: seed of the perturbation.
        baseline: ``(n_geos, n_future)`` true baseline after ``history``, shared by draws.
    """
    if n_draws < 1 or not (spread >= 0):
        raise ConfigError(
            f"parametric_from_world needs n_draws >= 1 and spread >= 0; got {n_draws}, {spread}."
        )
    rng = np.random.default_rng(seed)
    channels = params.channels
    n_channels, n_geos = len(channels), params.n_geos
    share = np.asarray(params.population_share)[None, :, None]
    true_k = np.array([c.half_saturation for c in channels])[None, None, :]
    true_beta = np.array([c.beta for c in channels])[None, None, :] / params.kpi_value
    true_decay = np.array([c.decay for c in channels])[None, :]
    shape = (n_draws, 1, n_channels)
    decay = np.clip(true_decay * _lognormal(rng, spread / 2, (n_draws, n_channels)), 0.0, 0.95)
    slope = np.broadcast_to(np.array([c.slope for c in channels]), (n_draws, n_channels)).copy()
    half = np.broadcast_to(
        true_k * share * _lognormal(rng, spread, shape), (n_draws, n_geos, n_channels)
    )
    beta = np.broadcast_to(true_beta * share * _lognormal(rng, spread, shape), half.shape)
    base = (
        None if baseline is None else np.broadcast_to(baseline, (n_draws, *baseline.shape)).copy()
    )
    return ParametricResponse(
        channels=params.channel_names,
        geos=params.geos,
        kpi_value=params.kpi_value,
        history=np.asarray(history, dtype=np.float64),
        decay=decay,
        max_lag=tuple(c.max_lag for c in channels),
        half_saturation=half.copy(),
        slope=slope,
        beta=beta.copy(),
        noise_sd=np.broadcast_to(noise_sd(params), (n_draws, n_geos)).copy(),
        baseline=base,
    )
