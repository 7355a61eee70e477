"""``margin learning-report``: the learning loop's report, one self-contained HTML file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from margin.cli.console import console, status
from margin.cli.options import WorkspaceOption

__all__ = ["learning_report"]


def learning_report(
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")],
    workspace: WorkspaceOption = None,
    loop: Annotated[
        str | None,
        typer.Option("--loop", help="A loop id (loop-…); default: the workspace's latest loop."),
    ] = None,
) -> None:
    """Write the learning loop's report: cycles, budget by channel, ROI intervals narrowing
    as tests land, what each test taught, the cumulative gain with its interval, the
    latest plan and test calendar."""
    from margin.cli.common import existing_workspace
    from margin.errors import ConfigError
    from margin.loop.records import list_cycles
    from margin.report.learning import START_COMMAND, build_learning_report

    if out.is_dir():
        raise ConfigError(
            f"--out {out} is a folder; give a file name such as {out / 'learning.html'}"
        )
    path = existing_workspace(workspace)
    with status(f"reading the learning loop of {path}"):
        cycles = list_cycles(path, loop)
    if not cycles:
        raise ConfigError(
            f"workspace {path} has no learning loop yet; start one with "
            f"{START_COMMAND.replace(' -w W', f' -w {path}')}"
        )
    html = build_learning_report(cycles)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    console.print(
        f"wrote {out} ({len(cycles)} cycle(s), {len(html) / 1024:,.0f} KiB, one file, works "
        f"offline): open {out.resolve().as_uri()} in a browser"
    )
