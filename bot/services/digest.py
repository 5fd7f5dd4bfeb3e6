"""The facilitator digest as plain data: what a process produced during a period.

:func:`build_digest` reads one process for one period with a handful of bulk queries (aggregates in
SQL, the period's texts streamed once) and returns a frozen :class:`Digest`. Rendering it as Telegram
messages or an HTML document is :mod:`bot.digest_render`; the chart is :mod:`bot.chart`.

The privacy rules live here, so every output (Telegram, HTML, CLI) inherits them:

* Hidden submissions are left out of everything; merged ideas are left out of the idea lists (but
  still count in participation: a duplicate idea was still someone speaking up).
* A breakdown cell with fewer than ``min_group`` people is merged into "other", and if "other" would
  itself be that small the next smallest cells join it (otherwise "other" would name them by
  elimination). The same rule decides how a quote is attributed: organisation and role only when
  that cell is big enough, else the organisation or the role alone, else "other".
* A name appears only for a non-anonymous submission of a participant who allowed it
  (``Membership.show_name``); pseudonyms never appear in a digest.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import simplemma
from sqlalchemy import and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.contributions import similarity
from bot.services.people import ROLES
from storage.models import (
    Delivery,
    DigestRun,
    Membership,
    Organisation,
    Process,
    Prompt,
    Submission,
    Support,
    User,
    Workshop,
)

__all__ = [
    "MEDIA_ICONS",
    "Attribution",
    "CheckinResult",
    "CheckinRow",
    "Digest",
    "ExperimentItem",
    "Focus",
    "Group",
    "GroupStat",
    "IdeaItem",
    "Participation",
    "PromptAnswers",
    "PromptRate",
    "Quote",
    "ThemeBlock",
    "WeeklySeries",
    "WordCount",
    "build_digest",
    "cell_partition",
    "default_period_start",
    "facilitator_membership",
    "forwarded_submission",
    "hidden_submissions",
    "lemma_forms",
    "lemmas",
    "load_members",
    "merged_keys",
    "option_value",
    "record_run",
    "submission_of_process",
]

QUOTE_CHARS = 320
"""A quote is kept this long at most (the Telegram summary shortens it further)."""
LONG_FIELD_CHARS = 400
QUOTES_PER_THEME = 40
ANSWERS_PER_PROMPT = 20
EXPERIMENTS_KEPT = 40
IDEAS_KEPT = 60
SIMILAR_CANDIDATES = 12
"""Each listed idea is compared with at most this many others (those sharing the most words)."""
SIMILAR_THRESHOLD = 0.6
TOP_WORDS = 15
CHART_WEEKS = 16
QUIET_SHARE = 0.5
"""A group is quiet when its share of contributions is under half its share of participants."""

MEDIA_ICONS: Mapping[str, str] = {
    "photo": "📷",
    "voice": "🎤",
    "video": "🎬",
    "video_note": "📹",
    "document": "📄",
    "audio": "🎵",
}
THEME_ORDER: tuple[str | None, ...] = ("pain", "bright", "question", "other", None)
OPEN_KINDS = ("observation", "answer", "experiment")


# --- groups and the minimum group size ---------------------------------------------------------


@dataclass(frozen=True, slots=True, order=True)
class Group:
    """A breakdown cell. Both ``None`` is the merged "other"; ``rest`` marks an organisation's
    people in cells too small to show by role ("Kunta, other roles")."""

    organisation: str | None = None
    role: str | None = None
    rest: bool = False

    @property
    def is_other(self) -> bool:
        return self.organisation is None and self.role is None


OTHER = Group()
K = TypeVar("K", bound=Hashable)


def merged_keys(sizes: Mapping[K, int], min_group: int, *, forced: Iterable[K] = ()) -> set[K]:
    """The keys whose groups go into "other": ``forced`` ones (people without an organisation),
    every group of 1…min_group-1 people, and then the smallest remaining groups until "other"
    itself has at least ``min_group`` people.

    Empty groups are never merged: "nobody from the parish" identifies no one and is worth seeing.
    """
    small = {key for key, size in sizes.items() if 0 < size < min_group}
    small |= {key for key in forced if sizes.get(key, 0) > 0}
    merged = sum(sizes[key] for key in small)
    rest = sorted(
        (key for key in sizes if key not in small and sizes[key] > 0), key=lambda k: (sizes[k], str(k))
    )
    while small and merged < min_group and rest:
        key = rest.pop(0)
        small.add(key)
        merged += sizes[key]
    return small


@dataclass(frozen=True, slots=True)
class Partition:
    """Who is shown as which group, for one breakdown."""

    groups: Mapping[int, Group]
    order: tuple[Group, ...]

    def of(self, member_id: int) -> Group:
        return self.groups.get(member_id, OTHER)


def _single_partition(
    members: Sequence[Member], attribute: str, min_group: int, known: Sequence[str]
) -> Partition:
    """One attribute (organisation or role): its groups in the order the process lists them, small
    ones merged into "other"."""

    def make(value: str) -> Group:
        return Group(organisation=value) if attribute == "organisation" else Group(role=value)

    values: dict[int, str | None] = {member.id: getattr(member, attribute) for member in members}
    sizes: Counter[str | None] = Counter(values.values())
    for value in known:
        sizes.setdefault(value, 0)
    merged = merged_keys(sizes, min_group, forced=[None])
    groups = {
        member_id: OTHER if value is None or value in merged else make(value)
        for member_id, value in values.items()
    }
    shown = [value for value in known if value not in merged]
    shown += sorted(
        value for value in sizes if value is not None and value not in merged and value not in known
    )
    order = [make(value) for value in shown]
    if OTHER in groups.values():
        order.append(OTHER)
    return Partition(groups, tuple(order))


def cell_partition(members: Sequence[Member], min_group: int, organisations: Sequence[str]) -> Partition:
    """Organisation × role where cells are big enough; then an organisation's remaining people
    ("Kunta, other roles"), then a role's remaining people across organisations, then "other"."""
    cells: dict[tuple[str | None, str | None], list[int]] = defaultdict(list)
    for member in members:
        cells[(member.organisation, member.role)].append(member.id)
    groups: dict[int, Group] = {}
    left: list[Member] = []
    by_id = {member.id: member for member in members}
    for (organisation, role), ids in cells.items():
        if organisation is not None and role is not None and len(ids) >= min_group:
            for member_id in ids:
                groups[member_id] = Group(organisation, role)
        else:
            left.extend(by_id[member_id] for member_id in ids)
    for attribute, make in (
        ("organisation", lambda value: Group(value, None, rest=True)),
        ("role", lambda value: Group(None, value)),
    ):
        buckets: dict[str, list[int]] = defaultdict(list)
        for member in left:
            value = getattr(member, attribute)
            if value is not None:
                buckets[value].append(member.id)
        kept = {value: ids for value, ids in buckets.items() if len(ids) >= min_group}
        for value, ids in kept.items():
            for member_id in ids:
                groups[member_id] = make(value)
        taken = {member_id for ids in kept.values() for member_id in ids}
        left = [member for member in left if member.id not in taken]
    # Whatever is left is "other"; if that is a handful of people, the smallest shown groups join it.
    while 0 < len(left) < min_group:
        sizes = Counter(groups.values())
        if not sizes:
            break
        smallest = min(sizes, key=lambda group: (sizes[group], str(group)))
        moved = [member_id for member_id, group in groups.items() if group == smallest]
        for member_id in moved:
            del groups[member_id]
        left.extend(by_id[member_id] for member_id in moved)
    org_rank = {name: index for index, name in enumerate(organisations)}
    role_rank = {role: index for index, role in enumerate(ROLES)}

    def rank(group: Group) -> tuple[int, int, int]:
        if group.is_other:
            return (3, 0, 0)
        if group.organisation is None:
            return (2, role_rank.get(group.role or "", 99), 0)
        return (
            0 if not group.rest else 1,
            org_rank.get(group.organisation, 99),
            role_rank.get(group.role or "", 99) if not group.rest else 0,
        )

    order = sorted(set(groups.values()), key=rank)
    if left:
        order.append(OTHER)
    return Partition(groups, tuple(order))


