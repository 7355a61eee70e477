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
    from margin.data.ingest import ingest_file
    from margin.data.panel import MarketingData, load_panel
    from margin.data.simulator import simulate_world
    from margin.data.spec import Spec, load_spec
    from margin.data.validation import check_workspace
    from margin.data.workspace import Workspace

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
    "MarketingData": "margin.data.panel",
    "Spec": "margin.data.spec",
    "Workspace": "margin.data.workspace",
    "check_workspace": "margin.data.validation",
    "ingest_file": "margin.data.ingest",
    "load_panel": "margin.data.panel",
    "load_spec": "margin.data.spec",
    "simulate_world": "margin.data.simulator",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'margin' has no attribute {name!r}")
