"""margin: what each marketing dollar caused, and where the next one should go.

The public names below are loaded on first use, so ``import margin`` stays light.
"""

from __future__ import annotations

from importlib import import_module, metadata
from typing import TYPE_CHECKING, Any

from margin.errors import (
    ConfigError,
    DataValidationError,
    InputFileError,
    LoadRejectedError,
    MarginError,
    NotFittedError,
    WorkspaceError,
)

if TYPE_CHECKING:
    from margin.data.ingest.pipeline import ingest_file
    from margin.data.panel.marketing_data import MarketingData, load_panel
    from margin.data.panel.spec import Spec, load_spec
    from margin.data.rules.validation import check_workspace
    from margin.data.simulator import simulate_world
    from margin.data.workspace.store import Workspace

__all__ = [
    "ConfigError",
    "DataValidationError",
    "InputFileError",
    "LoadRejectedError",
    "MarginError",
    "MarketingData",
    "NotFittedError",
    "Spec",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "check_workspace",
    "ingest_file",
    "load_panel",
    "load_spec",
    "simulate_world",
]

try:
    __version__ = metadata.version("margin")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

_LAZY = {
    "MarketingData": "margin.data.panel.marketing_data",
    "Spec": "margin.data.panel.spec",
    "Workspace": "margin.data.workspace.store",
    "check_workspace": "margin.data.rules.validation",
    "ingest_file": "margin.data.ingest.pipeline",
    "load_panel": "margin.data.panel.marketing_data",
    "load_spec": "margin.data.panel.spec",
    "simulate_world": "margin.data.simulator",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'margin' has no attribute {name!r}")
