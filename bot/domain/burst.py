"""Counting one person's messages in a sliding minute, so a burst is stored whole but acknowledged once."""

from __future__ import annotations

import time
from collections import deque

BURST_LIMIT = 20
BURST_WINDOW = 60.0


class BurstGuard:
    """Counts messages per user in a sliding minute."""

    def __init__(self, limit: int = BURST_LIMIT, window: float = BURST_WINDOW) -> None:
        self.limit, self.window = limit, window
        self._seen: dict[int, deque[float]] = {}
        self._noticed: dict[int, float] = {}

    def record(self, user_id: int, now: float | None = None) -> bool:
        """Count a message; True when this one is over the limit."""
        now = time.monotonic() if now is None else now
        seen = self._seen.setdefault(user_id, deque())
        while seen and seen[0] <= now - self.window:
            seen.popleft()
        seen.append(now)
        if len(self._seen) > 10_000:
            self._seen = {uid: q for uid, q in self._seen.items() if q and q[-1] > now - self.window}
        return len(seen) > self.limit

    def should_notice(self, user_id: int, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        if now - self._noticed.get(user_id, -1e9) < self.window:
            return False
        self._noticed[user_id] = now
        return True

    def over(self, user_id: int) -> bool:
        seen = self._seen.get(user_id)
        return seen is not None and len(seen) > self.limit
