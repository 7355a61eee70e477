"""What the app holds between requests: where the workspace is, and a cache of loaded runs.

Workspace access. DuckDB lets one process write a file at a time, and ``margin refresh``
(cron) or ``margin keys create`` must still be able to write while ``margin serve`` runs.
Opening the file costs tens of milliseconds, too much for every request, and holding it
for the server's lifetime would lock those commands out. So the app opens the workspace
on the first request, shares that one connection between requests under a process-wide
lock (DuckDB shares one database instance per file inside a process; requests take
turns), and closes it after :data:`IDLE_CLOSE_SECONDS` without requests. Long
computations (an optimization, a scenario) run without the lock: read what is needed,
compute, take the lock again to record. When another process holds the file, the request
answers 503 with a message that says so, and a command run while the dashboard is busy
may have to wait a few seconds (it says so too).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from margin.data.workspace import Workspace
from margin.errors import WorkspaceError

__all__ = ["IDLE_CLOSE_SECONDS", "AppState", "WorkspaceBusyError"]

IDLE_CLOSE_SECONDS = 3.0
"""The shared connection is closed after this long without a request."""


class WorkspaceBusyError(WorkspaceError):
    """The workspace file is held by another process (a refresh, an ingest)."""


@dataclass
class AppState:
    """The app's per-process state.

    Attributes:
        workspace: the workspace file.
        secure_cookies: ``True``/``False`` forces the session cookie's ``Secure`` flag;
            ``None`` sets it unless the request came to a loopback host.
        cache: run id → loaded objects (response models, curves), invalidated when the
            run folder's files change.
    """

    workspace: Path
    secure_cookies: bool | None = None
    cache: dict[tuple[str, ...], tuple[float, Any]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    cache_lock: threading.Lock = field(default_factory=threading.Lock)
    compute_locks: dict[tuple[str, ...], threading.Lock] = field(default_factory=dict)

    _ws: Workspace | None = field(default=None, init=False, repr=False)
    _depth: int = field(default=0, init=False)
    _last_used: float = field(default=0.0, init=False)
    _timer: threading.Timer | None = field(default=None, init=False, repr=False)

    def _connect(self) -> Workspace:
        try:
            return Workspace(self.workspace)
        except WorkspaceError as err:
            if "lock" in str(err).lower():  # DuckDB: "Could not set lock on file ..."
                raise WorkspaceBusyError(
                    f"the workspace {self.workspace} is busy (another margin process such as "
                    "a refresh or an ingest is writing to it); try again in a moment"
                ) from err
            raise

    @contextmanager
    def open(self) -> Iterator[Workspace]:
        """The workspace, for the length of the ``with`` block (under the lock)."""
        with self.lock:
            if self._ws is None:
                self._ws = self._connect()
            self._depth += 1
            try:
                yield self._ws
            finally:
                self._depth -= 1
                self._last_used = time.monotonic()
                self._schedule_close(IDLE_CLOSE_SECONDS)

    def _schedule_close(self, delay: float) -> None:
        if self._timer is not None and self._timer.is_alive():
            return
        self._timer = threading.Timer(delay, self._close_if_idle)
        self._timer.daemon = True
        self._timer.start()

    def _close_if_idle(self) -> None:
        with self.lock:
            self._timer = None
            if self._ws is None:
                return
            idle = time.monotonic() - self._last_used
            if self._depth == 0 and idle >= IDLE_CLOSE_SECONDS:
                self.close()
            else:
                self._schedule_close(max(IDLE_CLOSE_SECONDS - idle, 0.05))

    def close(self) -> None:
        """Close the shared connection now (the next request opens it again)."""
        with self.lock:
            if self._ws is not None and self._depth == 0:
                self._ws.close()
                self._ws = None

    def cached(self, key: tuple[str, ...], stamp: float, build: Any) -> Any:
        """``build()`` once per ``key`` and ``stamp`` (a file's modification time).

        Concurrent requests for the same key wait for one build instead of repeating it.
        """
        with self.cache_lock:
            hit = self.cache.get(key)
            if hit is not None and hit[0] == stamp:
                return hit[1]
            lock = self.compute_locks.setdefault(key, threading.Lock())
        with lock:
            with self.cache_lock:
                hit = self.cache.get(key)
                if hit is not None and hit[0] == stamp:
                    return hit[1]
            value = build()
            with self.cache_lock:
                self.cache[key] = (stamp, value)
            return value
