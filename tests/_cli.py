"""Running the real ``margin`` entry point in a subprocess, for CLI tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def margin(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``margin ARGS…`` (``margin.cli.main.run``) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "margin.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "PYTHONHASHSEED": "0"},
        check=False,
    )
