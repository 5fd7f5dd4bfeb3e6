"""A seeded process for digest and export tests, written straight through the storage layer.

:func:`seed_process` builds one realistic process: three organisations, four roles, thirty
participants (Finnish and Swedish speakers, a few who allowed their names), a week of observations
with photos and voice notes, anonymous ones, a hidden one, ideas with supports (one merged, one hidden),
answers to a reflection and a check-in, and experiment logs. Everything is deterministic, and the
returned :class:`Seeded` says what the digest should find, computed from the seed's own tables.

:func:`seed_bulk` fills a process with many generated submissions through bulk inserts, for the bench.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.programme import parse_process
from bot.services.processes import create_process
from storage.db import Database
from storage.models import Delivery, Membership, Organisation, Process, Prompt, Submission, Support, User
from tests.support.factories import process_yaml

# The week the digest covers: Monday 11 January 2027 08:00 to Monday 18 January 08:00, Helsinki time.
PERIOD_START = datetime(2027, 1, 11, 6, 0, tzinfo=UTC)
PERIOD_END = datetime(2027, 1, 18, 6, 0, tzinfo=UTC)
CREATED_AT = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
MIN_GROUP = 3
ORGANISATIONS = ("Ilomantsin kunta", "Ilomantsin seurakunta", "Kyläyhdistys")
SCRIPT_TEXT = "<script>alert('x')</script> Kahvi & pulla houkuttelee"


@dataclass(frozen=True)
class Person:
    key: str
    organisation: int
    role: str
    language: str
    name: str | None = None
    joined_day: int = 1
    """Days after 4 January 2027 (day 10 is 14 January, inside the digest week)."""


def _people() -> list[Person]:
    people: list[Person] = []

    def add(prefix: str, organisation: int, role: str, count: int, language: str = "fi") -> None:
        for number in range(1, count + 1):
            people.append(Person(f"{prefix}{number}", organisation, role, language))

    add("kunta-johto-", 0, "management", 4)
    add("kunta-tyo-", 0, "employee", 8)
    add("kunta-luott-", 0, "elected", 2)
    add("srk-johto-", 1, "management", 3)
    add("srk-tyo-", 1, "employee", 6)
    add("srk-muu-", 1, "other", 1)
    add("kyla-johto-", 2, "management", 2, "sv")
    add("kyla-muu-", 2, "other", 4, "sv")
    named = {
        "kunta-tyo-1": "Aino Esimerkki",
        "srk-tyo-1": "Salla Salainen",
        "kyla-muu-1": "Bertil Byström",
    }
    joined_late = {"kunta-tyo-8", "srk-tyo-6", "kyla-muu-4"}
    return [
        Person(
            p.key,
            p.organisation,
            p.role,
            p.language,
            name=named.get(p.key),
            joined_day=10 if p.key in joined_late else 1 + index % 4,
        )
        for index, p in enumerate(people)
    ]


PEOPLE = _people()
ANONYMOUS_ONLY = "srk-tyo-1"
"""Salla allowed her name but sent only anonymous observations: her name must appear nowhere."""


@dataclass(frozen=True)
class Item:
    """One submission of the seed; ``day`` counts from Monday 11 January (0) in the digest week,
    negative before it; ``hour`` is UTC."""

    kind: str
    who: str
    day: int
    text: str | None = None
    hour: int = 9
    theme: str | None = None
    media: str | None = None
    anonymous: bool = False
    hidden: bool = False
    fields: dict[str, Any] = field(default_factory=dict)


OBSERVATIONS: tuple[Item, ...] = (
    Item(
        "observation",
        "kunta-tyo-1",
        0,
        "Yksinäisyys näkyy kirjastossa: ikäihmiset tulevat juttelemaan, vaikka asia olisi pieni.",
        theme="pain",
    ),
    Item(
        "observation",
        "kunta-tyo-2",
        1,
        "Kirjaston kahvihetki toi yksinäisiä ikäihmisiä yhteen, ja moni jäi juttelemaan.",
        theme="bright",
        media="photo",
    ),
    Item(
        "observation",
        "kunta-tyo-3",
        1,
        "Ikäihmisten yksinäisyydestä puhutaan paljon, mutta kukaan ei kysy heiltä itseltään.",
        theme="question",
    ),
    Item(
        "observation",
        "kunta-tyo-4",
        2,
        "Kirjastoon tulee aamuisin samoja ihmisiä lukemaan lehtiä – kirjasto on heille olohuone.",
        theme="bright",
    ),
    Item(
        "observation",
        "kunta-johto-1",
        2,
        "Kotihoidon asiakkaat putoavat palvelujen väliin, kun kyyti kauppaan puuttuu.",
        theme="pain",
        media="voice",
    ),
    Item("observation", "kunta-johto-2", 3, SCRIPT_TEXT, theme="other"),
    Item(
        "observation",
        "kunta-tyo-5",
        3,
        "Nuoret kaipaavat paikkaa, jossa voi olla ilman ostopakkoa.",
        theme="pain",
    ),
    Item("observation", "kunta-tyo-6", 4, None, media="photo"),
    Item(
        "observation",
        "srk-tyo-2",
        1,
        "Diakoniatyössä yksinäisyys on yleisin syy tulla juttelemaan.",
        theme="pain",
    ),
    Item(
        "observation",
        "srk-tyo-3",
        3,
        "Seurakuntatalon kahvila täyttyi, kun kirjaston kanssa tehtiin yhteinen ilmoitus.",
        theme="bright",
        media="photo",
    ),
    Item(
        "observation",
        "srk-tyo-4",
        4,
        "Kirjasto ja seurakunta voisivat jakaa tiloja iltaisin?",
        theme="question",
    ),
    Item(
        "observation",
        ANONYMOUS_ONLY,
        2,
        "Työpaikan sisäinen kiire estää auttamasta naapuria.",
        theme="pain",
        anonymous=True,
    ),
    Item(
        "observation",
        ANONYMOUS_ONLY,
        5,
        "Esihenkilöt eivät ehdi kuunnella asukkaiden tarinoita.",
        theme="pain",
        media="photo",
        anonymous=True,
    ),
    Item(
        "observation",
        "kunta-tyo-1",
        4,
        "Yksi ikäihminen kertoi, ettei ole puhunut kenenkään kanssa viikkoon.",
        theme="pain",
        anonymous=True,
    ),
    Item("observation", "kyla-muu-1", 1, "Äldre personer i byn känner sig ensamma på vintern.", theme="pain"),
    Item(
        "observation",
        "kyla-muu-2",
        2,
        "Biblioteket är en viktig mötesplats för äldre i byn.",
        theme="bright",
        media="document",
    ),
    Item(
        "observation",
        "kyla-muu-3",
        5,
        "Bybussen går bara två gånger i veckan – det räcker inte för äldre.",
        theme="pain",
    ),
    Item("observation", "kunta-tyo-7", 5, "Tämä on piilotettu loukkaava viesti.", hidden=True),
    Item("observation", "kunta-tyo-2", -3, "Vanha havainto ennen jaksoa.", theme="bright"),
    Item("observation", "kunta-tyo-3", 8, "Havainto jakson jälkeen.", theme="pain"),
)

IDEAS: tuple[Item, ...] = (
    Item(
        "idea",
        "kunta-tyo-2",
        2,
        "Kirjaston kahvihetki ikäihmisille",
        fields={
            "need": "Ikäihmisten yksinäisyys",
            "partners": "Kirjasto, diakonia, kyläyhdistys",
            "first_experiment": "Kaksi kahvihetkeä helmikuussa",
        },
    ),
    Item("idea", "srk-tyo-3", 3, "Kirjaston kahvihetket ikäihmisille", fields={"need": "Yksinäisyys"}),
    Item(
        "idea",
        "kyla-muu-1",
        2,
        "Bykyyti till butiken",
        fields={
            "need": "Äldre utan bil",
            "partners": "Kommunen & byföreningen",
            "first_experiment": "En tur i veckan i februari",
        },
    ),
    Item(
        "idea",
        "kunta-tyo-5",
        4,
        "Nuorten iltakahvila seurakuntatalolla",
        fields={"need": "Paikka ilman ostopakkoa"},
    ),
    Item("idea", "kunta-johto-1", -2, "Naapuriapurinki", fields={"need": "Apu arjen asioihin"}),
    Item("idea", "srk-tyo-4", 4, "Kahvihetki kirjastossa", fields={"merged": 0}),
    Item("idea", "kunta-tyo-7", 4, "Piilotettu idea", hidden=True),
)
# Supports per idea (index into IDEAS): (supporter, day).
SUPPORTS: dict[int, tuple[tuple[str, int], ...]] = {
    0: tuple(
        (key, 3)
        for key in ("kunta-tyo-3", "kunta-tyo-4", "srk-tyo-2", "srk-tyo-4", "kyla-muu-2", "kunta-johto-2")
    ),
    1: (("kunta-tyo-6", 4), ("srk-tyo-5", 4)),
    2: (("kyla-muu-2", 3), ("kyla-muu-3", 3), ("kunta-johto-1", 4), ("kyla-johto-1", 5)),
    3: (("kunta-tyo-1", 5), ("srk-tyo-2", 5), ("kunta-tyo-8", 5)),
    4: (("kunta-tyo-2", -1), ("kunta-tyo-4", 2)),
}

REFLECTION_ANSWERS: tuple[tuple[str, str], ...] = (
    ("kunta-tyo-1", "Jäi mieleen, miten eri tavoin kunta ja seurakunta näkevät saman ihmisen."),
    ("kunta-tyo-2", "Toivoisin, että yksinäisten ikäihmisten arki helpottuisi."),
    ("kunta-tyo-3", "Yhteinen kieli löytyi yllättävän nopeasti."),
    ("kunta-johto-1", "Meidän pitää uskaltaa kokeilla pienesti."),
    ("kunta-johto-3", "Asukkaan näkökulma unohtuu helposti budjettikeskustelussa."),
    ("srk-tyo-2", "Diakonian ja kotihoidon yhteistyö kaipaa rakenteita."),
    ("srk-tyo-5", "Kiitos, oli hyvä aloitus!"),
    ("srk-johto-2", "Kiinnostava päivä."),
    ("kyla-muu-1", "Det var fint att höra hur kommunen ser på byarna."),
    ("kyla-muu-2", "Jag hoppas att de äldres vardag blir lättare."),
    ("kyla-johto-1", "Bra start på processen."),
)
# Check-in answers: (participant, option index 0–4 → values 1–5).
CHECKIN_ANSWERS: tuple[tuple[str, int], ...] = (
    ("kunta-tyo-1", 3),
    ("kunta-tyo-2", 4),
    ("kunta-tyo-3", 2),
    ("kunta-tyo-4", 3),
    ("kunta-tyo-5", 4),
    ("kunta-johto-1", 2),
    ("kunta-johto-2", 3),
    ("kunta-johto-3", 1),
    ("kunta-luott-1", 4),
    ("kunta-luott-2", 3),
    ("srk-tyo-2", 2),
    ("srk-tyo-3", 3),
    ("srk-tyo-4", 4),
    ("srk-tyo-5", 2),
    ("kyla-muu-1", 4),
    ("kyla-muu-2", 4),
)
EXPERIMENTS: tuple[Item, ...] = (
    Item(
        "experiment",
        "kunta-tyo-2",
        5,
        "Pidimme ensimmäisen kahvihetken kirjastossa.",
        fields={
            "title": "Kirjaston kahvihetki",
            "happened": "Paikalle tuli 14 ikäihmistä & kaksi diakonia.",
            "learned": "Kutsu kannattaa viedä myös kotihoidon kautta.",
            "obstacles": "Tilavaraus oli hankala.",
        },
    ),
    Item(
        "experiment",
        "kyla-muu-1",
        6,
        "Vi körde en tur till butiken.",
        fields={
            "title": "Bykyyti",
            "happened": "Fem personer åkte med.",
            "learned": "Tisdag passar bäst.",
            "obstacles": None,
        },
    ),
)


@dataclass
class Seeded:
    process_id: int
    facilitator_membership_id: int
    facilitator_user_id: int
    member_ids: dict[str, int]
    pseudonyms: dict[str, str]
    submission_ids: dict[str, int]
    """Refs by a short name: ``obs:<index>``, ``idea:<index>``, ``exp:<index>``, ``answer:<who>``."""
    user_ids: dict[str, int]
    """Telegram user ids of the participants, by key."""
    start: datetime = PERIOD_START
    end: datetime = PERIOD_END

    @property
    def people(self) -> list[Person]:
        return PEOPLE

    def person(self, key: str) -> Person:
        return next(person for person in PEOPLE if person.key == key)


def at(day: int, hour: int = 9) -> datetime:
    return PERIOD_START.replace(hour=0) + timedelta(days=day, hours=hour)


def in_period(item: Item) -> bool:
    return PERIOD_START <= at(item.day, item.hour) < PERIOD_END


async def seed_process(
    db: Database,
    *,
    name: str = "Hyvän tahdon Ilomantsi 2027",
    user_base: int = 5000,
    facilitator_user_id: int | None = None,
) -> Seeded:
    """Create the seeded process; users get ids from ``user_base`` + 1 upwards."""
    text = process_yaml(name=name, organisations=ORGANISATIONS)
    spec = parse_process(text)

    async def work(session: AsyncSession) -> Seeded:
        process = await create_process(session, spec=spec, source_yaml=text, created_by=None, now=CREATED_AT)
        process.min_group = MIN_GROUP
        organisations = {
            org.position: org.id
            for org in await session.scalars(
                select(Organisation).where(Organisation.process_id == process.id)
            )
        }
        member_ids: dict[str, int] = {}
        pseudonyms: dict[str, str] = {}
        for number, person in enumerate(PEOPLE, start=1):
            user_id = user_base + number
            session.add(
                User(
                    id=user_id,
                    consent="given",
                    consent_at=CREATED_AT,
                    language=person.language,
                    created_at=CREATED_AT,
                )
            )
            pseudonym = f"P-{user_base // 1000:02d}{number:04d}"
            membership = Membership(
                process_id=process.id,
                user_id=user_id,
                organisation_id=organisations[person.organisation],
                role=person.role,
                pseudonym=pseudonym,
                display_name=person.name,
                show_name=person.name is not None,
                complete=True,
                joined_at=CREATED_AT + timedelta(days=person.joined_day),
            )
            session.add(membership)
            await session.flush()
            member_ids[person.key] = membership.id
            pseudonyms[person.key] = pseudonym
        facilitator_id = facilitator_user_id or user_base + 100
        session.add(
            User(
                id=facilitator_id,
                consent="given",
                consent_at=CREATED_AT,
                language="fi",
                created_at=CREATED_AT,
            )
        )
        facilitator = Membership(
            process_id=process.id,
            user_id=facilitator_id,
            is_facilitator=True,
            pseudonym=f"P-{user_base // 1000:02d}F001",
            display_name="Fanni",
            complete=True,
            joined_at=CREATED_AT,
        )
        session.add(facilitator)
        await session.flush()
        for number in range(1, len(PEOPLE) + 1):
            user = await session.get(User, user_base + number)
            assert user is not None
            user.active_membership_id = member_ids[PEOPLE[number - 1].key]
        facilitator_user = await session.get(User, facilitator_id)
        assert facilitator_user is not None
        facilitator_user.active_membership_id = facilitator.id

        refs: dict[str, int] = {}

        def submission(item: Item, **extra: Any) -> Submission:
            values = dict(item.fields)
            values.pop("merged", None)
            return Submission(
                process_id=process.id,
                membership_id=member_ids[item.who],
                kind=item.kind,
                text=item.text,
                media_type=item.media,
                file_id=f"AgACAgQAAxkBAAI{item.media}{item.who}{item.day}" if item.media else None,
                theme=item.theme,
                anonymous=item.anonymous,
                hidden=item.hidden,
                created_at=at(item.day, item.hour),
                **values,
                **extra,
            )

        for index, item in enumerate(OBSERVATIONS):
            row = submission(item, chat_id=user_base + 1, message_id=1000 + index)
            session.add(row)
            await session.flush()
            refs[f"obs:{index}"] = row.id
        for index, item in enumerate(IDEAS):
            row = submission(item, title=item.text)
            session.add(row)
            await session.flush()
            refs[f"idea:{index}"] = row.id
        for index, item in enumerate(IDEAS):
            if "merged" in item.fields:
                merged = await session.get(Submission, refs[f"idea:{index}"])
                assert merged is not None
                merged.merged_into_id = refs[f"idea:{item.fields['merged']}"]
        for index, supporters in SUPPORTS.items():
            for key, day in supporters:
                session.add(
                    Support(
                        idea_id=refs[f"idea:{index}"], membership_id=member_ids[key], created_at=at(day, 12)
                    )
                )
        for index, item in enumerate(EXPERIMENTS):
            row = submission(item)
            session.add(row)
            await session.flush()
            refs[f"exp:{index}"] = row.id

        prompts = {
            prompt.key: prompt
            for prompt in await session.scalars(select(Prompt).where(Prompt.process_id == process.id))
        }
        await _answers(
            session,
            process,
            prompts["p1-reflection"],
            member_ids,
            refs,
            user_base,
            answered=dict(REFLECTION_ANSWERS),
            sent_day=4,
        )
        checkin = prompts["p1-checkin"]
        labels = {key: checkin.options[index]["fi"] for key, index in CHECKIN_ANSWERS}
        await _answers(
            session, process, checkin, member_ids, refs, user_base, answered={}, choices=labels, sent_day=4
        )
        return Seeded(
            process_id=process.id,
            facilitator_membership_id=facilitator.id,
            facilitator_user_id=facilitator_id,
            member_ids=member_ids,
            pseudonyms=pseudonyms,
            submission_ids=refs,
            user_ids={person.key: user_base + number for number, person in enumerate(PEOPLE, start=1)},
        )

    return await db.run(work)


async def _answers(
    session: AsyncSession,
    process: Process,
    prompt: Prompt,
    member_ids: dict[str, int],
    refs: dict[str, int],
    user_base: int,
    *,
    answered: dict[str, str],
    sent_day: int,
    choices: dict[str, str] | None = None,
) -> None:
    """Deliver ``prompt`` to every participant on ``sent_day``; those in ``answered``/``choices`` answer."""
    choices = choices or {}
    for number, person in enumerate(PEOPLE, start=1):
        replied = person.key in answered or person.key in choices
        delivery = Delivery(
            prompt_id=prompt.id,
            membership_id=member_ids[person.key],
            state="answered" if replied else "sent",
            due_at=at(sent_day, 7),
            sent_at=at(sent_day, 7),
            chat_id=user_base + number,
            message_id=5000 + number,
        )
        session.add(delivery)
        await session.flush()
        if replied:
            answer = Submission(
                process_id=process.id,
                membership_id=member_ids[person.key],
                kind="answer",
                text=answered.get(person.key),
                choice=choices.get(person.key),
                prompt_id=prompt.id,
                delivery_id=delivery.id,
                chat_id=user_base + number,
                created_at=at(sent_day, 10),
            )
            session.add(answer)
            await session.flush()
            refs[f"{prompt.kind}:{person.key}"] = answer.id


def expected_contributions() -> Counter[str]:
    """Submissions per participant in the digest week (hidden ones left out), from the seed tables."""
    made: Counter[str] = Counter()
    for item in OBSERVATIONS + IDEAS + EXPERIMENTS:
        if in_period(item) and not item.hidden:
            made[item.who] += 1
    for key, _ in REFLECTION_ANSWERS:
        made[key] += 1
    for key, _ in CHECKIN_ANSWERS:
        made[key] += 1
    return made


def expected_supporters() -> set[str]:
    return {key for supporters in SUPPORTS.values() for key, day in supporters if 0 <= day < 7}


# --- bulk data for the bench -------------------------------------------------------------------

_FI_WORDS = [
    "yksinäisyys",
    "kirjasto",
    "ikäihminen",
    "kotihoito",
    "kyyti",
    "kauppa",
    "nuori",
    "kahvila",
    "seurakunta",
    "diakonia",
    "naapuri",
    "kylä",
    "koulu",
    "harrastus",
    "liikunta",
    "terveys",
    "palvelu",
    "asiointi",
    "verkko",
    "lomake",
    "jono",
    "odotus",
    "apu",
    "vapaaehtoinen",
    "talkoot",
    "tila",
    "ilta",
    "viikonloppu",
    "bussi",
]
_FI_FORMS = ("", "ssa", "sta", "lle", "n", "t", "a", "ihin")
_SV_WORDS = [
    "ensamhet",
    "bibliotek",
    "äldre",
    "hemvård",
    "skjuts",
    "butik",
    "ungdom",
    "kafé",
    "församling",
    "granne",
    "by",
    "skola",
    "hobby",
    "hälsa",
    "service",
    "kö",
    "hjälp",
    "frivillig",
    "lokal",
    "kväll",
    "buss",
]


def _sentence(rng: random.Random, language: str) -> str:
    if language == "sv":
        words = [
            rng.choice(_SV_WORDS) + rng.choice(("", "en", "er", "na")) for _ in range(rng.randint(6, 18))
        ]
    else:
        words = [rng.choice(_FI_WORDS) + rng.choice(_FI_FORMS) for _ in range(rng.randint(6, 18))]
    return (" ".join(words) + ".").capitalize()


async def seed_bulk(
    db: Database, *, submissions: int, participants: int = 120, weeks: int = 12, seed: int = 7
) -> int:
    """A process with ``participants`` members and ``submissions`` generated submissions spread over
    ``weeks`` weeks before :data:`PERIOD_END`, inserted in bulk. Returns the process id."""
    rng = random.Random(seed)
    text = process_yaml(organisations=ORGANISATIONS)
    spec = parse_process(text)
    start = PERIOD_END - timedelta(weeks=weeks)
    roles = ("management", "employee", "employee", "employee", "elected", "other")

    async def setup(
        session: AsyncSession,
    ) -> tuple[int, list[int], list[int], list[tuple[int, str, list[Any]]]]:
        process = await create_process(session, spec=spec, source_yaml=text, created_by=None, now=start)
        organisations = list(
            await session.scalars(
                select(Organisation.id)
                .where(Organisation.process_id == process.id)
                .order_by(Organisation.position)
            )
        )
        users = [
            {
                "id": 900_000 + n,
                "consent": "given",
                "consent_at": start,
                "language": "sv" if n % 5 == 0 else "fi",
                "created_at": start,
            }
            for n in range(participants)
        ]
        await session.execute(insert(User), users)
        memberships = [
            {
                "process_id": process.id,
                "user_id": 900_000 + n,
                "is_facilitator": False,
                "organisation_id": organisations[n % len(organisations)],
                "role": roles[n % len(roles)],
                "pseudonym": f"P-B{n:05d}",
                "display_name": f"Osallistuja {n}",
                "show_name": n % 4 == 0,
                "complete": True,
                "joined_at": start + timedelta(hours=n),
            }
            for n in range(participants)
        ]
        await session.execute(insert(Membership), memberships)
        member_ids = list(
            await session.scalars(
                select(Membership.id).where(Membership.process_id == process.id).order_by(Membership.id)
            )
        )
        prompts = [
            (prompt.id, prompt.kind, prompt.options)
            for prompt in await session.scalars(select(Prompt).where(Prompt.process_id == process.id))
            if prompt.kind in ("reflection", "checkin", "observation")
        ]
        return process.id, member_ids, organisations, prompts

    process_id, member_ids, _, prompts = await db.run(setup)
    languages = {member_id: "sv" if index % 5 == 0 else "fi" for index, member_id in enumerate(member_ids)}
    span = (PERIOD_END - start).total_seconds()
    themes = ("pain", "bright", "question", "other", None)
    media_types = (None, None, None, None, "photo", "voice", "document")
    batch: list[dict[str, Any]] = []
    idea_ids: list[int] = []

    async def flush(rows: list[dict[str, Any]]) -> None:
        async def write(session: AsyncSession) -> None:
            await session.execute(insert(Submission), rows)

        await db.run(write)

    for number in range(submissions):
        member_id = rng.choice(member_ids)
        created = start + timedelta(seconds=rng.random() * span)
        roll = rng.random()
        row: dict[str, Any] = {
            "process_id": process_id,
            "membership_id": member_id,
            "created_at": created,
            "anonymous": rng.random() < 0.1,
            "hidden": rng.random() < 0.01,
            "theme": None,
            "media_type": None,
            "file_id": None,
            "text": _sentence(rng, languages[member_id]),
            "prompt_id": None,
            "choice": None,
            "title": None,
            "need": None,
            "partners": None,
            "first_experiment": None,
            "happened": None,
            "learned": None,
            "obstacles": None,
        }
        if roll < 0.6:
            row["kind"] = "observation"
            row["theme"] = rng.choice(themes)
            media = rng.choice(media_types)
            if media:
                row["media_type"], row["file_id"] = media, f"bench-{number}"
        elif roll < 0.8:
            prompt_id, kind, options = rng.choice(prompts)
            row["kind"], row["prompt_id"] = "answer", prompt_id
            if kind == "checkin" and options:
                row["choice"] = options[rng.randrange(len(options))]["fi"]
                row["text"] = None
        elif roll < 0.92:
            row["kind"] = "idea"
            row["title"] = row["text"][:80]
            row["need"] = _sentence(rng, languages[member_id])
            row["partners"] = "Kunta ja seurakunta"
            row["first_experiment"] = _sentence(rng, languages[member_id])
        else:
            row["kind"] = "experiment"
            row["title"] = row["text"][:60]
            row["happened"] = _sentence(rng, languages[member_id])
            row["learned"] = _sentence(rng, languages[member_id])
            row["obstacles"] = _sentence(rng, languages[member_id])
        batch.append(row)
        if len(batch) >= 5000:
            await flush(batch)
            batch = []
    if batch:
        await flush(batch)

    async def supports(session: AsyncSession) -> None:
        ids = list(
            await session.scalars(
                select(Submission.id).where(Submission.process_id == process_id, Submission.kind == "idea")
            )
        )
        idea_ids.extend(ids)
        pairs = {(rng.choice(ids), rng.choice(member_ids)) for _ in range(len(ids) * 2)} if ids else set()
        rows = [
            {
                "idea_id": idea,
                "membership_id": member,
                "created_at": start + timedelta(seconds=rng.random() * span),
            }
            for idea, member in sorted(pairs)
        ]
        for offset in range(0, len(rows), 5000):
            await session.execute(insert(Support), rows[offset : offset + 5000])
        deliveries = [
            {
                "prompt_id": prompt_id,
                "membership_id": member_id,
                "state": rng.choice(("sent", "answered")),
                "due_at": PERIOD_END - timedelta(days=3),
                "sent_at": PERIOD_END - timedelta(days=3),
                "attempts": 1,
            }
            for prompt_id, _, _ in prompts
            for member_id in member_ids
        ]
        for offset in range(0, len(deliveries), 5000):
            await session.execute(insert(Delivery), deliveries[offset : offset + 5000])

    await db.run(supports)
    return process_id
