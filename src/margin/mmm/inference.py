"""Posterior sampling: NUTS (several chains) or a fast approximation (MAP + Laplace).

Both start from the model's potential compiled once (:func:`latent_sites`,
:func:`initial_points`) and return a :class:`Draws`: every sample site and deterministic
as numpy arrays shaped ``(n_chains, n_draws, ...)``. The approximate mode's draws are
labelled ``method = "approximate"`` and carry no MCMC diagnostics.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import jax
import numpy as np
import numpy.typing as npt

from margin.mmm.settings import Inference, Laplace, Method, Nuts

__all__ = [
    "APPROXIMATE_STEPS",
    "CONSTRAIN_BATCH",
    "Draws",
    "FitProgress",
    "LatentSite",
    "Method",
    "chain_keys",
    "constrained_draws",
    "initial_points",
    "latent_sites",
    "run_inference",
    "run_laplace",
    "run_nuts",
    "warm_start",
]

FitProgress = Callable[[str, int, int], None]
"""Told how a fit goes: ``(phase, done, total)``, phase ``"warmup"`` or ``"sampling"``
(NUTS, iterations per chain) or ``"optimizing"`` (the approximate mode, L-BFGS steps of
all its starts). Counts rise within a phase and end at its total."""

_NUTS, _LAPLACE = Nuts(), Laplace()
APPROXIMATE_STEPS = _LAPLACE.steps
"""Most L-BFGS iterations of the approximate mode's search for the posterior mode
(:attr:`Laplace.steps`'s default)."""
START_STREAM = 0x1417
"""numpy stream (with the seed) of the starting points and the approximate mode's draws."""
CHAIN_STREAM = 0xC4A1
"""numpy stream (with the seed) of the sampler's per-chain PRNG keys."""


@dataclass(frozen=True, eq=False)
class Draws:
    """Posterior draws ``(n_chains, n_draws, ...)`` per site, and sampler statistics.

    ``diverging`` and ``num_steps`` are ``(n_chains, n_draws)`` for NUTS, ``None`` for the approximate mode.
    """

    method: Method
    samples: dict[str, npt.NDArray[np.float64]]
    diverging: npt.NDArray[np.bool_] | None = None
    num_steps: npt.NDArray[np.int64] | None = None
    max_tree_depth: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def chain_keys(seed: int, chains: int = 1) -> npt.NDArray[np.uint32]:
    """The sampler's PRNG keys from ``seed``: raw threefry keys (two uint32 words), one per
    chain (``(chains, 2)``; ``(2,)`` for one chain), from numpy's ``SeedSequence`` (JAX's
    own key splitting compiles a program, ~0.15 s of a fit's set-up on a 2-core machine).
    NumPyro takes them as they are. Starting points are drawn by numpy too
    (see :func:`draw_points`)."""
    state = np.random.SeedSequence([seed, CHAIN_STREAM]).generate_state(2 * chains, np.uint32)
    words = np.asarray(state, dtype=np.uint32)
    keys: npt.NDArray[np.uint32] = words.reshape(chains, 2) if chains > 1 else words
    return keys


def run_nuts(
    model: Callable[..., None],
    args: tuple[Any, ...],
    *,
    seed: int,
    chains: int,
    draws: int,
    warmup: int,
    target_accept: float = _NUTS.target_accept,
    max_tree_depth: int = _NUTS.max_tree_depth,
    dense_mass: bool = _NUTS.dense_mass,
    init: Mapping[str, npt.ArrayLike] | None = None,
    progress: bool | FitProgress = False,
) -> Draws:
    """Run NUTS on ``chains`` chains, from a compiled potential and explicit starting points.

    NumPyro's own initialisation traces the model eagerly, which compiles every primitive
    separately (~300 small programs, 10-15 s on a laptop CPU); here the latent sites are
    found by an abstract trace and the potential is compiled once. Chains run in parallel
    when JAX sees at least ``chains`` devices (the CLI sets
    ``--xla_force_host_platform_device_count``), otherwise vectorised.

    Args:
        init: optional constrained values per latent site (e.g. the previous run's
            posterior medians) to start every chain near; sites not given start at
            uniform(-2, 2) on the unconstrained scale, as NumPyro's default.
        dense_mass: adapt a dense mass matrix (the ROI, saturation and adstock
            parameters are strongly correlated; a diagonal one needs ~2x the steps).
        progress: ``True`` for NumPyro's own bars; a :data:`FitProgress` to be told the
            iterations done per phase (from a host callback in the compiled loop, see
            :func:`_reporting_nuts`; the draws are the same as without it).
    """
    from numpyro.infer import MCMC, NUTS  # type: ignore[import-untyped]
    from numpyro.infer.util import potential_energy  # type: ignore[import-untyped]

    bound = functools.partial(model, *args)
    sites = latent_sites(bound)
    potential = jax.jit(lambda z: potential_energy(bound, (), {}, z))
    run_key = chain_keys(seed, chains)
    start = initial_points(
        sites, potential, np.random.default_rng([seed, START_STREAM]), chains, init
    )
    options = {"target_accept_prob": target_accept, "max_tree_depth": max_tree_depth}
    if callable(progress):
        kernel = _reporting_nuts(progress, chains, warmup, draws)(
            potential_fn=potential, dense_mass=dense_mass, **options
        )
    else:
        kernel = NUTS(potential_fn=potential, dense_mass=dense_mass, **options)
    parallel = jax.local_device_count() >= chains > 1
    mcmc = MCMC(
        kernel,
        num_warmup=warmup,
        num_samples=draws,
        num_chains=chains,
        chain_method="parallel" if parallel else "vectorized",
        progress_bar=progress is True,
    )
    if chains == 1:  # NumPyro takes one chain's starting point without the chain axis
        start = {name: value[0] for name, value in start.items()}
    elif parallel:  # one chain per device already: re-spreading compiles a slicing program
        from jax.sharding import Mesh, NamedSharding, PartitionSpec

        mesh = Mesh(np.asarray(jax.local_devices()[:chains]), ("chain",))
        spread = NamedSharding(mesh, PartitionSpec("chain"))  # type: ignore[no-untyped-call]
        start = {name: jax.device_put(value, spread) for name, value in start.items()}
    mcmc.run(run_key, init_params=start, extra_fields=("diverging", "num_steps"))
    samples = constrained_draws(bound, mcmc.get_samples(group_by_chain=True))
    extra = mcmc.get_extra_fields(group_by_chain=True)
    return Draws(
        method="nuts",
        samples=samples,
        diverging=np.asarray(extra["diverging"], dtype=bool),
        num_steps=np.asarray(extra["num_steps"], dtype=np.int64),
        max_tree_depth=max_tree_depth,
        extra={"chain_method": "parallel" if parallel else "vectorized"},
    )


def _reporting_nuts(report: FitProgress, chains: int, warmup: int, draws: int) -> type:
    """A NUTS kernel class that tells ``report`` the iterations done per chain.

    Each transition calls back to the host with nothing but a count (the draws are
    unchanged); chains running in parallel or vectorised call back once each, so the
    iterations done are the calls over the chains. Reports are at most ~10 a second,
    and always at the end of each phase.
    """
    import threading
    import time

    from numpyro.infer import NUTS

    lock, calls, last = threading.Lock(), [0], [0.0, -1.0]

    def tick(done: Any) -> None:
        with lock:
            calls[0] += int(np.size(done))
            step = calls[0] // chains
            now = time.monotonic()
            end = step in (warmup, warmup + draws)
            if step <= last[1] or not (end or now - last[0] >= 0.1):
                return
            last[0], last[1] = now, float(step)
        if step <= warmup:
            report("warmup", step, warmup)
        else:
            report("sampling", step - warmup, draws)

    class ReportingNUTS(NUTS):  # type: ignore[misc]
        def sample(self, state: Any, model_args: Any, model_kwargs: Any) -> Any:
            new = super().sample(state, model_args, model_kwargs)
            jax.debug.callback(tick, new.i)
            return new

    return ReportingNUTS


def run_inference(
    model: Callable[..., None],
    args: tuple[Any, ...],
    settings: Inference,
    *,
    seed: int,
    init: Mapping[str, npt.ArrayLike] | None = None,
    progress: bool | FitProgress = False,
) -> Draws:
    """Draw from the posterior as ``settings`` say: :func:`run_nuts` for :class:`Nuts`,
    :func:`run_laplace` for :class:`Laplace` (which reports to a callable ``progress``
    only)."""
    if isinstance(settings, Nuts):
        return run_nuts(model, args, seed=seed, chains=settings.chains, draws=settings.draws,
                        warmup=settings.warmup, target_accept=settings.target_accept,
                        max_tree_depth=settings.max_tree_depth, dense_mass=settings.dense_mass,
                        init=init, progress=progress)  # fmt: skip
    return run_laplace(model, args, seed=seed, chains=settings.chains, draws=settings.draws,
                       steps=settings.steps, init=init, starts=settings.starts,
                       progress=progress if callable(progress) else None)  # fmt: skip


CONSTRAIN_BATCH = 100
"""Draws pushed through the model together by :func:`constrained_draws`: the model's
per-draw ``(geos, weeks, channels)`` arrays for all draws at once held ~1 GB on a 40-geo
panel."""


def constrained_draws(
    model: Callable[[], None], latent: Mapping[str, jax.Array]
) -> dict[str, npt.NDArray[np.float64]]:
    """Every sample and deterministic site of ``model`` (no arguments) for unconstrained
    draws ``{site: (chains, draws, ...)}``, as float64 ``(chains, draws, ...)``, computed
    :data:`CONSTRAIN_BATCH` draws at a time (observed sites left out)."""
    from numpyro.infer.util import constrain_fn

    # On the host first: the sampler leaves its draws spread over the chains' devices,
    # and a program over such arrays compiles for all of them (~4x slower to compile).
    host = {name: np.asarray(value) for name, value in latent.items()}
    first = next(iter(host.values()))
    chains, draws = int(first.shape[0]), int(first.shape[1])

    def one(z: dict[str, jax.Array]) -> dict[str, jax.Array]:
        out: dict[str, jax.Array] = constrain_fn(model, (), {}, z, return_deterministic=True)
        return out

    def program(u: dict[str, jax.Array]) -> dict[str, jax.Array]:
        flat = {k: v.reshape(chains * draws, *v.shape[2:]) for k, v in u.items()}
        out: dict[str, jax.Array] = jax.lax.map(one, flat, batch_size=batch)
        return out

    batch = min(CONSTRAIN_BATCH, chains * draws)
    constrained = jax.jit(program)(host)
    return {
        k: np.asarray(v, dtype=np.float64).reshape(chains, draws, *v.shape[1:])
        for k, v in constrained.items()
        if k not in ("y", "lift_obs")
    }


@dataclass(frozen=True)
class LatentSite:
    """A latent sample site: its support's bijection and unconstrained shape."""

    transform: Any
    shape: tuple[int, ...]


def latent_sites(model: Callable[[], None]) -> dict[str, LatentSite]:
    """Latent sites of ``model`` (no arguments) found by an abstract trace (nothing compiles)."""
    from numpyro import handlers  # type: ignore[import-untyped]
    from numpyro.distributions.transforms import biject_to  # type: ignore[import-untyped]

    found: dict[str, Any] = {}

    def probe(key: jax.Array) -> dict[str, jax.Array]:
        trace = handlers.trace(handlers.seed(model, key)).get_trace()
        out = {}
        for name, site in trace.items():
            if site["type"] == "sample" and not site["is_observed"]:
                found[name] = biject_to(site["fn"].support)
                out[name] = found[name].inv(site["value"])
        return out

    shapes = jax.eval_shape(lambda: probe(jax.random.key(0)))
    return {name: LatentSite(found[name], tuple(shapes[name].shape)) for name in shapes}


def _inverse(transform: Any, value: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """``transform.inv(value)`` in numpy for the bijections of margin's sites (real,
    positive, unit interval), so a fit's starting values compile no eager JAX programs;
    JAX for any other."""
    from numpyro.distributions import transforms  # type: ignore[import-untyped]

    with np.errstate(divide="ignore", invalid="ignore"):
        if isinstance(transform, transforms.IdentityTransform):
            return value
        if isinstance(transform, transforms.ExpTransform):
            return np.log(value)
        if isinstance(transform, transforms.SigmoidTransform):
            return np.log(value) - np.log1p(-value)
    return np.asarray(transform.inv(value), dtype=np.float64)


def unconstrained_init(
    sites: Mapping[str, LatentSite], init: Mapping[str, npt.ArrayLike] | None
) -> dict[str, npt.NDArray[np.float64]]:
    """``init``'s constrained values on the unconstrained scale (sites the model lacks dropped).

    Raises:
        ConfigError: a value has the wrong shape or lies outside its site's support.
    """
    from margin.errors import ConfigError

    fixed: dict[str, npt.NDArray[np.float64]] = {}
    for name, value in (init or {}).items():
        if name not in sites:
            continue
        array = np.asarray(value, dtype=np.float64)
        if array.shape != sites[name].shape:
            raise ConfigError(
                f"init value for {name!r} has shape {array.shape}; the model expects "
                f"{sites[name].shape}"
            )
        unconstrained = _inverse(sites[name].transform, array)
        if not np.all(np.isfinite(unconstrained)):
            raise ConfigError(f"init value for {name!r} lies outside the site's support")
        fixed[name] = unconstrained
    return fixed


def draw_points(
    sites: Mapping[str, LatentSite],
    rng: np.random.Generator,
    n: int,
    fixed: Mapping[str, npt.NDArray[np.float64]],
) -> dict[str, npt.NDArray[np.float32]]:
    """``n`` unconstrained points: uniform(-2, 2) (NumPyro's default), or within ±0.1 of ``fixed``.

    Drawn by numpy: JAX's random numbers compile a threefry program per site (half a second
    of a NUTS fit's set-up on a 2-core machine) for a few dozen numbers.
    """
    out = {}
    for name, site in sites.items():
        shape = (n, *site.shape)
        if name in fixed:
            noise = rng.uniform(-0.1, 0.1, shape)
            out[name] = (np.asarray(fixed[name], dtype=np.float64) + noise).astype(np.float32)
        else:
            out[name] = rng.uniform(-2.0, 2.0, shape).astype(np.float32)
    return out


def initial_points(
    sites: Mapping[str, LatentSite],
    potential: Callable[[dict[str, jax.Array]], jax.Array],
    rng: np.random.Generator,
    chains: int,
    init: Mapping[str, npt.ArrayLike] | None = None,
    attempts: int = 20,
) -> dict[str, npt.NDArray[np.float32]]:
    """Unconstrained starting points ``{site: (chains, *shape)}`` with a finite potential.

    Raises:
        ConfigError: an ``init`` value has the wrong shape or lies outside its support, or
            no finite starting point was found (the priors do not fit the data's scale).
    """
    from margin.errors import ConfigError

    fixed = unconstrained_init(sites, init)
    batched = jax.jit(jax.vmap(potential))
    points: dict[str, npt.NDArray[np.float32]] = {}
    ok = np.zeros(chains, dtype=bool)
    for attempt in range(attempts):
        draw = draw_points(sites, rng, chains, fixed)
        for name, site in sites.items():
            keep = ok.reshape(-1, *([1] * len(site.shape)))
            points[name] = np.where(keep, points[name], draw[name]) if attempt else draw[name]
        ok = np.isfinite(np.asarray(batched(points)))
        if ok.all():
            return points  # numpy: the sampler spreads them over the chains' devices
    raise ConfigError(
        f"no finite starting point for NUTS after {attempts} tries: the model's priors do not "
        "fit the data's scale; check the KPI and spend columns and the priors in the spec"
    )


def warm_start(samples: Mapping[str, npt.ArrayLike]) -> dict[str, npt.NDArray[np.float64]]:
    """Posterior medians per site of a previous run's draws ``(chains, draws, ...)``: the
    ``init`` of a refit on updated data (only the latent sites the new model has are used)."""
    out = {}
    for name, value in samples.items():
        array = np.asarray(value, dtype=np.float64)
        if array.ndim >= 2:
            out[name] = np.median(array.reshape(-1, *array.shape[2:]), axis=0)
    return out


def _search_mode(
    objective: Callable[[npt.NDArray[np.float64]], tuple[float, npt.NDArray[np.float64]]],
    points: Mapping[str, npt.NDArray[np.float32]],
    starts: int,
    steps: int,
    progress: FitProgress | None,
) -> Any:
    """The best L-BFGS-B result (SciPy's ``OptimizeResult``) from the ``starts`` points
    with a finite potential, or ``None``; ``progress`` is told the steps of all starts."""
    from jax.flatten_util import ravel_pytree
    from scipy.optimize import minimize

    best, total, done = None, starts * steps, [0]

    def step(_: Any) -> None:
        done[0] += 1
        if progress is not None:
            progress("optimizing", done[0], total)

    for i in range(starts):
        x0, _ = ravel_pytree({k: v[i] for k, v in points.items()})
        done[0] = i * steps
        if not np.isfinite(objective(np.asarray(x0, dtype=np.float64))[0]):
            continue
        found = minimize(objective, np.asarray(x0, dtype=np.float64), jac=True, callback=step,
                         method="L-BFGS-B", options={"maxiter": steps})  # fmt: skip
        if np.isfinite(found.fun) and (best is None or found.fun < best.fun):
            best = found
    if progress is not None and done[0] < total:  # the last start stopped early
        progress("optimizing", total, total)
    return best


def run_laplace(
    model: Callable[..., None],
    args: tuple[Any, ...],
    *,
    seed: int,
    chains: int,
    draws: int,
    steps: int = APPROXIMATE_STEPS,
    init: Mapping[str, npt.ArrayLike] | None = None,
    starts: int = _LAPLACE.starts,
    progress: FitProgress | None = None,
) -> Draws:
    """The approximate mode: the posterior mode (MAP) and a Laplace approximation around it.

    The mode is found by L-BFGS (SciPy) on the compiled potential from ``starts``
    starting points (the best one wins); the draws are ``N(mode, H⁻¹)`` on the
    unconstrained scale (``H`` the potential's Hessian there), pushed through each
    site's support. Quick (one compilation, no sampling) and labelled approximate:
    it ignores skew and multiple modes, and has no convergence diagnostics.
    ``progress`` is told the L-BFGS steps ("optimizing", of at most ``starts × steps``).
    """
    from jax.flatten_util import ravel_pytree
    from numpyro.infer.util import potential_energy

    bound = functools.partial(model, *args)
    sites = latent_sites(bound)
    potential = jax.jit(lambda z: potential_energy(bound, (), {}, z))
    rng = np.random.default_rng([seed, START_STREAM])
    fixed = unconstrained_init(sites, init)
    points = draw_points(sites, rng, starts, fixed)
    _, unravel = ravel_pytree({k: v[0] for k, v in points.items()})
    flat_potential = jax.jit(jax.value_and_grad(lambda x: potential(unravel(x))))

    def objective(x: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        value, grad = flat_potential(np.asarray(x, dtype=np.float32))
        return float(value), np.asarray(grad, dtype=np.float64)

    best = _search_mode(objective, points, starts, steps, progress)
    if best is None:
        from margin.errors import ConfigError

        raise ConfigError("the approximate fit found no finite posterior mode; use --method nuts")
    mode = np.asarray(best.x, dtype=np.float32)
    hessian = np.asarray(jax.jit(jax.hessian(lambda x: potential(unravel(x))))(mode), np.float64)
    eigenvalues, vectors = np.linalg.eigh(0.5 * (hessian + hessian.T))
    floor = 1e-6 * max(float(np.abs(eigenvalues).max()), 1.0)
    scale = vectors / np.sqrt(np.maximum(eigenvalues, floor))
    shape = (chains * draws, mode.shape[0])
    noise = rng.standard_normal(shape)
    flat = (np.asarray(best.x)[None, :] + noise @ scale.T).astype(np.float32)
    latent = jax.jit(
        lambda x: {
            k: v.reshape(chains, draws, *v.shape[1:]) for k, v in jax.vmap(unravel)(x).items()
        }
    )(flat)
    samples = constrained_draws(bound, latent)
    extra = {
        "map_potential": float(best.fun),
        "optimizer_converged": bool(best.success),
        "optimizer_iterations": int(best.nit),
        "hessian_positive_definite": bool(eigenvalues.min() > 0),
    }
    return Draws(method="approximate", samples=samples, extra=extra)