# --- the digest model --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Member:
    """A membership as the digest sees it; ``name`` only when the participant allowed it."""

    id: int
    organisation: str | None
    role: str | None
    name: str | None
    pseudonym: str
    facilitator: bool
    participant: bool
    language: str
    joined_at: datetime


@dataclass(frozen=True, slots=True)
class Attribution:
    """Who said it, as far as may be told: a group (never a small one), a name if allowed."""

    group: Group
    name: str | None = None
    facilitator: bool = False


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

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def is_empty(self) -> bool:
        return not (
            self.observation_count or self.answer_count or self.experiment_count or self.new_idea_count
        )


# --- words -------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\W\d_]{3,}", re.UNICODE)
_LEMMA_LANGS: Mapping[str, tuple[str, ...]] = {
    "fi": ("fi", "sv", "en"),
    "sv": ("sv", "fi", "en"),
    "en": ("en", "fi", "sv"),
}
_STOP_TEXT = """
    ja tai sekä on ei että kun jos se ne joka mikä kuin myös olla oli ovat olen olet olemme olette ole
    ollut olisi tämä tuo nämä nuo hän he me te minä sinä mä sä mun sun meillä teillä heillä mutta vaan
    niin nyt vielä jo sitten kanssa koska jotta eli siis aina paljon vain kaikki joku jokin mitä missä
    miten kuka ketkä oma itse ehkä kyllä ihan aika hyvin todella tosi siellä täällä tässä siinä sitä
    tätä sen tämän niiden näiden jonka jotka joita mihin mistä minne kenen voi voida pitää täytyä
    tulla tehdä saada mennä jne esim eikä en et emme ette eivät koko muu muut noin yli alle ennen
    jälkeen vasta taas kuitenkin vaikka mikään kukaan jotain joitain moni monta usein välillä hieman
    vähän enemmän ehtiä sama mitään asia juttu
    och att det som en ett på är av för med till den har de inte om han hon men var jag sig från
    vi så kan man när eller nu då du också skulle vara ha bli blir blev få kunna ska skall vill vilja
    mycket här där alla någon något några inget ingen hur vad vem vilken vilket vilka efter under utan
    mot vid över bara även sedan denna detta dessa sin sitt sina hans hennes deras vår vårt våra ert
    era min mitt mina din ditt dina mig dig oss dem honom henne hade finns mer mest lite än just sak
    the and or of to for in on with a an is are was were be been being it its this that these those
    they them their there then than but not no yes we you he she his her our your my me us at by from
    as into about have has had do does did so if when what which who whom how all any some can could
    would should will just also very more most much many one get got
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_TEXT.split())
"""Function words (and a few filler words) in Finnish, Swedish and English, as words and lemmas."""


@lru_cache(maxsize=200_000)
def _lemma(word: str, language: str) -> str:
    # low_memory: the front-coded dictionaries take ~60 MB for fi+sv+en instead of ~470 MB.
    lemma = simplemma.lemmatize(word, lang=_LEMMA_LANGS.get(language, _LEMMA_LANGS["fi"]), low_memory=True)
    return str(lemma).casefold()


def lemma_forms(text: str, language: str) -> dict[str, str]:
    """The content words of a text as ``{lemma: the form written}`` (``kirjasto`` → ``kirjastossa``),
    without stop words in Finnish, Swedish or English. Lemmas are cached per word."""
    found: dict[str, str] = {}
    for word in _WORD.findall(unicodedata.normalize("NFC", text.casefold())):
        if word in STOP_WORDS:
            continue
        lemma = _lemma(word, language)
        if len(lemma) >= 3 and lemma not in STOP_WORDS:
            found.setdefault(lemma, word)
    return found


def lemmas(text: str, language: str) -> set[str]:
    """The distinct content words of a text as lemmas; see :func:`lemma_forms`."""
    return set(lemma_forms(text, language))


def _same_stem(lemma: str, form: str) -> bool:
    """Whether a lemma reads as the word written (``kirjasto``/``kirjastossa``), unlike a
    suppletive one (``gammal``/``äldre``), which would puzzle a reader."""
    shared = 0
    for a, b in zip(lemma, form, strict=False):
        if a != b:
            break
        shared += 1
    return shared >= min(3, len(lemma))


# --- helpers -----------------------------------------------------------------------------------


def shorten(text: str | None, limit: int) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


_LEADING_NUMBER = re.compile(r"^\s*(\d+(?:[.,]\d+)?)")


def option_value(options: Sequence[Mapping[str, Any]], choice: str | None) -> tuple[int, float | None] | None:
    """Which option a check-in choice is (its index) and its number, if the option starts with one
    (``"4 – hyvä"`` → 4.0). The choice is stored as the option's label in any language or as its
    0-based index."""
    if choice is None or not options:
        return None
    index: int | None = None
    for position, option in enumerate(options):
        if choice in (str(label) for label in option.values()):
            index = position
            break
    if index is None and choice.strip().isdigit() and int(choice) < len(options):
        index = int(choice)
    if index is None:
        return None
    label = str(options[index].get("fi") or next(iter(options[index].values()), ""))
    match = _LEADING_NUMBER.match(label)
    return index, float(match.group(1).replace(",", ".")) if match else None


def _week_start(instant: datetime, tz: ZoneInfo) -> date:
    day = instant.astimezone(tz).date()
    return day - timedelta(days=day.weekday())


def default_period_start(process: Process) -> datetime:
    """Where a digest starts when nobody says: the last weekly digest, or the process's creation."""
    return process.last_digest_at or process.created_at


