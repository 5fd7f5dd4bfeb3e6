"""The closed sets of state words stored as strings: a delivery's state, a message's kind, consent.

Each is a :class:`~enum.StrEnum`, so a member compares equal to, hashes like and is stored as its
value: the database columns stay plain strings and need no migration.
"""

from __future__ import annotations

from enum import StrEnum


class DeliveryState(StrEnum):
    """Where one prompt for one participant (a row of the outbox) stands.

    ``pending`` → ``sending`` (claimed) → ``sent`` → ``answered``; a claim can also end ``failed`` or
    go back to ``pending``; an unsent row can become ``expired`` (its window closed) or
    ``cancelled`` (paused, unreachable, or the prompt left the programme). A send whose outcome
    cannot be known (a read timeout, a reset, an unreadable answer) goes back to ``pending`` once,
    after a pause; a second such send ends ``ambiguous``: it may have arrived, it is not sent again.
    A claimed ``highlights`` row ends ``skipped`` when its participant was introduced to a pair in
    that phase's round (one cross-organisation message a phase): never sent, retried or re-planned,
    and not counted as delivered.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    ANSWERED = "answered"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    AMBIGUOUS = "ambiguous"
    SKIPPED = "skipped"


FIXED_STATES = (
    DeliveryState.SENDING,
    DeliveryState.SENT,
    DeliveryState.ANSWERED,
    DeliveryState.FAILED,
    DeliveryState.AMBIGUOUS,
    DeliveryState.SKIPPED,
)
"""Rows that re-planning never touches: on their way out, out (perhaps), given up, or left out on purpose."""
REPLANNABLE_STATES = (DeliveryState.PENDING, DeliveryState.EXPIRED, DeliveryState.CANCELLED)
COUNTED_STATES = (DeliveryState.SENDING, DeliveryState.SENT, DeliveryState.ANSWERED, DeliveryState.AMBIGUOUS)
"""Rows that count towards a participant's daily cap."""
DELIVERED_STATES = (DeliveryState.SENT, DeliveryState.ANSWERED)
"""Rows whose message reached the participant (answer rates count these)."""


class DeliveryKind(StrEnum):
    """What the dispatcher sends for a delivery: the prompt itself, or its one reminder; and the
    programme kinds the message budget counts by name (``highlights``: what others noticed,
    rendered for each participant when it is sent)."""

    PROMPT = "prompt"
    REMINDER = "reminder"
    HIGHLIGHTS = "highlights"


class Consent(StrEnum):
    """A user's answer to the privacy notice (``users.consent``)."""

    PENDING = "pending"
    GIVEN = "given"
    DECLINED = "declined"
