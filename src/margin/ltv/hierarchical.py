"""Partial pooling across acquisition channels: hierarchical BG/NBD and Gamma-Gamma by NUTS.

The maximum-likelihood fits of :mod:`~margin.ltv.channels` fit each channel alone (or, below
its size thresholds, give it the pooled fit). Here every channel ``c`` gets its own
parameters, drawn from a population:

- ``log θ_c = μ + τ · z_c`` with ``z_c ~ Normal(0, 1)`` (non-centred), elementwise over the
  model's log-parameters (BG/NBD ``log(r, alpha, a, b)``, Gamma-Gamma ``log(p, q, gamma)``);
- hyper-priors ``μ ~ Normal(μ₀, 2)`` (weakly informative: ``μ₀`` is the maximum-likelihood
  fits' starting point, ``log(1, T̄/10, 1, 1)`` with ``T̄`` the mean age for BG/NBD,
  ``log(1, 2, m̄)`` with ``m̄`` the mean repeat spend for Gamma-Gamma, so the prior follows
  the data's time and money units; ±2 on the log scale spans a factor 50 either way) and
  ``τ ~ HalfNormal(0.5)`` (channels differ by a factor of ~1.4 typically, rarely over 3);
- the likelihood: the sum over channels of the model's pure weighted log-likelihood
  (:func:`margin.ltv.bgnbd.loglik`, :func:`margin.ltv.gamma_gamma.loglik`) on that
  channel's collapsed rows (``numpyro.factor``).

A large channel's posterior is its own data's; a small one's is pulled toward the
population (``exp(μ)``) as far as its data leave room. NUTS (NumPyro) runs in float64.
:func:`hierarchical_new_customer_value` turns the draws into each channel's value of a new
customer over a horizon, one value per draw (so the interval is the posterior's).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from margin.errors import ConfigError, DataValidationError
from margin.ltv import bgnbd, gamma_gamma
from margin.ltv.inputs import check_customers, check_spend
from margin.ltv.mle import float64
from margin.ltv.results import MODEL_PARAMS, LtvFitError
from margin.ltv.value import discounted_transactions, horizon_grid
from margin.types import FloatArray, Interval

__all__ = [
    "PRIOR_SCALE",
    "TAU_SCALE",
    "HierarchicalFit",
    "fit_bgnbd_hierarchical",
    "fit_gamma_gamma_hierarchical",
    "hierarchical_new_customer_value",
]

PRIOR_SCALE = 2.0
"""Standard deviation of the ``μ`` hyper-prior on the log scale."""
TAU_SCALE = 0.5
"""Scale of the ``τ ~ HalfNormal`` hyper-prior: the spread of channels' log-parameters."""
_TARGET_ACCEPT = 0.9
_LOGLIKS: dict[str, Callable[..., Any]] = {
    "bgnbd": bgnbd.loglik,
    "gamma_gamma": gamma_gamma.loglik,
}
_FILLERS = {"bgnbd": (0.0, 0.0, 1.0), "gamma_gamma": (1.0, 1.0)}
"""A valid row per model for the zero-weight padding of the smaller channels."""


