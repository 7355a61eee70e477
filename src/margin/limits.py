"""The ranges the numbers of a planning request must fall in, and their checks.

One place for the CLI (``margin optimize``, ``scenario``, ``frontier``, ``forecast``), the
REST API (its request models) and :mod:`margin.optimize`: a number outside its range is
refused with a message that says which parameter, what was received, why it is refused
(not a number, too large, not positive) and the range accepted. Light (no numpy), so the
API's request models can import it.

The upper limits are far beyond any real request; they exist because numbers near the
float range (a budget of ``1e308``) overflow the model's arithmetic and would otherwise
surface as a confusing error deep inside it ("negative or non-finite amounts").
"""

from __future__ import annotations

import math

from margin.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_CHANGE",
    "MAX_AMOUNT",
    "MAX_CHANGE",
    "MAX_FRONTIER_POINTS",
    "MAX_RISK_AVERSION",
    "MAX_TEST_SE",
    "MAX_WEEKS",
    "PLANNING_DRAWS",
    "check_amount",
    "check_change",
    "check_weeks",
    "percent",
]

DEFAULT_MAX_CHANGE = 0.5
"""By default a budget plan keeps each channel within ±this share of its current spend,
scaled to the budget (:mod:`margin.optimize.request`)."""

PLANNING_DRAWS = 1000
"""Posterior draws (evenly spaced) a plan, scenario or forecast uses by default, in the
CLI (``--max-draws``) and the API alike: the same request gives the same numbers."""

MAX_WEEKS = 104
"""Longest horizon (weeks) a plan, scenario or forecast looks ahead: two years."""
MAX_AMOUNT = 1e15
"""Largest budget, KPI target, ROI floor or spend bound: 10^15, beyond any real budget
in any currency (a trillion dollars in the currency with the smallest unit in use)."""
MAX_CHANGE = 1e4
"""Largest relative spend change of a scenario: +1,000,000%, 10,001 × current spend."""
MAX_RISK_AVERSION = 1e6
"""Largest λ of the ``mean_sd`` risk measure (mean − λ·sd); λ = 3 is already very averse."""
MAX_TEST_SE = 1e6
"""Largest standard error (ROI units) of a planned test; one that large teaches nothing."""
MAX_FRONTIER_POINTS = 200
"""Most budgets on one efficient frontier (each is a full solve)."""


def _number(value: object) -> float | None:
    """``value`` as a float, or None when it is not a number (bool, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return None if math.isnan(number) else number


def check_weeks(weeks: object, name: str = "weeks") -> int:
    """``weeks`` if it is a whole number from 1 to :data:`MAX_WEEKS`.

    Raises:
        ConfigError: not a whole number, below 1, or above :data:`MAX_WEEKS`.
    """
    if isinstance(weeks, bool) or not isinstance(weeks, int) or weeks < 1:
        raise ConfigError(
            f"{name} = {weeks!r}; expected a whole number of weeks from 1 to {MAX_WEEKS}"
        )
    if weeks > MAX_WEEKS:
        raise ConfigError(
            f"{name} = {weeks} is too many: plans, scenarios and forecasts look at most "
            f"{MAX_WEEKS} weeks (two years) ahead; give a whole number of weeks from 1 to "
            f"{MAX_WEEKS}"
        )
    return weeks


def check_amount(
    name: str,
    value: object,
    what: str = "an amount of currency",
    *,
    hint: str = "",
    maximum: float = MAX_AMOUNT,
) -> float:
    """``value`` if it is a number with ``0 < value <= maximum``.

    ``what`` names the quantity in the message ("the total spend over the horizon, in
    the workspace currency"); ``hint`` ends it ("; or leave it out for ...").

    Raises:
        ConfigError: not a number, infinite or above ``maximum`` ("too large"), or not
            positive; each message gives the range accepted.
    """
    number = _number(value)
    accepted = f"give {what}, above 0 and at most {maximum:.0e}{hint}"
    if number is None:
        raise ConfigError(f"{name} = {value!r} is not a number; {accepted}")
    if number > maximum:
        shown = "infinite" if math.isinf(number) else f"{number:g}"
        raise ConfigError(
            f"{name} = {shown} is too large: the most margin accepts is {maximum:.0e} (larger "
            f"numbers overflow its arithmetic); {accepted}"
        )
    if not number > 0:
        raise ConfigError(f"{name} = {value!r} is not positive; {accepted}")
    return number


def percent(change: float) -> str:
    """A relative change as a signed percentage: ``0.2`` → ``"+20%"``, ``1e4`` →
    ``"+1,000,000%"``."""
    value = 100.0 * change
    if value.is_integer() and abs(value) < MAX_AMOUNT:
        return f"{value:+,.0f}%"
    return f"{value:+,.6g}%"


def check_change(name: str, change: object, given: str | None = None) -> float:
    """A relative spend change (``0.2`` = +20%) if it is from -1 (-100%, the channel
    stopped) to :data:`MAX_CHANGE` (+1,000,000%).

    ``given`` is the text the user wrote (``"tv=+20%"``), named in the message; without
    it the change is named as a fraction (the API's form).

    Raises:
        ConfigError: not a number, below -100%, or too large.
    """
    shown = repr(given) if given is not None else f"{change!r} for {name!r}"
    accepted = (
        f"a change goes from -100% (stop {name}) to {percent(MAX_CHANGE)} "
        f"({1 + MAX_CHANGE:,.0f} × current spend)"
        if given is not None
        else f"expected a fraction >= -1 (-1 stops {name}) and <= {MAX_CHANGE:g} "
        f"({percent(MAX_CHANGE)}); 0.2 is +20%"
    )
    number = _number(change)
    if number is None:
        raise ConfigError(f"spend change {shown} is not a number; {accepted}")
    if number > MAX_CHANGE:
        raise ConfigError(f"spend change {shown} is too large; {accepted}")
    if number < -1.0:
        raise ConfigError(f"spend change {shown} cuts {name!r} below zero spend; {accepted}")
    return number + 0.0  # -0.0 (a change of -0%) is no change: 0.0
