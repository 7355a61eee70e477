"""Multi-touch attribution: journeys from events, rule-based and data-driven models, intervals.

Attribution is correlational: it splits observed conversions among the channels on the
paths that led to them. It answers "which touches preceded conversions", not "what did a
channel cause"; compare it with the MMM and lift tests (see :data:`NOTE`).

Pipeline::

    aggregates = journeys_from_file("events.parquet", engine="duckdb")   # SQL, heavy
    result = attribute(aggregates, models=MODELS)                        # numpy, small
    result.to_dict()                                                     # credit.json

- Journeys (:mod:`~margin.attribution.journeys`, SQL in :mod:`~margin.attribution.sql`)
  on DuckDB or Spark; or aggregated paths in ChannelAttribution's layout (:func:`read_paths`).
- Rule-based models (:mod:`~margin.attribution.heuristics`): first, last, last non-direct,
  linear, time decay, position based.
- Markov removal effects solved exactly (:mod:`~margin.attribution.markov`).
- Shapley values over coalitions (:mod:`~margin.attribution.shapley`).
- Poisson-bootstrap intervals (:mod:`~margin.attribution.intervals`).
"""

from margin.attribution.credit import NOTE, AttributionResult, ChannelCredit, attribute
from margin.attribution.journeys import (
    Aggregates,
    Totals,
    journeys_from_file,
    journeys_from_table,
    journeys_from_workspace,
)
from margin.attribution.paths import PathTable, collapse_repeats, read_paths
from margin.attribution.settings import HEURISTIC_MODELS, MODELS, JourneySettings, ModelSettings

__all__ = [
    "HEURISTIC_MODELS",
    "MODELS",
    "NOTE",
    "Aggregates",
    "AttributionResult",
    "ChannelCredit",
    "JourneySettings",
    "ModelSettings",
    "PathTable",
    "Totals",
    "attribute",
    "collapse_repeats",
    "journeys_from_file",
    "journeys_from_table",
    "journeys_from_workspace",
    "read_paths",
]
