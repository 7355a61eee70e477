"""``margin world init | step | score``: margin's simulator as a world that reacts to plans.

The interface any world implements is in ``docs/worlds.md``; the group's options shape the
world at ``init``, are stored with it and are ignored afterwards.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from margin.cli.console import console

__all__ = ["init", "score", "step", "world"]

world = typer.Typer(
    help="margin's simulator as a world that reacts to plans (docs/worlds.md).",
    no_args_is_help=True,
)
"""``margin world …``."""

StateOption = Annotated[
    Path, typer.Option("--state", help="The world's folder (world.json, history/, its state).")
]
PlanOption = Annotated[
    Path, typer.Option("--plan", help="PLAN.csv: date,geo,channel,spend from next_week.")
]

OutFolderOption = Annotated[
    Path,
    typer.Option("--out", help="Folder for the new weeks' CSVs (spend, outcomes, controls, …)."),
]


@world.callback()
def options(
    context: typer.Context,
    seed: Annotated[
        int, typer.Option(help="Seed: the same seed and plans give the same world.")
    ] = 0,
    geos: Annotated[int, typer.Option(help="Number of geos.")] = 6,
    history_weeks: Annotated[int, typer.Option(help="Weeks of history init writes.")] = 156,
    users: Annotated[
        bool, typer.Option("--users/--no-users", help="Simulate users' events and transactions.")
    ] = True,
    drift: Annotated[
        list[str] | None,
        typer.Option(help="effects, saturation, competitor (repeat or comma-separate)."),
    ] = None,
    kpi: Annotated[str, typer.Option(help="revenue or conversions.")] = "revenue",
) -> None:
    """margin's simulator as a world: init, then step with plans; score tells the truth."""
    kinds = tuple(part.strip() for text in drift or [] for part in text.split(",") if part.strip())
    context.obj = {
        "seed": seed, "geos": geos, "history_weeks": history_weeks, "users": users,
        "drift": kinds, "kpi": kpi,
    }  # fmt: skip


@world.command("init")
def init(context: typer.Context, state: StateOption) -> None:
    """Create the world in --state: world.json and history/{spend,outcomes,controls,...}.csv."""
    from margin.data.simulator.stepping import DriftOptions, WorldOptions, world_params
    from margin.data.simulator.stepping import init as init_world
    from margin.errors import ConfigError

    o = context.obj
    if o["seed"] < 0:
        raise ConfigError(f"--seed {o['seed']}: give a seed >= 0")
    if o["kpi"] not in ("revenue", "conversions"):
        raise ConfigError(f"--kpi {o['kpi']!r}: use revenue or conversions")
    params = world_params(geos=o["geos"], history_weeks=o["history_weeks"], kpi_type=o["kpi"])
    options = WorldOptions(users=o["users"], drift=DriftOptions(kinds=o["drift"]))
    info = init_world(params, o["seed"], options, state)
    console.print(
        f"world in {state}: {len(info['geos'])} geos, {len(info['channels'])} channels, "
        f"history {info['week_start']} to the week before {info['next_week']}",
        markup=False,
        soft_wrap=True,
    )


@world.command("step")
def step(state: StateOption, plan: PlanOption, out: OutFolderOption) -> None:
    """Spend exactly --plan, advance the world, write the new weeks' files to --out."""
    from margin.data.simulator.stepping import load_state
    from margin.data.simulator.stepping import step as step_world

    paths = step_world(state, plan, out)
    console.print(
        f"stepped to {load_state(state).next_week.isoformat()}: "
        + ", ".join(str(p) for p in paths.values()),
        markup=False,
        soft_wrap=True,
    )


@world.command("score")
def score(state: StateOption, plan: PlanOption) -> None:
    """Print the true expected KPI of --plan (plus carry-over) as JSON; changes nothing."""
    from margin.data.simulator.stepping import score as score_world

    typer.echo(json.dumps(score_world(state, plan)))
