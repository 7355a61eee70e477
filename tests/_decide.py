"""One small fitted MMM run shared by the Decide tests, fitted once per test session.

A simulated national world (1 geo × 104 weeks × 5 channels), the approximate fit (Laplace,
few steps: these tests check plumbing and oracles, not recovery), saved with ``save_fit`` (``save_run`` and ``curves.json``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from margin.data.panel.marketing_data import MarketingData
from margin.data.panel.spec import DataSpec, Spec
from margin.data.simulator import World, WorldParams, simulate_world
from margin.mmm import MarketingMixModel
from margin.refresh.fit import save_fit

WORLD_SEED = 11
FIT_SEED = 2
N_WEEKS = 104
HOLDOUT_WEEKS = 4
FIT_SETTINGS = {"method": "approximate", "chains": 1, "draws": 120, "approximate_steps": 300}


@dataclass(frozen=True, eq=False)
class SmallRun:
    """The run folder, the panel it was fitted on, the fitted model and the world."""

    path: Path
    data: MarketingData
    model: MarketingMixModel
    world: World


_CACHE: dict[str, SmallRun] = {}


def small_run(base: Path) -> SmallRun:
    """Fit and save the small run under ``base`` the first time; reuse it afterwards."""
    if "run" not in _CACHE:
        world = simulate_world(WorldParams.national(n_weeks=N_WEEKS, n_users=200), seed=WORLD_SEED)
        data = world.marketing_data()
        model = MarketingMixModel(
            seed=FIT_SEED,
            holdout_weeks=HOLDOUT_WEEKS,
            **FIT_SETTINGS,  # type: ignore[arg-type]
        ).fit(data)
        path = base / "decide-run"
        save_fit(model, data, Spec(DataSpec(kpi="revenue", media=data.channels)), path)
        _CACHE["run"] = SmallRun(path, data, model, world)
    return _CACHE["run"]