@dataclass(frozen=True)
class HierarchicalFit:
    """A hierarchical fit across acquisition channels (posterior draws of NUTS).

    Attributes:
        model: ``"bgnbd"`` or ``"gamma_gamma"``.
        channels: the channels, most customers first.
        customers: channel → customers behind its likelihood (repeat customers for
            Gamma-Gamma).
        params: channel → parameter name → posterior mean and 90% interval (natural scale:
            ``alpha`` in the time unit, ``gamma`` in money, the others shapes).
        population: parameter name → ``exp(μ)``, the typical channel's parameter.
        spread: parameter name → ``τ``, the channels' spread on the log scale.
        draws: channel → parameter name → posterior draws ``(n_draws,)`` (chains
            concatenated), natural scale.
        chains, warmup: NUTS chains and warm-up iterations per chain.
        divergences: divergent transitions after warm-up (0 for a trustworthy fit).
        max_rhat, min_ess_bulk: split R-hat and bulk effective sample size over the log
            channel parameters, ``μ`` and ``τ`` (``None`` with one chain).
    """

    model: str
    channels: tuple[str, ...]
    customers: Mapping[str, float]
    params: Mapping[str, Mapping[str, Interval]]
    population: Mapping[str, Interval]
    spread: Mapping[str, Interval]
    draws: Mapping[str, Mapping[str, FloatArray]] = field(repr=False)
    chains: int = 1
    warmup: int = 0
    divergences: int = 0
    max_rhat: float | None = None
    min_ess_bulk: float | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """The model's parameter names."""
        return MODEL_PARAMS[self.model]

    def to_json(self) -> dict[str, Any]:
        """``{"model", "channels": {channel: {"customers", "params": {name: {"mean", "p05",
        "p95"}}}}, "population", "spread", "chains", "warmup", "draws", "divergences",
        "max_rhat", "min_ess_bulk"}``."""
        per_channel = {
            c: {
                "customers": self.customers[c],
                "params": {k: v.to_json() for k, v in self.params[c].items()},
            }
            for c in self.channels
        }
        first = self.draws[self.channels[0]][self.names[0]]
        return {
            "model": self.model, "channels": per_channel,
            "population": {k: v.to_json() for k, v in self.population.items()},
            "spread": {k: v.to_json() for k, v in self.spread.items()},
            "chains": self.chains, "warmup": self.warmup, "draws": int(first.size),
            "divergences": self.divergences, "max_rhat": self.max_rhat,
            "min_ess_bulk": self.min_ess_bulk,
        }  # fmt: skip

    def __str__(self) -> str:
        lines = [
            f"hierarchical {self.model} over {len(self.channels)} channels ({self.chains} "
            f"chain(s), {self.divergences} divergences); posterior mean [90% interval]"
        ]
        for c in self.channels:
            values = "  ".join(
                f"{k} {v.mean:.4g} [{v.p05:.4g}, {v.p95:.4g}]" for k, v in self.params[c].items()
            )
            lines.append(f"  {c:<14} {self.customers[c]:>9,.0f} customers  {values}")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Settings:
    """NUTS settings, checked."""

    draws: int
    warmup: int
    chains: int
    seed: int

    def __post_init__(self) -> None:
        for name in ("draws", "warmup", "chains"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be a whole number >= 1; got {value!r}.")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a whole number >= 0; got {self.seed!r}.")


def _labels(channel: npt.ArrayLike, n_rows: int, where: str) -> npt.NDArray[np.str_]:
    """The channel label of each row, as strings, checked against the rows' count."""
    raw = np.asarray(channel, dtype=object)
    if raw.ndim != 1 or raw.size != n_rows:
        raise DataValidationError(
            f"{where}: channel must give one acquisition channel per row ({n_rows} rows); got "
            f"shape {raw.shape}. Pass the channel column of the same customers."
        )
    missing = [
        i for i, v in enumerate(raw) if v is None or (isinstance(v, float) and math.isnan(v))
    ]
    if missing:
        raise DataValidationError(
            f"{where}: row {missing[0]} has no channel ({len(missing)} such rows); label them "
            "(e.g. 'unknown') or drop them."
        )
    return np.asarray([str(v) for v in raw], dtype=np.str_)


def _collapse(columns: tuple[FloatArray, ...], weights: FloatArray
              ) -> tuple[tuple[FloatArray, ...], FloatArray]:  # fmt: skip
    """Identical rows merged into one, their weights summed."""
    unique, inverse = np.unique(np.column_stack(columns), axis=0, return_inverse=True)
    summed = np.bincount(inverse.ravel(), weights=weights, minlength=unique.shape[0])
    return tuple(np.ascontiguousarray(unique[:, i]) for i in range(len(columns))), summed


def _stack(model: str, groups: list[tuple[tuple[FloatArray, ...], FloatArray]]
           ) -> tuple[tuple[FloatArray, ...], FloatArray]:  # fmt: skip
    """Each channel's rows padded with zero-weight filler rows to a common length:
    data arrays and weights ``(n_channels, n_rows_max)``."""
    size = max(w.size for _, w in groups)
    filler = _FILLERS[model]
    data = tuple(
        np.stack([np.append(cols[i], np.full(size - w.size, filler[i])) for cols, w in groups])
        for i in range(len(filler))
    )
    weights = np.stack([np.append(w, np.zeros(size - w.size)) for _, w in groups])
    return data, weights


