"""In-memory sliding-window-counter rate limits and their IETF headers.

The counter keeps, per identity, the hits of the current fixed window and of the
previous one, and estimates the rolling count as ``previous * (1 - elapsed/w) +
current`` (the strategy Cloudflare and the ``limits`` package call sliding window
counter): O(1) memory per identity, with no burst at window edges. State lives in
the app (one process); several workers each enforce their own share.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable

from causality.api.settings import RatePolicy


@dataclasses.dataclass(frozen=True)
class RateDecision:
    """The outcome of one hit: allowed or not, and the header values."""

    policy: RatePolicy
    allowed: bool
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        """``RateLimit-Policy`` and ``RateLimit`` (draft 11), plus ``Retry-After`` on a refusal.

        Examples
        --------
        >>> d = RateDecision(RatePolicy("default", 100, 1), True, 57, 1)
        >>> d.headers()["RateLimit"]
        '"default";r=57;t=1'
        """
        out = {
            "RateLimit-Policy": self.policy.header(),
            "RateLimit": f'"{self.policy.name}";r={self.remaining};t={self.reset_s}',
        }
        if not self.allowed:
            out["Retry-After"] = str(max(1, self.reset_s))
        return out


class RateLimiter:
    """Sliding-window counters keyed by (policy, identity); thread-safe.

    Parameters
    ----------
    enabled : bool
        When False every hit is allowed (headers are still computed).
    clock : callable
        Monotonic seconds; tests inject a fake one.

    Examples
    --------
    >>> now = [0.0]
    >>> limiter = RateLimiter(clock=lambda: now[0])
    >>> policy = RatePolicy("p", 2, 1)
    >>> [limiter.hit(policy, "k").allowed for _ in range(3)]
    [True, True, False]
    >>> now[0] = 2.5  # two windows later the previous window has expired
    >>> limiter.hit(policy, "k").allowed
    True
    """

    def __init__(self, *, enabled: bool = True, clock: Callable[[], float] = time.monotonic):
        self.enabled = enabled
        self._clock = clock
        self._lock = threading.Lock()
        # (policy name, identity) -> [window index, hits in it, hits in the previous one,
        # time of the last hit]
        self._windows: dict[tuple[str, str], list[float]] = {}
        self._last_prune = 0.0

    def hit(self, policy: RatePolicy, identity: str) -> RateDecision:
        """Count one request of ``identity`` under ``policy`` unless it is over the limit."""
        now = self._clock()
        index, offset = divmod(now, policy.window)
        index = int(index)
        with self._lock:
            self._prune(now)
            slot = self._windows.setdefault((policy.name, identity), [index, 0, 0, now])
            slot[3] = now
            if slot[0] != index:
                slot[2] = slot[1] if slot[0] == index - 1 else 0
                slot[1] = 0
                slot[0] = index
            weight = 1.0 - offset / policy.window
            estimate = slot[2] * weight + slot[1]
            allowed = not self.enabled or estimate + 1 <= policy.quota
            if allowed:
                slot[1] += 1
                estimate += 1
        reset = max(1, math.ceil(policy.window - offset))
        remaining = max(0, math.floor(policy.quota - estimate))
        return RateDecision(policy, allowed, remaining, reset)

    def peek(self, policy: RatePolicy, identity: str) -> RateDecision:
        """The state of ``identity`` under ``policy`` without counting a hit."""
        now = self._clock()
        index, offset = divmod(now, policy.window)
        with self._lock:
            slot = self._windows.get((policy.name, identity))
            if slot is None:
                estimate = 0.0
            elif slot[0] == index:
                estimate = slot[2] * (1.0 - offset / policy.window) + slot[1]
            elif slot[0] == index - 1:
                estimate = slot[1] * (1.0 - offset / policy.window)
            else:
                estimate = 0.0
        reset = max(1, math.ceil(policy.window - offset))
        return RateDecision(policy, True, max(0, math.floor(policy.quota - estimate)), reset)

    def _prune(self, now: float) -> None:
        """Drop identities idle for two minutes, at most once a minute (bounded memory)."""
        if now - self._last_prune < 60:
            return
        self._last_prune = now
        # Policies have windows of at most 60 s, so two idle minutes clear both windows.
        stale = [key for key, slot in self._windows.items() if now - slot[3] > 120]
        for key in stale:
            del self._windows[key]