async def record_run(
    session: AsyncSession,
    *,
    process_id: int,
    trigger: str,
    start: datetime,
    end: datetime,
    now: datetime,
    due_at: datetime | None = None,
) -> DigestRun:
    """Record that a digest was made. A weekly run (``due_at`` set) also moves the process's
    ``last_digest_at``; the unique (process, due_at) makes a second run for the same week fail."""
    run = DigestRun(
        process_id=process_id,
        trigger=trigger,
        period_start=start,
        period_end=end,
        due_at=due_at,
        created_at=now,
    )
    session.add(run)
    if due_at is not None:
        process = await session.get(Process, process_id)
        if process is not None:
            process.last_digest_at = due_at
    await session.flush()
    return run


# --- gathering ---------------------------------------------------------------------------------


async def load_members(session: AsyncSession, process_id: int) -> list[Member]:
    """Every membership of the process (facilitators too), in one query."""
    rows = await session.execute(
        select(
            Membership.id,
            Organisation.name,
            Membership.role,
            Membership.show_name,
            Membership.display_name,
            Membership.pseudonym,
            Membership.is_facilitator,
            Membership.complete,
            Membership.joined_at,
            User.language,
        )
        .join(User, User.id == Membership.user_id)
        .outerjoin(Organisation, Organisation.id == Membership.organisation_id)
        .where(Membership.process_id == process_id)
        .order_by(Membership.id)
    )
    return [
        Member(
            id=row[0],
            organisation=row[1],
            role=row[2],
            name=(row[4] or None) if row[3] else None,
            pseudonym=row[5],
            facilitator=bool(row[6]),
            participant=bool(row[7]) and not row[6],
            language=row[9] or "fi",
            joined_at=row[8],
        )
        for row in rows.all()
    ]


