"""Shared fixtures: a fresh workspace and a helper that writes input files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from margin.data.workspace import Workspace

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A new, empty workspace in a temporary folder."""
    with Workspace(tmp_path / "ws.duckdb") as workspace:
        yield workspace


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write text (UTF-8) or bytes to ``tmp_path / name`` and return the path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def shared_data() -> Path:
    """The peer reference datasets; skips the test when ../shared/data is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(
            f"peer reference data not found at {SHARED_DATA} (../shared/data beside the repo)"
        )
    return SHARED_DATA
