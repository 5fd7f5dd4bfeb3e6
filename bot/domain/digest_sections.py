"""The digest's sections, built from plain rows without a database.

:mod:`bot.services.digest` loads a :class:`DigestFacts` (the process, its members and the small
aggregates) and streams the period's texts through :class:`TextSections`; :func:`assemble` then
puts the :class:`~bot.domain.digest_model.Digest` together. Every function here is pure, so each
rule (who is quiet, what is quoted, which ideas look alike) is tested on its own.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.domain.bounds import plain_number
from bot.domain.digest_model import (
    CheckinResult,
    CheckinRow,
    Digest,
    DigestFacts,
    ExperimentItem,
    Focus,
    GroupStat,
    HourCount,
    IdeaItem,
    IdeaRow,
    NextWorkshop,
    Participation,
    PromptAnswers,
    PromptInfo,
    PromptRate,
    Quote,
    SentCount,
    SubmissionRow,
    ThemeBlock,
    WeeklySeries,
    WordCount,
    WorkshopInfo,
)
from bot.domain.digest_resonance import resonance
from bot.domain.privacy import (
    OTHER,
    DigestAttribution,
    Group,
    Member,
    Partition,
    cell_partition,
    merged_keys,
    single_partition,
)
from bot.domain.process import phase_at
from bot.domain.text import shorten
from bot.domain.words import lemma_forms, same_stem, similar_pairs

__all__ = [
    "CHART_WEEKS",
    "OPEN_KINDS",
    "Audience",
    "TextSections",
    "assemble",
    "chart_window",
    "focus",
    "group_stats",
    "idea_items",
    "interleave",
    "next_workshop",
    "option_value",
    "weekly_series",
]

QUOTE_CHARS = 320
"""A quote is kept this long at most (the Telegram summary shortens it further)."""
LONG_FIELD_CHARS = 400
QUOTES_PER_THEME = 40
ANSWERS_PER_PROMPT = 20
EXPERIMENTS_KEPT = 40
IDEAS_KEPT = 60
TOP_WORDS = 15
CHART_WEEKS = 16
QUIET_SHARE = 0.5
"""A group is quiet when its share of contributions is under half its share of participants."""
THEME_ORDER: tuple[str | None, ...] = ("pain", "bright", "question", "other", None)
OPEN_KINDS = ("observation", "answer", "experiment")


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
    number = plain_number(choice) if index is None else None
    if number is not None and number < len(options):
        index = number
    if index is None:
        return None
    label = str(options[index].get("fi") or next(iter(options[index].values()), ""))
    match = _LEADING_NUMBER.match(label)
    return index, float(match.group(1).replace(",", ".")) if match else None


@dataclass(frozen=True)
class Audience:
    """The period's participants and how each breakdown groups them."""

    members: Mapping[int, Member]
    participants: tuple[Member, ...]
    by_organisation: Partition
    by_role: Partition
    cells: Partition
    attribute: DigestAttribution

    @classmethod
    def of(cls, facts: DigestFacts) -> Audience:
        members = {member.id: member for member in facts.members}
        participants = tuple(m for m in facts.members if m.participant and m.joined_at < facts.end)
        cells = cell_partition(participants, facts.min_group, facts.organisations, facts.roles)
        return cls(
            members=members,
            participants=participants,
            by_organisation=single_partition(
                participants, "organisation", facts.min_group, facts.organisations
            ),
            by_role=single_partition(participants, "role", facts.min_group, facts.roles),
            cells=cells,
            attribute=DigestAttribution(members, cells),
        )


def interleave(buckets: Mapping[Group, list[Quote]], limit: int) -> tuple[Quote, ...]:
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


