"""The learning loop: margin runs a budget cycle after cycle against a world and learns.

Each cycle ingests what the world returned, analyses the lift tests that have ended, fits
the MMM calibrated by every recorded test, plans the next cycle within guardrails,
designs the next tests by value of information, steps the world with the plan and records
the cycle (``cycle.json``, a ``runs`` row). An orchestrator: everything below it, no maths
of its own. ``docs/worlds.md`` has the world interface, ``docs/loop.md`` the loop and its records.
"""

from margin.loop.business import BusinessWorld
from margin.loop.cycle import LoopResult, plan_next_cycle, run_loop
from margin.loop.records import list_cycles
from margin.loop.settings import POLICIES, LoopSettings
from margin.loop.world import WorldClient, WorldError, WorldInfo, plan_frame

__all__ = [
    "POLICIES",
    "BusinessWorld",
    "LoopResult",
    "LoopSettings",
    "WorldClient",
    "WorldError",
    "WorldInfo",
    "list_cycles",
    "plan_frame",
    "plan_next_cycle",
    "run_loop",
]