class _Attributor:
    """Attributions by member, with the cell partition deciding how much may be told."""

    def __init__(self, members: Mapping[int, Member], cells: Partition) -> None:
        self.members = members
        self.cells = cells
        self._cache: dict[tuple[int, bool], Attribution] = {}

    def __call__(self, member_id: int, anonymous: bool) -> Attribution:
        key = (member_id, anonymous)
        found = self._cache.get(key)
        if found is None:
            member = self.members.get(member_id)
            if member is None:
                found = Attribution(OTHER)
            elif member.facilitator:
                found = Attribution(OTHER, name=None if anonymous else member.name, facilitator=True)
            elif member.name and not anonymous:
                found = Attribution(Group(member.organisation, member.role), name=member.name)
            else:
                found = Attribution(self.cells.of(member_id))
            self._cache[key] = found
        return found


def _interleave(buckets: Mapping[Group, list[Quote]], limit: int) -> tuple[Quote, ...]:
    """Newest first within each group, groups taking turns: the loudest group cannot fill the page."""
    queues = [
        list(quotes)
        for _, quotes in sorted(buckets.items(), key=lambda item: -item[1][0].created_at.timestamp())
    ]
    picked: list[Quote] = []
    while len(picked) < limit and any(queues):
        for queue in queues:
            if queue and len(picked) < limit:
                picked.append(queue.pop(0))
    return tuple(picked)


def _group_stats(
    partition: Partition,
    participants: Sequence[Member],
    active: set[int],
    contributions: Mapping[int, int],
) -> tuple[GroupStat, ...]:
    people: Counter[Group] = Counter()
    active_in: Counter[Group] = Counter()
    made: Counter[Group] = Counter()
    for member in participants:
        group = partition.of(member.id)
        people[group] += 1
        active_in[group] += member.id in active
        made[group] += contributions.get(member.id, 0)
    total_people = sum(people.values())
    total_made = sum(made.values())
    stats = []
    for group in partition.order:
        count = people[group]
        quiet = False
        if count and total_made and total_people:
            quiet = active_in[group] == 0 or made[group] / total_made < QUIET_SHARE * count / total_people
        stats.append(GroupStat(group, count, active_in[group], made[group], quiet))
    return tuple(stats)


def _similar_pairs(ideas: Sequence[tuple[int, str, str]]) -> dict[int, list[int]]:
    """Pairs of similar idea titles among the listed ideas. Only titles sharing a word lemma or a
    word's first four letters are compared, each with the few that share the most, so the work stays
    small however many ideas a process has."""
    keys = [
        lemmas(title, language) | {word[:4] for word in _WORD.findall(title.casefold()) if len(word) >= 4}
        for _, title, language in ideas
    ]
    index: dict[str, list[int]] = defaultdict(list)
    for position, found in enumerate(keys):
        for key in found:
            index[key].append(position)
    candidates: set[tuple[int, int]] = set()
    for position, found in enumerate(keys):
        shared: Counter[int] = Counter()
        for key in found:
            shared.update(other for other in index[key] if other != position)
        for other, _ in shared.most_common(SIMILAR_CANDIDATES):
            candidates.add((min(position, other), max(position, other)))
    similar: dict[int, list[int]] = defaultdict(list)
    for first, second in sorted(candidates):
        ref_a, title_a, language = ideas[first]
        ref_b, title_b, _ = ideas[second]
        if similarity(title_a, title_b, language) >= SIMILAR_THRESHOLD:
            similar[ref_a].append(ref_b)
            similar[ref_b].append(ref_a)
    return similar


