"""The open dialogue of a user (/idea, /announce, a check-in comment…), one typed value per flow.

It is stored as JSON on the user row (``User.state``) so it survives a restart of the bot; the JSON
shape, ``{"flow": <name>, …fields}``, is the one earlier versions wrote, so a dialogue opened before
an upgrade goes on after it. :func:`load` and :func:`save` are the only readers and writers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, cast

from bot.domain.bounds import plain_number
from storage.models import User

FormFlow = Literal["newprocess", "idea", "experiment", "loop"]
FORM_FLOWS: tuple[FormFlow, ...] = ("newprocess", "idea", "experiment", "loop")


@dataclass(frozen=True)
class Form:
    """A form of several questions: the step that comes next and what was collected so far."""

    flow: FormFlow
    step: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"flow": self.flow, "step": self.step, "data": dict(self.data)}

    def at(self, step: str, data: Mapping[str, Any] | None = None) -> Form:
        """The same form at ``step``, with ``data`` when given (else what was collected)."""
        return Form(self.flow, step, dict(self.data if data is None else data))


@dataclass(frozen=True)
class Announcement:
    """/announce: waiting for the text, then for the confirmation of ``text``."""

    flow: ClassVar[str] = "announce"
    step: Literal["text", "confirm"] = "text"
    text: str = ""

    def to_json(self) -> dict[str, Any]:
        if self.step == "text":
            return {"flow": self.flow, "step": "text"}
        return {"flow": self.flow, "step": self.step, "text": self.text}


@dataclass(frozen=True)
class Comment:
    """After a quick reply: the next message comments on the answer ``submission``."""

    flow: ClassVar[str] = "comment"
    submission: int | None
    delivery: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"flow": self.flow, "submission": self.submission, "delivery": self.delivery}


@dataclass(frozen=True)
class Observing:
    """After /observe: the next message is an observation, whatever prompts are open."""

    flow: ClassVar[str] = "observe"

    def to_json(self) -> dict[str, Any]:
        return {"flow": self.flow}


@dataclass(frozen=True)
class Joining:
    """Between accepting the privacy notice and choosing a language."""

    flow: ClassVar[str] = "joining"

    def to_json(self) -> dict[str, Any]:
        return {"flow": self.flow}


@dataclass(frozen=True)
class Responding:
    """After "respond" under a shared observation: the next message goes to its author, whatever
    else was open; ``previous`` is that other dialogue, opened again afterwards."""

    flow: ClassVar[str] = "respond"
    submission: int | None
    previous: Mapping[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "submission": self.submission,
            "previous": dict(self.previous or {}) or None,
        }


Dialogue = Form | Announcement | Comment | Observing | Joining | Responding


def _int(value: object) -> int | None:
    if isinstance(value, int):
        return value
    return plain_number(value) if isinstance(value, str) else None


def parse(raw: Mapping[str, Any] | None) -> Dialogue | None:
    """The dialogue stored as ``raw``; None when there is none or its flow is not known."""
    if not raw:
        return None
    name = raw.get("flow")
    if name in FORM_FLOWS:
        step = raw.get("step")
        data = raw.get("data")
        return Form(
            cast(FormFlow, name),
            str(step) if step is not None else None,
            dict(data) if isinstance(data, Mapping) else {},
        )
    if name == Announcement.flow:
        confirm = raw.get("step") == "confirm"
        return Announcement("confirm" if confirm else "text", str(raw.get("text") or ""))
    if name == Comment.flow:
        return Comment(_int(raw.get("submission")), _int(raw.get("delivery")))
    if name == Observing.flow:
        return Observing()
    if name == Joining.flow:
        return Joining()
    if name == Responding.flow:
        previous = raw.get("previous")
        return Responding(
            _int(raw.get("submission")), dict(previous) if isinstance(previous, Mapping) else None
        )
    return None


def load(user: User | None) -> Dialogue | None:
    return parse(user.state) if user is not None else None


def save(user: User, dialogue: Dialogue | None) -> None:
    """Open ``dialogue`` (replacing any other), or close the open one with None."""
    user.state = dialogue.to_json() if dialogue is not None else None


def cancel(user: User) -> bool:
    """/cancel: close whatever is stored, even a dialogue this version does not know. False when
    there was nothing."""
    if not user.state:
        return False
    user.state = None
    return True


def flow_name(user: User | None) -> str | None:
    dialogue = load(user)
    return dialogue.flow if dialogue is not None else None
