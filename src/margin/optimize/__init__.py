"""Deciding: budget allocation, frontiers, scenarios and forecasts on any ResponseModel.

The optimizer sees only a :class:`ResponseModel` (see :mod:`margin.protocols`);
:class:`ParametricResponse` is a reference implementation from known parameters.
"""

from margin.optimize.allocate import allocate, allocate_target
from margin.optimize.curves import response_curves
from margin.optimize.forecast import Backtest, Forecast, backtest, forecast
from margin.optimize.frontier import Frontier, FrontierPoint, efficient_frontier
from margin.optimize.objective import Objective
from margin.optimize.parametric import ParametricResponse
from margin.optimize.problem import Constraints, current_plan
from margin.optimize.request import PlanRequest, parse_bounds, plan, plan_document, scenario_request
from margin.optimize.results import (
    AllocationResult,
    ChannelAllocation,
    Interval,
    OptimalityChecks,
    write_plan_csv,
)
from margin.optimize.scenario import ScenarioResult, parse_changes, plan_from_frame, scenario
from margin.protocols import ResponseModel

__all__ = [
    "AllocationResult",
    "Backtest",
    "ChannelAllocation",
    "Constraints",
    "Forecast",
    "Frontier",
    "FrontierPoint",
    "Interval",
    "Objective",
    "OptimalityChecks",
    "ParametricResponse",
    "PlanRequest",
    "ResponseModel",
    "ScenarioResult",
    "allocate",
    "allocate_target",
    "backtest",
    "current_plan",
    "efficient_frontier",
    "forecast",
    "parse_bounds",
    "parse_changes",
    "plan",
    "plan_document",
    "plan_from_frame",
    "response_curves",
    "scenario",
    "scenario_request",
    "write_plan_csv",
]
