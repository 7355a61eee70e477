"""Waiting for a busy workspace file instead of failing.

DuckDB lets one process at a time open a file for writing, and a reader is shut out
while a writer holds it (and the other way round). When :class:`~margin.data.workspace.store.Workspace`
finds the file held, :func:`connect` retries with backoff for a bounded time
(:data:`DEFAULT_LOCK_TIMEOUT`, or ``$MARGIN_LOCK_TIMEOUT`` seconds), says who holds it
(DuckDB's message carries the holder's PID; on Linux ``/proc/PID/cmdline`` names the
command, e.g. ``margin serve``) and reports progress through the installed
:class:`WaitReporter` (the CLI prints a line; a library user sees nothing). After the bound
it raises :class:`~margin.errors.WorkspaceBusyError` naming the holder.

``margin serve`` waits only briefly (:func:`wait_at_most` sets the bound for the code
run inside it) and answers 503 rather than keep a browser hanging.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from margin.errors import ConfigError, WorkspaceBusyError

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "DEFAULT_LOCK_TIMEOUT",
    "LOCK_TIMEOUT_ENV",
    "WaitReporter",
    "connect",
    "describe_holder",
    "is_lock_error",
    "lock_timeout",
    "set_reporter",
    "wait_at_most",
]

DEFAULT_LOCK_TIMEOUT = 60.0
"""Seconds a command waits for a workspace another process holds."""
LOCK_TIMEOUT_ENV = "MARGIN_LOCK_TIMEOUT"
_FIRST_PAUSE, _LONGEST_PAUSE = 0.05, 1.0
_PID = re.compile(r"\(PID (\d+)\)")
_BOUND: ContextVar[float | None] = ContextVar("margin_lock_timeout", default=None)


class WaitReporter(Protocol):
    """Told about a wait that lasts: after a second, then about once a second, then at its
    end (a wait shorter than a second goes unreported)."""

    def waiting(self, path: Path, holder: str, waited: float, timeout: float) -> None: ...

    def finished(self, path: Path, waited: float, acquired: bool) -> None: ...


_REPORTERS: list[WaitReporter] = []


def set_reporter(reporter: WaitReporter | None) -> None:
    """Install ``reporter`` for every later wait in this process (``None``: stay quiet)."""
    _REPORTERS[:] = [] if reporter is None else [reporter]


def lock_timeout() -> float:
    """The bound in seconds: :func:`wait_at_most`'s, else ``$MARGIN_LOCK_TIMEOUT``, else 60.

    Raises:
        ConfigError: ``$MARGIN_LOCK_TIMEOUT`` is not a number of seconds >= 0.
    """
    bound = _BOUND.get()
    if bound is not None:
        return bound
    raw = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value >= 0 and value != float("inf")):
        raise ConfigError(
            f"{LOCK_TIMEOUT_ENV}={raw!r} is not a number of seconds; set it to e.g. 120 "
            "(how long a command waits for a busy workspace) or unset it for the default 60"
        )
    return value


@contextmanager
def wait_at_most(seconds: float) -> Iterator[None]:
    """Within the block (this thread or task, and threads it hands work to), wait at most
    ``seconds`` for a busy workspace."""
    token = _BOUND.set(seconds)
    try:
        yield
    finally:
        _BOUND.reset(token)


def is_lock_error(err: BaseException) -> bool:
    """Whether ``err`` is DuckDB refusing a file another process holds."""
    return "could not set lock" in str(err).lower()


def _margin_command(argv: list[str]) -> str | None:
    """``margin <command> [<subcommand>]`` when ``argv`` runs margin's CLI, else ``None``."""
    for i, arg in enumerate(argv):
        name = os.path.basename(arg)
        entry = name == "margin" or (arg == "-m" and argv[i + 1 : i + 2] == ["margin.cli.main"])
        if entry:
            start = i + (2 if arg == "-m" else 1)
            words: list[str] = []
            for word in argv[start:]:
                if word.startswith("-") and not words:
                    continue  # options before the command (--debug)
                if word.startswith("-") or "/" in word or "." in word or len(words) == 2:
                    break
                words.append(word)
            return " ".join(["margin", *words])
    return None


def describe_holder(message: str) -> str:
    """Who holds the file, from DuckDB's lock message: ``\\`margin serve\\` (pid 123)``,
    ``process 123 (\\`python3\\`)``, ``process 123``, or ``another process`` (no PID)."""
    found = _PID.search(message)
    if found is None:
        return "another process"
    pid = int(found.group(1))
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"process {pid}"
    argv = [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]
    command = _margin_command(argv)
    if command is not None:
        return f"`{command}` (pid {pid})"
    return f"process {pid} (`{os.path.basename(argv[0])}`)" if argv else f"process {pid}"


def _busy(path: Path, holder: str, timeout: float) -> WorkspaceBusyError:
    waited = f" for {timeout:g} s" if timeout > 0 else ""
    return WorkspaceBusyError(
        f"workspace {path} is busy: held by {holder}{waited}. Wait for it to finish and retry; "
        f"set {LOCK_TIMEOUT_ENV}=<seconds> to wait longer (default {DEFAULT_LOCK_TIMEOUT:g})",
        holder=holder,
    )


def connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    """Open ``path`` with DuckDB, waiting up to :func:`lock_timeout` seconds while another
    process holds it.

    Raises:
        WorkspaceBusyError: still held after the bound (the message names the holder).
        duckdb.Error: any other failure to open (the caller words it).
    """
    import duckdb

    timeout = lock_timeout()
    reporter = _REPORTERS[0] if _REPORTERS else None
    started = time.monotonic()
    pause, reported, holder = _FIRST_PAUSE, 0.0, "another process"
    try:
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
            except duckdb.Error as err:
                if not is_lock_error(err):
                    raise
                holder = describe_holder(str(err))
                waited = time.monotonic() - started
                if waited >= timeout:
                    raise _busy(path, holder, timeout) from err
                if reporter is not None and waited - reported >= 1.0:
                    reporter.waiting(path, holder, waited, timeout)
                    reported = waited
                time.sleep(min(pause * random.uniform(0.8, 1.2), max(timeout - waited, 0.0)))
                pause = min(pause * 1.6, _LONGEST_PAUSE)
                continue
            if reported > 0 and reporter is not None:
                reporter.finished(path, time.monotonic() - started, True)
            return con
    except WorkspaceBusyError:
        if reported > 0 and reporter is not None:
            reporter.finished(path, time.monotonic() - started, False)
        raise
