"""Options shared by several commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from margin.limits import PLANNING_DRAWS

__all__ = [
    "MAX_DRAWS", "ControlsOption", "DrawsOption", "OutOption", "RunOption", "WeeksOption",
    "WorkspaceOption",
]  # fmt: skip

WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        help="Workspace file (default: $MARGIN_WORKSPACE or ./margin.duckdb).",
        show_default=False,
    ),
]
OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Also write the result as JSON here.")
]
MAX_DRAWS = PLANNING_DRAWS
"""Posterior draws used for planning by default (evenly thinned when the run has more)."""

RunOption = Annotated[
    Path, typer.Option("--run", help="Run folder written by margin mmm fit --out.")
]
WeeksOption = Annotated[int, typer.Option("--weeks", help="Planning horizon in weeks.")]
DrawsOption = Annotated[
    int, typer.Option("--max-draws", help="Use at most this many posterior draws (thinned).")
]
ControlsOption = Annotated[
    Path | None,
    typer.Option(
        "--controls",
        help="Known future controls (holidays, prices): CSV with date, name, value (and geo).",
    ),
]