def _by_channel(
    labels: npt.NDArray[np.str_], columns: tuple[FloatArray, ...], weights: FloatArray
) -> tuple[tuple[str, ...], list[tuple[tuple[FloatArray, ...], FloatArray]], dict[str, float]]:
    """Channels (most customers first), each one's collapsed rows, and its customers."""
    names, inverse = np.unique(labels, return_inverse=True)
    totals = np.bincount(inverse, weights=weights)
    order = sorted(range(names.size), key=lambda i: (-totals[i], str(names[i])))
    groups = []
    for i in order:
        keep = inverse == i
        groups.append(_collapse(tuple(c[keep] for c in columns), weights[keep]))
    channels = tuple(str(names[i]) for i in order)
    return channels, groups, {str(names[i]): float(totals[i]) for i in order}


def _hierarchical_model(loglik: Callable[..., Any], prior_loc: Any, data: tuple[Any, ...],
                        weights: Any) -> None:  # fmt: skip
    """The NumPyro model: non-centred channel log-parameters, one factor for the data.

    Args:
        loglik: the model's pure weighted log-likelihood.
        prior_loc: ``μ₀``, ``(n_params,)``.
        data, weights: ``(n_channels, n_rows_max)`` each.
    """
    import jax
    import numpyro  # type: ignore[import-untyped]
    import numpyro.distributions as dist  # type: ignore[import-untyped]

    n_channels, n_params = weights.shape[0], prior_loc.shape[0]
    mu = numpyro.sample("mu", dist.Normal(prior_loc, PRIOR_SCALE).to_event(1))
    tau = numpyro.sample("tau", dist.HalfNormal(TAU_SCALE * np.ones(n_params)).to_event(1))
    z = numpyro.sample("z", dist.Normal(0.0, 1.0).expand([n_channels, n_params]).to_event(2))
    theta = mu + tau * z
    per_channel = jax.vmap(loglik)(theta, *data, weights)
    numpyro.factor("loglik", per_channel.sum())


def _run_nuts(model: str, prior_loc: FloatArray, data: tuple[FloatArray, ...],
              weights: FloatArray, settings: _Settings) -> dict[str, FloatArray]:  # fmt: skip
    """NUTS draws ``{"mu", "tau", "z"}`` grouped by chain, and ``"diverging"``."""
    import jax
    import jax.numpy as jnp
    from numpyro.infer import MCMC, NUTS, init_to_value  # type: ignore[import-untyped]

    n_channels, n_params = weights.shape[0], prior_loc.size
    with float64():
        start = {
            "mu": jnp.asarray(prior_loc),
            "tau": jnp.full(n_params, 0.1),
            "z": jnp.zeros((n_channels, n_params)),
        }
        kernel = NUTS(_hierarchical_model, target_accept_prob=_TARGET_ACCEPT,
                      init_strategy=init_to_value(values=start), dense_mass=True)  # fmt: skip
        mcmc = MCMC(kernel, num_warmup=settings.warmup, num_samples=settings.draws,
                    num_chains=settings.chains, chain_method="vectorized",
                    progress_bar=False)  # fmt: skip
        args = (_LOGLIKS[model], jnp.asarray(prior_loc), tuple(map(jnp.asarray, data)),
                jnp.asarray(weights))  # fmt: skip
        mcmc.run(jax.random.PRNGKey(settings.seed), *args, extra_fields=("diverging",))
        samples = mcmc.get_samples(group_by_chain=True)
        out = {k: np.asarray(v, dtype=np.float64) for k, v in samples.items()}
        diverging = mcmc.get_extra_fields(group_by_chain=True)["diverging"]
        out["diverging"] = np.asarray(diverging, dtype=np.float64)
    return out


def _convergence(values: FloatArray) -> tuple[float, float]:
    """Max split R-hat and min bulk ESS of ``(chains, draws, n_quantities)``."""
    from arviz_stats.base import array_stats  # type: ignore[attr-defined]

    axes = {"chain_axis": 0, "draw_axis": 1}
    rhat = np.asarray(array_stats.rhat(values, **axes))  # type: ignore[no-untyped-call]
    bulk = np.asarray(array_stats.ess(values, method="bulk", **axes))  # type: ignore[no-untyped-call]
    return float(np.nanmax(rhat)), float(np.nanmin(bulk))


