"""Helpers several commands share: the hashing key's announcement, a workspace opened with
its key, and the printing of loads, data-quality reports and plans.

Command modules import this module, :mod:`margin.cli.console` and :mod:`margin.cli.options`,
never each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from margin.cli.console import console, fmt_number, status

if TYPE_CHECKING:
    from margin.data.ingest.pipeline import IngestResult
    from margin.data.rules.findings import Report
    from margin.data.workspace.hashing import HashKey
    from margin.data.workspace.store import Workspace
    from margin.mmm.response import MMMResponse
    from margin.optimize.information import InformationValue
    from margin.optimize.request import PlanRequest
    from margin.optimize.results import AllocationResult

__all__ = [
    "BACKUP_HINT", "announce_key", "cycle_line", "existing_workspace", "interval", "load_run_response", "open_with_key",
    "print_information", "print_ingest", "print_notes", "print_plan", "print_planned_tests",
    "print_report", "read_plan_csv",
]  # fmt: skip
BACKUP_HINT = (
    "Back it up apart from the workspace (with it and the workspace, ids can be guessed; "
    "without it, ids loaded later cannot be matched to those stored). See margin hash-key --help"
)


def announce_key(key: HashKey, workspace: Path) -> None:
    """Say that ``workspace``'s key was just created, where it is, and to back it up."""
    console.print(
        f"created the key that hashes user and customer ids of {workspace}: {key.source} "
        f"(readable by you only). {BACKUP_HINT}",
        markup=False,
        soft_wrap=True,  # a path must not be broken inside by the terminal's width
    )


def existing_workspace(workspace: Path | None, hint: str = "") -> Path:
    """The path of the workspace a command reads (``-w``, else ``$MARGIN_WORKSPACE``, else
    ``./margin.duckdb``); commands that read one never create it.

    Raises:
        WorkspaceError: it does not exist, naming the path looked at and how to give another
            (``hint`` adds a sentence).
    """
    from margin.data.workspace.store import resolve_path
    from margin.errors import WorkspaceError

    path = resolve_path(workspace)
    if not path.exists():
        raise WorkspaceError(
            f"workspace {path} does not exist; pass -w or set MARGIN_WORKSPACE "
            f"(margin ingest, import, init or demo create one){hint}"
        )
    return path


@contextmanager
def open_with_key(workspace: Path | None) -> Iterator[Workspace]:
    """Open (creating it if absent) the workspace; a workspace created now gets its key.

    A workspace this call creates exists only if the block succeeds: on an error its file
    and its key file are removed (nothing is written on failure), and the key's creation is
    announced only once the block has succeeded.
    """
    from margin.data.workspace.hashing import delete_key_file, ensure_key
    from margin.data.workspace.store import Workspace, resolve_path

    path = resolve_path(workspace)
    new = not path.exists()
    ws = Workspace(workspace)
    created = None
    try:
        if new:
            key, made = ensure_key(ws)
            created = key if made else None
        yield ws
    except BaseException:
        if new:
            _discard_new(ws, path, delete_key_file)
        else:
            ws.close()
        raise
    ws.close()
    if created is not None:
        announce_key(created, path)


def _discard_new(ws: Workspace, path: Path, delete_key_file: Callable[[Workspace], None]) -> None:
    """Remove a workspace made by a command that failed, and its key file."""
    try:
        delete_key_file(ws)
    finally:
        ws.close()
        for leftover in (path, path.with_name(path.name + ".wal")):
            leftover.unlink(missing_ok=True)


def moves(plan: dict[str, Any]) -> str:
    parts = []
    for name, row in plan.items():
        change = row.get("change")
        parts.append(f"{name} {'n/a' if change is None else f'{change:+.0%}'}")
    return ", ".join(parts)


def cycle_line(body: dict[str, Any]) -> str:
    """One line per cycle: weeks, plan moves, tests, expected gain with interval and unit."""
    weeks, currency = body["weeks"], body["currency"]
    tests = body["tests"]
    gain = body.get("expected_gain")
    said = "n/a (no model)" if gain is None else f"{interval(gain)} {currency}"
    line = (
        f"cycle {body['cycle']}: {weeks['start']} to {weeks['end']} ({weeks['n']} weeks) · "
        f"moves vs previous: {moves(body['plan'])} · tests: {len(tests['scheduled'])} "
        f"scheduled, {len(tests['analysed'])} analysed · expected gain vs status quo: {said}"
    )
    true = body.get("true")
    if true is not None and true.get("share_of_oracle") is not None:
        line += (
            f" · true gain {fmt_number(true['gain'])} {currency} "
            f"({true['share_of_oracle']:.0%} of the oracle's)"
        )
    return line


