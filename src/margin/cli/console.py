"""Shared console, printing helpers and progress for the CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

__all__ = ["console", "err_console", "fail", "status", "write_json"]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print an error for a person (no traceback) and exit with ``code``."""
    from rich.text import Text

    err_console.print(Text.assemble(("error: ", "bold red"), message), soft_wrap=True)
    sys.exit(code)


@contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner while a step runs (only on a terminal)."""
    if console.is_terminal:
        with console.status(message):
            yield
    else:
        yield


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