def _fit(model: str, channel: npt.ArrayLike, columns: tuple[FloatArray, ...],
         weights: FloatArray, prior_loc: FloatArray, settings: _Settings) -> HierarchicalFit:  # fmt: skip
    """Group the checked rows by channel, run NUTS and summarise the draws."""
    labels = _labels(channel, weights.size, f"{model} hierarchical fit")
    channels, groups, customers = _by_channel(labels, columns, weights)
    data, stacked = _stack(model, groups)
    samples = _run_nuts(model, prior_loc, data, stacked, settings)
    mu, tau = samples["mu"], samples["tau"]
    theta = (
        mu[:, :, None, :] + tau[:, :, None, :] * samples["z"]
    )  # (chains, draws, channels, params)
    names = MODEL_PARAMS[model]
    flat = np.exp(theta.reshape(-1, len(channels), len(names)))
    draws = {
        c: {k: np.ascontiguousarray(flat[:, i, j]) for j, k in enumerate(names)}
        for i, c in enumerate(channels)
    }
    max_rhat = min_ess = None
    if settings.chains > 1:
        stats = np.concatenate([theta.reshape(*theta.shape[:2], -1), mu, tau], axis=2)
        max_rhat, min_ess = _convergence(stats)
    return HierarchicalFit(
        model=model,
        channels=channels,
        customers=customers,
        params={c: {k: Interval.of(v) for k, v in d.items()} for c, d in draws.items()},
        population={k: Interval.of(np.exp(mu[..., j])) for j, k in enumerate(names)},
        spread={k: Interval.of(tau[..., j]) for j, k in enumerate(names)},
        draws=draws,
        chains=settings.chains,
        warmup=settings.warmup,
        divergences=int(samples["diverging"].sum()),
        max_rhat=max_rhat,
        min_ess_bulk=min_ess,
    )


def fit_bgnbd_hierarchical(  # noqa: PLR0913 (see tests/test_architecture.py)
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,  # noqa: N803 - lifetimes' name for the age
    channel: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    draws: int = 500,
    warmup: int = 500,
    chains: int = 1,
    seed: int = 0,
) -> HierarchicalFit:
    """Fit BG/NBD with channel parameters partially pooled toward a population (NUTS).

    Args:
        frequency, recency, T: lifetimes' ``frequency, recency, T``, ``(n_rows,)`` each.
        channel: the acquisition channel of each row, ``(n_rows,)``.
        weights: customers per row, ``(n_rows,)``; default 1 each.
        draws, warmup, chains: NUTS draws and warm-up iterations per chain, and chains
            (R-hat and ESS need 2 or more).
        seed: random seed.

    Raises:
        DataValidationError: bad rows (see :func:`~margin.ltv.inputs.check_customers`), a
            channel array of another length or with missing labels.
        ConfigError: draws, warmup or chains below 1, a negative seed.
    """
    settings = _Settings(draws, warmup, chains, seed)
    rows = check_customers(frequency, recency, T, weights, where="hierarchical BG/NBD")
    scale = float(np.average(rows.age, weights=rows.weights))
    prior_loc = np.log([1.0, max(scale, 1e-3) / 10.0, 1.0, 1.0])
    columns = (rows.frequency, rows.recency, rows.age)
    return _fit("bgnbd", channel, columns, rows.weights, prior_loc, settings)


def fit_gamma_gamma_hierarchical(
    frequency: npt.ArrayLike,
    monetary: npt.ArrayLike,
    channel: npt.ArrayLike,
    weights: npt.ArrayLike | None = None,
    *,
    draws: int = 500,
    warmup: int = 500,
    chains: int = 1,
    seed: int = 0,
) -> HierarchicalFit:
    """Fit Gamma-Gamma on the repeat customers with channel parameters partially pooled (NUTS).

    Args:
        frequency: repeat transactions per row, ``(n_rows,)``; rows with 0 are left out.
        monetary: mean value of the repeat transactions per row, ``(n_rows,)``.
        channel: the acquisition channel of each row, ``(n_rows,)``.
        weights: customers per row, ``(n_rows,)``; default 1 each.
        draws, warmup, chains, seed: as :func:`fit_bgnbd_hierarchical`.

    Raises:
        DataValidationError: bad rows (see :func:`~margin.ltv.inputs.check_spend`), a
            channel array of another length or with missing labels.
        ConfigError: draws, warmup or chains below 1, a negative seed.
    """
    settings = _Settings(draws, warmup, chains, seed)
    rows = check_spend(frequency, monetary, weights, where="hierarchical Gamma-Gamma")
    assert rows.monetary is not None
    x = np.asarray(frequency, dtype=np.float64)  # checked above
    repeat = _labels(channel, x.size, "hierarchical Gamma-Gamma")[x >= 1]
    mean = float(np.average(rows.monetary, weights=rows.weights))
    prior_loc = np.log([1.0, 2.0, max(mean, 1e-6)])
    columns = (rows.frequency, rows.monetary)
    return _fit("gamma_gamma", repeat, columns, rows.weights, prior_loc, settings)


