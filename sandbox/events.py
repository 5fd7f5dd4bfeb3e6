"""How the sandbox tells a test what happened: a signal that wakes every waiter when state changes,
and holds that keep chosen requests on the wire until the test lets them go."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class Signal:
    """Wake every coroutine waiting for some state to change; no polling, no lost wake-ups."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def notify(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = None

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Return once ``predicate()`` holds; callers bound the wait with ``asyncio.timeout``."""
        while not predicate():
            if self._event is None:
                self._event = asyncio.Event()
            await self._event.wait()


class Hold:
    """Requests of one method that the sandbox keeps unanswered, before they take any effect, until
    the test releases them: a request on the wire, made to last as long as a test needs.

    The first ``after`` requests pass; later ones are parked. A parked request whose client hangs up
    ends as such (recorded with status 499, no effect), as a real one would.
    """

    def __init__(self, method: str, *, after: int, changed: Signal) -> None:
        self.method = method
        self.parked = 0
        self._passing = after
        self._changed = changed
        self._released = asyncio.Event()

    @property
    def released(self) -> bool:
        return self._released.is_set()

    async def gate(self) -> None:
        """Let the request through, or park it until :meth:`release`."""
        if self._released.is_set():
            return
        if self._passing > 0:
            self._passing -= 1
            return
        self.parked += 1
        self._changed.notify()
        try:
            await self._released.wait()
        finally:
            self.parked -= 1
            self._changed.notify()

    async def wait_parked(self, count: int, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until exactly ``count`` requests are parked (0: every parked one was let go or ended)."""
        try:
            async with asyncio.timeout(timeout):
                await self._changed.wait_for(lambda: self.parked == count)
        except TimeoutError:
            raise TimeoutError(f"{self.parked} {self.method} requests parked, not {count}") from None

    def release(self) -> None:
        """Let every parked request go on, and stop holding."""
        self._released.set()
