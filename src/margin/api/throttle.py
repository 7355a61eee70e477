"""Throttling failed authentication per client address (a token bucket, in memory).

Each client address has a bucket of :data:`FAILURE_BURST` tokens; every failed
authentication (a wrong, unknown or revoked Bearer key, a malformed ``Authorization``
header, a wrong key at ``/login``) takes one, and one comes back every
:data:`REFILL_SECONDS`. With the bucket empty, every request from that address that
presents credentials is refused with 429 and ``Retry-After`` (without checking them, so
guessing learns nothing) until a token is back. Successful authentication takes nothing,
and requests without credentials are not counted.

So an address gets 10 wrong guesses at once, then one every 6 seconds: 600 an hour at
most, instead of the 250 a second an unthrottled server accepted. The state lives in the
server process (a restart forgets it). Behind a reverse proxy every client has the
proxy's address, so the limit is shared: put the limit in the proxy too.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["FAILURE_BURST", "MAX_CLIENTS", "REFILL_SECONDS", "FailureThrottle"]

FAILURE_BURST = 10
"""Failed authentications an address may make before it is throttled."""
REFILL_SECONDS = 6.0
"""One more failed attempt is allowed every this many seconds (10 a minute)."""
MAX_CLIENTS = 10_000
"""Addresses remembered at most; the ones with the fullest buckets are forgotten first."""


@dataclass
class FailureThrottle:
    """Per-address token buckets of failed authentications.

    Attributes:
        burst: bucket size (:data:`FAILURE_BURST`).
        refill_seconds: seconds per token (:data:`REFILL_SECONDS`).
        clock: monotonic seconds (injected in tests).
    """

    burst: int = FAILURE_BURST
    refill_seconds: float = REFILL_SECONDS
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _tokens(self, client: str, now: float) -> float:
        tokens, stamp = self._buckets.get(client, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - stamp) / self.refill_seconds)

    def retry_after(self, client: str) -> int | None:
        """Whole seconds until ``client`` may try again, or ``None`` when it may now."""
        with self._lock:
            now = self.clock()
            tokens = self._tokens(client, now)
        if tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - tokens) * self.refill_seconds))

    def failed(self, client: str) -> None:
        """Take one token from ``client``'s bucket."""
        with self._lock:
            now = self.clock()
            self._buckets[client] = (max(self._tokens(client, now) - 1.0, 0.0), now)
            if len(self._buckets) > MAX_CLIENTS:
                self._forget(now)

    def _forget(self, now: float) -> None:
        fullest = sorted(self._buckets, key=lambda c: -self._tokens(c, now))
        for client in fullest[: len(self._buckets) - MAX_CLIENTS // 2]:
            del self._buckets[client]
