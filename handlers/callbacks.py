"""Callback data of every inline button: one dataclass per kind of button, with its wire format.

``encode()`` builds the ``callback_data`` string, ``decode()`` reads it back (``None`` when it is
malformed or stale), and ``pattern()`` is the regular expression its ``CallbackQueryHandler`` is
registered with. The wire format is the one buttons already sent in chats carry (a two-letter
prefix and ``:``-separated fields), so it must not change. Telegram allows 64 bytes.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal, Self, cast

from telegram import Update

from bot.domain.bounds import plain_number
from bot.domain.sharing import SHARE_LEVELS
from bot.render.prompt import QUICK_REPLY_PREFIX
from bot.render.sharing import HIGHLIGHT_SUPPORT_PREFIX, RECOGNISE_PREFIX, RESPOND_PREFIX
from bot.services.contributions import THEMES
from bot.services.people import ROLES
from messages import LANGUAGES

MAX_BYTES = 64


class Callback(ABC):
    """A kind of button. Subclasses set ``PREFIX`` and implement ``encode`` and ``_parse``."""

    PREFIX: ClassVar[str]
    # Whole-data match for kinds that have exactly one value; otherwise every "<prefix>:…".
    EXACT: ClassVar[bool] = False

    @abstractmethod
    def encode(self) -> str:
        """The button's ``callback_data`` (at most :data:`MAX_BYTES`)."""

    @classmethod
    def pattern(cls) -> str:
        return rf"^{cls.PREFIX}:go$" if cls.EXACT else rf"^{cls.PREFIX}:"

    @classmethod
    def decode(cls, data: str | None) -> Self | None:
        parts = (data or "").split(":")
        if parts[0] != cls.PREFIX:
            return None
        return cls._parse(parts[1:])

    @classmethod
    @abstractmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        """The button from the fields after its prefix; ``None`` when they do not make one."""

    @classmethod
    def of(cls, update: Update) -> Self | None:
        """The pressed button of ``update``, if it is one of this kind."""
        query = update.callback_query
        return cls.decode(query.data) if query is not None else None


def _number(value: str) -> int | None:
    return plain_number(value) if value == value.strip() else None


def _numbers(fields: list[str], count: int) -> list[int] | None:
    """Exactly ``count`` fields, each a :func:`_number`."""
    numbers = [_number(field) for field in fields]
    if len(numbers) != count or any(number is None for number in numbers):
        return None
    return [number for number in numbers if number is not None]


@dataclass(frozen=True)
class YesNo(Callback):
    """A confirmation: ``<prefix>:<yes word>`` confirms, anything else under the prefix declines."""

    confirmed: bool
    YES: ClassVar[str]
    NO: ClassVar[str]

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.YES if self.confirmed else self.NO}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        return cls(fields[:1] == [cls.YES])


@dataclass(frozen=True)
class AnnounceChoice(YesNo):
    PREFIX = "an"
    YES, NO = "send", "no"


@dataclass(frozen=True)
class LoopChoice(YesNo):
    PREFIX = "lp"
    YES, NO = "send", "no"


@dataclass(frozen=True)
class ForgetChoice(YesNo):
    PREFIX = "fg"
    YES, NO = "yes", "no"


@dataclass(frozen=True)
class NewProcessChoice(YesNo):
    PREFIX = "np"
    YES, NO = "yes", "no"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        return cls(fields == [cls.YES])


@dataclass(frozen=True)
class NewProcessReminders(Callback):
    """/newprocess: how many automatic reminders a participant may get a week (0, 1 or 2)."""

    PREFIX = "nr"
    CHOICES: ClassVar[tuple[int, ...]] = (0, 1, 2)
    per_week: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.per_week}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        number = _number(fields[0]) if len(fields) == 1 else None
        return cls(number) if number in cls.CHOICES else None


@dataclass(frozen=True)
class ShowName(YesNo):
    PREFIX = "nm"
    YES, NO = "y", "n"


@dataclass(frozen=True)
class QuickReply(Callback):
    """A check-in option under a delivered prompt (built by ``bot.render.prompt``)."""

    PREFIX = QUICK_REPLY_PREFIX
    delivery_id: int
    option: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.delivery_id}:{self.option}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        numbers = _numbers(fields, 2)
        return None if numbers is None else cls(numbers[0], numbers[1])


@dataclass(frozen=True)
class ProgrammeDownload(Callback):
    PREFIX = "pg"

    def encode(self) -> str:
        return f"{self.PREFIX}:dl"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        return cls()


@dataclass(frozen=True)
class NudgePick(Callback):
    PREFIX = "nu"
    prompt_id: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.prompt_id}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        number = _number(fields[0]) if len(fields) == 1 else None
        return None if number is None else cls(number)


