"""A workspace's data-quality findings and currency, as the report shows them.

The report (:mod:`margin.report`) never opens a workspace: the CLI and the API gather
what it shows with :func:`workspace_quality` and pass it in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

from margin.errors import ConfigError

__all__ = ["WorkspaceQuality", "workspace_quality"]


class WorkspaceQuality(NamedTuple):
    """``findings``: ``Report.to_dict()`` of the data-quality check; ``currency``: the
    workspace's currency (both ``None`` without a workspace)."""

    findings: dict[str, Any] | None
    currency: str | None


def workspace_quality(workspace: str | Path | None) -> WorkspaceQuality:
    """The data-quality findings and currency of ``workspace`` (opened read-only).

    Raises:
        ConfigError: the workspace does not exist or cannot be read.
    """
    if workspace is None:
        return WorkspaceQuality(None, None)
    import duckdb

    from margin.data.rules.validation import check_workspace
    from margin.data.workspace.store import Workspace

    path = Path(workspace)
    if not path.is_file():
        raise ConfigError(
            f"workspace {path} does not exist; pass the workspace file the run was fitted from"
        )
    try:
        with Workspace(path, read_only=True) as ws:
            return WorkspaceQuality(check_workspace(ws).to_dict(), ws.settings.currency)
    except duckdb.Error as err:
        raise ConfigError(
            f"cannot read workspace {path} (opened read-only): {err}. If an older margin made "
            f"it, open it once with write access to upgrade it (margin init -w {path})"
        ) from err
