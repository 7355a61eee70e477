"""The public export list stays small, sorted and honest."""

from __future__ import annotations

import subprocess
import sys

import margin

EXPECTED = {
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
}


def test_all_is_sorted_and_exactly_the_public_api() -> None:
    assert margin.__all__ == sorted(margin.__all__)
    assert set(margin.__all__) == EXPECTED


def test_every_export_resolves() -> None:
    for name in margin.__all__:
        assert getattr(margin, name) is not None


def test_errors_inherit_the_matching_builtins() -> None:
    assert issubclass(margin.DataValidationError, ValueError)
    assert issubclass(margin.LoadRejectedError, margin.DataValidationError)
    assert issubclass(margin.WorkspaceError, RuntimeError)
    assert issubclass(margin.NotFittedError, AttributeError)
    assert all(
        issubclass(getattr(margin, n), margin.MarginError)
        for n in margin.__all__
        if n.endswith("Error")
    )


def test_import_margin_is_light() -> None:
    code = "import sys, margin; print([n for n in ('duckdb', 'pandas', 'numpy', 'jax') if n in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