@dataclass(frozen=True)
class SchedulePage(Callback):
    """A later page of /schedule; a malformed offset is the first page."""

    PREFIX = "sc"
    offset: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.offset}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        number = _number(fields[0]) if len(fields) == 1 else None
        return cls(number or 0)


@dataclass(frozen=True)
class IdeasPage(Callback):
    PREFIX = "ip"
    page: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.page}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        return cls((_number(fields[0]) if fields else None) or 0)


@dataclass(frozen=True)
class SupportIdea(Callback):
    """Support toggled from the idea list (on ``page``) or from the similar-idea check (no page)."""

    PREFIX = "su"
    idea_id: int
    page: int | None

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.idea_id}:{'s' if self.page is None else self.page}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        idea_id = _number(fields[0]) if len(fields) == 2 else None
        if idea_id is None:
            return None
        page = None if fields[1] == "s" else (_number(fields[1]) or 0)
        return cls(idea_id, page)


@dataclass(frozen=True)
class ContinueMine(Callback):
    """Go on with one's own idea after the similar-idea check."""

    PREFIX = "id"
    EXACT = True

    def encode(self) -> str:
        return f"{self.PREFIX}:go"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        return cls() if fields == ["go"] else None


@dataclass(frozen=True)
class ExperimentPick(Callback):
    """The idea an experiment tries out; 0 is a new experiment of its own."""

    PREFIX = "ex"
    idea_id: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.idea_id}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        number = _number(fields[0]) if len(fields) == 1 else None
        return None if number is None else cls(number)


@dataclass(frozen=True)
class DigestExport(Callback):
    """Under a weekly digest: the export of that process."""

    PREFIX = "dg"
    process_id: int

    def encode(self) -> str:
        return f"{self.PREFIX}:x:{self.process_id}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        process_id = _number(fields[1]) if len(fields) == 2 and fields[0] == "x" else None
        return None if process_id is None else cls(process_id)


@dataclass(frozen=True)
class HideChoice(Callback):
    """``h`` hides one of several references, ``u`` restores a hidden one."""

    PREFIX = "hd"
    action: Literal["h", "u"]
    ref: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.action}:{self.ref}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        ref = _number(fields[1]) if len(fields) == 2 else None
        if ref is None:
            return None
        if fields[0] == "h":
            return cls("h", ref)
        if fields[0] == "u":
            return cls("u", ref)
        return None


@dataclass(frozen=True)
class Consent(Callback):
    """The privacy notice answered for the invite ``code``."""

    PREFIX = "cs"
    accepted: bool
    code: str

    def encode(self) -> str:
        return f"{self.PREFIX}:{'y' if self.accepted else 'n'}:{self.code}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        answer, code = [*fields, "", ""][:2]
        return cls(answer == "y", code)


@dataclass(frozen=True)
class LanguagePick(Callback):
    PREFIX = "lg"
    lang: str

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.lang}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        return cls(fields[0]) if fields and fields[0] in LANGUAGES else None


@dataclass(frozen=True)
class OrganisationPick(Callback):
    PREFIX = "og"
    organisation_id: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.organisation_id}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        number = _number(fields[0]) if fields else None
        return None if number is None else cls(number)


@dataclass(frozen=True)
class RolePick(Callback):
    PREFIX = "rl"
    role: str

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.role}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        return cls(fields[0]) if fields and fields[0] in ROLES else None


@dataclass(frozen=True)
class ActiveProcess(Callback):
    """The membership to make active (/switch)."""

    PREFIX = "ap"
    membership_id: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.membership_id}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        number = _number(fields[0]) if fields else None
        return None if number is None else cls(number)


@dataclass(frozen=True)
class ObservationAction(Callback):
    """A button under an observation: a theme (``th`` with a known ``theme``), anonymity (``anon``),
    refile as an idea (``idea``) or as an answer (``ans``). An unknown action or theme still decodes,
    and the handler calls it stale."""

    PREFIX = "ob"
    submission_id: int
    action: str
    theme: str | None = None

    def encode(self) -> str:
        theme = f":{self.theme}" if self.theme is not None else ""
        return f"{self.PREFIX}:{self.submission_id}:{self.action}{theme}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        submission_id = _number(fields[0]) if len(fields) >= 2 else None
        if submission_id is None:
            return None
        theme = fields[2] if len(fields) > 2 and fields[2] in THEMES else None
        return cls(submission_id, fields[1], theme)


@dataclass(frozen=True)
class AnswerChoice(Callback):
    """Which open prompt a message answers (``delivery_id``), or 0: it is an observation."""

    PREFIX = "aw"
    submission_id: int
    delivery_id: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.submission_id}:{self.delivery_id}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        numbers = _numbers(fields, 2)
        return None if numbers is None else cls(numbers[0], numbers[1])