def print_ingest(result: IngestResult, workspace: Path) -> None:
    """A few lines on what one load did."""
    span = f", {result.first_date} to {result.last_date}" if result.first_date else ""
    grain = f" ({result.grain} rows; weekly views roll them up)" if result.grain == "daily" else ""
    replaced = f", replaced {result.rows_replaced:,} earlier rows" if result.rows_replaced else ""
    layout = (
        f" ({result.layout} layout)" if result.layout != "generic" or result.kind == "spend" else ""
    )
    console.print(
        f"[green]loaded[/] {Path(result.file).name} → {result.kind}"
        f"{layout}: {result.rows_read:,} rows read, "
        f"{result.rows_written:,} written{replaced}{span}{grain}"
    )
    if result.unmapped_campaigns:
        shown = ", ".join(result.unmapped_campaigns[:8])
        more = (
            f" and {len(result.unmapped_campaigns) - 8} more"
            if len(result.unmapped_campaigns) > 8
            else ""
        )
        console.print(
            f"[yellow]unmapped campaigns[/] (given the platform's channel; add taxonomy rules): {shown}{more}",
            markup=True,
        )
    for finding in result.findings:
        console.print(f"  [yellow]{finding.severity}[/] ", end="")
        console.print(finding.describe(), markup=False)


def print_report(report: Report) -> None:
    """The data-quality report: one short block per finding, errors first."""
    from rich.text import Text

    colours = {"error": "bold red", "warning": "yellow", "info": "cyan"}
    for f in report.findings:
        where = f.table + (f".{f.column}" if f.column else "")
        head = Text.assemble(
            (f"{f.severity:<8}", colours[f.severity]), (f"{f.rule}", "bold"), f"  {where}"
        )
        if f.rows:
            more = f" (+{f.n_rows - len(f.rows)} more)" if f.n_rows > len(f.rows) else ""
            head.append(f"  rows: {', '.join(str(r) for r in f.rows[:5])}{more}", style="dim")
        console.print(head)
        console.print(Text(f"         {f.message}"))
        console.print(Text(f"         fix: {f.fix}", style="green"))
    summary = (
        f"{len(report.errors)} error(s), {len(report.warnings)} warning(s), "
        f"{len(report.findings) - len(report.errors) - len(report.warnings)} note(s); "
        f"{len(report.checked)} rules checked"
    )
    console.print(Text(summary, style="bold green" if not report.findings else "bold"))


def load_run_response(run: Path, max_draws: int, controls: Path | None = None) -> MMMResponse:
    """The run's response model; with ``controls``, the known future controls it names
    (their weeks' baseline then uses them instead of the 13-week mean)."""
    from margin.mmm.response import load_response

    with status(f"loading the run in {run}"):
        response = load_response(run, max_draws=max_draws)
    return response if controls is None else _with_controls(response, controls)


def _with_controls(response: MMMResponse, path: Path) -> MMMResponse:
    import pandas as pd

    from margin.errors import DataValidationError, InputFileError

    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise InputFileError(
            f"cannot read the controls file {path}: {err}; give a CSV with columns date, "
            "[geo,] name, value"
        ) from err
    try:
        return response.with_controls(frame)
    except DataValidationError as err:
        raise DataValidationError(f"{path}: {err}") from err


def print_notes(caveats: list[str]) -> None:
    """A plan's or scenario's caveats, one ``note:`` line each."""
    from rich.markup import escape

    for caveat in caveats:
        console.print(f"[yellow]note:[/] {escape(caveat)}", highlight=False)


def interval(stat: dict[str, float]) -> str:
    """``mean [p05, p95]`` of an interval's JSON, as numbers for people."""
    return f"{fmt_number(stat['mean'])} [{fmt_number(stat['p05'])}, {fmt_number(stat['p95'])}]"


