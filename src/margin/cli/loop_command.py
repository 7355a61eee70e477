"""``margin loop``: run the learning loop against a world, cycle after cycle.

``margin loop --world "CMD" --cycles N -w W`` runs N cycles (resuming an unfinished one);
``margin loop plan -w W`` plans the next cycle of the workspace's loop without stepping
its world, and prints the plan and the test calendar to execute.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from margin.cli.common import announce_key, cycle_line
from margin.cli.console import console, fmt_number, write_json
from margin.cli.options import WorkspaceOption

if TYPE_CHECKING:
    from rich.status import Status

    from margin.loop import LoopSettings

__all__ = ["loop", "loop_plan", "loop_run"]

loop = typer.Typer(
    help="The learning loop: plan, test, step the world, learn; cycle after cycle.",
    invoke_without_command=True,
)
"""``margin loop …``."""

PolicyOption = Annotated[
    str,
    typer.Option(
        "--policy",
        help="margin, mmm-only, status-quo, last-touch, markov or oracle (benchmarks only).",
    ),
]


def loop_run(
    context: typer.Context,
    world: Annotated[
        str | None, typer.Option("--world", help='The world\'s command, e.g. "margin world".')
    ] = None,
    cycles: Annotated[int, typer.Option("--cycles", help="Cycles to run now.")] = 1,
    workspace: WorkspaceOption = None,
    policy: PolicyOption = "margin",
    state: Annotated[
        Path | None,
        typer.Option(
            "--state", help="The world's folder (default: <workspace folder>/loop/world)."
        ),
    ] = None,
    weeks: Annotated[int, typer.Option("--weeks", help="Weeks per cycle.")] = 13,
    max_change: Annotated[
        float, typer.Option("--max-change", help="Most a channel moves per cycle (0.25 = ±25%).")
    ] = 0.25,
    budget: Annotated[
        float | None, typer.Option(help="Spend per cycle (default: the status quo's).")
    ] = None,
    max_loss: Annotated[
        float | None,
        typer.Option(
            "--max-loss",
            help="Largest loss vs the status quo at the gain's p05 (default: 1% of its media contribution).",
        ),
    ] = None,
    risk: Annotated[
        str,
        typer.Option(help="What the plan maximises over the draws: mean_sd, mean or cvar."),
    ] = "mean_sd",
    max_tests: Annotated[int, typer.Option("--max-tests", help="Most tests at once.")] = 1,
    test_share: Annotated[
        float,
        typer.Option("--test-share", help="Share of the cycle budget the tests add (0.1 = 10%)."),
    ] = 0.1,
    test_kind: Annotated[
        str,
        typer.Option("--test-kind", help="Tests designed: heavy_up (default), go_dark or either."),
    ] = "heavy_up",
    test_horizon: Annotated[
        int,
        typer.Option(
            "--test-horizon",
            help="Cycles a test's read informs: a test runs when its value over them exceeds its cost.",
        ),
    ] = 4,
    method: Annotated[str, typer.Option(help="MMM fit: 'approximate' (default) or 'nuts'.")] = (
        "approximate"
    ),
    draws: Annotated[int, typer.Option(help="Posterior draws of each fit.")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the fits.")] = 0,
    score: Annotated[
        bool, typer.Option("--score", help="Ask the world's score for true values (benchmarks).")
    ] = False,
    plan_next: Annotated[
        bool,
        typer.Option(
            "--plan-next/--no-plan-next", help="Plan the next cycle at the end (no step)."
        ),
    ] = True,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the cycles as JSON here.")
    ] = None,
) -> None:
    """Run cycles against a world: ingest, analyse tests, fit, plan, design tests, step, record."""
    if context.invoked_subcommand is not None:
        return
    from margin.cli.console import fail
    from margin.errors import MarginError
    from margin.loop import LoopSettings, run_loop

    if world is None:
        fail(
            'give the world\'s command, e.g. --world "margin world"; to plan the next cycle '
            "of an existing loop without stepping, run margin loop plan -w W"
        )
    try:
        settings = LoopSettings(
            policy=policy, weeks=weeks, max_change=max_change, budget=budget, max_loss=max_loss,
            method=method, draws=draws, seed=seed, score=score, risk=risk, max_tests=max_tests,
            test_share=test_share, test_kind=test_kind, test_horizon=test_horizon,
        )  # fmt: skip
        path = _workspace(workspace)
        new = not path.exists()
        with _Steps() as steps:
            result = run_loop(
                path, world, cycles, settings, steps.show, state=state, plan_next=plan_next
            )  # fmt: skip
    except MarginError as err:
        fail(str(err))
    if new:
        _announce_key(path)
    for body in result.cycles:
        console.print(cycle_line(body), markup=False)
    if result.next_plan is not None:
        _print_next(result.next_plan, settings)
    if out is not None:
        write_json(out, result.to_json())


def loop_plan(
    workspace: WorkspaceOption = None,
    kpi: Annotated[
        str | None, typer.Option(help="The KPI to plan for (a new loop on several KPIs).")
    ] = None,
    policy: Annotated[
        str | None, typer.Option(help="A new loop's policy (default margin).")
    ] = None,
    weeks: Annotated[int | None, typer.Option(help="A new loop's weeks per cycle (13).")] = None,
    budget: Annotated[
        float | None, typer.Option(help="A new loop's spend per cycle (the status quo's).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Write the plan as JSON here.")] = None,
) -> None:
    """Plan the next cycle without stepping a world; print it with its test calendar.

    Without a loop, starts one on the workspace's own data (the business is the world): run
    the plan, ingest its weeks, run this again to record the cycle and plan the next.
    """
    from margin.cli.console import fail
    from margin.errors import MarginError
    from margin.loop import LoopSettings
    from margin.loop.cycle import plan_next_cycle

    given: dict[str, Any] = {"policy": policy, "weeks": weeks, "budget": budget}
    try:
        chosen = {k: v for k, v in given.items() if v is not None}
        settings = LoopSettings(**chosen) if chosen else None
        with _Steps() as steps:
            body, settings = plan_next_cycle(
                _workspace(workspace), steps.show, settings=settings, kpi=kpi
            )
    except MarginError as err:
        fail(str(err))
    _print_next(body, settings)
    if out is not None:
        write_json(out, body)


loop.callback(invoke_without_command=True)(loop_run)
loop.command("plan")(loop_plan)


def _announce_key(path: Path) -> None:
    """Say where the key of a workspace the loop created is, if it made one (a world with
    users: their ids are hashed on ingest)."""
    from margin.data.workspace.hashing import KEY_ENV, key_path, load_key
    from margin.data.workspace.store import Workspace

    with Workspace(path, read_only=True) as ws:
        if os.environ.get(KEY_ENV) or not ws.workspace_id:
            return
        if key_path(ws.workspace_id).exists():
            announce_key(load_key(ws), path)


def _workspace(workspace: Path | None) -> Path:
    from margin.data.workspace.store import resolve_path

    return resolve_path(workspace)


class _Steps:
    """A spinner naming the step under way (only on a terminal)."""

    def __init__(self) -> None:
        self.spinner: Status | None = None

    def __enter__(self) -> _Steps:
        if console.is_terminal:
            self.spinner = console.status("starting the loop")
            self.spinner.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.spinner is not None:
            self.spinner.__exit__(None, None, None)

    def show(self, cycle: int, step: str) -> None:
        if self.spinner is not None:
            self.spinner.update(f"cycle {cycle}: {step}")


def _print_next(plan: dict[str, Any], settings: LoopSettings) -> None:
    """The next cycle's plan (spend per channel over the cycle) and its test calendar."""
    currency = plan["currency"]
    console.print(
        f"next cycle ({settings.weeks} weeks from {plan['start']}, budget "
        f"{fmt_number(plan['budget'])} {currency}):",
        markup=False,
    )
    for name, row in plan["plan"].items():
        change = row.get("change")
        moved = "" if change is None else f" ({change:+.0%} vs previous)"
        console.print(f"  {name:<20} {fmt_number(row['spend'])} {currency}{moved}", markup=False)
    tests = plan["tests"]["scheduled"]
    if not tests:
        console.print(f"  test calendar: no new test this cycle{_why_no_test(plan)}", markup=False)
    for test in tests:
        console.print(
            f"  test {test['channel']} {test['kind'].replace('_', '-')}: "
            f"{', '.join(test['treated'])} from {test['start']} to {test['end']}, "
            f"{'+' if test['spend'] > 0 else ''}{fmt_number(test['spend'])} {currency} "
            f"(controls {', '.join(test['controls'])}){_economics(test, currency)}",
            markup=False,
        )


def _economics(test: dict[str, Any], currency: str) -> str:
    """``; worth W over H cycles against a net cost of C`` (expected, by the model)."""
    money = test.get("economics")
    if not money:
        return ""
    return (
        f"; worth {fmt_number(money['worth'])} {currency} to the next "
        f"{money['horizon_cycles']:.0f} cycles' plans against an expected net cost of "
        f"{fmt_number(money['cost'])} {currency}"
    )


def _why_no_test(plan: dict[str, Any]) -> str:
    """Why the best test designed was not run (its worth did not cover its cost)."""
    considered = (plan.get("value_of_information") or {}).get("considered") or []
    if not considered:
        return ""
    best = max(considered, key=lambda t: t["net"])
    least, most = ("at least ", "at most ") if best.get("bound") else ("", "")
    return (
        f" (the best, a {best['channel']} {best['kind'].replace('_', '-')}, would cost "
        f"{least}{fmt_number(best['cost'])} {plan['currency']} net and is worth "
        f"{most}{fmt_number(best['worth'])} {plan['currency']} to the next "
        f"{best['horizon_cycles']:.0f} cycles' plans)"
    )