@dataclass(frozen=True)
class ShareToggle(Callback):
    """Under an observation's acknowledgement: ``t`` shares or unshares; in the first-share
    question ``l`` confirms ``level``, ``n`` declines."""

    PREFIX = "sa"
    submission_id: int
    action: Literal["t", "l", "n"]
    level: str | None = None

    def encode(self) -> str:
        level = f":{self.level}" if self.action == "l" and self.level else ""
        return f"{self.PREFIX}:{self.submission_id}:{self.action}{level}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        if len(fields) < 2 or not fields[0].isdigit():
            return None
        sid, action = int(fields[0]), fields[1]
        if action == "t":
            return cls(sid, "t")
        if action == "n":
            return cls(sid, "n")
        if action == "l" and len(fields) == 3 and fields[2] in SHARE_LEVELS:
            return cls(sid, "l", fields[2])
        return None


@dataclass(frozen=True)
class SharedPage(Callback):
    """/shared from ``offset``, filtered by ``theme`` (``None``: every theme)."""

    PREFIX = "sp"
    offset: int
    theme: str | None

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.offset}:{self.theme or '-'}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        offset = (_number(fields[0]) if fields else None) or 0
        theme = fields[1] if len(fields) > 1 and fields[1] in THEMES else None
        return cls(offset, theme)


@dataclass(frozen=True)
class Recognise(Callback):
    """ "Me too" under a shared observation (a toggle)."""

    PREFIX = RECOGNISE_PREFIX
    submission_id: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.submission_id}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        number = _number(fields[0]) if len(fields) == 1 else None
        return None if number is None else cls(number)


@dataclass(frozen=True)
class Respond(Callback):
    """Respond to the author of a shared observation: the next message is relayed."""

    PREFIX = RESPOND_PREFIX
    submission_id: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.submission_id}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        number = _number(fields[0]) if len(fields) == 1 else None
        return None if number is None else cls(number)


@dataclass(frozen=True)
class PairConsent(Callback):
    """The answer to /pair's question: pair me and show my first name (``y``), or not now (``n``)."""

    PREFIX = "pq"
    yes: bool

    def encode(self) -> str:
        return f"{self.PREFIX}:{'y' if self.yes else 'n'}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        return cls(fields == ["y"]) if fields in (["y"], ["n"]) else None


TELEGRAM_ID_MAX = 2**53
"""Telegram user ids fit in 52 bits."""


@dataclass(frozen=True)
class ProcessAdmin(Callback):
    """Under /process: renew the invite links (``rot``, then ``rot:y`` to confirm, ``no`` to cancel),
    or take a facilitator out (``rm`` lists them, ``rm:<telegram id>`` removes one)."""

    PREFIX = "pa"
    action: Literal["rot", "rot_yes", "rm", "rm_one", "no"]
    telegram_id: int | None = None

    def encode(self) -> str:
        if self.action == "rot_yes":
            return f"{self.PREFIX}:rot:y"
        if self.action == "rm_one":
            return f"{self.PREFIX}:rm:{self.telegram_id}"
        return f"{self.PREFIX}:{self.action}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        if fields in (["rot"], ["rm"], ["no"]):
            return cls(cast(Literal["rot", "rm", "no"], fields[0]))
        if fields == ["rot", "y"]:
            return cls("rot_yes")
        if len(fields) == 2 and fields[0] == "rm":
            telegram_id = plain_number(fields[1], maximum=TELEGRAM_ID_MAX)
            return cls("rm_one", telegram_id) if telegram_id is not None else None
        return None


@dataclass(frozen=True)
class HighlightSupport(Callback):
    """Support toggled from a highlights message (the message stays, its button changes)."""

    PREFIX = HIGHLIGHT_SUPPORT_PREFIX
    idea_id: int

    def encode(self) -> str:
        return f"{self.PREFIX}:{self.idea_id}"

    @classmethod
    def _parse(cls, fields: list[str]) -> Self | None:
        number = _number(fields[0]) if len(fields) == 1 else None
        return None if number is None else cls(number)


KINDS: tuple[type[Callback], ...] = (
    ProcessAdmin,
    AnnounceChoice,
    LoopChoice,
    ForgetChoice,
    NewProcessChoice,
    NewProcessReminders,
    ShowName,
    QuickReply,
    ProgrammeDownload,
    NudgePick,
    SchedulePage,
    IdeasPage,
    SupportIdea,
    ContinueMine,
    ExperimentPick,
    DigestExport,
    HideChoice,
    Consent,
    LanguagePick,
    OrganisationPick,
    RolePick,
    ActiveProcess,
    ObservationAction,
    AnswerChoice,
    ShareToggle,
    SharedPage,
    Recognise,
    Respond,
    HighlightSupport,
)
"""Every kind of button; prefixes are unique (a unit test checks)."""