async def build_digest(
    session: AsyncSession, *, process_id: int, start: datetime, end: datetime, now: datetime
) -> Digest | None:
    """Everything the facilitator digest says about ``[start, end)``, or ``None`` for no such process."""
    process = await session.get(Process, process_id)
    if process is None:
        return None
    tz = ZoneInfo(process.timezone)
    min_group = max(1, process.min_group or 1)
    organisations = tuple(
        await session.scalars(
            select(Organisation.name)
            .where(Organisation.process_id == process_id)
            .order_by(Organisation.position)
        )
    )
    workshops = list(
        await session.execute(
            select(Workshop.number, Workshop.starts_at, Workshop.place)
            .where(Workshop.process_id == process_id)
            .order_by(Workshop.number)
        )
    )
    prompts = {
        row[0]: row
        for row in await session.execute(
            select(Prompt.id, Prompt.key, Prompt.kind, Prompt.texts, Prompt.options).where(
                Prompt.process_id == process_id
            )
        )
    }
    member_list = await load_members(session, process_id)
    members = {member.id: member for member in member_list}
    participants = [m for m in member_list if m.participant and m.joined_at < end]

    by_org = _single_partition(participants, "organisation", min_group, organisations)
    by_role = _single_partition(participants, "role", min_group, ROLES)
    cells = cell_partition(participants, min_group, organisations)
    attribute = _Attributor(members, cells)

    visible = (Submission.process_id == process_id, Submission.hidden.is_(False))
    in_period = and_(Submission.created_at >= start, Submission.created_at < end)

    # Contributions per member in the period: one aggregate.
    contributions: Counter[int] = Counter()
    for member_id, count in await session.execute(
        select(Submission.membership_id, func.count())
        .where(*visible, in_period)
        .group_by(Submission.membership_id)
    ):
        contributions[member_id] += int(count)
    supporters: Counter[int] = Counter()
    for member_id, count in await session.execute(
        select(Support.membership_id, func.count())
        .join(Submission, Submission.id == Support.idea_id)
        .where(Submission.process_id == process_id, Support.created_at >= start, Support.created_at < end)
        .group_by(Support.membership_id)
    ):
        supporters[member_id] += int(count)
    active = {m.id for m in participants if contributions.get(m.id) or supporters.get(m.id)}

    # Answer rates of the prompts sent in the period.
    rates = []
    for prompt_id, sent, answered in await session.execute(
        select(Delivery.prompt_id, func.count(), func.sum(case((Delivery.state == "answered", 1), else_=0)))
        .join(Prompt, Prompt.id == Delivery.prompt_id)
        .where(Prompt.process_id == process_id, Delivery.sent_at >= start, Delivery.sent_at < end)
        .group_by(Delivery.prompt_id)
    ):
        prompt = prompts.get(prompt_id)
        if prompt is None or prompt[2] == "reminder":
            continue
        rates.append(
            PromptRate(prompt_id, prompt[1], prompt[2], dict(prompt[3] or {}), int(sent), int(answered or 0))
        )
    rates.sort(key=lambda rate: (rate.key, rate.prompt_id))

    participation = Participation(
        participants=len(participants),
        active=len(active),
        new_joiners=sum(1 for m in participants if start <= m.joined_at < end),
        by_organisation=_group_stats(by_org, participants, active, contributions),
        by_role=_group_stats(by_role, participants, active, contributions),
        by_cell=_group_stats(cells, participants, active, contributions),
        prompt_rates=tuple(rates),
    )

    # The period's texts, newest first, streamed once.
    theme_counts: Counter[str | None] = Counter()
    theme_quotes: dict[str | None, dict[Group, list[Quote]]] = defaultdict(lambda: defaultdict(list))
    media: Counter[str] = Counter()
    words: Counter[str] = Counter()
    readable: set[str] = set()
    written: dict[str, Counter[str]] = defaultdict(Counter)
    answer_counts: Counter[int] = Counter()
    answer_quotes: dict[int, list[Quote]] = defaultdict(list)
    checkin_values: dict[int, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    checkin_answers: dict[int, set[int]] = defaultdict(set)
    checkin_distribution: dict[int, Counter[int]] = defaultdict(Counter)
    experiments: list[ExperimentItem] = []
    experiment_count = 0
    observation_count = 0
    answer_count = 0
    # Core rows straight from the connection: the ORM layer would cost more than the query.
    connection = await session.connection()
    stream = await connection.stream(
        select(
            Submission.id,
            Submission.membership_id,
            Submission.kind,
            Submission.text,
            Submission.media_type,
            Submission.theme,
            Submission.anonymous,
            Submission.created_at,
            Submission.prompt_id,
            Submission.choice,
            Submission.title,
            Submission.happened,
            Submission.learned,
            Submission.obstacles,
        )
        .where(*visible, in_period, Submission.kind.in_(OPEN_KINDS))
        .order_by(Submission.created_at.desc(), Submission.id.desc())
        .execution_options(yield_per=2000)
    )
    async for partition in stream.partitions(2000):
        for row in partition:
            (ref, member_id, kind, text, media_type, theme, anonymous, created_at, prompt_id, choice) = row[
                :10
            ]
            if media_type:
                media[media_type] += 1
            if kind == "observation":
                observation_count += 1
                theme_counts[theme] += 1
                member = members.get(member_id)
                if text:
                    for lemma, form in lemma_forms(text, member.language if member else "fi").items():
                        words[lemma] += 1
                        if lemma not in readable:
                            if _same_stem(lemma, form):
                                readable.add(lemma)
                            else:
                                written[lemma][form] += 1
                attribution = attribute(member_id, anonymous)
                bucket = theme_quotes[theme][attribution.group]
                if len(bucket) < QUOTES_PER_THEME:
                    bucket.append(
                        Quote(
                            ref,
                            shorten(text, QUOTE_CHARS),
                            attribution,
                            created_at,
                            media_type,
                            theme,
                            len(text or "") > QUOTE_CHARS,
                        )
                    )
            elif kind == "answer":
                answer_count += 1
                prompt = prompts.get(prompt_id) if prompt_id is not None else None
                if prompt is None or prompt_id is None:
                    continue
                answer_counts[prompt_id] += 1
                if prompt[2] == "checkin":
                    picked = option_value(prompt[4] or [], choice)
                    if picked is not None:
                        index, value = picked
                        checkin_distribution[prompt_id][index] += 1
                        checkin_answers[prompt_id].add(member_id)
                        if value is not None:
                            checkin_values[prompt_id][member_id].append(value)
                    if not text:
                        continue
                if (text or media_type) and len(answer_quotes[prompt_id]) < ANSWERS_PER_PROMPT:
                    answer_quotes[prompt_id].append(
                        Quote(
                            ref,
                            shorten(text, QUOTE_CHARS),
                            attribute(member_id, anonymous),
                            created_at,
                            media_type,
                            None,
                            len(text or "") > QUOTE_CHARS,
                        )
                    )
            else:
                experiment_count += 1
                if len(experiments) < EXPERIMENTS_KEPT:
                    experiments.append(
                        ExperimentItem(
                            ref,
                            shorten(row[10], LONG_FIELD_CHARS) or None,
                            shorten(text, LONG_FIELD_CHARS) or None,
                            shorten(row[11], LONG_FIELD_CHARS) or None,
                            shorten(row[12], LONG_FIELD_CHARS) or None,
                            shorten(row[13], LONG_FIELD_CHARS) or None,
                            attribute(member_id, anonymous),
                            created_at,
                        )
                    )

    themes = tuple(
        ThemeBlock(theme, theme_counts[theme], _interleave(theme_quotes[theme], QUOTES_PER_THEME))
        for theme in THEME_ORDER
        if theme_counts.get(theme)
    )
    top_words = tuple(
        WordCount(word if word in readable else written[word].most_common(1)[0][0], count)
        for word, count in words.most_common(TOP_WORDS)
        if count >= 2
    )

    checkins: list[CheckinResult] = []
    answers: list[PromptAnswers] = []
    for prompt_id in sorted(answer_counts, key=lambda pid: (prompts[pid][1], pid)):
        _, key, kind, texts, options = prompts[prompt_id]
        if kind == "checkin":
            values = checkin_values.get(prompt_id, {})
            org_members: dict[str, set[int]] = defaultdict(set)
            for member_id in checkin_answers.get(prompt_id, set()):
                member = members.get(member_id)
                org_members[(member.organisation if member else None) or ""].add(member_id)
            sizes = {name: len(ids) for name, ids in org_members.items()}
            merged = merged_keys(sizes, min_group) | ({""} if "" in sizes else set())
            rows: list[CheckinRow] = []
            other_ids: set[int] = set()
            ordered = [name for name in organisations if name in sizes] + sorted(
                name for name in sizes if name not in organisations
            )
            for name in ordered:
                if name in merged:
                    other_ids |= org_members[name]
                    continue
                rows.append(_checkin_row(Group(name), org_members[name], values))
            if other_ids:
                rows.append(_checkin_row(OTHER, other_ids, values))
            all_values = [value for member_values in values.values() for value in member_values]
            distribution = checkin_distribution.get(prompt_id, Counter())
            checkins.append(
                CheckinResult(
                    prompt_id,
                    key,
                    dict(texts or {}),
                    tuple(dict(option) for option in options or []),
                    sum(distribution.values()),
                    sum(all_values) / len(all_values) if all_values else None,
                    tuple(distribution.get(index, 0) for index in range(len(options or []))),
                    tuple(rows),
                )
            )
        else:
            answers.append(
                PromptAnswers(
                    prompt_id,
                    key,
                    kind,
                    dict(texts or {}),
                    answer_counts[prompt_id],
                    tuple(answer_quotes[prompt_id]),
                )
            )

    ideas, idea_count, new_idea_count, supports_in_period = await _ideas(
        session, process_id=process_id, start=start, end=end, members=members, attribute=attribute
    )
    weekly = await _weekly(session, process_id=process_id, end=end, tz=tz, by_org=by_org, by_role=by_role)

    phase = sum(1 for _, starts_at, _ in workshops if starts_at <= end)
    upcoming = next(((n, at, place) for n, at, place in workshops if at > end), None)
    next_workshop = None
    if upcoming is not None:
        days_left = (upcoming[1].astimezone(tz).date() - end.astimezone(tz).date()).days
        next_workshop = NextWorkshop(upcoming[0], upcoming[1], upcoming[2], days_left)

    quiet: list[Group] = []
    for stat in participation.by_organisation + participation.by_role + participation.by_cell:
        if stat.quiet and stat.group not in quiet:
            quiet.append(stat.group)
    focus = Focus(
        ideas=tuple(idea for idea in ideas if idea.supports > 0)[:3] or ideas[:3],
        words=top_words[:5],
        themes=tuple(
            (str(theme), count) for theme, count in theme_counts.most_common() if theme is not None and count
        )[:3],
        quiet_groups=tuple(quiet[:4]),
    )
    return Digest(
        process_id=process.id,
        process_name=process.name,
        timezone=process.timezone,
        start=start,
        end=end,
        generated_at=now,
        min_group=min_group,
        phase=phase,
        ended=end >= process.end_at,
        next_workshop=next_workshop,
        participation=participation,
        observation_count=observation_count,
        themes=themes,
        media=dict(media),
        words=top_words,
        ideas=ideas,
        idea_count=idea_count,
        new_idea_count=new_idea_count,
        supports_in_period=supports_in_period,
        checkins=tuple(checkins),
        answers=tuple(answers),
        answer_count=answer_count,
        experiments=tuple(experiments),
        experiment_count=experiment_count,
        weekly=weekly,
        focus=focus,
        organisations=organisations,
    )


def _checkin_row(group: Group, member_ids: Iterable[int], values: Mapping[int, list[float]]) -> CheckinRow:
    ids = list(member_ids)
    numbers = [value for member_id in ids for value in values.get(member_id, [])]
    return CheckinRow(group, len(ids), sum(numbers) / len(numbers) if numbers else None)


async def _ideas(
    session: AsyncSession,
    *,
    process_id: int,
    start: datetime,
    end: datetime,
    members: Mapping[int, Member],
    attribute: _Attributor,
) -> tuple[tuple[IdeaItem, ...], int, int, int]:
    """The process's visible ideas up to ``end``, most supported first, with the period's news."""
    support_totals = (
        select(
            Support.idea_id.label("idea_id"),
            func.count().label("total"),
            func.sum(case((and_(Support.created_at >= start, Support.created_at < end), 1), else_=0)).label(
                "recent"
            ),
        )
        .where(Support.created_at < end)
        .group_by(Support.idea_id)
        .subquery()
    )
    base = (
        Submission.process_id == process_id,
        Submission.kind == "idea",
        Submission.hidden.is_(False),
        Submission.merged_into_id.is_(None),
        Submission.created_at < end,
    )
    counts = (
        await session.execute(
            select(func.count(), func.sum(case((Submission.created_at >= start, 1), else_=0))).where(*base)
        )
    ).one()
    idea_count, new_idea_count = int(counts[0] or 0), int(counts[1] or 0)
    supports_in_period = int(
        await session.scalar(
            select(func.coalesce(func.sum(support_totals.c.recent), 0))
            .select_from(support_totals)
            .join(Submission, Submission.id == support_totals.c.idea_id)
            .where(*base)
        )
        or 0
    )
    total = func.coalesce(support_totals.c.total, 0)
    rows = await session.execute(
        select(
            Submission.id,
            Submission.membership_id,
            Submission.title,
            Submission.need,
            Submission.partners,
            Submission.first_experiment,
            Submission.anonymous,
            Submission.created_at,
            total,
            func.coalesce(support_totals.c.recent, 0),
        )
        .outerjoin(support_totals, support_totals.c.idea_id == Submission.id)
        .where(*base)
        .order_by(total.desc(), Submission.created_at.desc(), Submission.id.desc())
        .limit(IDEAS_KEPT)
    )
    pool = rows.all()
    similar = _similar_pairs(
        [
            (row[0], row[2] or "", members[row[1]].language if row[1] in members else "fi")
            for row in pool
            if row[2]
        ]
    )
    items = tuple(
        IdeaItem(
            ref=row[0],
            title=shorten(row[2], 300) or "—",
            need=shorten(row[3], LONG_FIELD_CHARS) or None,
            partners=shorten(row[4], LONG_FIELD_CHARS) or None,
            first_experiment=shorten(row[5], LONG_FIELD_CHARS) or None,
            supports=int(row[8] or 0),
            new_supports=int(row[9] or 0),
            is_new=row[7] >= start,
            created_at=row[7],
            attribution=attribute(row[1], bool(row[6])),
            similar_to=tuple(sorted(similar.get(row[0], ()))),
        )
        for row in pool
    )
    return items, idea_count, new_idea_count, supports_in_period


async def _weekly(
    session: AsyncSession,
    *,
    process_id: int,
    end: datetime,
    tz: ZoneInfo,
    by_org: Partition,
    by_role: Partition,
) -> WeeklySeries:
    """Contributions per local week for the last :data:`CHART_WEEKS` weeks up to ``end``."""
    # A weekly digest ends on Monday morning: that new week is not a week of data yet.
    last_week = _week_start(end - timedelta(days=1), tz)
    first_allowed = last_week - timedelta(weeks=CHART_WEEKS - 1)
    lower = datetime.combine(first_allowed, datetime.min.time(), tzinfo=tz)
    per_week: dict[date, Counter[int]] = defaultdict(Counter)
    # Aggregated by member and hour in SQL (an hour never straddles a local week boundary in a zone
    # with whole-hour offsets); local weeks are then a few thousand additions in Python.
    hour: Any
    if session.get_bind().dialect.name == "postgresql":
        hour = func.date_trunc("hour", Submission.created_at)
    else:
        # SQLite keeps "YYYY-MM-DD HH:MM:SS" text: its first 13 characters are the hour, no parsing.
        hour = func.substr(Submission.created_at, 1, 13)
    rows = await session.execute(
        select(Submission.membership_id, func.min(Submission.created_at), func.count())
        .where(
            Submission.process_id == process_id,
            Submission.hidden.is_(False),
            Submission.created_at >= lower,
            Submission.created_at < end,
        )
        .group_by(Submission.membership_id, hour)
    )
    for member_id, first_at, count in rows:
        per_week[_week_start(first_at, tz)][member_id] += int(count)
    first_week = max(first_allowed, min(per_week)) if per_week else last_week
    weeks: list[date] = []
    cursor = first_week
    while cursor <= last_week:
        weeks.append(cursor)
        cursor += timedelta(weeks=1)

    def series(partition: Partition) -> tuple[tuple[Group, tuple[int, ...]], ...]:
        totals: dict[Group, list[int]] = {group: [0] * len(weeks) for group in partition.order}
        for position, week in enumerate(weeks):
            for member_id, count in per_week.get(week, Counter()).items():
                group = partition.of(member_id)
                totals.setdefault(group, [0] * len(weeks))[position] += count
        return tuple((group, tuple(values)) for group, values in totals.items())

    return WeeklySeries(tuple(weeks), series(by_org), series(by_role))


# --- access and moderation ---------------------------------------------------------------------


async def facilitator_membership(
    session: AsyncSession, *, user_id: int, process_id: int
) -> Membership | None:
    """The user's facilitator membership of that process, or ``None``: who may see its reports."""
    return await session.scalar(
        select(Membership).where(
            Membership.user_id == user_id,
            Membership.process_id == process_id,
            Membership.is_facilitator.is_(True),
        )
    )


async def submission_of_process(session: AsyncSession, *, process_id: int, ref: int) -> Submission | None:
    """A submission by its short reference (``#123``), only if it belongs to that process."""
    submission = await session.get(Submission, ref)
    return submission if submission is not None and submission.process_id == process_id else None


async def hidden_submissions(
    session: AsyncSession, *, process_id: int, limit: int = 10
) -> tuple[list[Submission], int]:
    """The most recently created hidden submissions of a process, and how many there are."""
    condition = (Submission.process_id == process_id, Submission.hidden.is_(True))
    total = int(await session.scalar(select(func.count()).select_from(Submission).where(*condition)) or 0)
    rows = await session.scalars(
        select(Submission)
        .where(*condition)
        .order_by(Submission.created_at.desc(), Submission.id.desc())
        .limit(limit)
    )
    return list(rows), total


async def forwarded_submission(
    session: AsyncSession, *, process_id: int, text: str, author_id: int | None, sent_at: datetime | None
) -> Submission | None:
    """The submission a facilitator forwarded back: same text in the process, from the original
    author when Telegram tells who that was, the one closest in time when several match."""
    statement = select(Submission).where(Submission.process_id == process_id, Submission.text == text)
    if author_id is not None:
        statement = statement.join(Membership, Membership.id == Submission.membership_id).where(
            Membership.user_id == author_id
        )
    candidates = list(await session.scalars(statement.limit(50)))
    if not candidates:
        return None
    if sent_at is None:
        return max(candidates, key=lambda item: (item.created_at, item.id))
    return min(candidates, key=lambda item: (abs((item.created_at - sent_at).total_seconds()), -item.id))
