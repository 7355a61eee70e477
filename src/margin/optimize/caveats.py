"""What a plan's own intervals cannot show, said next to them.

A plan's intervals and P(beats current) measure the uncertainty the model sees. What
they cannot see is said in words with every plan (``AllocationResult.caveats``):

- **The fit's own warnings.** A model may expose ``fit_caveats`` (an MMM run: the
  approximate fit, or NUTS that did not converge), said first, and ``prior_dominated``
  channels (whose ROI posterior is mostly the prior): a plan that moves one of them by
  more than :data:`MOVED` of its current spend is told that this move rests on the prior.
  Both are optional attributes; the optimizer still imports no model class.
- **Spend the data never saw.** Where the plan spends more in a week on a channel than
  the channel's highest national weekly spend in the model's history (or less than its
  lowest, when it was never off), the response there is the model's saturation curve
  carried past the data: prior and functional form, not measurement. Each such channel
  is named with both figures. The check is on national weekly totals, geo × channel
  plans included (a geo pushed past its own history is not named on its own).

Two more concern plans the optimizer chose; a user's scenario
(:func:`margin.optimize.scenario.scenario`, ``chosen=False``) gets only the two above.

- **Where the doubt is.** When the plan's gain interval reaches zero or below (it may not
  beat the current plan), the channel whose move alone has the widest spread of gain
  across draws is named, with its part of the gain, as the one a lift test would settle
  best (``margin experiment design --channel``), and ``--value-of-information`` offered
  for the value of testing each channel (:mod:`margin.optimize.information`).
- **The optimizer's curse.** The expected gain is estimated by the same posterior that
  chose the plan, and a plan is chosen where the posterior rates it highly, so wherever
  the model is off the plan goes where the errors flatter it and the estimate leans
  optimistic (Smith and Winkler, *Management Science* 52(3), 2006: a Bayesian estimate
  is free of it only if model and prior are right). On simulated worlds, whose response
  is not margin's model, it was above the true gain in 9 of 12 (``docs/benchmarks.md``
  § Optimizer). Said whenever the plan claims a positive gain, with the low end of its
  interval as the planning figure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from margin.optimize.results import Interval
from margin.protocols import FittedResponse, ResponseModel
from margin.types import FloatArray

__all__ = ["MOVED", "OUTSIDE_HISTORY", "plan_caveats", "stopped_early_caveat"]

MOVED = 0.1
"""A channel counts as moved when its spend changes by more than this share of its current."""

OUTSIDE_HISTORY = 0.05
"""A plan's weekly spend counts as outside history when it is this share beyond the
channel's highest (or lowest) weekly spend in the data."""


def _money(value: float) -> str:
    return f"{value:,.0f}"


def stopped_early_caveat(limit: int) -> str:
    """Said with a plan whose solve reached its evaluation limit (:mod:`.solver`)."""
    return (
        f"the optimizer stopped early: it reached its limit of {limit:,} model evaluations "
        "for one solve before it finished, so this is the best plan it found by then (never "
        "worse than the current plan rescaled to the budget); the optimality checks say how "
        "close to optimal it is. An extreme budget or bounds usually cause this: try "
        "numbers nearer the current plan's."
    )


def plan_caveats(
    model: ResponseModel,
    plan: FloatArray,
    gain: Interval,
    channel_gains: Mapping[str, FloatArray] | None = None,
    current: FloatArray | None = None,
    *,
    chosen: bool = True,
) -> tuple[str, ...]:
    """Caveats for ``plan`` ``(n_geos, n_weeks, n_channels)`` on ``model`` (module docstring).

    ``channel_gains``: per channel, ``(n_draws,)`` KPI gained by its move alone;
    ``current``: the current plan, same shape (for the prior-dominated channels' moves);
    ``chosen``: the plan was chosen by the optimizer (``False`` for a user's scenario,
    which gets neither the optimizer's-curse nor the doubt caveat).
    """
    history = np.asarray(model.history, dtype=np.float64).sum(axis=0)  # (weeks, channels)
    weekly = np.asarray(plan, dtype=np.float64).sum(axis=0)
    n_weeks = history.shape[0]
    caveats, dominated = (
        (model.fit_caveats, model.prior_dominated)
        if isinstance(model, FittedResponse)
        else ((), ())
    )
    out = [str(c) for c in caveats]
    if current is not None:
        before = np.asarray(current, dtype=np.float64).sum(axis=(0, 1))
        after = weekly.sum(axis=0)
        for name in dominated:
            c = model.channels.index(name)
            change = after[c] - before[c]
            if abs(change) > MOVED * before[c] and change != 0:
                moved = f" ({change / before[c]:+.0%} of current spend)" if before[c] > 0 else ""
                out.append(
                    f"{name}: the data barely narrowed its ROI prior, so the plan's move of "
                    f"{name}{moved} rests mostly on the prior; a lift test on {name} (margin "
                    f"experiment design --channel {name}) would put data behind it."
                )
    for c, name in enumerate(model.channels if n_weeks else ()):
        seen_high, seen_low = float(history[:, c].max()), float(history[:, c].min())
        high, low = float(weekly[:, c].max()), float(weekly[:, c].min())
        if high > seen_high * (1 + OUTSIDE_HISTORY):
            out.append(
                f"{name}: the plan spends up to {_money(high)} a week, above the most it "
                f"spent in any of the {n_weeks} weeks of data ({_money(seen_high)}); the "
                "response there is the model's curve carried past the data, not measured. "
                f"Cap it with --bounds {name}=LOW:HIGH (multiples of current spend) or test it."
            )
        elif seen_low > 0 and low < seen_low * (1 - OUTSIDE_HISTORY):
            out.append(
                f"{name}: the plan spends {_money(low)} a week, below the least it spent in "
                f"any of the {n_weeks} weeks of data ({_money(seen_low)}); what the channel "
                "brings at that level is the model's curve carried past the data, not measured."
            )
    if not chosen:
        return tuple(out)
    if channel_gains and gain.p05 <= 0:
        spread = {name: float(np.std(g)) for name, g in channel_gains.items()}
        name = max(spread, key=lambda n: spread[n])
        if spread[name] > 0:
            part = Interval.of(np.asarray(channel_gains[name], dtype=np.float64))
            out.append(
                f"the plan may not beat the current one, and most of that doubt is in "
                f"{name}'s move: its part of the gain is {_money(part.mean)} "
                f"[{_money(part.p05)}, {_money(part.p95)}] (KPI, 90% interval). A lift test "
                f"on {name} would settle it best: margin experiment design --channel {name}. "
                "What a test of each channel is worth to the plan: margin optimize "
                "--value-of-information."
            )
    if gain.mean > 0:
        out.append(
            "the expected gain is estimated by the same model that chose the plan; where "
            "the model is off, the plan goes where its errors flatter it, so the gain leans "
            "optimistic (the optimizer's curse): plan on the low end of its interval "
            f"({_money(gain.p05)}), not on its mean."
        )
    return tuple(out)
