"""The contract between a fitted model and the optimizer: :class:`ResponseModel`.

A core type (it imports nothing of margin but :mod:`margin.types`): the optimizer never
imports a model class, and a model (the MMM's adapter) implements this protocol without
importing the optimizer. Anything that exposes the attributes and methods below (a fitted
MMM's adapter, :class:`~margin.optimize.parametric.ParametricResponse`) can be planned with.

Time. A model's ``history`` is the spend of the last weeks it has seen, ending the week
before the planning horizon. Every ``spend`` passed to it covers the weeks *immediately
after* ``history``, week 0 first. The model adds the carry-over of ``history`` into those
weeks (past spend pays into the plan), and spend early in ``spend`` carries into its later
weeks. To count the carry-over of the plan *after* the horizon, the optimizer pads the plan
with ``carryover_weeks`` weeks of zero spend and sums the KPI over horizon and tail.

Units. Spend is in currency per geo-week; the KPI in KPI units (currency for revenue,
conversions otherwise): ``kpi_value`` converts one KPI unit to currency, so ROI is
``kpi_value × KPI / spend``.

Optional. A model fitted to a run may also be a :class:`FittedResponse`: it then says its
run, its first planned week, how its baseline was forecast, and its own caveats
(``fit_caveats``, sentences on its reliability said with every plan; ``prior_dominated``,
channels whose answer is mostly the prior; see :mod:`margin.optimize.caveats`). The
optimizer checks ``isinstance(model, FittedResponse)``, never single attributes.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol, runtime_checkable

from margin.types import FloatArray, IntArray

__all__ = ["FittedResponse", "ResponseModel"]


@runtime_checkable
class ResponseModel(Protocol):
    """Predicted KPI per posterior draw for any spend plan.

    Attributes:
        channels: channel names, the order of every ``n_channels`` axis.
        geos: geo names, the order of every ``n_geos`` axis (``("national",)`` for one).
        n_draws: number of posterior draws every prediction returns.
        kpi_value: currency value of one KPI unit (1.0 for a revenue KPI).
        carryover_weeks: the most weeks a week's spend keeps paying after the week it is
            spent (``max_lag - 1`` for an adstock with ``max_lag`` weights).
        history: spend in the weeks just before the horizon, ``(n_geos, n_history,
            n_channels)`` with ``n_history >= carryover_weeks``; its last week is the week
            before week 0 of every plan. Also the source of the default current plan
            (its last 13 weeks' average, :func:`~margin.optimize.problem.current_plan`), so
            give at least 13 weeks or pass a reference plan to the optimizer.
    """

    @property
    def channels(self) -> tuple[str, ...]: ...

    @property
    def geos(self) -> tuple[str, ...]: ...

    @property
    def n_draws(self) -> int: ...

    @property
    def kpi_value(self) -> float: ...

    @property
    def carryover_weeks(self) -> int: ...

    @property
    def history(self) -> FloatArray: ...

    def media_kpi(self, spend: FloatArray) -> FloatArray:
        """Media-driven KPI per draw in the weeks of ``spend``, carry-over from ``history`` included.

        Args:
            spend: ``(n_geos, n_weeks, n_channels)`` (one plan for every draw) or
                ``(n_draws, n_geos, n_weeks, n_channels)`` (one plan per draw), currency.

        Returns:
            ``(n_draws, n_geos, n_weeks)`` in KPI units; zero spend everywhere (history
            included) gives zero.
        """
        ...

    def media_kpi_gradient(self, spend: FloatArray, draw_weights: FloatArray) -> FloatArray:
        """The gradient of a weighted sum over draws of the total media KPI.

        ``∂/∂spend[g, w, c] Σ_d draw_weights[d] · Σ_{g', t} media_kpi(spend)[d, g', t]``
        (a vector-Jacobian product; JAX models get it from ``jax.vjp``).

        Args:
            spend: ``(n_geos, n_weeks, n_channels)``, currency.
            draw_weights: ``(n_draws,)``.

        Returns:
            ``(n_geos, n_weeks, n_channels)``, KPI units per currency unit.
        """
        ...

    def baseline_kpi(self, n_weeks: int) -> FloatArray:
        """KPI without media (trend, seasonality, holidays, controls) per draw.

        Args:
            n_weeks: weeks after ``history`` to forecast.

        Returns:
            ``(n_draws, n_geos, n_weeks)`` in KPI units.
        """
        ...

    def observation_sd(self) -> FloatArray:
        """Observation noise sd per draw and geo, ``(n_draws, n_geos)``, KPI units."""
        ...

    def take_draws(self, index: IntArray) -> ResponseModel:
        """The same model on the draws at ``index`` only (any order, repeats allowed).

        The value of information (:mod:`margin.optimize.information`) re-plans on groups
        of draws; a model restricted to a group costs a share of the whole per prediction.
        """
        ...


@runtime_checkable
class FittedResponse(Protocol):
    """What a :class:`ResponseModel` fitted to a recorded run also says (the MMM's adapter).

    Optional and separate from :class:`ResponseModel`, so a model without a run (the
    parametric reference model) is still planned with; ``isinstance(model,
    FittedResponse)`` checks that all five are there.

    Attributes:
        start: the first week of every plan (the week after ``history``).
        run_id: the run's id in the workspace.
        baseline_note: how the baseline of the planned weeks was forecast (one sentence).
        fit_caveats: what the fit says about its own reliability, said with every plan.
        prior_dominated: channels whose ROI posterior is mostly the prior.
    """

    @property
    def start(self) -> date: ...

    @property
    def run_id(self) -> str: ...

    @property
    def baseline_note(self) -> str: ...

    @property
    def fit_caveats(self) -> tuple[str, ...]: ...

    @property
    def prior_dominated(self) -> tuple[str, ...]: ...
