"""Helpers of the report and browser tests: a plan made from a fitted run (engineer A's API)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PLAN_WEEKS = 8


def make_plan(run_dir: Path) -> dict[str, Any]:
    """The ``plan.json`` body of an 8-week plan at the current budget, TV capped at 1.5×,
    with its value of information (as ``margin optimize --value-of-information`` writes)."""
    from margin.mmm.response import load_response
    from margin.optimize.information import value_of_information
    from margin.optimize.request import PlanRequest, plan, plan_document

    response = load_response(run_dir, max_draws=100)
    request = PlanRequest(weeks=PLAN_WEEKS, bounds={"tv": (0.0, 1.5)})
    result = plan(response, request)
    document = plan_document(result, response, request)
    document["value_of_information"] = value_of_information(response, result, request).to_json()
    return document
