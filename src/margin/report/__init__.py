"""Showing results: view-models of a run, chart functions, and the static HTML report.

``build_report(run_dir, plan=..., workspace=...)`` returns one self-contained HTML file.
The package also holds the dashboard's templates (``templates/pages``) and static files
(``static``: the vendored Chart.js, margin's chart functions, CSS) that ``margin serve``
uses. No modelling happens here. Names load on first use, so importing is cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from margin.report.html import build_report
    from margin.report.learning import build_learning_report, learning_view
    from margin.report.views import build_view

__all__ = ["build_learning_report", "build_report", "build_view", "learning_view"]

_LAZY = {
    "build_learning_report": "margin.report.learning",
    "build_report": "margin.report.html",
    "build_view": "margin.report.views",
    "learning_view": "margin.report.learning",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'margin.report' has no attribute {name!r}")
