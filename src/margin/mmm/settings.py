"""Inference settings as objects, as NumPyro's ``MCMC(NUTS(model), ...)`` keeps its knobs in
the kernel: :class:`Nuts` and :class:`Laplace`, frozen and checked when made.

Every default is declared here once; the estimator, the refresh, the demo and the CLI
build these objects (the CLI and the refresh from their flat options, with
:func:`inference_for`). :data:`PARAMETERS` is the one table of what each fit parameter
accepts.

Imports no JAX: the refresh settings and the CLI use it without loading the model.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, ClassVar, Literal

from margin.params import Constraint, check_params

__all__ = [
    "METHODS",
    "PARAMETERS",
    "Inference",
    "Laplace",
    "Method",
    "Nuts",
    "inference_for",
]

Method = Literal["nuts", "approximate"]
METHODS: tuple[Method, ...] = ("nuts", "approximate")

_STEPS = Constraint.integer(1)
PARAMETERS: dict[str, Constraint] = {
    "method": Constraint.one_of(*METHODS, fix="pass --method nuts or --method approximate"),
    "chains": Constraint.integer(1),
    "draws": Constraint.integer(1),
    "warmup": Constraint.integer(0),
    "target_accept": Constraint.number(0.5, 1.0, high_open=True),
    "max_tree_depth": Constraint.integer(1),
    "dense_mass": Constraint("boolean"),
    "steps": _STEPS,
    "approximate_steps": _STEPS,
    "starts": Constraint.integer(1),
    "seed": Constraint.integer(0),
    "holdout_weeks": Constraint.integer(0),
    "progress": Constraint("boolean"),
    "calibrate": Constraint("boolean"),
}
"""What each fit parameter accepts (``approximate_steps`` is :attr:`Laplace.steps` as the
estimator, the refresh and the CLI name it)."""


def _check(settings: Nuts | Laplace) -> None:
    check_params({f.name: getattr(settings, f.name) for f in fields(settings)}, PARAMETERS)


@dataclass(frozen=True)
class Nuts:
    """The No-U-Turn sampler on ``chains`` chains.

    Attributes:
        chains: chains (run in parallel when JAX sees as many devices, else vectorised).
        warmup: warm-up (adaptation) iterations per chain.
        draws: draws kept per chain after warm-up.
        target_accept: target acceptance probability (raise towards 0.95-0.99 when a fit
            reports divergences; smaller steps, slower).
        max_tree_depth: most doublings of a trajectory.
        dense_mass: adapt a dense mass matrix (the ROI, saturation and adstock parameters
            are strongly correlated; a diagonal one needs ~2x the steps).
    """

    method: ClassVar[Method] = "nuts"
    chains: int = 4
    warmup: int = 1000
    draws: int = 500
    target_accept: float = 0.9
    max_tree_depth: int = 8
    dense_mass: bool = True

    def __post_init__(self) -> None:
        _check(self)

    def describe(self) -> str:
        """e.g. ``nuts (4 chains × 500 draws)``."""
        return f"nuts ({self.chains} chains × {self.draws} draws)"


@dataclass(frozen=True)
class Laplace:
    """The approximate mode: the posterior mode (L-BFGS) and a Laplace approximation.

    Attributes:
        chains, draws: ``chains × draws`` draws from the approximation, shaped as a
            sampler's.
        steps: most L-BFGS iterations of the search for the posterior mode.
        starts: starting points of the search (the best mode wins).
    """

    method: ClassVar[Method] = "approximate"
    chains: int = 4
    draws: int = 500
    steps: int = 2000
    starts: int = 2

    def __post_init__(self) -> None:
        _check(self)

    @property
    def warmup(self) -> int:
        """No warm-up (``0``), as the run's ``fit`` record says."""
        return 0

    def describe(self) -> str:
        """e.g. ``approximate (4 chains × 500 draws)``."""
        return f"approximate ({self.chains} chains × {self.draws} draws)"


Inference = Nuts | Laplace
"""The inference settings of a fit."""


def inference_for(method: str = "nuts", **knobs: Any) -> Inference:
    """Settings from flat options (the CLI's and the refresh's): ``method`` and any of
    ``chains``, ``draws``, ``warmup``, ``target_accept``, ``approximate_steps``.

    A knob the method lacks (``warmup`` of the approximate mode, ``approximate_steps`` of
    NUTS) or given as ``None`` is ignored; the others default as :class:`Nuts` and
    :class:`Laplace` declare.

    Raises:
        ConfigError: an unknown method or a value out of range.
    """
    check_params({"method": method}, PARAMETERS)
    unknown = sorted(set(knobs) - set(PARAMETERS))
    if unknown:
        raise TypeError(f"inference_for() got unknown settings {unknown}")
    given = {k: v for k, v in knobs.items() if v is not None}
    if "approximate_steps" in given:
        given["steps"] = given.pop("approximate_steps")
    cls: type[Nuts] | type[Laplace] = Nuts if method == "nuts" else Laplace
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in given.items() if k in names})
