"""Cooperative cancellation of long computations (optimizations, frontiers).

A caller that may lose interest (``margin serve``: the client closed the connection, or
the server is shutting down) runs the work inside :func:`cancel_when` with a function
that says why to stop (or ``None`` to go on). Long loops call :func:`checkpoint`, which
costs one context-variable read when nothing was set up, and raises
:class:`WorkCancelledError` once the function gives a reason. The setting follows
the context (the thread or task that set it, and work handed to threads through
:func:`contextvars.copy_context`, as Starlette's thread pool does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from margin.errors import MarginError

__all__ = ["WorkCancelledError", "cancel_when", "checkpoint"]

StopReason = Callable[[], str | None]
_STOP: ContextVar[StopReason | None] = ContextVar("margin_stop_reason", default=None)


class WorkCancelledError(MarginError, RuntimeError):
    """A computation stopped at a checkpoint because its caller asked it to."""


@contextmanager
def cancel_when(reason: StopReason) -> Iterator[None]:
    """Within the block, :func:`checkpoint` raises once ``reason()`` returns a reason."""
    token = _STOP.set(reason)
    try:
        yield
    finally:
        _STOP.reset(token)


def checkpoint() -> None:
    """Raise :class:`WorkCancelledError` if the surrounding :func:`cancel_when` says stop."""
    reason = _STOP.get()
    if reason is None:
        return
    why = reason()
    if why is not None:
        raise WorkCancelledError(f"stopped: {why}")
