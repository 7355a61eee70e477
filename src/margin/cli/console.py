"""Shared console, printing helpers and progress for the CLI."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

__all__ = [
    "console", "err_console", "fail", "fmt_number", "progress", "status", "write_json",
]  # fmt: skip

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


@contextmanager
def progress(message: str) -> Iterator[Callable[[int, int], None]]:
    """A spinner whose message counts the steps done, ``(done, total)`` (only on a terminal)."""
    if console.is_terminal:
        with console.status(message) as spinner:
            yield lambda done, total: spinner.update(f"{message} ({done}/{total})")
    else:
        yield lambda done, total: None


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")


def fmt_number(value: float) -> str:
    """A number for people: thousands separators, no exponent for ordinary magnitudes."""
    size = abs(value)
    if size >= 1e15 or (0 < size < 1e-4):
        return f"{value:.3g}"
    if size >= 1000:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:,.1f}"
    return f"{value:.3g}" if size < 1 else f"{value:.2f}"