def group_stats(
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


def prompt_rates(sent: Iterable[SentCount], prompts: Mapping[int, PromptInfo]) -> tuple[PromptRate, ...]:
    """Answer rates of the prompts sent in the period; reminders are not prompts of their own."""
    rates = []
    for row in sent:
        prompt = prompts.get(row.prompt_id)
        if prompt is None or prompt.kind == "reminder":
            continue
        rates.append(
            PromptRate(
                row.prompt_id, prompt.key, prompt.kind, dict(prompt.texts or {}), row.sent, row.answered or 0
            )
        )
    rates.sort(key=lambda rate: (rate.key, rate.prompt_id))
    return tuple(rates)


def participation(facts: DigestFacts, audience: Audience) -> Participation:
    participants = audience.participants
    contributions = facts.contributions
    active = {m.id for m in participants if contributions.get(m.id) or facts.supports_given.get(m.id)}
    return Participation(
        participants=len(participants),
        active=len(active),
        new_joiners=sum(1 for m in participants if facts.start <= m.joined_at < facts.end),
        by_organisation=group_stats(audience.by_organisation, participants, active, contributions),
        by_role=group_stats(audience.by_role, participants, active, contributions),
        by_cell=group_stats(audience.cells, participants, active, contributions),
        prompt_rates=prompt_rates(facts.sent, facts.prompts),
    )


@dataclass
class WordSection:
    """Recurring content words, shown as people wrote them when the lemma would puzzle a reader."""

    counts: Counter[str] = field(default_factory=Counter)
    readable: set[str] = field(default_factory=set)
    written: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, text: str, language: str) -> None:
        for lemma, form in lemma_forms(text, language).items():
            self.counts[lemma] += 1
            if lemma not in self.readable:
                if same_stem(lemma, form):
                    self.readable.add(lemma)
                else:
                    self.written[lemma][form] += 1

    def top(self) -> tuple[WordCount, ...]:
        return tuple(
            WordCount(word if word in self.readable else self.written[word].most_common(1)[0][0], count)
            for word, count in self.counts.most_common(TOP_WORDS)
            if count >= 2
        )


def _quote(row: SubmissionRow, audience: Audience, theme: str | None) -> Quote:
    return Quote(
        row.id,
        shorten(row.text, QUOTE_CHARS),
        audience.attribute(row.membership_id, row.anonymous),
        row.created_at,
        row.media_type,
        theme,
        len(row.text or "") > QUOTE_CHARS,
    )


@dataclass
class ObservationSection:
    """Observations by theme: counts, and quotes taken in turns from each group."""

    audience: Audience
    count: int = 0
    themes: Counter[str | None] = field(default_factory=Counter)
    quotes: dict[str | None, dict[Group, list[Quote]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    words: WordSection = field(default_factory=WordSection)

    def add(self, row: SubmissionRow) -> None:
        self.count += 1
        self.themes[row.theme] += 1
        if row.text:
            member = self.audience.members.get(row.membership_id)
            self.words.add(row.text, member.language if member else "fi")
        attribution = self.audience.attribute(row.membership_id, row.anonymous)
        bucket = self.quotes[row.theme][attribution.group]
        if len(bucket) < QUOTES_PER_THEME:
            bucket.append(_quote(row, self.audience, row.theme))

    def blocks(self) -> tuple[ThemeBlock, ...]:
        return tuple(
            ThemeBlock(theme, self.themes[theme], interleave(self.quotes[theme], QUOTES_PER_THEME))
            for theme in THEME_ORDER
            if self.themes.get(theme)
        )


@dataclass
class AnswerSection:
    """Answers per prompt; a check-in's choices are tallied, its comments quoted like answers."""

    audience: Audience
    prompts: Mapping[int, PromptInfo]
    count: int = 0
    per_prompt: Counter[int] = field(default_factory=Counter)
    quotes: dict[int, list[Quote]] = field(default_factory=lambda: defaultdict(list))
    values: dict[int, dict[int, list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list))
    )
    respondents: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    distribution: dict[int, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))

    def add(self, row: SubmissionRow) -> None:
        self.count += 1
        prompt = self.prompts.get(row.prompt_id) if row.prompt_id is not None else None
        if prompt is None:
            return
        self.per_prompt[prompt.id] += 1
        if prompt.kind == "checkin":
            picked = option_value(prompt.options or [], row.choice)
            if picked is not None:
                index, value = picked
                self.distribution[prompt.id][index] += 1
                self.respondents[prompt.id].add(row.membership_id)
                if value is not None:
                    self.values[prompt.id][row.membership_id].append(value)
            if not row.text:
                return
        if (row.text or row.media_type) and len(self.quotes[prompt.id]) < ANSWERS_PER_PROMPT:
            self.quotes[prompt.id].append(_quote(row, self.audience, None))

    def results(
        self, min_group: int, organisations: Sequence[str]
    ) -> tuple[tuple[CheckinResult, ...], tuple[PromptAnswers, ...]]:
        checkins: list[CheckinResult] = []
        answers: list[PromptAnswers] = []
        for prompt_id in sorted(self.per_prompt, key=lambda pid: (self.prompts[pid].key, pid)):
            prompt = self.prompts[prompt_id]
            if prompt.kind == "checkin":
                checkins.append(self._checkin(prompt, min_group, organisations))
            else:
                answers.append(
                    PromptAnswers(
                        prompt_id,
                        prompt.key,
                        prompt.kind,
                        dict(prompt.texts or {}),
                        self.per_prompt[prompt_id],
                        tuple(self.quotes[prompt_id]),
                    )
                )
        return tuple(checkins), tuple(answers)

    def _checkin(self, prompt: PromptInfo, min_group: int, organisations: Sequence[str]) -> CheckinResult:
        values = self.values.get(prompt.id, {})
        options = prompt.options or []
        all_values = [value for member_values in values.values() for value in member_values]
        distribution = self.distribution.get(prompt.id, Counter())
        return CheckinResult(
            prompt.id,
            prompt.key,
            dict(prompt.texts or {}),
            tuple(dict(option) for option in options),
            sum(distribution.values()),
            sum(all_values) / len(all_values) if all_values else None,
            tuple(distribution.get(index, 0) for index in range(len(options))),
            self._by_organisation(prompt.id, values, min_group, organisations),
        )

    def _by_organisation(
        self,
        prompt_id: int,
        values: Mapping[int, list[float]],
        min_group: int,
        organisations: Sequence[str],
    ) -> tuple[CheckinRow, ...]:
        """Averages per organisation of those who answered; small ones (and no organisation) merged."""
        org_members: dict[str, set[int]] = defaultdict(set)
        for member_id in self.respondents.get(prompt_id, set()):
            member = self.audience.members.get(member_id)
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
        return tuple(rows)


