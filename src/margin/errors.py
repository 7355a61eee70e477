"""The exception tree.

Every error margin raises on purpose derives from :class:`MarginError`, and also from
the builtin it specialises, so ``except ValueError`` keeps working for callers who do
not know margin::

    MarginError(Exception)
    ├── ConfigError(MarginError, ValueError)         a spec, taxonomy or option is wrong
    ├── DataValidationError(MarginError, ValueError) an input file or table breaks the contract
    │   ├── InputFileError(DataValidationError)      a file cannot be read as a table at all
    │   └── LoadRejectedError(DataValidationError)   validation rules rejected a load (``.findings``)
    ├── WorkspaceError(MarginError, RuntimeError)    the workspace file is missing, locked or too new
    │   └── WorkspaceBusyError(WorkspaceError)       another process held it longer than the wait
    ├── NotFittedError(MarginError, AttributeError)  an estimator was used before ``fit``
    ├── margin.cancellation.WorkCancelledError(MarginError, RuntimeError)
    │                                                a computation was stopped (client gone, shutdown)
    └── margin.refresh.RefreshError(MarginError, RuntimeError)
                                                     a refresh failed and was undone (``.result``)

A message says what is wrong, where (file, row, column or parameter), what was received
and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataValidationError",
    "InputFileError",
    "LoadRejectedError",
    "MarginError",
    "NotFittedError",
    "WorkspaceBusyError",
    "WorkspaceError",
]


class MarginError(Exception):
    """Root of every error margin raises on purpose."""


class ConfigError(MarginError, ValueError):
    """A spec file, taxonomy file, option or parameter is invalid."""


class DataValidationError(MarginError, ValueError):
    """Input data breaks the data contract; nothing was written."""


class InputFileError(DataValidationError):
    """A file cannot be read as a table (encoding, delimiter, empty, headers)."""


class WorkspaceError(MarginError, RuntimeError):
    """The workspace cannot be opened, migrated or written."""


class WorkspaceBusyError(WorkspaceError):
    """Another process (named in ``holder``) held the workspace longer than margin waits."""

    def __init__(self, message: str, holder: str = "another process") -> None:
        super().__init__(message)
        self.holder = holder


class NotFittedError(MarginError, AttributeError):
    """An estimator was used before ``fit`` was called."""


class LoadRejectedError(DataValidationError):
    """A load broke one or more validation rules; nothing was written.

    ``findings`` holds the :class:`margin.data.rules.findings.Finding` objects, errors first.
    """

    def __init__(self, message: str, findings: tuple[object, ...] = ()) -> None:
        super().__init__(message)
        self.findings = findings
