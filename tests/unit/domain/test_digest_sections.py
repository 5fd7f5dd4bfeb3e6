"""The digest's sections from plain rows, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.domain.digest_model import (
    DigestFacts,
    HourCount,
    IdeaFacts,
    IdeaRow,
    PromptInfo,
    Quote,
    SentCount,
    SubmissionRow,
    WorkshopInfo,
)
from bot.domain.digest_sections import (
    Audience,
    TextSections,
    assemble,
    interleave,
    next_workshop,
    option_value,
    weekly_series,
)
from bot.domain.privacy import OTHER, Attribution, Group, Member

HELSINKI = ZoneInfo("Europe/Helsinki")
START = datetime(2027, 1, 11, 6, 0, tzinfo=UTC)
END = START + timedelta(days=7)
ROLES = ("management", "employee", "elected", "other")
ORGANISATIONS = ("Kunta", "Seurakunta")
CHECKIN = PromptInfo(
    20,
    "p1-checkin",
    "checkin",
    {"fi": "Miten jaksat?"},
    [{"fi": "1 – huonosti"}, {"fi": "3 – hyvin"}],
)
REFLECTION = PromptInfo(21, "p1-reflection", "reflection", {"fi": "Mitä opit?"}, None)
REMINDER = PromptInfo(22, "p1-reminder", "reminder", {"fi": "Muistutus"}, None)


def members() -> list[Member]:
    found = []
    for n in range(1, 9):
        found.append(
            Member(
                id=n,
                organisation="Kunta" if n <= 5 else "Seurakunta",
                role="employee",
                name="Aino" if n == 1 else None,
                pseudonym=f"P-{n}",
                facilitator=False,
                participant=True,
                language="fi",
                joined_at=START - timedelta(days=3) if n < 8 else START + timedelta(days=1),
            )
        )
    return found


def text(
    ref: int, member: int, kind: str, body: str | None, *, hours: int = 0, **fields: object
) -> SubmissionRow:
    values: dict[str, object] = {
        "id": ref,
        "membership_id": member,
        "kind": kind,
        "text": body,
        "media_type": None,
        "theme": None,
        "anonymous": False,
        "created_at": END - timedelta(hours=hours + 1),
        "prompt_id": None,
        "choice": None,
        "title": None,
        "happened": None,
        "learned": None,
        "obstacles": None,
    }
    values.update(fields)
    return SubmissionRow(**values)  # type: ignore[arg-type]


def facts(**changes: object) -> DigestFacts:
    values: dict[str, object] = {
        "process_id": 1,
        "process_name": "Testi",
        "timezone": "Europe/Helsinki",
        "start": START,
        "end": END,
        "now": END,
        "process_end": END + timedelta(days=60),
        "min_group": 3,
        "organisations": ORGANISATIONS,
        "roles": ROLES,
        "workshops": [
            WorkshopInfo(1, START - timedelta(days=2), "Kirjasto"),
            WorkshopInfo(2, END + timedelta(days=10), None),
        ],
        "prompts": {prompt.id: prompt for prompt in (CHECKIN, REFLECTION, REMINDER)},
        "members": members(),
        "contributions": {1: 3, 2: 1, 6: 1},
        "supports_given": {3: 2},
        "sent": [SentCount(20, 8, 4), SentCount(21, 8, 2), SentCount(22, 8, None)],
        "ideas": IdeaFacts(count=0, new_count=0, supports_in_period=0, listed=[]),
        "hours": [],
    }
    values.update(changes)
    return DigestFacts(**values)  # type: ignore[arg-type]


def build(rows: list[SubmissionRow], **changes: object):
    loaded = facts(**changes)
    audience = Audience.of(loaded)
    texts = TextSections(loaded, audience)
    texts.add(rows)
    return assemble(loaded, audience, texts)


def test_check_in_choices_are_read_as_labels_in_any_language_or_as_an_index() -> None:
    options = [
        {"fi": "1 – ihan lopussa", "sv": "1 – helt slut", "en": "1 – drained"},
        {"fi": "2,5 – vähän", "en": "2.5"},
    ]
    assert option_value(options, "1 – helt slut") == (0, 1.0)
    assert option_value(options, "2.5") == (1, 2.5)
    assert option_value(options, "1") == (1, 2.5)
    assert option_value(options, "ei tällaista") is None
    assert option_value([{"fi": "Kyllä"}, {"fi": "Ei"}], "Ei") == (1, None)


def test_participation_counts_joiners_activity_and_answer_rates_without_reminders() -> None:
    digest = build([])
    part = digest.participation

    assert (part.participants, part.active, part.new_joiners) == (8, 4, 1)
    assert [(rate.key, rate.answered, rate.sent) for rate in part.prompt_rates] == [
        ("p1-checkin", 4, 8),
        ("p1-reflection", 2, 8),
    ]
    by_org = {stat.group: (stat.people, stat.active, stat.contributions) for stat in part.by_organisation}
    assert by_org == {Group("Kunta"): (5, 3, 4), Group("Seurakunta"): (3, 1, 1)}


def test_a_group_that_says_little_for_its_size_is_quiet_and_in_the_focus() -> None:
    digest = build([], contributions={1: 10, 2: 5, 6: 1})

    quiet = {stat.group for stat in digest.participation.by_organisation if stat.quiet}
    assert quiet == {Group("Seurakunta")}
    assert Group("Seurakunta") in digest.focus.quiet_groups


def test_observations_are_counted_by_theme_and_recurring_words_lemmatised() -> None:
    rows = [
        text(1, 1, "observation", "Kirjastossa on hiljaista", theme="pain"),
        text(2, 2, "observation", "Kirjaston kahvila", theme="pain", hours=1),
        text(3, 6, "observation", None, theme="bright", media_type="photo", hours=2),
    ]

    digest = build(rows)

    assert digest.observation_count == 3
    assert [(block.theme, block.count) for block in digest.themes] == [("pain", 2), ("bright", 1)]
    assert digest.media == {"photo": 1}
    assert [(word.word, word.count) for word in digest.words] == [("kirjasto", 2)]
    named = digest.themes[0].quotes[0]
    assert named.attribution == Attribution(Group("Kunta", "employee"), name="Aino")
    assert digest.focus.themes == (("pain", 2), ("bright", 1))


def test_anonymous_quotes_carry_only_a_big_enough_group() -> None:
    digest = build([text(1, 1, "observation", "Hiljaista", anonymous=True)])

    assert digest.themes[0].quotes[0].attribution == Attribution(Group("Kunta", "employee"))


def test_check_ins_are_averaged_and_comments_quoted_like_answers() -> None:
    rows = [
        text(1, 1, "answer", None, prompt_id=20, choice="3 – hyvin"),
        text(2, 2, "answer", "Väsyttää", prompt_id=20, choice="0", hours=1),
        text(3, 3, "answer", None, prompt_id=20, choice="1", hours=2),
        text(4, 6, "answer", "Paljon", prompt_id=21, hours=3),
        text(5, 7, "answer", "ei kysymystä", prompt_id=None, hours=4),
    ]

    digest = build(rows)

    assert digest.answer_count == 5
    [checkin] = digest.checkins
    assert (checkin.answers, checkin.distribution) == (3, (1, 2))
    assert checkin.average == (3 + 1 + 3) / 3
    assert [(row.group, row.answers) for row in checkin.by_organisation] == [(Group("Kunta"), 3)]
    [reflection] = digest.answers
    assert (reflection.key, reflection.count, [q.ref for q in reflection.quotes]) == ("p1-reflection", 1, [4])


def test_a_check_in_organisation_under_the_minimum_is_merged_into_other() -> None:
    rows = [
        text(1, 1, "answer", None, prompt_id=20, choice="0"),
        text(2, 6, "answer", None, prompt_id=20, choice="1"),
    ]

    [checkin] = build(rows, min_group=2).checkins

    assert [(row.group, row.answers) for row in checkin.by_organisation] == [(OTHER, 2)]


def test_experiments_keep_their_fields_shortened() -> None:
    rows = [text(1, 1, "experiment", "Kokeilimme", title="Kahvihetki", learned="x" * 500)]

    digest = build(rows)

    [item] = digest.experiments
    assert (item.title, item.done, digest.experiment_count) == ("Kahvihetki", "Kokeilimme", 1)
    assert item.learned is not None and len(item.learned) == 400 and item.learned.endswith("…")


def test_ideas_flag_similar_titles_and_the_focus_prefers_supported_ones() -> None:
    listed = [
        IdeaRow(11, 1, "Kirjaston kahvihetki ikäihmisille", None, None, None, False, START, 3, 1),
        IdeaRow(12, 2, "Kirjaston kahvihetket ikäihmisille", "Seuraa", None, None, True, START, 0, 0),
        IdeaRow(13, 6, "Bykyyti till butiken", None, None, None, False, START - timedelta(days=9), 0, 0),
    ]

    digest = build([], ideas=IdeaFacts(count=3, new_count=2, supports_in_period=1, listed=listed))

    by_ref = {idea.ref: idea for idea in digest.ideas}
    assert by_ref[11].similar_to == (12,)
    assert by_ref[12].similar_to == (11,)
    assert by_ref[13].similar_to == ()
    assert (by_ref[11].is_new, by_ref[13].is_new) == (True, False)
    assert [idea.ref for idea in digest.focus.ideas] == [11]


def test_quotes_take_turns_between_groups() -> None:
    rows = [text(n, 1, "observation", f"Aino {n}", hours=n) for n in range(1, 4)]
    rows += [text(10 + n, 6, "observation", f"Muu {n}", hours=n + 10) for n in range(1, 3)]
    digest = build(rows)

    buckets: dict[Group, list[Quote]] = {}
    for quote in digest.themes[0].quotes:
        buckets.setdefault(quote.attribution.group, []).append(quote)
    assert [quote.ref for quote in interleave(buckets, 3)] == [1, 11, 2]


def test_phase_is_zero_before_the_first_workshop_and_the_next_one_is_counted_in_local_days() -> None:
    workshops = [WorkshopInfo(1, START, None), WorkshopInfo(2, END, "Kirjasto")]

    assert build([], workshops=workshops, end=START - timedelta(seconds=1)).phase == 0
    assert build([], workshops=workshops, end=START).phase == 1
    upcoming = next_workshop(workshops, START, HELSINKI)
    assert upcoming is not None and (upcoming.number, upcoming.days_left) == (2, 7)
    assert next_workshop(workshops, END, HELSINKI) is None


def test_weekly_series_runs_from_the_first_week_with_data_and_groups_small_ones() -> None:
    loaded = facts()
    audience = Audience.of(loaded)
    hours = [
        HourCount(1, START - timedelta(weeks=2), 2),
        HourCount(6, START - timedelta(weeks=2), 1),
        HourCount(2, START + timedelta(days=1), 3),
    ]

    series = weekly_series(hours, END, HELSINKI, audience.by_organisation, audience.by_role)

    assert len(series.weeks) == 3
    assert dict(series.by_organisation) == {Group("Kunta"): (2, 0, 3), Group("Seurakunta"): (1, 0, 0)}
    assert series.total == 6
    # Roles nobody has are still listed (empty groups name no one), with nothing in them.
    by_role = dict(series.by_role)
    assert by_role.pop(Group(None, "employee")) == (3, 0, 3)
    assert set(by_role.values()) == {(0, 0, 0)}