def print_plan(
    document: dict[str, Any],
    result: AllocationResult,
    response: MMMResponse,
    request: PlanRequest,
    current: float,
    units: dict[str, Any] | None = None,
) -> None:
    """Print a plan: the allocation table, KPI, gain, P(beats current) and the checks.

    ``units`` (:func:`margin.report.views.units_of`) labels KPI amounts and the gain the
    way the report and the dashboard do (:func:`margin.report.views.gain_text`)."""
    from margin.report.views import kpi_text

    said = (lambda stat: kpi_text(stat, units)) if units else interval
    from rich.markup import escape
    from rich.table import Table

    budget_note = (
        "budget not given: the current plan's spend"
        if request.budget is None and request.mode == "budget"
        else f"mode {result.mode}"
    )
    console.print(
        f"run {response.run_id}: {request.weeks} weeks from {response.start} "
        f"({response.n_draws} posterior draws); budget {fmt_number(result.budget)} "
        f"({budget_note}; current plan {fmt_number(current)} = last 13 weeks' average "
        "weekly spend × weeks)"
    )
    for line in document.get("headline") or []:
        console.print(f"[bold]{escape(str(line))}[/bold]", soft_wrap=True)
    table = Table(title="recommended allocation (totals over the horizon; mROI mean [90%])")
    columns = (
        "channel", "current spend", "recommended", "change", "mROI at recommended",
        "gain of this move", "status",
    )  # fmt: skip
    for column in columns:
        table.add_column(column, justify="left" if column in ("channel", "status") else "right")
    for name, a in document["allocation"].items():
        change = a["change"] / a["current_spend"] if a["current_spend"] > 0 else float("nan")
        table.add_row(
            name, fmt_number(a["current_spend"]), fmt_number(a["spend"]),
            f"{fmt_number(a['change'])} ({change:+.0%})", interval(a["mroi"]),
            said(a["gain"]), a["status"],
        )  # fmt: skip
    console.print(table)
    _print_gain(document, units)
    checks = document["checks"]
    spread = checks["marginal_spread"]
    console.print(
        f"optimality checks {'[green]passed[/]' if checks['passed'] else '[red]FAILED[/]'}: "
        f"budget residual {checks['budget_residual']:.1e}, bound violation "
        f"{checks['bound_violation']:.1e}, interior mROI spread "
        f"{'n/a' if spread is None else f'{spread:.1e}'} (tolerance "
        f"{checks['marginal_tolerance']:.0e}), bounds consistent {checks['bound_consistent']}, "
        f"not worse than current {checks['not_worse']}; {checks['evaluations']:,} model "
        "evaluations" + (" (stopped early at the limit)" if checks["stopped_early"] else "")
    )
    print_notes(document["caveats"])
    console.print(f"[dim]{response.baseline_note}[/]")


def _print_gain(document: dict[str, Any], units: dict[str, Any] | None) -> None:
    """The plan's expected KPI and gain (in the report's and the dashboard's words)."""
    from margin.report.views import gain_text, kpi_text

    said = (lambda stat: kpi_text(stat, units)) if units else interval
    console.print(
        f"expected KPI {said(document['expected_kpi'])}; current plan "
        f"{said(document['current_kpi'])}"
    )
    console.print(
        f"gain {gain_text(document, units) if units else interval(document['expected_gain'])} "
        "(90% interval); "
        f"P(beats current) = {document['p_beats_current']:.0%}"
    )


def print_information(information: InformationValue) -> None:
    """The value of learning each channel's return, highest first, and what to test."""
    from rich.table import Table

    table = Table(
        title=(
            f"what learning each channel's return is worth to this plan ({information.unit}, "
            f"{information.weeks} weeks + carry-over; mean [90% Monte Carlo])"
        )
    )
    columns = ["channel", "value of learning it", "above noise", "its spend if low → high"]
    tested = [c for c in information.channels if c.test_value is not None]
    if tested:
        columns.append("value of the planned test")
    for column in columns:
        table.add_column(column, justify="left" if column == "channel" else "right")
    for c in information.channels:
        row = [
            c.channel, interval(c.value.to_json()), "yes" if c.above_floor else "no",
            f"{fmt_number(c.group_spend[0])} → {fmt_number(c.group_spend[-1])}",
        ]  # fmt: skip
        if tested:
            row.append(
                "" if c.test_value is None
                else f"{interval(c.test_value.to_json())} (se {c.test_se:.3g}"
                f"{'' if c.test_above_floor else ', not above noise'})"
            )  # fmt: skip
        table.add_row(*row)
    console.print(table)
    print_planned_tests(information)
    floor = information.noise_floor
    console.print(
        f"noise floor (draws grouped at random) {interval(floor.to_json())}; each row re-plans "
        f"on {information.groups} groups of the {information.draws} draws, by the channel's "
        "marginal return at current spend"
    )
    best = information.best
    if best is None:
        console.print("no channel's return is worth learning for this plan above the noise")
    else:
        console.print(
            f"a lift test on {best.channel} would inform this plan most, worth up to "
            f"{fmt_number(best.value.mean)} if it settled the channel's return: margin "
            f"experiment design --channel {best.channel}"
        )


def print_planned_tests(information: InformationValue) -> None:
    """One sentence per planned test given as a design (:attr:`ChannelInformation.test_note`)."""
    for c in information.channels:
        if c.test_note is not None:
            console.print(c.test_note)


def read_plan_csv(path: Path) -> Any:
    """The CSV plan at ``path`` as a data frame (week, channel, spend [, geo])."""
    import pandas as pd

    from margin.errors import InputFileError

    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as err:
        raise InputFileError(
            f"cannot read the plan {path}: {err}; give a CSV with columns week, channel, "
            "spend [, geo] (as margin optimize --out writes beside plan.json)"
        ) from err
