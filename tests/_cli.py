"""Running the real ``margin`` entry point in a subprocess, for CLI tests.

No CLI test may depend on the terminal's layout (where Rich wraps a line or a table cell):
tests assert on ``--out`` JSON, on the workspace, or on text printed outside tables with its
whitespace collapsed (:func:`words`). The command sees the caller's ``COLUMNS`` when it is set,
so ``COLUMNS=40 pytest …`` and ``COLUMNS=250 pytest …`` check that; 200 otherwise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEFAULT_COLUMNS = "200"
"""The terminal width a command sees when the test run sets no ``COLUMNS``."""


def margin(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``margin ARGS…`` (``margin.cli.main.run``) and capture its output."""
    columns = os.environ.get("COLUMNS", DEFAULT_COLUMNS)
    return subprocess.run(
        [sys.executable, "-m", "margin.cli.main", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={
            "PATH": "/usr/bin:/bin",
            "COLUMNS": columns,
            "PYTHONHASHSEED": "0",
            # hashing keys go where conftest's private_config says, never into the real home
            "XDG_CONFIG_HOME": os.environ["XDG_CONFIG_HOME"],
        },
        check=False,
    )


def words(text: str) -> str:
    """``text`` with every run of whitespace as one space: a printed sentence, however wrapped."""
    return " ".join(text.split())
