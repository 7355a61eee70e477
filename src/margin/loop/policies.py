"""The policies that need no MMM: status quo, attribution-driven re-allocation, the oracle.

- ``status-quo``: the status quo's channel totals (scaled to the budget) every cycle.
- ``last-touch`` / ``markov``: the common practice. From the events of the last cycle (the
  history's last cycle-length weeks at first), each channel's attributed ROAS (credited
  conversion value ÷ its spend in those weeks, :mod:`margin.attribution`); the new total
  is ``previous × ROAS ÷ spend-weighted mean ROAS``, then the guardrails' clamp and the
  budget (:func:`margin.loop.planning.clamp`).
- ``oracle``: maximises the world's true ``score`` over channel totals at the budget (each
  total at least the minimum), geo split and weekly shape as the status quo: projected
  gradient ascent with forward differences, one batch ``score`` call per iteration, at
  most :data:`ORACLE_CALLS` calls. Benchmarks only: it needs a world that can score.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from margin.errors import ConfigError
from margin.loop.ledger import Loop
from margin.loop.planning import clamp, spread
from margin.loop.world import World, plan_frame
from margin.types import FloatArray

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ORACLE_CALLS", "attributed_roas", "attribution_plan", "oracle_plan", "project"]

ORACLE_CALLS = 40
"""Most batch ``score`` calls the oracle's search makes per cycle."""
MODELS = {"last-touch": "last_touch", "markov": "markov"}


def attributed_roas(loop: Loop, policy: str, start: date, end: date) -> dict[str, dict[str, float]]:
    """Per channel: attributed value, spend and ROAS over the weeks ``[start, end)``, from
    the workspace's events and spend (``policy``: ``last-touch`` or ``markov``).

    Raises:
        DataValidationError: the workspace has no events in those weeks.
    """
    import pandas as pd

    from margin.attribution import attribute, journeys_from_table
    from margin.data.workspace.store import Workspace
    from margin.errors import DataValidationError

    lo, hi = (
        datetime.combine(start, datetime.min.time()),
        datetime.combine(end, datetime.min.time()),
    )
    with Workspace(loop.workspace, read_only=True) as ws:
        rows = ws.fetch(
            "SELECT user_key, ts, channel, campaign, event, value FROM events "
            "WHERE ts >= ? AND ts < ?", [lo, hi],
        )  # fmt: skip
        spend = dict(
            ws.fetch(
                "SELECT channel, sum(spend) FROM spend WHERE date >= ? AND date < ? GROUP BY 1",
                [start, end],
            )
        )
    if not rows:
        raise DataValidationError(
            f"the {policy} policy re-allocates by attributed ROAS, but the workspace has no "
            f"events from {start} to {end}; use a world with users (has_users) or another policy"
        )
    frame = pd.DataFrame(rows, columns=["user_key", "ts", "channel", "campaign", "event", "value"])
    result = attribute(journeys_from_table(frame), models=(MODELS[policy],))
    credits = result.credits[MODELS[policy]]
    out = {}
    for name in loop.channels:
        value = float(credits[name].value) if name in credits else 0.0
        paid = float(spend.get(name, 0.0) or 0.0)
        out[name] = {"value": value, "spend": paid, "roas": value / paid if paid > 0 else 0.0}
    return out


def attribution_plan(
    loop: Loop, policy: str, previous: FloatArray, k: int
) -> tuple[FloatArray, dict[str, Any]]:
    """Cycle ``k``'s totals re-allocated by attributed ROAS (module docstring), and the
    ROAS they came from."""
    end = loop.cycle_start(k)
    roas = attributed_roas(loop, policy, end - timedelta(weeks=loop.settings.weeks), end)
    r = np.array([roas[name]["roas"] for name in loop.channels])
    prev = np.asarray(previous, dtype=np.float64)
    mean = float((prev * r).sum() / prev.sum()) if prev.sum() > 0 else 0.0
    proposed = prev * r / mean if mean > 0 else prev
    return clamp(loop, proposed, previous), {"model": MODELS[policy], "channels": roas}


def project(x: FloatArray, low: FloatArray, total: float) -> FloatArray:
    """The point of ``{y >= low, sum(y) = total}`` nearest to ``x`` (Euclidean)."""
    v = np.asarray(x, dtype=np.float64) - low
    room = total - float(low.sum())
    if room <= 0:
        out: FloatArray = low * (total / max(float(low.sum()), 1e-12))
        return out
    u = np.sort(v)[::-1]
    cumulative = np.cumsum(u) - room
    ranks = np.arange(1, len(u) + 1)
    rho = int(np.nonzero(u - cumulative / ranks > 0)[0][-1])
    theta = cumulative[rho] / (rho + 1)
    projected: FloatArray = np.maximum(v - theta, 0.0) + low
    return projected


def _batch(world: World, loop: Loop, points: list[FloatArray], start: date) -> list[float]:
    """The world's true value (currency) of each point (channel totals), one call."""
    info = world.info()
    frames: dict[str, pd.DataFrame] = {
        str(i): plan_frame(info, spread(loop, p), start) for i, p in enumerate(points)
    }
    values = world.score(frames)
    return [values[str(i)] for i in range(len(points))]


def oracle_plan(world: World, loop: Loop, k: int) -> tuple[FloatArray, float]:
    """The oracle's totals for cycle ``k`` and their true value (module docstring).

    Raises:
        ConfigError: the world does not say it can score (``can_score`` in world.json).
    """
    if not world.info().can_score:
        raise ConfigError(
            "the oracle policy plans on the world's true score; this world does not offer "
            "'score' (can_score in world.json): pick another --policy"
        )
    start, budget = loop.cycle_start(k), loop.budget()
    low = loop.settings.min_share * loop.status_quo_totals()
    x = loop.status_quo_totals()
    h = 0.01 * budget / len(x)
    step, value, gradient = 0.1 * budget, -np.inf, np.zeros_like(x)
    best = (x, -np.inf)
    trial = x
    for _ in range(ORACLE_CALLS):
        points = [trial, *(trial + h * np.eye(len(x))[c] for c in range(len(x)))]
        values = _batch(world, loop, points, start)
        if values[0] > value:  # accept: move on from here, a little bolder
            x, value = trial, values[0]
            gradient = (np.array(values[1:]) - value) / h
            best, step = (x, value), step * 1.5
        else:
            step /= 2
        norm = float(np.linalg.norm(gradient - gradient.mean()))
        if norm == 0 or step < 1e-4 * budget:
            break
        trial = project(x + step * (gradient - gradient.mean()) / norm, low, budget)
    return best[0], float(best[1])
