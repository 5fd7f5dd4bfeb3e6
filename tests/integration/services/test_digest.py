"""The digest's figures, privacy rules and rendering, over the seeded process on both backends."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from statistics import mean
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from bot.domain.digest_model import Digest
from bot.domain.privacy import OTHER, Group
from bot.jobs.digest_job import due_digests
from bot.render.digest_html import html_document
from bot.render.digest_telegram import TELEGRAM_LIMIT, telegram_messages, visible_length
from bot.services.digest import build_digest, record_run
from sandbox.validate import validate_request
from storage.models import DigestRun, Process, Submission
from tests.support.seed import (
    ANONYMOUS_ONLY,
    CHECKIN_ANSWERS,
    OBSERVATIONS,
    ORGANISATIONS,
    PEOPLE,
    REFLECTION_ANSWERS,
    Seeded,
    expected_contributions,
    expected_supporters,
    in_period,
    seed_process,
)

HELSINKI = ZoneInfo("Europe/Helsinki")


@pytest.fixture
async def seeded(db) -> Seeded:
    return await seed_process(db)


async def digest_of(
    db, seeded: Seeded, *, start: datetime | None = None, end: datetime | None = None
) -> Digest:
    digest = await build_digest(
        db,
        process_id=seeded.process_id,
        start=start or seeded.start,
        end=end or seeded.end,
        now=end or seeded.end,
    )
    assert digest is not None
    return digest


def all_outputs(digest: Digest, catalog) -> str:
    """Everything a facilitator can read of a digest, in every language."""
    parts = []
    for lang in ("fi", "sv", "en"):
        parts += telegram_messages(digest, catalog, lang, weekly=True)
        parts.append(html_document(digest, catalog, lang))
    return "\n".join(parts)


def person(key: str):
    return next(p for p in PEOPLE if p.key == key)


# --- figures ---------------------------------------------------------------------------------


async def test_participation_figures_match_the_seed(db, seeded) -> None:
    digest = await digest_of(db, seeded)
    part = digest.participation

    made = expected_contributions()
    active = set(made) | expected_supporters()
    assert part.participants == len(PEOPLE) == 30
    assert part.active == len(active)
    assert part.new_joiners == 3

    per_org: Counter[str] = Counter()
    for key, count in made.items():
        per_org[ORGANISATIONS[person(key).organisation]] += count
    shown = {stat.group.organisation: stat.contributions for stat in part.by_organisation}
    assert shown == dict(per_org)
    people = {stat.group.organisation: stat.people for stat in part.by_organisation}
    assert people == {"Ilomantsin kunta": 14, "Ilomantsin seurakunta": 10, "Kyläyhdistys": 6}

    rates = {rate.key: (rate.answered, rate.sent) for rate in part.prompt_rates}
    assert rates == {
        "p1-reflection": (len(REFLECTION_ANSWERS), 30),
        "p1-checkin": (len(CHECKIN_ANSWERS), 30),
    }


async def test_observations_are_grouped_by_theme_with_media_counted(db, seeded) -> None:
    digest = await digest_of(db, seeded)

    expected = [item for item in OBSERVATIONS if in_period(item) and not item.hidden]
    assert digest.observation_count == len(expected)
    assert {block.theme: block.count for block in digest.themes} == Counter(item.theme for item in expected)
    assert digest.media == Counter(item.media for item in expected if item.media)
    quoted = {quote.ref for block in digest.themes for quote in block.quotes}
    refs = {
        seeded.submission_ids[f"obs:{index}"] for index, item in enumerate(OBSERVATIONS) if item in expected
    }
    assert quoted == refs
    photo = next(
        q for block in digest.themes for q in block.quotes if q.media_type == "photo" and q.text == ""
    )
    assert photo.theme is None


async def test_recurring_words_are_lemmatised_across_finnish_inflection(db, seeded) -> None:
    digest = await digest_of(db, seeded)

    words = {word.word: word.count for word in digest.words}
    # kirjastossa, Kirjaston, Kirjastoon … kirjasto, kirjaston, Kirjasto: five observations.
    assert digest.words[0].word == "kirjasto"
    assert words["kirjasto"] == 5
    assert words["ikäihminen"] == 4
    assert words["yksinäisyys"] == 3
    # Swedish "äldre" lemmatises to "gammal"; the digest shows the word people wrote.
    assert words["äldre"] == 3
    assert "gammal" not in words
    assert not {"ja", "on", "och", "är", "the"} & set(words)


async def test_ideas_are_listed_most_supported_first_without_hidden_or_merged(db, seeded) -> None:
    digest = await digest_of(db, seeded)

    titles = [idea.title for idea in digest.ideas]
    assert titles[0] == "Kirjaston kahvihetki ikäihmisille"
    assert [idea.supports for idea in digest.ideas] == sorted(
        (i.supports for i in digest.ideas), reverse=True
    )
    assert "Piilotettu idea" not in titles
    assert "Kahvihetki kirjastossa" not in titles
    assert digest.idea_count == 5
    assert digest.new_idea_count == 4
    top = digest.ideas[0]
    assert (top.need, top.partners, top.first_experiment) == (
        "Ikäihmisten yksinäisyys",
        "Kirjasto, diakonia, kyläyhdistys",
        "Kaksi kahvihetkeä helmikuussa",
    )
    old = next(idea for idea in digest.ideas if idea.title == "Naapuriapurinki")
    assert (old.supports, old.new_supports, old.is_new) == (2, 1, False)


async def test_similar_ideas_are_flagged_to_each_other(db, seeded) -> None:
    digest = await digest_of(db, seeded)

    first, second = seeded.submission_ids["idea:0"], seeded.submission_ids["idea:1"]
    by_ref = {idea.ref: idea for idea in digest.ideas}
    assert second in by_ref[first].similar_to
    assert first in by_ref[second].similar_to
    assert by_ref[seeded.submission_ids["idea:2"]].similar_to == ()


async def test_checkin_averages_per_organisation_merge_small_groups(db, seeded) -> None:
    digest = await digest_of(db, seeded)

    [checkin] = digest.checkins
    values = {key: index + 1 for key, index in CHECKIN_ANSWERS}
    assert checkin.answers == len(CHECKIN_ANSWERS)
    assert checkin.average == pytest.approx(mean(values.values()))
    kunta = [v for k, v in values.items() if person(k).organisation == 0]
    rest = [v for k, v in values.items() if person(k).organisation != 0]
    # Two answers from the village association are too few to show: they join the parish's four
    # in "others", or "others" would be the association by elimination.
    assert [(row.group, row.answers) for row in checkin.by_organisation] == [
        (Group("Ilomantsin kunta"), len(kunta)),
        (OTHER, len(rest)),
    ]
    assert [row.average for row in checkin.by_organisation] == [
        pytest.approx(mean(kunta)),
        pytest.approx(mean(rest)),
    ]
    assert checkin.distribution == tuple(Counter(values.values()).get(n, 0) for n in range(1, 6))


async def test_answers_per_prompt_and_experiment_logs(db, seeded) -> None:
    digest = await digest_of(db, seeded)

    [reflection] = digest.answers
    assert reflection.key == "p1-reflection"
    assert reflection.count == len(REFLECTION_ANSWERS)
    assert {quote.text for quote in reflection.quotes} == {text for _, text in REFLECTION_ANSWERS}
    assert digest.experiment_count == 2
    logs = {item.title: item for item in digest.experiments}
    assert logs["Kirjaston kahvihetki"].learned == "Kutsu kannattaa viedä myös kotihoidon kautta."
    assert logs["Kirjaston kahvihetki"].obstacles == "Tilavaraus oli hankala."
    assert logs["Bykyyti"].happened == "Fem personer åkte med."


async def test_period_phase_and_next_workshop(db, seeded) -> None:
    digest = await digest_of(db, seeded)

    assert digest.phase == 1
    assert digest.next_workshop is not None
    assert digest.next_workshop.number == 2
    assert digest.next_workshop.days_left == 17  # Monday 18 January → Thursday 4 February
    texts = {quote.text for block in digest.themes for quote in block.quotes}
    assert "Vanha havainto ennen jaksoa." not in texts
    assert "Havainto jakson jälkeen." not in texts


async def test_suggested_focus_names_top_ideas_themes_and_quiet_groups(db, seeded) -> None:
    digest = await digest_of(db, seeded)

    focus = digest.focus
    assert [idea.title for idea in focus.ideas] == [
        "Kirjaston kahvihetki ikäihmisille",
        "Bykyyti till butiken",
        "Nuorten iltakahvila seurakuntatalolla",
    ]
    assert focus.themes[0] == ("pain", 9)
    assert "kirjasto" in [word.word for word in focus.words]
    # Parish management: three people, one contribution between them.
    assert Group("Ilomantsin seurakunta", "management") in focus.quiet_groups


# --- privacy ---------------------------------------------------------------------------------


async def test_role_and_cell_breakdowns_merge_groups_under_the_minimum(db, seeded) -> None:
    digest = await digest_of(db, seeded)
    part = digest.participation

    roles = {stat.group: stat.people for stat in part.by_role}
    # Two elected officials are too few; with them alone "others" would be them, so the five in
    # role "other" join too.
    # Nobody chose the association role: an empty group reveals nobody and stays listed.
    assert roles == {
        Group(role="management"): 9,
        Group(role="employee"): 14,
        Group(role="association"): 0,
        OTHER: 7,
    }
    cells = {stat.group: stat.people for stat in part.by_cell}
    assert all(people >= 3 for people in cells.values())
    assert cells[OTHER] == 5
    assert Group("Ilomantsin kunta", "elected") not in cells
    assert sum(cells.values()) == 30


async def test_anonymous_authors_are_never_named(db, seeded, catalog) -> None:
    digest = await digest_of(db, seeded)
    text = all_outputs(digest, catalog)

    salla = person(ANONYMOUS_ONLY)
    assert salla.name is not None
    assert salla.name not in text
    assert "Salla" not in text
    assert seeded.pseudonyms[ANONYMOUS_ONLY] not in text
    assert not any(pseudonym in text for pseudonym in seeded.pseudonyms.values())
    # Aino allowed her name: it shows on her own quote, but not on the one she sent anonymously.
    quotes = {quote.ref: quote for block in digest.themes for quote in block.quotes}
    assert quotes[seeded.submission_ids["obs:0"]].attribution.name == "Aino Esimerkki"
    anonymous = quotes[seeded.submission_ids["obs:13"]]
    assert anonymous.attribution.name is None
    line = next(
        line for line in html_document(digest, catalog, "fi").split("<li>") if "puhunut kenenkään" in line
    )
    assert "Aino" not in line


async def test_user_text_is_escaped_in_html_and_in_telegram_messages(db, seeded, catalog) -> None:
    digest = await digest_of(db, seeded)

    document = html_document(digest, catalog, "fi")
    assert "<script>" not in document
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Kahvi &amp; pulla houkuttelee" in document
    assert "Kommunen &amp; byföreningen" in document
    for message in telegram_messages(digest, catalog, "fi"):
        assert "<script>" not in message
        assert validate_request("sendMessage", {"chat_id": 1, "text": message, "parse_mode": "HTML"}) == []
    assert any("&lt;script&gt;" in message for message in telegram_messages(digest, catalog, "fi"))


async def test_hidden_submissions_leave_every_output(db, seeded, catalog) -> None:
    digest = await digest_of(db, seeded)
    text = all_outputs(digest, catalog)

    assert "piilotettu loukkaava" not in text
    assert "Piilotettu idea" not in text
    ref = seeded.submission_ids["obs:4"]
    async with db.session() as session:
        await session.execute(update(Submission).where(Submission.id == ref).values(hidden=True))
    hidden = await digest_of(db, seeded)
    assert "Kotihoidon asiakkaat" not in all_outputs(hidden, catalog)
    assert hidden.observation_count == digest.observation_count - 1
    assert hidden.media.get("voice", 0) == digest.media["voice"] - 1


# --- rendering -------------------------------------------------------------------------------


async def test_telegram_summary_fits_telegram_limits_even_for_a_busy_week(db, seeded, catalog) -> None:
    long_text = "Ikäihmisten arki & kirjaston <palvelut> " * 40
    async with db.session() as session:
        for number in range(150):
            session.add(
                Submission(
                    process_id=seeded.process_id,
                    membership_id=seeded.member_ids[PEOPLE[number % 30].key],
                    kind="observation" if number % 3 else "experiment",
                    text=long_text,
                    title=long_text[:200],
                    happened=long_text,
                    learned=long_text,
                    obstacles=long_text,
                    theme=("pain", "bright", "question", "other", None)[number % 5],
                    created_at=seeded.start + timedelta(hours=number),
                )
            )
    digest = await digest_of(db, seeded)

    for lang in ("fi", "sv", "en"):
        messages = telegram_messages(digest, catalog, lang)
        assert 1 < len(messages) <= 6
        for message in messages:
            assert visible_length(message) <= TELEGRAM_LIMIT
            assert (
                validate_request("sendMessage", {"chat_id": 1, "text": message, "parse_mode": "HTML"}) == []
            )


async def test_html_document_is_self_contained_and_prints_on_a4(db, seeded, catalog) -> None:
    digest = await digest_of(db, seeded)
    document = html_document(digest, catalog, "fi", chart_png=b"\x89PNG\r\n\x1a\nchart")

    assert document.startswith("<!DOCTYPE html>")
    assert '<meta charset="utf-8">' in document
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", document)
    assert "@import" not in document
    assert "<script" not in document
    assert "@media print" in document
    assert "size: A4" in document
    assert 'src="data:image/png;base64,iVBORw0KGgpjaGFydA=="' in document


async def test_dates_and_numbers_follow_the_facilitators_language(db, seeded, catalog) -> None:
    digest = await digest_of(db, seeded)

    finnish = html_document(digest, catalog, "fi")
    assert "ma 11.1." in finnish
    assert "keskiarvo 4,0" in finnish
    assert "torstaina 4.2. klo 9.00" in finnish
    swedish = html_document(digest, catalog, "sv")
    assert "mån 11.1 " in swedish  # Finland-Swedish dates have no final point
    assert "mån 11.1." not in swedish
    assert "medelvärde 4,0" in swedish
    english = html_document(digest, catalog, "en")
    assert "Mon 11 Jan" in english
    assert "average 4.0" in english
    # Quotes stay in the language they were written in.
    assert "Äldre personer i byn känner sig ensamma på vintern." in english


# --- pieces ----------------------------------------------------------------------------------


async def test_weekly_digest_is_due_at_local_time_across_the_spring_dst_change(db, seeded) -> None:
    async with db.session() as session:
        process = await session.get(Process, seeded.process_id)
        assert process is not None
        # The last digest went out on Monday 22 March 2027 at 08:00 EET (06:00 UTC).
        process.last_digest_at = datetime(2027, 3, 22, 6, 0, tzinfo=UTC)
        process.end_at = datetime(2027, 6, 1, tzinfo=UTC)
    # Clocks go forward on Sunday 28 March: the next Monday 08:00 is 05:00 UTC.
    async with db.session() as session:
        assert await due_digests(session, now=datetime(2027, 3, 29, 4, 59, tzinfo=UTC)) == []
        [due] = await due_digests(session, now=datetime(2027, 3, 29, 5, 0, tzinfo=UTC))
    assert due.due_at == datetime(2027, 3, 29, 5, 0, tzinfo=UTC)
    assert due.due_at.astimezone(HELSINKI).hour == 8


async def test_a_downtime_of_weeks_owes_one_digest_covering_all_of_it(db, seeded) -> None:
    async with db.session() as session:
        process = await session.get(Process, seeded.process_id)
        assert process is not None
        process.last_digest_at = seeded.end
    three_weeks_later = seeded.end + timedelta(weeks=3, days=2)
    async with db.session() as session:
        [due] = await due_digests(session, now=three_weeks_later)
        assert due.start == seeded.end
        assert due.due_at == seeded.end + timedelta(weeks=3)
        await record_run(
            session,
            process_id=seeded.process_id,
            trigger="weekly",
            start=due.start,
            end=due.due_at,
            now=three_weeks_later,
            due_at=due.due_at,
        )
    async with db.session() as session:
        assert await due_digests(session, now=three_weeks_later) == []
        runs = list(await session.scalars(select(DigestRun)))
    assert [(run.trigger, run.due_at) for run in runs] == [("weekly", seeded.end + timedelta(weeks=3))]


async def test_the_same_weekly_digest_cannot_be_recorded_twice(db, seeded) -> None:
    due_at = seeded.end
    async with db.session() as session:
        await record_run(
            session,
            process_id=seeded.process_id,
            trigger="weekly",
            start=seeded.start,
            end=due_at,
            now=due_at,
            due_at=due_at,
        )
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        async with db.session() as session:
            await record_run(
                session,
                process_id=seeded.process_id,
                trigger="weekly",
                start=seeded.start,
                end=due_at,
                now=due_at,
                due_at=due_at,
            )
