"""Shared console, printing helpers and progress for the CLI."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

__all__ = [
    "PIPED_WIDTH", "BusyWorkspaceNotice", "FitBar", "console", "err_console", "fail",
    "fmt_number", "install_name_notes", "install_wait_notice", "progress", "status", "write_json",
]  # fmt: skip

PIPED_WIDTH = 1000
"""Columns of output that is not a terminal (a pipe, a file) when ``COLUMNS`` is not set:
wide enough that tables are never cut (``recommen…``); a terminal keeps its own width."""


def _console(stderr: bool = False) -> Console:
    """A console; :data:`PIPED_WIDTH` wide when it writes to no terminal and ``COLUMNS`` is unset."""
    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty())
    wide = piped and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, highlight=False, width=PIPED_WIDTH if wide else None)


console = _console()
err_console = _console(stderr=True)


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


PHASE_NAMES = {"warmup": "warm-up", "sampling": "sampling", "optimizing": "optimizing"}
"""How a fit's phases (:data:`margin.mmm.inference.FitProgress`) read on the console."""
FINAL_PHASES = ("sampling", "optimizing")
"""Phases after which a fit only summarises its draws."""
LOG_EVERY = 30.0
"""Seconds between a fit's progress lines when stderr is no terminal."""


class FitBar:
    """Shows a fit's ``(phase, done, total)`` events on stderr: pass it as the fit's
    ``progress`` and run the fit inside ``with bar:``.

    On a terminal: a Rich bar per phase with iterations done, elapsed time and an ETA;
    otherwise a line every :data:`LOG_EVERY` seconds (none for a quick fit). Safe to
    call from the sampler's callback threads.
    """

    def __init__(self, out: Console | None = None) -> None:
        import threading
        import time

        self.out = out or err_console
        self._lock = threading.Lock()
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}
        self._started = self._logged = time.monotonic()

    def __enter__(self) -> FitBar:
        from rich import progress as rp

        if self.out.is_terminal:
            self._bar = rp.Progress(
                rp.TextColumn("{task.description}"), rp.BarColumn(), rp.MofNCompleteColumn(),
                rp.TimeElapsedColumn(), rp.TextColumn("ETA"), rp.TimeRemainingColumn(),
                console=self.out, transient=True,
            )  # fmt: skip
            self._bar.start()
            self._tasks["wait"] = self._bar.add_task("compiling the model", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def __call__(self, phase: str, done: int, total: int) -> None:
        import time

        name = PHASE_NAMES.get(phase, phase)
        with self._lock:
            if self._bar is not None:
                self._show(phase, name, done, total)
                return
            now = time.monotonic()
            if now - self._logged < LOG_EVERY:
                return
            self._logged = now
        self.out.print(f"{name}: {done}/{total} ({now - self._started:.0f} s)", soft_wrap=True)

    def _show(self, phase: str, name: str, done: int, total: int) -> None:
        """Move ``phase``'s bar; the spinner of what runs before and after the phases."""
        if "wait" in self._tasks:
            self._bar.remove_task(self._tasks.pop("wait"))
        if phase not in self._tasks:
            self._tasks[phase] = self._bar.add_task(name, total=total)
        self._bar.update(self._tasks[phase], completed=done, total=total)
        if done >= total and phase in FINAL_PHASES:
            self._tasks["wait"] = self._bar.add_task("summarising the draws", total=None)


class BusyWorkspaceNotice:
    """Tells a person that a command waits for a workspace another process holds.

    One line when the wait starts (who holds it, for how long margin waits), then a
    progress line: a live counter on a terminal, a line every 10 seconds otherwise. All
    on stderr, so ``--json`` output stays clean. See :mod:`margin.data.workspace.locking`.
    """

    def __init__(self, out: Console | None = None) -> None:
        self.out = out or err_console
        self._live: Any = None
        self._last_line = -1.0

    def waiting(self, path: Path, holder: str, waited: float, timeout: float) -> None:
        """Called when the wait starts and then about once a second."""
        from margin.data.workspace.locking import LOCK_TIMEOUT_ENV

        line = f"waiting for workspace {path.name}: {waited:.0f} s of {timeout:g} s"
        if self._last_line < 0:
            self.out.print(
                f"workspace {path} is busy: held by {holder}; waiting up to {timeout:g} s "
                f"for it ({LOCK_TIMEOUT_ENV} changes how long)",
                soft_wrap=True,
            )
            self._last_line = waited
            if self.out.is_terminal:
                self._live = self.out.status(line)
                self._live.start()
            return
        if self._live is not None:
            self._live.update(line)
        elif waited - self._last_line >= 10:
            self.out.print(line, soft_wrap=True)
            self._last_line = waited

    def finished(self, path: Path, waited: float, acquired: bool) -> None:
        """Called once at the end of a wait that was reported."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        if acquired:
            self.out.print(f"workspace {path.name} is free after {waited:.1f} s; going on")
        self._last_line = -1.0


class _NameNotes(logging.Handler):
    """Prints :data:`margin.checks.NAMES_LOGGER`'s notes (a name read in another case)."""

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        err_console.print(Text.assemble(("note: ", "yellow"), record.getMessage()), soft_wrap=True)


def install_name_notes() -> None:
    """Say on stderr when a channel name was read in another case ("channel 'TV' read as 'tv'")."""
    from margin.checks import NAMES_LOGGER

    logger = logging.getLogger(NAMES_LOGGER)
    if not any(isinstance(h, _NameNotes) for h in logger.handlers):
        logger.addHandler(_NameNotes())
    logger.setLevel(logging.INFO)


def install_wait_notice() -> None:
    """Report waits for a busy workspace on stderr (:class:`BusyWorkspaceNotice`)."""
    from margin.data.workspace.locking import set_reporter

    set_reporter(BusyWorkspaceNotice())


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