def _channel_spend(spend: HierarchicalFit | Mapping[str, float], channel: str, n: int
                   ) -> FloatArray:  # fmt: skip
    """A channel's mean spend per transaction, per draw ``(n,)``."""
    if isinstance(spend, Mapping):
        if channel not in spend:
            raise ConfigError(f"no mean spend given for channel {channel!r}; give one per channel.")
        return np.full(n, float(spend[channel]))
    if spend.model != "gamma_gamma" or channel not in spend.draws:
        raise ConfigError(
            f"the spend fit must be a hierarchical Gamma-Gamma fit covering channel {channel!r}."
        )
    d = spend.draws[channel]
    p, q, g = d["p"], d["q"], d["gamma"]
    if np.any(q <= 1.0):
        raise LtvFitError(
            f"channel {channel!r}: {float(np.mean(q <= 1.0)):.0%} of the Gamma-Gamma draws have "
            "q <= 1 (infinite mean spend); give its mean spend per transaction instead."
        )
    if q.size != n:
        raise ConfigError(
            f"the purchase and spend fits have different numbers of draws ({n}, {q.size}); "
            "fit both with the same draws and chains."
        )
    return np.asarray(p * g / (q - 1.0), dtype=np.float64)


def hierarchical_new_customer_value(
    purchases: HierarchicalFit,
    spend: HierarchicalFit | Mapping[str, float],
    first_purchase: Mapping[str, float],
    horizon: float,
    *,
    annual_discount_rate: float = 0.0,
    periods_per_year: float = 52.0,
) -> dict[str, Interval]:
    """Each channel's value of a newly acquired customer over ``horizon`` periods, first
    purchase included: ``first + Σ discounted E[X(t)] increments × mean spend`` per draw.

    Args:
        purchases: a hierarchical BG/NBD fit.
        spend: a hierarchical Gamma-Gamma fit (same draws and chains; draw ``i`` of one is
            paired with draw ``i`` of the other), or channel → mean spend per transaction.
        first_purchase: channel → mean value of the acquiring purchase (money).
        horizon: in the fit's time unit (weeks for CDNOW-like summaries).
        annual_discount_rate, periods_per_year: discounting (see
            :func:`~margin.ltv.value.new_customer_value`).

    Returns:
        Channel → the value (money, the spend's unit): posterior mean and 90% interval.

    Raises:
        ConfigError: not a BG/NBD fit, a channel without a first purchase or spend, bad
            horizon or discounting.
        LtvFitError: a channel's spend draws have an infinite mean (``q <= 1``).
    """
    if purchases.model != "bgnbd":
        raise ConfigError(f"purchases must be a hierarchical BG/NBD fit; got {purchases.model!r}.")
    ends, factors = horizon_grid(horizon, annual_discount_rate, periods_per_year)
    out = {}
    for c in purchases.channels:
        first = first_purchase.get(c)
        if first is None or not math.isfinite(float(first)):
            raise ConfigError(f"no finite first-purchase mean given for channel {c!r}.")
        params: dict[str, Any] = {k: v[None, :] for k, v in purchases.draws[c].items()}

        def cumulative(t: FloatArray, p: dict[str, Any] = params) -> FloatArray:
            return bgnbd.expected_transactions(p, t[:, None])  # (n_periods, n_draws)

        count = discounted_transactions(cumulative, ends, factors)
        per_draw = _channel_spend(spend, c, count.size)
        out[c] = Interval.of(float(first) + count * per_draw)
    return out
