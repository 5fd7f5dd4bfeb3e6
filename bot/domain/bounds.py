"""Bounds on the numbers people and files give: button data, command arguments, process files.

A number beyond what the database or the calendar can hold is refused where it comes in, with a
clear answer, instead of failing deep inside (an ``OverflowError`` from ``timedelta``, an out-of-range
integer from PostgreSQL).
"""

from __future__ import annotations

__all__ = ["MAX_ID", "plain_number"]

MAX_ID = 2**31 - 1
"""No row id or count is larger (the database's ``Integer``): a bigger reference names nothing."""


def plain_number(text: str, *, maximum: int = MAX_ID) -> int | None:
    """``text`` as a plain decimal number (ASCII digits only: ``"²"`` is a digit to
    :meth:`str.isdigit` and ``int("²")`` raises) of at most ``maximum``; None for anything else."""
    value = text.strip()
    if not value or not (value.isascii() and value.isdigit()) or len(value) > len(str(maximum)):
        return None
    number = int(value)
    return number if number <= maximum else None