def _checkin_row(group: Group, member_ids: Iterable[int], values: Mapping[int, list[float]]) -> CheckinRow:
    ids = list(member_ids)
    numbers = [value for member_id in ids for value in values.get(member_id, [])]
    return CheckinRow(group, len(ids), sum(numbers) / len(numbers) if numbers else None)


@dataclass
class ExperimentSection:
    """Experiment log entries, newest first, the first :data:`EXPERIMENTS_KEPT` of them kept."""

    audience: Audience
    count: int = 0
    items: list[ExperimentItem] = field(default_factory=list)

    def add(self, row: SubmissionRow) -> None:
        self.count += 1
        if len(self.items) < EXPERIMENTS_KEPT:
            self.items.append(
                ExperimentItem(
                    row.id,
                    shorten(row.title, LONG_FIELD_CHARS) or None,
                    shorten(row.text, LONG_FIELD_CHARS) or None,
                    shorten(row.happened, LONG_FIELD_CHARS) or None,
                    shorten(row.learned, LONG_FIELD_CHARS) or None,
                    shorten(row.obstacles, LONG_FIELD_CHARS) or None,
                    self.audience.attribute(row.membership_id, row.anonymous),
                    row.created_at,
                )
            )


class TextSections:
    """The period's texts, newest first, fed in batches as they stream from the database."""

    def __init__(self, facts: DigestFacts, audience: Audience) -> None:
        self.media: Counter[str] = Counter()
        self.observations = ObservationSection(audience)
        self.answers = AnswerSection(audience, facts.prompts)
        self.experiments = ExperimentSection(audience)

    def add(self, rows: Iterable[Sequence[Any]]) -> None:
        """Rows in :class:`SubmissionRow`'s column order (a named tuple or a database row)."""
        for values in rows:
            row = SubmissionRow._make(values)
            if row.media_type:
                self.media[row.media_type] += 1
            if row.kind == "observation":
                self.observations.add(row)
            elif row.kind == "answer":
                self.answers.add(row)
            else:
                self.experiments.add(row)


def idea_items(rows: Sequence[IdeaRow], audience: Audience, start: datetime) -> tuple[IdeaItem, ...]:
    """The listed ideas as the digest shows them, each flagged with the others it resembles."""
    members = audience.members
    similar = similar_pairs(
        [
            (row.id, row.title, members[row.membership_id].language if row.membership_id in members else "fi")
            for row in rows
            if row.title
        ]
    )
    return tuple(
        IdeaItem(
            ref=row.id,
            title=shorten(row.title, 300) or "—",
            need=shorten(row.need, LONG_FIELD_CHARS) or None,
            partners=shorten(row.partners, LONG_FIELD_CHARS) or None,
            first_experiment=shorten(row.first_experiment, LONG_FIELD_CHARS) or None,
            supports=int(row.supports or 0),
            new_supports=int(row.new_supports or 0),
            is_new=row.created_at >= start,
            created_at=row.created_at,
            attribution=audience.attribute(row.membership_id, bool(row.anonymous)),
            similar_to=tuple(sorted(similar.get(row.id, ()))),
        )
        for row in rows
    )


