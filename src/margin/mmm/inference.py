"""Posterior sampling: NUTS (several chains, vectorised) or a fast approximation (SVI).

Both return a :class:`Draws`: every sample site and deterministic as numpy arrays shaped
``(n_chains, n_draws, ...)``. The approximate mode fits a mean-field normal guide
by SVI (ClippedAdam) and draws from it; its draws are labelled ``method = "approximate"`` and carry
no MCMC diagnostics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import jax
import numpy as np
import numpy.typing as npt

__all__ = ["Draws", "Method", "run_nuts", "run_svi"]

Method = Literal["nuts", "approximate"]
SVI_STEPS = 3000
"""Optimisation steps of the approximate mode."""
SVI_LEARNING_RATE = 0.01


@dataclass(frozen=True, eq=False)
class Draws:
    """Posterior draws ``(n_chains, n_draws, ...)`` per site, and sampler statistics.

    ``diverging`` and ``num_steps`` are ``(n_chains, n_draws)`` for NUTS, ``None`` for SVI.
    """

    method: Method
    samples: dict[str, npt.NDArray[np.float64]]
    diverging: npt.NDArray[np.bool_] | None = None
    num_steps: npt.NDArray[np.int64] | None = None
    max_tree_depth: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def run_nuts(
    model: Callable[..., None],
    args: tuple[Any, ...],
    *,
    seed: int,
    chains: int,
    draws: int,
    warmup: int,
    target_accept: float = 0.85,
    max_tree_depth: int = 8,
    progress: bool = False,
) -> Draws:
    """Run NUTS with ``chains`` vectorised chains (no global XLA device flags needed)."""
    from numpyro.infer import MCMC, NUTS  # type: ignore[import-untyped]

    kernel = NUTS(model, target_accept_prob=target_accept, max_tree_depth=max_tree_depth)
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=progress,
    )
    mcmc.run(jax.random.key(seed), *args, extra_fields=("diverging", "num_steps"))
    samples = {k: np.asarray(v, dtype=np.float64) for k, v in mcmc.get_samples(True).items()}
    extra = mcmc.get_extra_fields(group_by_chain=True)
    return Draws(
        method="nuts",
        samples=samples,
        diverging=np.asarray(extra["diverging"], dtype=bool),
        num_steps=np.asarray(extra["num_steps"], dtype=np.int64),
        max_tree_depth=max_tree_depth,
    )


def run_svi(
    model: Callable[..., None],
    args: tuple[Any, ...],
    *,
    seed: int,
    chains: int,
    draws: int,
    steps: int = SVI_STEPS,
) -> Draws:
    """Fit a mean-field normal guide by SVI and draw ``chains × draws`` samples."""
    from numpyro.infer import SVI, Predictive, Trace_ELBO
    from numpyro.infer.autoguide import AutoNormal  # type: ignore[import-untyped]
    from numpyro.optim import ClippedAdam  # type: ignore[import-untyped]

    fit_key, draw_key = jax.random.split(jax.random.key(seed))
    guide = AutoNormal(model, init_scale=0.05)
    svi = SVI(model, guide, ClippedAdam(SVI_LEARNING_RATE, clip_norm=10.0), Trace_ELBO())
    result = svi.run(fit_key, steps, *args, progress_bar=False)
    latents = guide.sample_posterior(draw_key, result.params, sample_shape=(chains * draws,))
    derived = Predictive(model, posterior_samples=latents)(draw_key, *args)
    raw = {**latents, **derived}
    samples = {
        k: np.asarray(v, dtype=np.float64).reshape(chains, draws, *v.shape[1:])
        for k, v in raw.items()
        if k not in ("y", "lift_obs")
    }
    losses = np.asarray(result.losses)
    return Draws(method="approximate", samples=samples, extra={"final_loss": float(losses[-1])})
