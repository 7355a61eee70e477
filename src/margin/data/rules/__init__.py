"""Validation rules and the data-quality report. :mod:`~margin.data.rules.validation`
runs them: the load rules (:mod:`~margin.data.rules.load`) on one file before it is
written, the workspace and weekly rules (:mod:`~margin.data.rules.workspace`,
:mod:`~margin.data.rules.weekly`) over everything loaded; each says what it found as a
:class:`Finding` (:mod:`~margin.data.rules.findings`). :mod:`~margin.data.rules.quality`
gathers what the report shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from margin.exports import lazy_exports

if TYPE_CHECKING:
    from margin.data.rules.findings import MAX_ROWS_LISTED, Finding, Report, Severity
    from margin.data.rules.quality import WorkspaceQuality, workspace_quality
    from margin.data.rules.validation import (
        WORKSPACE_RULES,
        WorkspaceRule,
        check_workspace,
        validate_load,
    )

__all__ = [
    "MAX_ROWS_LISTED",
    "WORKSPACE_RULES",
    "Finding",
    "Report",
    "Severity",
    "WorkspaceQuality",
    "WorkspaceRule",
    "check_workspace",
    "validate_load",
    "workspace_quality",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "margin.data.rules.findings": ("Finding", "MAX_ROWS_LISTED", "Report", "Severity"),
        "margin.data.rules.quality": ("WorkspaceQuality", "workspace_quality"),
        "margin.data.rules.validation": (
            "WORKSPACE_RULES",
            "WorkspaceRule",
            "check_workspace",
            "validate_load",
        ),
    },
)