def week_start(instant: datetime, tz: ZoneInfo) -> date:
    day = instant.astimezone(tz).date()
    return day - timedelta(days=day.weekday())


def chart_window(end: datetime, tz: ZoneInfo) -> tuple[date, date]:
    """The first and the last local week (Mondays) the chart may show for a digest ending at ``end``."""
    # A weekly digest ends on Monday morning: that new week is not a week of data yet.
    last_week = week_start(end - timedelta(days=1), tz)
    return last_week - timedelta(weeks=CHART_WEEKS - 1), last_week


def weekly_series(
    hours: Iterable[HourCount], end: datetime, tz: ZoneInfo, by_org: Partition, by_role: Partition
) -> WeeklySeries:
    """Contributions per local week, from the first week with any up to the last week before ``end``."""
    first_allowed, last_week = chart_window(end, tz)
    per_week: dict[date, Counter[int]] = defaultdict(Counter)
    for row in hours:
        per_week[week_start(row.first_at, tz)][row.membership_id] += int(row.submissions)
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


def next_workshop(workshops: Sequence[WorkshopInfo], end: datetime, tz: ZoneInfo) -> NextWorkshop | None:
    upcoming = next((workshop for workshop in workshops if workshop.starts_at > end), None)
    if upcoming is None:
        return None
    days_left = (upcoming.starts_at.astimezone(tz).date() - end.astimezone(tz).date()).days
    return NextWorkshop(upcoming.number, upcoming.starts_at, upcoming.place, days_left)


def focus(
    ideas: Sequence[IdeaItem],
    words: Sequence[WordCount],
    themes: Counter[str | None],
    part: Participation,
) -> Focus:
    """What to look at first: the most supported ideas, the top words and themes, quiet groups."""
    quiet: list[Group] = []
    for stat in part.by_organisation + part.by_role + part.by_cell:
        if stat.quiet and stat.group not in quiet:
            quiet.append(stat.group)
    return Focus(
        ideas=tuple(idea for idea in ideas if idea.supports > 0)[:3] or tuple(ideas[:3]),
        words=tuple(words[:5]),
        themes=tuple(
            (str(theme), count) for theme, count in themes.most_common() if theme is not None and count
        )[:3],
        quiet_groups=tuple(quiet[:4]),
    )


def assemble(facts: DigestFacts, audience: Audience, texts: TextSections) -> Digest:
    """The digest from the loaded facts and the streamed texts."""
    tz = facts.tz
    part = participation(facts, audience)
    top_words = texts.observations.words.top()
    checkins, answers = texts.answers.results(facts.min_group, facts.organisations)
    ideas = idea_items(facts.ideas.listed, audience, facts.start)
    resonant = resonance(facts.resonance, audience.members, audience.attribute)
    suggested = focus(ideas, top_words, texts.observations.themes, part)
    return Digest(
        process_id=facts.process_id,
        process_name=facts.process_name,
        timezone=facts.timezone,
        start=facts.start,
        end=facts.end,
        generated_at=facts.now,
        min_group=facts.min_group,
        phase=phase_at((workshop.starts_at for workshop in facts.workshops), facts.end),
        ended=facts.end >= facts.process_end,
        next_workshop=next_workshop(facts.workshops, facts.end, tz),
        participation=part,
        observation_count=texts.observations.count,
        themes=texts.observations.blocks(),
        media=dict(texts.media),
        words=top_words,
        ideas=ideas,
        idea_count=facts.ideas.count,
        new_idea_count=facts.ideas.new_count,
        supports_in_period=facts.ideas.supports_in_period,
        checkins=checkins,
        answers=answers,
        answer_count=texts.answers.count,
        experiments=tuple(texts.experiments.items),
        experiment_count=texts.experiments.count,
        weekly=weekly_series(facts.hours, facts.end, tz, audience.by_organisation, audience.by_role),
        focus=replace(suggested, resonant=resonant.items[:2]),
        organisations=facts.organisations,
        resonance=resonant,
    )
