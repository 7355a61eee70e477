"""What the app holds between requests: where the workspace is, a cache of loaded runs,
the failed-login throttle, the pending audit rows and the stop signal.

Workspace access. DuckDB lets one process write a file at a time, and a reader is shut
out while a writer holds it (and the other way round). ``margin refresh`` (cron),
``margin ingest`` or ``margin keys revoke`` must be able to run while ``margin serve``
does, so the app holds the file only while a request uses it: :meth:`AppState.open`
opens it for the length of a ``with`` block and closes it when the last block in the
process ends (requests take turns on it under one lock; DuckDB connections are not
shared between threads). Long computations (an optimization, a scenario) run without
it: read what is needed, compute, open it again to record.

When the workspace is busy (another process holds it, or a refresh started from the
dashboard runs) a request waits :data:`SERVER_LOCK_WAIT` seconds at most and then
answers 503 with ``Retry-After`` and who holds it. Its audit row then goes to the
pending journal (:class:`~margin.api.audit.PendingAudit`) and a background thread
writes it as soon as the file is free.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from margin.api.audit import AuditEntry, PendingAudit, record
from margin.api.throttle import FailureThrottle
from margin.data.workspace.locking import wait_at_most
from margin.data.workspace.store import Workspace
from margin.errors import WorkspaceBusyError

__all__ = ["RETRY_AFTER_SECONDS", "SERVER_LOCK_WAIT", "AppState", "WorkspaceBusyError"]

SERVER_LOCK_WAIT = 3.0
"""Seconds a request waits for a busy workspace before it answers 503."""
RETRY_AFTER_SECONDS = 5
"""The ``Retry-After`` of a 503 (workspace busy, server stopping)."""
_FLUSH_PAUSES = (0.2, 0.5, 1.0, 2.0)

_log = logging.getLogger("margin.api")


@dataclass
class AppState:
    """The app's per-process state.

    Attributes:
        workspace: the workspace file.
        secure_cookies: ``True``/``False`` forces the session cookie's ``Secure`` flag;
            ``None`` sets it unless the request came to a loopback host.
        cache: run id → loaded objects (response models, curves), invalidated when the
            run folder's files change.
        throttle: failed authentications per client address (:mod:`margin.api.throttle`).
        pending: audit rows waiting for the workspace.
        stopping: set when the server shuts down; running computations stop at their
            next checkpoint (:mod:`margin.cancellation`).
    """

    workspace: Path
    secure_cookies: bool | None = None
    cache: dict[tuple[str, ...], tuple[float, Any]] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)
    cache_lock: threading.Lock = field(default_factory=threading.Lock)
    compute_locks: dict[tuple[str, ...], threading.Lock] = field(default_factory=dict)
    throttle: FailureThrottle = field(default_factory=FailureThrottle)
    stopping: threading.Event = field(default_factory=threading.Event)
    pending: PendingAudit = field(init=False)
    holder: str | None = field(default=None, init=False)
    """What holds the workspace inside this server for long (a dashboard refresh), if anything."""

    _ws: Workspace | None = field(default=None, init=False, repr=False)
    _depth: int = field(default=0, init=False)
    _flusher: threading.Thread | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.pending = PendingAudit(self.workspace)

    def busy(self, holder: str) -> WorkspaceBusyError:
        """The error a request gets when the workspace stays busy."""
        return WorkspaceBusyError(
            f"the workspace is busy: held by {holder}; try again in {RETRY_AFTER_SECONDS} seconds",
            holder=holder,
        )

    @contextmanager
    def open(self, wait: float = SERVER_LOCK_WAIT) -> Iterator[Workspace]:
        """The workspace, for the length of the ``with`` block (blocks nest; the file is
        closed when the outermost ends).

        Raises:
            WorkspaceBusyError: still busy after ``wait`` seconds.
        """
        if not self.lock.acquire(timeout=wait):
            raise self.busy(self.holder or "another request of this server")
        try:
            if self._ws is None:
                try:
                    with wait_at_most(wait):
                        self._ws = Workspace(self.workspace)
                except WorkspaceBusyError as err:
                    raise self.busy(err.holder) from err
                self._flush_pending(self._ws)
            self._depth += 1
            try:
                yield self._ws
            finally:
                self._depth -= 1
                if self._depth == 0 and self._ws is not None:
                    self._ws.close()
                    self._ws = None
        finally:
            self.lock.release()

    @contextmanager
    def exclusive(self, holder: str, wait: float = SERVER_LOCK_WAIT) -> Iterator[None]:
        """Keep other requests of this server off the workspace for the block (they get
        503 naming ``holder``); the file itself stays closed unless the block opens it."""
        if not self.lock.acquire(timeout=wait):
            raise self.busy(self.holder or "another request of this server")
        previous, self.holder = self.holder, holder
        try:
            yield
        finally:
            self.holder = previous
            self.lock.release()

    # -- audit rows -----------------------------------------------------------------------
    def audit(self, entry: AuditEntry, *, wait: float = SERVER_LOCK_WAIT) -> None:
        """Write ``entry`` now if the workspace is free within ``wait`` seconds (and no
        earlier row waits), else journal it and write it in the background."""
        if wait > 0 and not self.pending.waiting():
            try:
                with self.open(wait) as ws:
                    record(ws, entry)
                return
            except WorkspaceBusyError:
                pass
            except Exception:  # a damaged file must not lose the row: journal it
                _log.exception("could not write an audit row; it waits in %s", self.pending.path)
        self.pending.add(entry)
        self._start_flusher()

    def _flush_pending(self, ws: Workspace) -> None:
        try:
            if self.pending.waiting():
                self.pending.flush(ws)
        except Exception:  # the request goes on; the rows stay in the journal
            _log.exception("could not move pending audit rows from %s", self.pending.path)

    def _start_flusher(self) -> None:
        with self.cache_lock:
            if self._flusher is not None and self._flusher.is_alive():
                return
            self._flusher = threading.Thread(
                target=self._flush_loop, name="margin-audit-flush", daemon=True
            )
            self._flusher.start()

    def _flush_loop(self) -> None:
        attempt = 0
        while self.pending.waiting() and not self.stopping.is_set():
            time.sleep(_FLUSH_PAUSES[min(attempt, len(_FLUSH_PAUSES) - 1)])
            attempt += 1
            if self._try_flush(SERVER_LOCK_WAIT):
                return

    def _try_flush(self, wait: float) -> bool:
        """Open the workspace once (which flushes); ``False`` when it stayed busy."""
        try:
            with self.open(wait):
                return True
        except WorkspaceBusyError:
            return False

    def flush_audit(self, wait: float) -> int:
        """Write the pending rows now, waiting up to ``wait`` seconds; returns how many
        still wait (they stay in the journal for the next start)."""
        deadline = time.monotonic() + wait
        while self.pending.waiting():
            if self._try_flush(max(min(deadline - time.monotonic(), 1.0), 0.0)):
                break
            if time.monotonic() >= deadline:
                break
        return len(self.pending)

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
