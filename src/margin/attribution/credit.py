"""``attribute``: every model on one set of aggregates, with intervals, as one result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from margin.attribution.heuristics import step_weights
from margin.attribution.intervals import heuristic_interval, markov_draws, shapley_draws
from margin.attribution.journeys import Aggregates, Totals
from margin.attribution.markov import markov_attribution, transitions_from_paths
from margin.attribution.paths import PathTable
from margin.attribution.settings import HEURISTIC_MODELS, MODELS, JourneySettings, ModelSettings
from margin.attribution.shapley import coalitions_from_paths, shapley_attribution
from margin.errors import ConfigError
from margin.types import FloatArray, quantiles

__all__ = ["NOTE", "AttributionResult", "ChannelCredit", "attribute"]


NOTE = (
    "Attribution is correlational credit: it splits the conversions observed after touches "
    "among the channels on each path. It does not measure what a channel caused; compare "
    "with the MMM and with lift tests before moving budget."
)


@dataclass(frozen=True)
class ChannelCredit:
    """One channel's credit under one model; ``p05``/``p95`` bound the conversions."""

    conversions: float
    value: float
    share: float
    p05: float | None = None
    p95: float | None = None


@dataclass(frozen=True)
class AttributionResult:
    """Credits by model and channel, with what they were computed from.

    Attributes:
        channels: the labels credited (sorted).
        credits: model → channel → :class:`ChannelCredit`.
        removal_effects: Markov removal effects, channel → {"conversions", "value"}.
        totals: conversions and value credited, and (from events) those no touch preceded.
        settings: the model and journey settings used.
        engine: the engine that built the aggregates (``"paths"`` for a path file).
    """

    channels: tuple[str, ...]
    credits: dict[str, dict[str, ChannelCredit]]
    removal_effects: dict[str, dict[str, float]]
    totals: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)
    engine: str = "paths"

    def to_dict(self) -> dict[str, Any]:
        """The ``credit.json`` contract: ``{"models": {model: {channel: {...}}}, ...}``."""
        return {
            "models": {
                model: {ch: asdict(c) for ch, c in by_channel.items()}
                for model, by_channel in self.credits.items()
            },
            "markov_order": self.settings.get("order"),
            "removal_effects": self.removal_effects,
            "totals": self.totals,
            "settings": self.settings,
            "engine": self.engine,
            "note": NOTE,
        }


def _inputs(data: Aggregates, settings: ModelSettings, models: tuple[str, ...]) -> Aggregates:
    """The aggregates with the transition (of the wanted order) and coalition counts the
    models need filled in."""
    from dataclasses import replace

    table = data.paths
    transitions = data.transitions
    if "markov" in models and (transitions is None or transitions.order != settings.order):
        transitions = transitions_from_paths(table, settings.order)
    coalitions = data.coalitions
    if "shapley" in models and coalitions is None:
        coalitions = coalitions_from_paths(table)
    return replace(data, transitions=transitions, coalitions=coalitions)


def _point(
    model: str,
    data: Aggregates,
    settings: ModelSettings,
    direct_channels: tuple[str, ...],
    effects: dict[str, dict[str, float]],
) -> tuple[FloatArray, FloatArray]:
    table = data.paths
    if model in HEURISTIC_MODELS:
        w_conv, w_value = step_weights(table, model, settings, direct_channels)
        path = table.path_of_step
        return (
            np.bincount(table.steps, w_conv * table.conversions[path], table.n_channels),
            np.bincount(table.steps, w_value * table.value[path], table.n_channels),
        )
    if model == "markov":
        assert data.transitions is not None
        result = markov_attribution(
            data.transitions,
            table.n_channels,
            float(table.conversions.sum()),
            float(table.value.sum()),
        )
        for c, name in enumerate(table.channels):
            effects[name] = {
                "conversions": float(result.removal_conversions[c]),
                "value": float(result.removal_value[c]),
            }
        return result.conversions, result.value
    assert data.coalitions is not None
    return shapley_attribution(
        data.coalitions,
        table.n_channels,
        settings.shapley_max_exact,
        settings.shapley_permutations,
        settings.seed,
        settings.shapley_prior,
    )


def _interval(
    model: str, data: Aggregates, settings: ModelSettings, direct_channels: tuple[str, ...]
) -> tuple[FloatArray, FloatArray]:
    table = data.paths
    if model in HEURISTIC_MODELS:
        return heuristic_interval(table, model, settings, direct_channels)
    if model == "markov":
        assert data.transitions is not None
        draws = markov_draws(
            data.transitions, table.n_channels, float(table.conversions.sum()), settings
        )
    else:
        assert data.coalitions is not None
        draws = shapley_draws(data.coalitions, table.n_channels, settings)
    return quantiles(draws, axis=0)


def _totals(data: Aggregates) -> dict[str, float]:
    table = data.paths
    totals = data.totals or Totals(
        events=0,
        users=0,
        conversions=float(table.conversions.sum()),
        value=float(table.value.sum()),
        attributed_conversions=float(table.conversions.sum()),
        attributed_value=float(table.value.sum()),
    )
    out = {
        "conversions": totals.attributed_conversions,
        "value": totals.attributed_value,
        "journeys": float(table.conversions.sum() + table.nulls.sum()),
        "paths": float(table.n_paths),
        "unattributed_conversions": totals.unattributed_conversions,
        "unattributed_value": totals.unattributed_value,
    }
    if data.totals is not None:
        out |= {"events": float(totals.events), "users": float(totals.users)}
    return out


def attribute(
    data: Aggregates | PathTable,
    models: tuple[str, ...] | list[str] = MODELS,
    settings: ModelSettings | None = None,
    journey: JourneySettings | None = None,
) -> AttributionResult:
    """Credit every channel under each of ``models``, with bootstrap intervals.

    Args:
        data: aggregates from events (:func:`~margin.attribution.journeys_from_file` and
            friends) or an aggregated :class:`~margin.attribution.PathTable`.
        models: names from :data:`~margin.attribution.MODELS`.
        settings: model parameters and the number of bootstrap replicates.
        journey: the journey settings used (its ``direct_channels`` define last non-direct).

    Returns:
        Credits that sum, per model, to the conversions (and value) of the paths.
    """
    settings = settings or ModelSettings()
    journey = journey or JourneySettings()
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise ConfigError(f"unknown model(s) {unknown}; use {', '.join(MODELS)} or all")
    models = tuple(m for m in MODELS if m in models)
    if isinstance(data, PathTable):
        data = Aggregates(data, None, None, None, "paths")
    data = _inputs(data, settings, models)
    table = data.paths
    total_conv = float(table.conversions.sum())
    effects: dict[str, dict[str, float]] = {}
    credits: dict[str, dict[str, ChannelCredit]] = {}
    for m in models:
        conv, value = _point(m, data, settings, journey.direct_channels, effects)
        low = high = None
        if settings.n_bootstrap > 0 and table.n_paths > 0:
            low, high = _interval(m, data, settings, journey.direct_channels)
        credits[m] = {
            name: ChannelCredit(
                conversions=float(conv[c]),
                value=float(value[c]),
                share=float(conv[c] / total_conv) if total_conv > 0 else 0.0,
                p05=None if low is None else float(low[c]),
                p95=None if high is None else float(high[c]),
            )
            for c, name in enumerate(table.channels)
        }
    return AttributionResult(
        channels=table.channels,
        credits=credits,
        removal_effects=effects,
        totals=_totals(data),
        settings=asdict(settings) | asdict(journey),
        engine=data.engine,
    )
