"""What a plan is worth: objectives and risk measures over posterior draws.

Pure functions of the per-draw plan value ``v_d`` (currency, shape ``(n_draws,)``):
``"kpi"`` values the KPI, ``v_d = kpi_value · KPI_d``; ``"profit"`` values margin after
spend, ``v_d = kpi_value · margin · KPI_d − spend``. A risk measure turns ``v`` into one
number to maximise, and :func:`risk_weights` gives its derivative ``∂risk/∂v_d``, which the
optimizer feeds to the model's vector-Jacobian product.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from margin.errors import ConfigError
from margin.limits import MAX_RISK_AVERSION
from margin.types import FloatArray

__all__ = ["Objective", "risk_value", "risk_weights"]

Kind = Literal["kpi", "profit"]
Risk = Literal["mean", "mean_sd", "cvar"]


@dataclass(frozen=True)
class Objective:
    """What to maximise.

    Attributes:
        kind: ``"kpi"`` (expected KPI; the whole budget is spent) or ``"profit"``
            (``kpi_value · margin · KPI − spend``; the budget is a cap).
        margin: share of KPI value kept as profit, in (0, 1] (``"profit"`` only).
        risk: ``"mean"``; ``"mean_sd"`` (mean − ``risk_aversion`` · sd over draws); or
            ``"cvar"`` (mean of the worst ``cvar_alpha`` share of draws).
        risk_aversion: λ >= 0 of ``"mean_sd"``.
        cvar_alpha: tail share in (0, 1] of ``"cvar"``.
        relative: the risk measure reads each draw's gain over the reference plan (the
            current plan) instead of the plan's own KPI, so a plan is judged on the risk it
            adds, not on the uncertainty it shares with the reference (a reallocation that
            keeps an uncertain channel's spend is not penalised for it). The mean is the
            same either way.
    """

    kind: Kind = "kpi"
    margin: float = 1.0
    risk: Risk = "mean"
    risk_aversion: float = 1.0
    cvar_alpha: float = 0.1
    relative: bool = False

    def __post_init__(self) -> None:
        if self.kind not in ("kpi", "profit"):
            raise ConfigError(f"Objective.kind = {self.kind!r}; expected 'kpi' or 'profit'.")
        if self.risk not in ("mean", "mean_sd", "cvar"):
            raise ConfigError(
                f"Objective.risk = {self.risk!r}; expected 'mean', 'mean_sd' or 'cvar'."
            )
        if not (math.isfinite(self.margin) and 0 < self.margin <= 1):
            raise ConfigError(
                f"Objective.margin = {self.margin!r}{_not_a_number(self.margin)}; expected a "
                "share in (0, 1] (0.3: 30% of the KPI's value is profit)."
            )
        if not (math.isfinite(self.risk_aversion) and self.risk_aversion >= 0):
            raise ConfigError(
                f"Objective.risk_aversion = {self.risk_aversion!r}"
                f"{_not_a_number(self.risk_aversion)}; expected a number from 0 to "
                f"{MAX_RISK_AVERSION:.0e}."
            )
        if self.risk_aversion > MAX_RISK_AVERSION:
            raise ConfigError(
                f"Objective.risk_aversion = {self.risk_aversion:g} is too large: it exceeds "
                f"{MAX_RISK_AVERSION:.0e} (larger ones overflow the risk measure's weights); "
                "expected a number from 0 (risk-neutral) to that; 1 to 3 is usual."
            )
        if not (0 < self.cvar_alpha <= 1):
            raise ConfigError(
                f"Objective.cvar_alpha = {self.cvar_alpha!r}{_not_a_number(self.cvar_alpha)}; "
                "expected a tail share in (0, 1] (0.1: the worst 10% of draws)."
            )


def _not_a_number(value: float) -> str:
    return " is not a number" if isinstance(value, float) and math.isnan(value) else ""


def _tail_weights(values: FloatArray, alpha: float) -> FloatArray:
    """Weights of the worst ``alpha`` share of draws (fractional at the boundary), sum 1."""
    n = values.size
    mass = alpha * n
    order = np.argsort(values, kind="stable")
    weights = np.zeros(n)
    full = math.floor(mass)
    weights[order[:full]] = 1.0
    if full < n and mass > full:
        weights[order[full]] = mass - full
    result: FloatArray = weights / mass
    return result


def risk_weights(values: FloatArray, objective: Objective) -> FloatArray:
    """``∂ risk_value / ∂ values[d]``, shape ``(n_draws,)``.

    For CVaR this is the (sub)gradient with the tail set held fixed.
    """
    n = values.size
    if objective.risk == "mean":
        return np.full(n, 1.0 / n)
    if objective.risk == "cvar":
        return _tail_weights(values, objective.cvar_alpha)
    sd = float(values.std())
    centred = values - values.mean()
    spread: FloatArray = centred / (n * sd) if sd > 0 else np.zeros(n)
    result: FloatArray = 1.0 / n - objective.risk_aversion * spread
    return result


def risk_value(values: FloatArray, objective: Objective) -> float:
    """The number to maximise from per-draw values ``(n_draws,)``."""
    if objective.risk == "mean":
        return float(values.mean())
    if objective.risk == "cvar":
        return float(_tail_weights(values, objective.cvar_alpha) @ values)
    return float(values.mean() - objective.risk_aversion * values.std())
