"""Telegram misbehaving on purpose: injected error answers, wrong answers, and 429s past a send rate.

An *error answer* (:meth:`Faults.fail_next`) is Telegram saying no: the call has no effect. A *wrong
answer* (:class:`Misanswer`, :meth:`Faults.misanswer_next`) is what the network and proxies do to a
call: an HTML error page from a gateway (no effect), or a call that Telegram carried out and whose
answer the bot then cannot use — cut short, with an unreadable field, never arriving before the bot
gives up, dropped mid-answer, or merely slow.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from sandbox.protocol import BLOCKED, ApiError

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: BLOCKED,
    404: "Not Found",
    409: "Conflict: injected failure",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class Fault:
    error_code: int
    description: str
    retry_after: int | None
    remaining: int


class Misanswer(StrEnum):
    HTML_500 = "html_500"
    """A gateway's HTML error page with status 500; the call never reached the Bot API (no effect)."""
    UNPARSABLE = "unparsable"
    """Carried out, then a 200 whose JSON body is cut in half."""
    MS_DATE = "ms_date"
    """Carried out, then a 200 whose ``date`` fields are in milliseconds (as some emulators answer)."""
    MISSING_FIELD = "missing_field"
    """Carried out, then a 200 whose result lacks a required field (``first_name``, else ``message_id``)."""
    READ_TIMEOUT = "read_timeout"
    """Carried out, then no answer at all until the client hangs up."""
    RESET = "reset"
    """Carried out, then the connection drops after the first bytes of the answer."""
    SLOW = "slow"
    """Carried out and answered correctly, after ``delay`` seconds."""

    @property
    def carried_out(self) -> bool:
        return self is not Misanswer.HTML_500


@dataclass
class Wrong:
    kind: Misanswer
    delay: float
    remaining: int


class TokenBucket:
    """``rate`` sends per second with a burst of one second's worth; answers how long to wait if empty."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def retry_after(self, now: float) -> int | None:
        self._refill(now)
        if self.tokens >= 1.0:
            return None
        return max(1, math.ceil((1.0 - self.tokens) / self.rate))

    def take(self) -> None:
        self.tokens -= 1.0


class Faults:
    """Errors queued per method (``"*"``: any method) and the rate buckets send* calls take from."""

    def __init__(self) -> None:
        self._faults: defaultdict[str, list[Fault]] = defaultdict(list)
        self._wrong: defaultdict[str, list[Wrong]] = defaultdict(list)
        self._global_bucket: TokenBucket | None = None
        self._chat_rate: float | None = None
        self._chat_buckets: dict[int, TokenBucket] = {}

    def fail_next(
        self, method: str, *, error_code: int, retry_after: int, description: str | None, count: int
    ) -> None:
        if error_code == 429:
            text = description or f"Too Many Requests: retry after {retry_after}"
            self._faults[method].append(Fault(error_code, text, retry_after, count))
        else:
            text = description or _DEFAULT_DESCRIPTIONS.get(error_code, "Error")
            self._faults[method].append(Fault(error_code, text, None, count))

    def apply(self, method: str) -> None:
        """Raise the next fault queued for ``method`` (or for any method), if there is one."""
        for key in (method, "*"):
            faults = self._faults.get(key)
            if faults:
                fault = faults[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.pop(0)
                raise ApiError(fault.error_code, fault.description, retry_after=fault.retry_after)

    def misanswer_next(self, method: str, kind: Misanswer, *, delay: float, count: int) -> None:
        self._wrong[method].append(Wrong(kind, delay, count))

    def take_misanswer(self, method: str) -> Wrong | None:
        """The wrong answer queued for ``method`` (or for any method), counted down, if there is one."""
        for key in (method, "*"):
            queued = self._wrong.get(key)
            if queued:
                wrong = queued[0]
                wrong.remaining -= 1
                if wrong.remaining <= 0:
                    queued.pop(0)
                return wrong
        return None

    def set_rate_limit(self, per_second: float | None, per_chat_per_second: float | None) -> None:
        self._global_bucket = TokenBucket(per_second) if per_second else None
        self._chat_rate = per_chat_per_second or None
        self._chat_buckets.clear()

    def take_send(self, chat_id: int) -> None:
        """Count one send to ``chat_id``, or answer 429 with how long to wait if a rate is spent."""
        now = time.monotonic()
        buckets = [b for b in (self._global_bucket, self._chat_bucket(chat_id)) if b is not None]
        waits = [wait for b in buckets if (wait := b.retry_after(now)) is not None]
        if waits:
            wait = max(waits)
            raise ApiError(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        for bucket in buckets:
            bucket.take()

    def _chat_bucket(self, chat_id: int) -> TokenBucket | None:
        if self._chat_rate is None:
            return None
        bucket = self._chat_buckets.get(chat_id)
        if bucket is None:
            bucket = self._chat_buckets[chat_id] = TokenBucket(self._chat_rate)
        return bucket
