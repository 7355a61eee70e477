"""Geo lift tests run inside the world: their true lift and a noisy reported estimate.

True lift of a test = ``Σ expected_kpi(actual spend) − expected_kpi(actual spend with this
test's cells back at the plan)`` over the treated geos, for the test window
(``lift_window``) and for the window plus the ``max_lag − 1`` carry-over weeks after it
(``lift_total``, truncated at the horizon). The reported estimate is ``lift_total +
Normal(0, lift_se)`` with ``lift_se = lift_se_inflation · sqrt(Σ_treated noise_sd² ·
n_measured_weeks)``: the noise of the treated geos' KPI over the measured weeks, inflated
for the imperfect control a synthetic-control analysis achieves.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from margin.data.simulator.outcomes import noise_sd, true_lift
from margin.data.simulator.params import WorldParams
from margin.data.simulator.plan import apply_lift_tests, lift_test_mask
from margin.errors import ConfigError
from margin.types import FloatArray

__all__ = ["METHOD", "LiftOutcome", "evaluate_lift_tests", "experiments_frame"]

METHOD = "simulated_geo_test"


@dataclass(frozen=True)
class LiftOutcome:
    """One test's truth; weeks are 0-based indices, ends inclusive; money in currency."""

    id: str
    channel: str
    treatment_geos: tuple[str, ...]
    control_geos: tuple[str, ...]
    start_week: int
    end_week: int
    carryover_end_week: int
    spend_multiplier: float
    weekly_spend_added: float
    spend_delta: float
    lift_window: float
    lift_total: float
    lift_se: float
    lift_estimate: float

    def to_json(self, params: WorldParams) -> dict[str, Any]:
        """A JSON-able dict with inclusive ISO dates added (``start``, ``end``, ``carryover_end``).

        ``end`` and ``carryover_end`` are the last day (Sunday) of their weeks.
        """
        record = asdict(self)
        record["treatment_geos"] = list(self.treatment_geos)
        record["control_geos"] = list(self.control_geos)
        record["start"] = (params.start + timedelta(weeks=self.start_week)).isoformat()
        record["end"] = (params.start + timedelta(weeks=self.end_week, days=6)).isoformat()
        last_day = params.start + timedelta(weeks=self.carryover_end_week, days=6)
        record["carryover_end"] = last_day.isoformat()
        return record


def evaluate_lift_tests(
    params: WorldParams,
    plan: FloatArray,
    spend: FloatArray,
    price: FloatArray,
    holiday: FloatArray,
    rng: np.random.Generator,
) -> tuple[LiftOutcome, ...]:
    """True lift and reported estimate of every lift test (see the module docstring).

    Args:
        plan: spend before any test, ``(n_geos, n_times, n_channels)``.
        spend: spend with every test applied, same shape.
        price, holiday: ``(n_geos, n_times)``.
    """
    sd = noise_sd(params)
    outcomes = []
    for i, test in enumerate(params.lift_tests):
        counterfactual = apply_lift_tests(plan, params, skip=i)
        delta = float((spend - counterfactual)[lift_test_mask(params, i)].sum())
        if delta == 0:
            raise ConfigError(
                f"WorldParams.lift_tests[{test.id!r}] changes no spend: channel {test.channel!r} "
                "has no planned spend in the treated geos during the test; move the test."
            )
        geos = np.isin(np.array(params.geos), test.treatment_geos)
        end = test.start_week + test.n_weeks - 1
        lag = params.channels[params.channel_names.index(test.channel)].max_lag
        carry_end = min(end + lag - 1, params.n_weeks - 1)
        args = (spend, counterfactual, price, holiday, params, geos)
        window = true_lift(*args, slice(test.start_week, end + 1))
        total = true_lift(*args, slice(test.start_week, carry_end + 1))
        n_measured = carry_end - test.start_week + 1
        se = params.lift_se_inflation * math.sqrt(float(np.sum(sd[geos] ** 2)) * n_measured)
        outcomes.append(
            LiftOutcome(
                id=test.id,
                channel=test.channel,
                treatment_geos=test.treatment_geos,
                control_geos=tuple(g for g in params.geos if g not in test.treatment_geos),
                start_week=test.start_week,
                end_week=end,
                carryover_end_week=carry_end,
                spend_multiplier=test.spend_multiplier,
                weekly_spend_added=test.weekly_spend_added,
                spend_delta=round(delta, 2),
                lift_window=window,
                lift_total=total,
                lift_se=se,
                lift_estimate=total + se * float(rng.standard_normal()),
            )
        )
    return tuple(outcomes)


def experiments_frame(outcomes: tuple[LiftOutcome, ...], params: WorldParams) -> pd.DataFrame:
    """The ``experiments`` table; ``lift`` is the estimate of ``lift_total``, KPI units.

    ``start``/``end`` bound the spend change (inclusive); the lift is measured over that
    window plus the channel's carry-over weeks after it.
    """
    rows = []
    for outcome in outcomes:
        record = outcome.to_json(params)
        rows.append(
            {
                "id": outcome.id,
                "channel": outcome.channel,
                "kpi": params.kpi_name,
                "treatment_geos": ";".join(outcome.treatment_geos),
                "control_geos": ";".join(outcome.control_geos),
                "start": record["start"],
                "end": record["end"],
                "spend_delta": outcome.spend_delta,
                "lift": outcome.lift_estimate,
                "lift_se": outcome.lift_se,
                "method": METHOD,
                "design_id": f"design_{outcome.id}",
            }
        )
    columns = [
        "id", "channel", "kpi", "treatment_geos", "control_geos", "start", "end",
        "spend_delta", "lift", "lift_se", "method", "design_id",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)
