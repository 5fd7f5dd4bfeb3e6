"""The digest as plain data, and the rows its loader hands to the section builders.

A :class:`Digest` is what a process produced during a period, already filtered by the privacy rules
(:mod:`bot.domain.privacy`); the renderers in :mod:`bot.render` only format it. The ``*Row`` named
tuples are what :mod:`bot.services.digest` reads from the database, so the pure builders in
:mod:`bot.domain.digest_sections` know nothing of SQL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from bot.domain.digest_resonance import Resonance, ResonanceFacts, ResonantItem
from bot.domain.privacy import Attribution, Group, Member

__all__ = [
    "MEDIA_ICONS",
    "CheckinResult",
    "CheckinRow",
    "Digest",
    "DigestFacts",
    "ExperimentItem",
    "Focus",
    "GroupStat",
    "HourCount",
    "IdeaFacts",
    "IdeaItem",
    "IdeaRow",
    "NextWorkshop",
    "Participation",
    "PromptAnswers",
    "PromptInfo",
    "PromptRate",
    "Quote",
    "SentCount",
    "SubmissionRow",
    "ThemeBlock",
    "WeeklySeries",
    "WordCount",
    "WorkshopInfo",
]

MEDIA_ICONS: Mapping[str, str] = {
    "photo": "📷",
    "voice": "🎤",
    "video": "🎬",
    "video_note": "📹",
    "document": "📄",
    "audio": "🎵",
}


class PromptInfo(NamedTuple):
    id: int
    key: str
    kind: str
    texts: Mapping[str, str] | None
    options: Sequence[Mapping[str, Any]] | None


class WorkshopInfo(NamedTuple):
    number: int
    starts_at: datetime
    place: str | None


class SentCount(NamedTuple):
    """How many deliveries of a prompt were sent in the period, and how many were answered."""

    prompt_id: int
    sent: int
    answered: int | None


class SubmissionRow(NamedTuple):
    """One visible observation, answer or experiment of the period."""

    id: int
    membership_id: int
    kind: str
    text: str | None
    media_type: str | None
    theme: str | None
    anonymous: bool
    created_at: datetime
    prompt_id: int | None
    choice: str | None
    title: str | None
    happened: str | None
    learned: str | None
    obstacles: str | None


class IdeaRow(NamedTuple):
    """One listed idea with its support counts (all up to the period's end, and within it)."""

    id: int
    membership_id: int
    title: str | None
    need: str | None
    partners: str | None
    first_experiment: str | None
    anonymous: bool
    created_at: datetime
    supports: int | None
    new_supports: int | None


class HourCount(NamedTuple):
    """A member's visible submissions within one local week (``first_at`` is the earliest of them;
    the loader counts per chart week, a finer count such as per hour adds up the same)."""

    membership_id: int
    first_at: datetime
    submissions: int


@dataclass(frozen=True, slots=True)
class Quote:
    ref: int
    text: str
    attribution: Attribution
    created_at: datetime
    media_type: str | None = None
    theme: str | None = None
    truncated: bool = False


@dataclass(frozen=True, slots=True)
class ThemeBlock:
    theme: str | None
    count: int
    quotes: tuple[Quote, ...]


@dataclass(frozen=True, slots=True)
class WordCount:
    word: str
    count: int


@dataclass(frozen=True, slots=True)
class GroupStat:
    group: Group
    people: int
    active: int
    contributions: int
    quiet: bool


@dataclass(frozen=True, slots=True)
class PromptRate:
    prompt_id: int
    key: str
    kind: str
    texts: Mapping[str, str]
    sent: int
    answered: int

    @property
    def rate(self) -> float:
        return self.answered / self.sent if self.sent else 0.0


@dataclass(frozen=True, slots=True)
class WeeklySeries:
    """Contributions per local week (weeks start on Monday), by organisation and by role."""

    weeks: tuple[date, ...]
    by_organisation: tuple[tuple[Group, tuple[int, ...]], ...]
    by_role: tuple[tuple[Group, tuple[int, ...]], ...]

    @property
    def total(self) -> int:
        return sum(sum(values) for _, values in self.by_organisation)


@dataclass(frozen=True, slots=True)
class Participation:
    participants: int
    active: int
    new_joiners: int
    by_organisation: tuple[GroupStat, ...]
    by_role: tuple[GroupStat, ...]
    by_cell: tuple[GroupStat, ...]
    prompt_rates: tuple[PromptRate, ...]


@dataclass(frozen=True, slots=True)
class IdeaItem:
    ref: int
    title: str
    need: str | None
    partners: str | None
    first_experiment: str | None
    supports: int
    new_supports: int
    is_new: bool
    created_at: datetime
    attribution: Attribution
    similar_to: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CheckinRow:
    group: Group
    answers: int
    average: float | None


@dataclass(frozen=True, slots=True)
class CheckinResult:
    prompt_id: int
    key: str
    texts: Mapping[str, str]
    options: tuple[Mapping[str, str], ...]
    answers: int
    average: float | None
    distribution: tuple[int, ...]
    by_organisation: tuple[CheckinRow, ...]


@dataclass(frozen=True, slots=True)
class PromptAnswers:
    prompt_id: int
    key: str
    kind: str
    texts: Mapping[str, str]
    count: int
    quotes: tuple[Quote, ...]


@dataclass(frozen=True, slots=True)
class ExperimentItem:
    ref: int
    title: str | None
    done: str | None
    happened: str | None
    learned: str | None
    obstacles: str | None
    attribution: Attribution
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Focus:
    ideas: tuple[IdeaItem, ...]
    words: tuple[WordCount, ...]
    themes: tuple[tuple[str, int], ...]
    quiet_groups: tuple[Group, ...]
    resonant: tuple[ResonantItem, ...] = ()
    """Shared observations recognised or answered across organisations: worth a workshop's time."""


@dataclass(frozen=True, slots=True)
class NextWorkshop:
    number: int
    starts_at: datetime
    place: str | None
    days_left: int


@dataclass(frozen=True)
class Digest:
    process_id: int
    process_name: str
    timezone: str
    start: datetime
    end: datetime
    generated_at: datetime
    min_group: int
    phase: int
    ended: bool
    next_workshop: NextWorkshop | None
    participation: Participation
    observation_count: int
    themes: tuple[ThemeBlock, ...]
    media: Mapping[str, int]
    words: tuple[WordCount, ...]
    ideas: tuple[IdeaItem, ...]
    idea_count: int
    new_idea_count: int
    supports_in_period: int
    checkins: tuple[CheckinResult, ...]
    answers: tuple[PromptAnswers, ...]
    answer_count: int
    experiments: tuple[ExperimentItem, ...]
    experiment_count: int
    weekly: WeeklySeries
    focus: Focus
    organisations: tuple[str, ...] = field(default=())
    resonance: Resonance = field(default_factory=Resonance)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_empty(self) -> bool:
        return not (
            self.observation_count
            or self.answer_count
            or self.experiment_count
            or self.new_idea_count
            or not self.resonance.is_empty
        )


@dataclass(frozen=True)
class IdeaFacts:
    """The process's visible, unmerged ideas up to the period's end: counts and the listed ones."""

    count: int
    new_count: int
    supports_in_period: int
    listed: Sequence[IdeaRow]


@dataclass(frozen=True)
class DigestFacts:
    """Everything the digest needs besides the period's texts, as the loader read it."""

    process_id: int
    process_name: str
    timezone: str
    start: datetime
    end: datetime
    now: datetime
    process_end: datetime
    min_group: int
    organisations: tuple[str, ...]
    roles: tuple[str, ...]
    workshops: Sequence[WorkshopInfo]
    prompts: Mapping[int, PromptInfo]
    members: Sequence[Member]
    contributions: Mapping[int, int]
    """Visible submissions per member in the period."""
    supports_given: Mapping[int, int]
    """Supports per member in the period."""
    sent: Sequence[SentCount]
    ideas: IdeaFacts
    hours: Sequence[HourCount]
    """Visible submissions per member and local week, from :func:`chart_window`'s first week."""
    resonance: ResonanceFacts = field(default_factory=ResonanceFacts)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)
